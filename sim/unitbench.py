"""Stimulus, checking and schedule checks shared by the BN unit testbenches (forward, backward).

A unit takes channel descriptors on its ``channel`` stream and input beats on ``x`` in the order
of :func:`l1bn.hdl.bn_sequencer.slot_order`. :class:`UnitStimulus` turns sequences of channels into
those two streams; :func:`check_schedule` compares the cycles a full-rate run measured with
:func:`l1bn.hdl.bn_sequencer.schedule_cycles`.
"""

import os
from collections import deque
from dataclasses import dataclass
from typing import Callable

from cocotb.triggers import FallingEdge, ReadOnly

from l1bn.golden.channels import KINDS
from l1bn.hdl.bn_sequencer import FINAL, slot_order
from l1bn.hdl.bn_skeleton import Pass

from .harness import Bench, StreamSink, StreamSource, lane_values
from .harness import field_value as _get, payload_fields as _fields

__all__ = ["pack_lanes", "UnitStimulus", "check_schedule", "UnitSpec",
           "run_unit"]

#: Checked cycles the ``soak`` testcases stream at least (``make soak`` sets it).
SOAK_ENV = "L1BN_SOAK_CYCLES"


def soak_channels(cfg, rng, make, passes, lanes, work, target=None):
    """Random channels for a soak run: ``make(m, kind, rng)`` builds one channel, every kind of
    :data:`~l1bn.golden.channels.KINDS`, m from 1 to min(max_batch, 300); enough that their cycles reach ``target``
    (default: the environment's ``L1BN_SOAK_CYCLES``, else 10**6), a channel counted as its
    beats (passes * ceil(m/P)) or as ``work(ch)``, the cycles of its per-channel job, whichever
    is more (a lower bound of what it costs: one job runs at a time)."""
    target = int(os.environ.get(SOAK_ENV, 10**6)) if target is None else target
    chans, cycles = [], 0
    while cycles < target:
        m = int(rng.integers(1, min(cfg.max_batch, 300) + 1))
        ch = make(m, KINDS[int(rng.integers(len(KINDS)))], rng)
        chans.append(ch)
        cycles += max((1 if getattr(ch, "single", False) else passes) * -(-m // lanes),
                      work(ch))
    return chans


def pack_lanes(values, width, lanes, rng, lo, hi):
    """Pack ``values`` (at most ``lanes``) into one array field; unused lanes get random junk
    codes in ``[lo, hi]`` (the unit must ignore them)."""
    vals = list(values) + [rng.randint(lo, hi) for _ in range(lanes - len(values))]
    mask = (1 << width) - 1
    packed = 0
    for i, v in enumerate(vals):
        packed |= (v & mask) << (i * width)
    return packed


class UnitStimulus:
    """Descriptor and beat streams of a list of sequences.

    Parameters
    ----------
    sequences : list of list
        Each inner list is one sequence of channel objects; a channel has ``m``, ``single``
        (one pass) and the methods ``descriptor()`` (payload fields of the ``channel`` stream,
        without ``last``) and ``beat(kind, b)`` (payload fields of beat ``b`` of a pass of that
        kind, without ``last``).
    passes : int
        Passes of a multi-pass channel (2 or 3).
    lanes : int
        P.
    bad_last : bool
        Invert ``last`` on every beat of the first channel's first pass (the unit must count with
        m and raise ``err``).

    Attributes
    ----------
    descriptors : list of dict
        Payloads for the ``channel`` stream, in order, ``last`` set on each sequence's final one.
    beats : list of (dict, tuple)
        ``x`` payloads in stream order with their tag ``(sequence, channel, kind, beat)``;
        ``channel`` counts over all sequences.
    """

    def __init__(self, sequences, *, passes, lanes, bad_last=False):
        self.sequences = sequences
        self.descriptors, self.beats = [], []
        base = 0
        for si, chans in enumerate(sequences):
            single = chans[0].single
            assert all(ch.single == single for ch in chans), "one mode per sequence"
            for ci, ch in enumerate(chans):
                self.descriptors.append(dict(ch.descriptor(), last=int(ci == len(chans) - 1)))
            for ci, kind in slot_order(len(chans), passes, single):
                ch = chans[ci]
                nb = -(-ch.m // lanes)
                flip = bad_last and si == 0 and ci == 0 and \
                    kind == ("final" if single else "first")
                for b in range(nb):
                    last = int(b == nb - 1) ^ int(flip)
                    self.beats.append((dict(ch.beat(kind, b), last=last),
                                       (si, base + ci, kind, b)))
            base += len(chans)

    @property
    def channels(self):
        """All channels, in order."""
        return [ch for chans in self.sequences for ch in chans]


def check_schedule(sequences, model, tags, x_cycles, chan_cycles, out_cycles, bad):
    """Full-rate timing: every pass of every sequence starts and ends in the cycles of
    ``model(channels_of_the_sequence)`` (a :func:`l1bn.hdl.bn_sequencer.schedule_cycles` result)
    counted from the sequence's first descriptor handshake, and its last output beat leaves at
    ``total - 1``. Sequences must have been run one after the other (each drained).

    Returns ``{"sequence_cycles": [measured totals]}``.
    """
    first_desc = 0
    totals = []
    for si, chans in enumerate(sequences):
        t0 = chan_cycles[first_desc]
        want = model(chans)
        got = {}
        for (s, c, kind, _b), cyc in zip(tags, x_cycles):
            if s == si:
                lo, hi = got.get((c, kind), (cyc, cyc))
                got[(c, kind)] = (min(lo, cyc), max(hi, cyc))
        base = min(c for (c, _k) in got)
        for c, kind, start, end in want["passes"]:
            g = got.get((base + c, kind))
            if g != (t0 + start, t0 + end):
                bad(-1, f"sequence {si} channel {c} {kind} pass in cycles "
                        f"{None if g is None else (g[0] - t0, g[1] - t0)}, model {(start, end)}")
        n_final = sum(1 for (s, _c, kind, _b) in tags if s == si and kind == FINAL)
        outs = out_cycles[si]
        if len(outs) != n_final or (outs and outs[-1] - t0 + 1 != want["total"]):
            bad(-1, f"sequence {si}: {len(outs)} output beats (expected {n_final}), last at "
                    f"{outs[-1] - t0 if outs else None}, model total {want['total']}")
        totals.append(outs[-1] - t0 + 1 if outs else None)
        first_desc += len(chans)
    return {"sequence_cycles": totals}


@dataclass
class UnitSpec:
    """What differs between the forward and the backward unit's testbench.

    Attributes
    ----------
    config, manifest, params
        The runner's configuration, the design's manifest and its parameters.
    passes : int
        Passes of a multi-pass channel.
    out, side : str
        The per-beat output stream (``"y"``/``"dx"``) and the per-channel one
        (``"stats"``/``"grads"``).
    expected : callable
        ``expected(channel) -> (codes, saturated lanes)`` of the per-beat output.
    side_check : callable or None
        ``side_check(channel, payload, fields) -> (got, want)``; a channel without a per-channel
        transfer (inference) has ``channel.side is False``.
    model : callable
        ``model(channels_of_a_sequence)`` -> :func:`l1bn.hdl.bn_sequencer.schedule_cycles` result.
    """
    config: dict
    manifest: dict
    params: dict
    passes: int
    out: str
    side: str
    expected: Callable
    side_check: Callable
    model: Callable


#: The ``status`` output's ``pass`` code of each pass kind.
PASS_CODES = {kind: Pass[kind.upper()].value for kind in ("first", "mid", "final")}


async def run_unit(dut, name, sequences, spec, *, p_valid=1.0, p_ready=1.0, p_side=1.0,
                   p_chan=1.0, bad_last=False, side=True, descriptors_first=False):
    """Stream ``sequences`` (lists of channels) through a BN unit and check every output.

    Every beat of ``spec.out`` is compared in order (all lanes; lanes beyond m must be 0; the
    ``sat`` flags counted against the model) and every ``spec.side`` transfer with
    ``spec.side_check``. At full rate each sequence is drained before the next starts and its
    cycles are checked with :func:`check_schedule`; otherwise all sequences are streamed back to
    back with random gaps. ``bad_last`` inverts ``last`` on every beat of the first channel's
    first pass (the unit must count with m and raise ``err``). ``side=False``: the host never
    takes a ``spec.side`` transfer (its ready stays low; for units that do not wait for it),
    and the schedule is still checked at full rate. Records the figures; raises on any
    mismatch. Returns the schedule figures (full rate) or ``{}``. ``descriptors_first``: the
    host offers no beat before every descriptor of the run has been taken. At every beat the
    ``status`` output must name that beat's channel (in its sequence) and pass.
    """
    p = spec.params
    P, W = p["lanes"], p["width"]
    bench = Bench(dut, spec.config, name)
    p_side = p_side if side else 0.0
    rates = (p_valid, p_ready, p_chan) + ((p_side,) if side else ())
    full = min(rates) == 1.0
    for ch in (c for seq in sequences for c in seq):
        ch.lanes, ch.rng = P, bench.rng
    stim = UnitStimulus(sequences, passes=spec.passes, lanes=P, bad_last=bad_last)
    channels = stim.channels
    of, sf = _fields(spec.manifest, f"{spec.out}__payload"), \
        _fields(spec.manifest, f"{spec.side}__payload")
    chan = StreamSource(bench.ports, "channel", bench.rng, p_chan)
    src = StreamSource(bench.ports, "x", bench.rng, p_valid,
                       after=chan if descriptors_first else None)
    st = _fields(spec.manifest, "status")
    first_of = [sum(len(q) for q in sequences[:si]) for si in range(len(sequences))]
    osink = StreamSink(bench.ports, spec.out, bench.rng, p_ready)
    ssink = StreamSink(bench.ports, spec.side, bench.rng, p_side)
    seq_of = [si for si, seq in enumerate(sequences) for _ in seq]
    exp_out, exp_side, want_sat = deque(), deque(), []
    for ci, ch in enumerate(channels):
        codes, n_sat = spec.expected(ch)
        want_sat.append(n_sat)
        nb = -(-ch.m // P)
        for b in range(nb):
            lanes = codes[b * P:(b + 1) * P]
            exp_out.append((ci, b, lanes + [0] * (P - len(lanes)), b == nb - 1))
        if ch.side and side:
            exp_side.append((ci, ch))
    await bench.reset({"x__valid": 0, "x__payload": 0, "channel__valid": 0,
                       "channel__payload": 0, f"{spec.out}__ready": 0,
                       f"{spec.side}__ready": 0})
    state = {"mism": 0, "checked": 0, "out": 0, "side": 0, "sat": {}}
    tags, x_cycles, chan_cycles = [], [], []
    out_cycles = [[] for _ in sequences]
    pending_tags = deque(tag for _f, tag in stim.beats)

    def bad(cycle, what):
        state["mism"] += 1
        if state["mism"] <= 10:
            bench.log.error("cycle %d: %s", cycle, what)

    def on_sample(cycle):
        state["checked"] += 1
        _v, payload, taken = osink.sample()
        if taken:
            if not exp_out:
                bad(cycle, f"unexpected {spec.out} beat {payload:#x}")
            else:
                ci, b, lanes, last = exp_out.popleft()
                got = lane_values(payload, of["data"], W, P)
                glast = _get(payload, of["last"])
                state["sat"][ci] = state["sat"].get(ci, 0) + bin(_get(payload, of["sat"])).count("1")
                if got != lanes or glast != int(last):
                    bad(cycle, f"channel {ci} {spec.out} beat {b}: got {got} last {glast}, "
                               f"expected {lanes} last {int(last)}")
                out_cycles[seq_of[ci]].append(cycle)
                state["out"] += 1
        _v, spayload, staken = ssink.sample()
        if staken:
            if not exp_side:
                bad(cycle, f"unexpected {spec.side} transfer")
            else:
                ci, ch = exp_side.popleft()
                got, want = spec.side_check(ch, spayload, sf)
                if got != want:
                    bad(cycle, f"channel {ci} {spec.side}: got {got}, expected {want}")
                state["side"] += 1
        if src.sample()[0] is not None:
            x_cycles.append(cycle)
            tags.append(pending_tags.popleft())
            si, ci, kind, b = tags[-1]
            status = bench.ports.read("status")
            got = tuple(_get(status, st[k]) for k in ("valid", "channel", "pass", "ctx"))
            want = (1, ci - first_of[si], PASS_CODES[kind], ci % 2)
            if got != want:
                bad(cycle, f"channel {ci} {kind} beat {b}: status (valid, channel, pass, "
                           f"ctx) {got}, expected {want}")
        if chan.sample()[0] is not None:
            chan_cycles.append(cycle)

    groups = [[si] for si in range(len(sequences))] if full else [list(range(len(sequences)))]
    d0 = 0
    for group in groups:
        n_desc = sum(len(sequences[si]) for si in group)
        for fields in stim.descriptors[d0:d0 + n_desc]:
            chan.push(fields)
        d0 += n_desc
        beats = 0
        for fields, tag in stim.beats:
            if tag[0] in group:
                src.push(fields)
                beats += 1
        last_ci = d0 - 1

        def done():
            return src.idle and chan.idle and not any(e[0] <= last_ci for e in exp_out) \
                and not any(e[0] <= last_ci for e in exp_side)

        budget = int((beats + 400 * n_desc) / min(rates) * 3) + 500
        await bench.run([src, chan, osink, ssink], on_sample, done, budget)
        await FallingEdge(dut.clk)
    # A few more cycles: nothing else may come out.
    for _ in range(8):
        osink.drive()
        ssink.drive()
        await ReadOnly()
        state["checked"] += 1
        if bench.ports.read(f"{spec.out}__valid") or \
                (side and bench.ports.read(f"{spec.side}__valid")):
            bad(bench.cycle, "output valid after the last expected transfer")
        bench.cycle += 1
        await FallingEdge(dut.clk)
    if int(dut.err.value) != int(bad_last):
        bad(bench.cycle, f"err = {int(dut.err.value)}, expected {int(bad_last)}")
    for ci, n in enumerate(want_sat):
        if state["sat"].get(ci, 0) != n:
            bad(-1, f"channel {ci}: {state['sat'].get(ci, 0)} saturated {spec.out} lanes, "
                    f"model {n}")
    figures = {}
    if full:
        figures = check_schedule(sequences, spec.model, tags, x_cycles, chan_cycles,
                                 out_cycles, bad)
    bench.record(cycles=state["checked"], mismatches=state["mism"],
                 **{f"{spec.out}_beats": state["out"], spec.side: state["side"]},
                 values=sum(ch.m for ch in channels),
                 **{f"saturated_{spec.out}": sum(state["sat"].values())}, **figures)
    assert state["mism"] == 0, f"{state['mism']} mismatches (seed {bench.seed})"
    return figures

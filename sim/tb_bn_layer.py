"""cocotb testbench of the single-stream forward layer (:class:`l1bn.hdl.bn_layer.BNLayer`),
and the layer runner the backward layer's testbench shares (:func:`run_layer`).

The host streams every channel's values once (descriptors on ``channel``, beats on ``x`` in
channel order) with random gaps, takes ``y`` and ``stats`` with random backpressure, and every
``y`` beat and ``stats`` transfer is compared, in order, with :mod:`l1bn.golden.bn_forward` (the
forward unit's model, which the layer must equal bit for bit). Each run records its cycles and
the forward unit's cycles for the same channels (:func:`l1bn.hdl.bn_unit.sequence_cycles`, the
host streaming every pass), for the report's cycles per element.
"""

from collections import deque
from dataclasses import dataclass

import cocotb
import numpy as np

from l1bn.golden.bn_unit import UnitConfig
from l1bn.hdl.bn_unit import sequence_cycles

from .harness import Bench, StreamSink, StreamSource, lane_values, load_config
from .harness import field_value as _get, payload_fields as _fields
from .tb_bn_unit import _stats_check, draw

#: The test the report runs: full rate, full channels (its cycles per element).
SMOKE_TEST = "throughput"


def _setup():
    config = load_config()
    p = config["manifest"]["parameters"]
    cfg = UnitConfig(norm=p["norm"], stats=p["stats"], width=p["width"], frac=p["frac"],
                     guard=p["guard"], max_batch=p["buffer_depth"],
                     alpha=0.9 if p["alpha"] is None else p["alpha"],
                     eps=1e-5 if p["eps"] is None else p["eps"])
    return config, p, cfg


@dataclass(frozen=True)
class LayerSpec:
    """What a layer testbench checks: the result stream ``out`` (``{data[P], sat, last}``, one
    beat per beat of the channel, ``expected(channel)`` its codes), the per-channel ``side``
    stream (``side_check(channel, payload, fields) -> (got, want)``, for channels whose
    ``side`` is set) and the unit model's ``cycles(channels)`` at full rate (for the record)."""
    out: str
    side: str
    expected: object
    side_check: object
    cycles: object


async def run_layer(dut, name, sequences, spec, *, p_valid=1.0, p_ready=1.0):
    """Stream ``sequences`` (lists of channels with ``descriptor()``, ``beat(kind, b)``, ``m``
    and ``side``) once each through a layer and check every output, in order."""
    config = load_config()
    man, P, W = config["manifest"], *(config["manifest"]["parameters"][k]
                                       for k in ("lanes", "width"))
    bench = Bench(dut, config, name)
    of, sf = _fields(man, f"{spec.out}__payload"), _fields(man, f"{spec.side}__payload")
    chan = StreamSource(bench.ports, "channel", bench.rng, p_valid)
    src = StreamSource(bench.ports, "x", bench.rng, p_valid)
    osink = StreamSink(bench.ports, spec.out, bench.rng, p_ready)
    ssink = StreamSink(bench.ports, spec.side, bench.rng, p_ready)
    exp_o, exp_s = deque(), deque()
    for seq in sequences:
        for ci, ch in enumerate(seq):
            ch.lanes, ch.rng = P, bench.rng
            chan.push(dict(ch.descriptor(), last=int(ci == len(seq) - 1)))
            nb, codes = -(-ch.m // P), spec.expected(ch)
            for b in range(nb):
                src.push(dict(ch.beat("first", b), last=int(b == nb - 1)))
                vals = [int(v) for v in codes[b * P:(b + 1) * P]]
                exp_o.append((vals + [0] * (P - len(vals)), int(b == nb - 1)))
            if ch.side:
                exp_s.append(ch)
    await bench.reset({"channel__valid": 0, "channel__payload": 0, "x__valid": 0,
                       "x__payload": 0, f"{spec.out}__ready": 0, f"{spec.side}__ready": 0})
    state = {"mism": 0, "out": 0, "side": 0}

    def bad(cycle, what):
        state["mism"] += 1
        if state["mism"] <= 10:
            bench.log.error("cycle %d: %s", cycle, what)

    def on_sample(cycle):
        _v, payload, taken = osink.sample()
        if taken:
            want = exp_o.popleft() if exp_o else None
            got = (lane_values(payload, of["data"], W, P), _get(payload, of["last"]))
            if want is None or got != want:
                bad(cycle, f"{spec.out} beat {state['out']}: got {got}, expected {want}")
            state["out"] += 1
        _v, spayload, staken = ssink.sample()
        if staken:
            if not exp_s:
                bad(cycle, f"unexpected {spec.side} transfer")
            else:
                got, want = spec.side_check(exp_s.popleft(), spayload, sf)
                if got != want:
                    bad(cycle, f"{spec.side} {state['side']}: got {got}, expected {want}")
            state["side"] += 1
        src.sample()
        chan.sample()

    n = sum(ch.m for seq in sequences for ch in seq)
    budget = int((3 * n / P + 2000 * sum(map(len, sequences))) / min(p_valid, p_ready)) + 500
    await bench.run([chan, src, osink, ssink], on_sample,
                    lambda: not exp_o and not exp_s and src.idle and chan.idle, budget)
    if int(dut.err.value):
        bad(bench.cycle, "err set")
    bench.record(cycles=bench.cycle, mismatches=state["mism"], out_beats=state["out"],
                 side=state["side"], values=n,
                 unit_cycles=sum(spec.cycles(seq) for seq in sequences))
    assert state["mism"] == 0, f"{state['mism']} mismatches (seed {bench.seed})"


def _spec(p):
    def cycles(chans):
        return sequence_cycles(len(chans), [ch.m for ch in chans], chans[0].mode,
                               **dict(p, max_batch=p["buffer_depth"]))["total"]
    return LayerSpec(out="y", side="stats", expected=lambda ch: ch.gold["y"],
                     side_check=_stats_check, cycles=cycles)


def _rng(name):
    config = load_config()
    return np.random.default_rng([int(config["seed"]), sum(map(ord, name))])


def _channels(cfg, rng, n, mode, top):
    kinds = ("gauss", "two_level", "narrow", "relu", "const", "sparse", "spiky")
    sizes = [1, top, 2] + [int(v) for v in rng.integers(1, top + 1, max(0, n - 3))]
    return [draw(cfg, rng, sizes[i], kinds[i % len(kinds)], mode) for i in range(n)]


@cocotb.test()
async def random_stream(dut):
    """Training sequences (1, the buffer's size and random sizes) and an inference sequence,
    random gaps and backpressure."""
    _c, p, cfg = _setup()
    rng = _rng("random_stream")
    top = p["buffer_depth"]
    await run_layer(dut, "random_stream",
                    [_channels(cfg, rng, 5, "train", top), _channels(cfg, rng, 3, "infer", top),
                     _channels(cfg, rng, 1, "train", top)], _spec(p), p_valid=0.8, p_ready=0.8)


@cocotb.test()
async def full_rate(dut):
    """Inputs always valid, outputs always ready: the layer never stalls itself."""
    _c, p, cfg = _setup()
    rng = _rng("full_rate")
    await run_layer(dut, "full_rate", [_channels(cfg, rng, 6, "train", p["buffer_depth"])],
                    _spec(p))


@cocotb.test()
async def throughput(dut):
    """Four training channels of the buffer's size, full rate (the report's cycles per
    element, beside the unit's for the same channels)."""
    _c, p, cfg = _setup()
    rng = _rng("throughput")
    top = p["buffer_depth"]
    chans = [draw(cfg, rng, top, k, "train") for k in ("gauss", "relu", "two_level", "narrow")]
    await run_layer(dut, "throughput", [chans], _spec(p))

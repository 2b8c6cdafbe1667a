"""Stimulus and schedule checks shared by the BN unit testbenches (forward and backward).

A unit takes channel descriptors on its ``channel`` stream and input beats on ``x`` in the order
of :func:`hdl.bn_sequencer.slot_order`. :class:`UnitStimulus` turns sequences of channels into
those two streams; :func:`check_schedule` compares the cycles a full-rate run measured with
:func:`hdl.bn_sequencer.schedule_cycles`.
"""

from hdl.bn_sequencer import FINAL, slot_order

__all__ = ["pack_lanes", "UnitStimulus", "check_schedule"]


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
    ``model(channels_of_the_sequence)`` (a :func:`hdl.bn_sequencer.schedule_cycles` result)
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

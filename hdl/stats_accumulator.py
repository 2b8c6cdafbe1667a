"""The per-lane statistics accumulator: ``sum |x - mu|`` (L1BN) or ``sum (x - mu)**2`` (L2BN)."""

from amaranth import Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from l1bn.golden.stats_accumulator import formats

from .abs_sign import AbsSign
from .accumulator import Accumulator
from .block import BlockSpec
from .square import Square

__all__ = ["StatsAccumulator"]


class StatsAccumulator(wiring.Component):
    """Second statistics pass of one channel: the sum of ``|x - mu|`` or of ``(x - mu)**2``.

    The host streams a channel's values on ``x`` (``last`` marks its final value) while holding
    ``mu`` constant; the exact sum comes out on ``sum`` as one transfer per channel. A new channel
    may follow the ``last`` value on the very next cycle. Formats come from
    :func:`l1bn.golden.stats_accumulator.formats`; nothing is rounded or saturated.

    Parameters
    ----------
    norm : ``"l1"`` or ``"l2"``
        ``l1`` uses :class:`~l1bn.hdl.abs_sign.AbsSign` (no multiplier), ``l2`` :class:`~l1bn.hdl.square.Square`.
    width, frac : int
        Format ``Q(width, frac)`` of ``x`` and ``mu``; ``2 <= width``, ``0 <= frac <= width``.
    max_count : int
        Largest number of values in one channel; sets the accumulator width so that it cannot
        overflow (``width + clog2(max_count)`` bits for l1, ``2*width + clog2(max_count)`` for l2).

    Members
    -------
    x : ``In(stream.Signature(StructLayout({"data": signed(width), "last": 1})))``
        Values of the channel; ``x__payload`` bits ``[width-1:0]`` are ``data``, bit ``width`` is
        ``last``.
    mu : ``In(signed(width))``
        The channel mean, constant from the channel's first value to its last.
    sum : ``Out(stream.Signature(unsigned(sum_width)))``
        The channel's sum, format ``formats(...)["sum"]`` (unsigned, ``frac`` fraction bits for l1,
        ``2*frac`` for l2). Held until taken.

    Latency: ``sum.valid`` rises ``LATENCY`` cycles after the handshake of the ``last`` value
    (1 for ``x - mu``, the kernel's latency, 1 for the accumulator: 3 for l1, 4 for l2 with the
    two-stage multiplier of :class:`~l1bn.hdl.square.Square`),
    plus the cycles the pipeline was stalled in between.
    Throughput: one value per cycle. Backpressure: the whole pipeline stalls only while a finished
    sum waits on ``sum.ready``, so ``x.ready = ~sum.valid | sum.ready`` (combinational).
    """

    def __init__(self, *, norm, width, frac, max_count):
        self.formats = formats(norm, width, frac, max_count)
        self.norm, self.width, self.frac, self.max_count = norm, width, frac, max_count
        self.kernel = (AbsSign if norm == "l1" else Square)(width=width + 1)
        self.acc = Accumulator(width=self.formats["term"].width, signed=False, max_count=max_count)
        self.LATENCY = 1 + self.kernel.LATENCY + self.acc.LATENCY
        self.payload_layout = data.StructLayout({"data": signed(width), "last": 1})
        super().__init__({
            "x": In(stream.Signature(self.payload_layout)),
            "mu": In(signed(width)),
            "sum": Out(stream.Signature(self.formats["sum"].width)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.kernel = kernel = self.kernel
        m.submodules.acc = acc = self.acc
        en = Signal()
        m.d.comb += [
            en.eq(~self.sum.valid | self.sum.ready),
            self.x.ready.eq(en),
        ]
        # Stage 1: the deviation d = x - mu (width + 1 bits, exact).
        start = Signal(init=1)  # the next value starts a channel
        tags = data.StructLayout({"first": 1, "last": 1})
        valid, tag = Signal(name="valid_1"), Signal(tags, name="tag_1")
        with m.If(en):
            m.d.sync += [
                kernel.d.eq(self.x.payload.data - self.mu),
                valid.eq(self.x.valid),
                tag.first.eq(start),
                tag.last.eq(self.x.payload.last),
            ]
        with m.If(self.x.valid & en):
            m.d.sync += start.eq(self.x.payload.last)
        # Stages 2 .. 1 + kernel latency: |d| or d*d, with valid and tags delayed alongside.
        for i in range(self.kernel.LATENCY):
            valid_next, tag_next = Signal(name=f"valid_{i + 2}"), Signal(tags, name=f"tag_{i + 2}")
            with m.If(en):
                m.d.sync += [valid_next.eq(valid), tag_next.eq(tag)]
            valid, tag = valid_next, tag_next
        # |d| <= 2**width - 1 and d*d < 2**(2*width): the kernel's top bit is always zero.
        term = (kernel.mag if self.norm == "l1" else kernel.sq)[:self.formats["term"].width]
        m.d.comb += [
            kernel.en.eq(en),
            acc.en.eq(en & valid),
            acc.first.eq(tag.first),
            acc.values[0].eq(term),
            self.sum.payload.eq(acc.sum),
        ]
        # Last stage: the accumulator; its sum is the output register.
        with m.If(en):
            m.d.sync += self.sum.valid.eq(valid & tag.last)
        return m


BLOCK = BlockSpec(StatsAccumulator, ("norm", "width", "frac", "max_count"),
                  defaults={"width": 16, "frac": 8, "max_count": 65536},
                  summary="sum |x - mu| (l1) or sum (x - mu)^2 (l2) over a channel, exact")

"""Sum of a stream of values, one or more lanes per cycle, in a width that cannot overflow."""

from amaranth import Cat, Module, Mux, Shape, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from l1bn.golden.accumulator import formats
from l1bn.golden.fixed import check_int

from .block import BlockSpec

__all__ = ["Accumulator", "SPLIT_ABOVE"]

#: Sums wider than this are accumulated in two halves (a carry-save step between them).
SPLIT_ABOVE = 40


class Accumulator(wiring.Component):
    """Running sum of up to ``max_count`` values, ``lanes`` values per cycle, exact.

    Parameters
    ----------
    width : int
        Width of each term, ``>= 1``.
    max_count : int
        Largest number of terms (all lanes together) in one sum. The sum is
        ``width + clog2(max_count)`` bits (:func:`l1bn.golden.accumulator.formats`), so no sum of
        ``max_count`` terms overflows.
    lanes : int
        Terms per cycle, ``>= 1``; more than one are first added by a registered adder tree.
    signed : bool
        Two's-complement terms and sum (default) or unsigned ones.

    Members
    -------
    en : ``In(1)``
        Clock enable: adds ``values`` when high; every register holds when low.
    first : ``In(1)``
        With ``en``: these terms start a new sum (the previous sum is dropped: clear and load in
        one cycle). There is no ``last``: the sum including the last terms is on ``sum``
        ``LATENCY`` enabled cycles after them and holds until the next enabled cycle.
    values : ``In(ArrayLayout(term_shape, lanes))``
        The terms; lane ``i`` is bits ``[i*width +: width]``. Lanes without data must be zero.
    sum : ``Out(sum_shape)``
        The running sum.

    Latency: 1 enabled cycle with one lane, 2 with more (the adder tree is registered).
    Throughput: ``lanes`` terms per cycle.

    A sum wider than :data:`SPLIT_ABOVE` bits is kept in two halves: each cycle adds the terms'
    low half to the low register and their high half, with the low half's carry of the cycle
    before, to the high register, so no adder spans the whole sum; ``sum`` adds the last
    pending carry (an increment of the high half). Same values and latency.
    """

    def __init__(self, *, width, max_count=65536, lanes=1, signed=True):
        self.lanes = check_int("lanes", lanes, 1)
        self.signed = bool(signed)
        self.formats = formats(width, max_count, lanes, self.signed)
        self.width, self.max_count = width, max_count
        self.LATENCY = 1 if lanes == 1 else 2
        term = Shape(width, self.signed)
        self.sum_shape = Shape(self.formats["sum"].width, self.signed)
        super().__init__({
            "en": In(1),
            "first": In(1),
            "values": In(data.ArrayLayout(term, self.lanes)),
            "sum": Out(self.sum_shape),
        })

    def elaborate(self, platform):
        m = Module()
        if self.lanes == 1:
            total, first = self.values[0], self.first
        else:
            # Stage 1: the lanes' sum (exact: width + clog2(lanes) bits), registered with `first`.
            total = Signal(Shape(self.formats["tree"].width, self.signed), name="tree_sum")
            first = Signal(name="tree_first")
            tree = [self.values[i] for i in range(self.lanes)]
            while len(tree) > 1:
                tree = [tree[i] + tree[i + 1] if i + 1 < len(tree) else tree[i]
                        for i in range(0, len(tree), 2)]
            with m.If(self.en):
                m.d.sync += [total.eq(tree[0]), first.eq(self.first)]
        sw = self.sum_shape.width
        if sw <= SPLIT_ABOVE:
            with m.If(self.en):
                m.d.sync += self.sum.eq(Mux(first, 0, self.sum) + total)
            return m
        h = sw // 2
        lo = Signal(h + 1, name="sum_lo")                       # low half and its carry
        hi = Signal(Shape(sw - h, self.signed), name="sum_hi")  # high half, one carry behind
        t = Signal(Shape(sw, self.signed), name="term")
        m.d.comb += t.eq(total)
        t_hi = t[h:].as_signed() if self.signed else t[h:]
        with m.If(self.en):
            m.d.sync += [lo.eq(Mux(first, 0, lo[:h]) + t[:h]),
                         hi.eq(Mux(first, 0, hi + lo[h]) + t_hi)]
        m.d.comb += self.sum.eq(Cat(lo[:h], hi + lo[h]))
        return m


BLOCK = BlockSpec(Accumulator, ("width", "lanes", "max_count"),
                  defaults={"width": 16, "lanes": 1, "max_count": 65536},
                  summary="running sum of lanes signed terms per cycle, exact (adder tree + accumulator)")

"""A sum over a stream of values whose width is derived so that it can never overflow."""

from amaranth import Module, Mux, Shape
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.fixed import check_int, sum_width

__all__ = ["Accumulator"]


class Accumulator(wiring.Component):
    """Running sum of ``max_count`` values at most, exact.

    Parameters
    ----------
    term_shape : Shape
        Shape of each term (signed or unsigned).
    max_count : int
        Largest number of terms in one sum, ``>= 1``. The sum is
        ``term_width + clog2(max_count)`` bits wide (:func:`golden.fixed.sum_width`) and keeps the
        term's signedness, so no sum of ``max_count`` terms overflows.

    Members
    -------
    en : ``In(1)``
        Adds ``value`` when high.
    first : ``In(1)``
        With ``en``: this term starts a new sum (the previous sum is dropped).
    value : ``In(term_shape)``
        Term.
    sum : ``Out(sum_shape)``
        The sum of the terms added since (and including) the last ``first``.

    Latency is 1 cycle (``sum`` includes a term the cycle after it is added); one term per cycle.
    """

    LATENCY = 1

    def __init__(self, *, term_shape, max_count):
        term_shape = Shape.cast(term_shape)
        self.term_shape = term_shape
        self.max_count = check_int("max_count", max_count, 1)
        self.sum_shape = Shape(sum_width(term_shape.width, max_count), term_shape.signed)
        super().__init__({
            "en": In(1),
            "first": In(1),
            "value": In(term_shape),
            "sum": Out(self.sum_shape),
        })

    def elaborate(self, platform):
        m = Module()
        with m.If(self.en):
            m.d.sync += self.sum.eq(Mux(self.first, 0, self.sum) + self.value)
        return m

"""d^2 at full precision: the L2 statistics' multiplier."""

from amaranth import Module, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.fixed import check_int

__all__ = ["Square"]


class Square(wiring.Component):
    """Square of a two's-complement value at full precision, registered.

    Parameters
    ----------
    width : int
        Width of ``d``, ``width >= 2``.

    Members
    -------
    en : ``In(1)``
        Clock enable of the pipeline register.
    d : ``In(signed(width))``
        Input value.
    sq : ``Out(unsigned(2*width - 1))``
        ``d*d``, exact: the largest, ``(-2**(width-1))**2 = 2**(2*width-2)``, needs ``2*width - 1``
        bits.

    Latency is 1 enabled cycle; throughput one value per cycle. The product is one
    combinational multiplier in front of the register.
    """

    LATENCY = 1

    def __init__(self, *, width):
        self.width = check_int("width", width, 2)
        super().__init__({
            "en": In(1),
            "d": In(signed(width)),
            "sq": Out(unsigned(2 * width - 1)),
        })

    def elaborate(self, platform):
        m = Module()
        with m.If(self.en):
            m.d.sync += self.sq.eq(self.d * self.d)
        return m

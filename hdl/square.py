"""d^2 at full precision: the L2 statistics' multiplier."""

from amaranth import Module, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from l1bn.golden.fixed import check_int
from l1bn.golden.square import formats

from .block import BlockSpec
from .multiplier import Multiplier, check_stages

__all__ = ["Square"]


class Square(wiring.Component):
    """Square of a two's-complement value at full precision, on a multiplier.

    Both factors of the :class:`~l1bn.hdl.multiplier.Multiplier` are ``d``; nothing squaring-specific
    is exploited, so the L2 statistics pay for a general ``width x width`` multiplier.

    Parameters
    ----------
    width : int
        Width of ``d``, ``width >= 2``.
    stages : int
        Pipeline stages of the multiplier, 1 or 2 (default 2).

    Members
    -------
    en : ``In(1)``
        Clock enable: every pipeline register loads only when ``en`` is high.
    d : ``In(signed(width))``
        Input value.
    sq : ``Out(unsigned(2*width - 1))``
        ``d*d``, exact: the largest, ``(-2**(width-1))**2 = 2**(2*width-2)``, needs ``2*width - 1``
        bits (the multiplier's sign bit is always 0 and is dropped).

    Latency is ``LATENCY = stages`` enabled cycles (the multiplier's); throughput one value per
    cycle.
    """

    def __init__(self, *, width, stages=2):
        self.width = check_int("width", width, 2)
        check_stages(stages)
        self.multiplier = Multiplier(a_width=width, b_width=width, stages=stages)
        self.LATENCY = self.multiplier.LATENCY
        self.formats = formats(width)
        super().__init__({
            "en": In(1),
            "d": In(signed(width)),
            "sq": Out(unsigned(2 * width - 1)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.multiplier = mul = self.multiplier
        m.d.comb += [
            mul.en.eq(self.en),
            mul.a.eq(self.d),
            mul.b.eq(self.d),
            self.sq.eq(mul.p[:2 * self.width - 1]),
        ]
        return m


BLOCK = BlockSpec(Square, ("width", "stages"), defaults={"width": 16, "stages": 2},
                  summary="d*d at full precision on the (pipelined) multiplier: the L2 "
                          "non-linearity")

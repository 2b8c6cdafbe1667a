"""|d| and sgn(d): the L1 statistics' and the L1 backward's only non-linear operation."""

from amaranth import Module, Mux, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from l1bn.golden.fixed import Fmt, check_int

from .block import BlockSpec

__all__ = ["AbsSign"]


class AbsSign(wiring.Component):
    """Magnitude and sign of a two's-complement value, registered.

    ``mag = |d|`` and ``sgn = sgn(d)`` with ``sgn(0) = 0`` (see :func:`l1bn.golden.fixed.sign`).
    No multiplier: ``|d| = (d - neg) ^ neg`` bit by bit, one adder (``d`` plus the sign bit in
    every position) and an XOR.

    Parameters
    ----------
    width : int
        Width of ``d``, ``width >= 2``.

    Members
    -------
    en : ``In(1)``
        Clock enable: the pipeline register loads only when ``en`` is high.
    d : ``In(signed(width))``
        Input value.
    mag : ``Out(unsigned(width))``
        ``|d|``; ``width`` bits so that ``|-2**(width-1)| = 2**(width-1)`` fits.
    sgn : ``Out(signed(2))``
        -1, 0 or +1.

    Latency is 1 enabled cycle; throughput one value per cycle.
    """

    LATENCY = 1

    def __init__(self, *, width):
        self.width = check_int("width", width, 2)
        self.formats = {"d": Fmt(width, 0), "mag": Fmt(width, 0, signed=False), "sgn": Fmt(2, 0)}
        super().__init__({
            "en": In(1),
            "d": In(signed(width)),
            "mag": Out(unsigned(width)),
            "sgn": Out(signed(2)),
        })

    def elaborate(self, platform):
        m = Module()
        neg = self.d[-1]
        # |d| = (d - neg) ^ neg per bit (-d = ~(d - 1)): d plus neg in every bit is one adder
        # whose carry needs only d's bit and neg, and the XOR folds into its sum function (on
        # an FPGA one LUT per bit beside the carry chain), instead of a negator and a mux.
        ones = neg.replicate(self.width)
        with m.If(self.en):
            m.d.sync += [
                self.mag.eq((self.d + ones.as_signed())[:self.width] ^ ones),
                self.sgn.eq(Mux(neg, -1, self.d != 0)),
            ]
        return m


BLOCK = BlockSpec(AbsSign, ("width",), defaults={"width": 16},
                  summary="|d| and sgn(d) (sgn(0) = 0), registered: the L1 non-linearity")

"""Signed x signed multiplier at full precision, one or two pipeline stages."""

from amaranth import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.fixed import check_int
from golden.multiplier import formats

from .block import BlockSpec
from .round_sat import add_shifted

__all__ = ["Multiplier", "STAGES", "check_stages"]

#: The pipeline depths a multiplier can have.
STAGES = (1, 2)


def check_stages(stages):
    """Return ``stages`` if it is one of :data:`STAGES`, else raise ``ValueError``.

    Blocks built on a multiplier call this before creating it, so that a bad value leaves no
    half-built component behind.
    """
    if isinstance(stages, bool) or not isinstance(stages, int) or stages not in STAGES:
        raise ValueError(f"stages must be one of {', '.join(map(str, STAGES))}, got {stages!r}")
    return stages


class Multiplier(wiring.Component):
    """Exact product ``p = a * b`` of two two's-complement values, clock-enabled and pipelined.

    * ``stages=1``: one combinational ``a_width x b_width`` multiplier into the output register.
    * ``stages=2``: ``b`` is split into a low, unsigned half ``b_lo = b[:b_width // 2]`` and a high,
      signed half ``b_hi = b[b_width // 2:]`` (so ``b = b_hi * 2**(b_width // 2) + b_lo``). Stage 1
      registers the two partial products ``a * b_lo`` and ``a * b_hi``, each from a multiplier
      about half as wide; stage 2 registers their aligned sum (the low ``b_width // 2`` bits are
      ``a * b_lo``'s, so the adder is ``a_width + b_width - b_width // 2`` bits wide). The critical
      path is one half-width multiplier, or one adder, instead of the full multiplier.

    Parameters
    ----------
    a_width, b_width : int
        Widths of ``a`` and ``b``, both ``>= 2``.
    stages : int
        Pipeline stages, 1 or 2 (default 2).

    Members
    -------
    en : ``In(1)``
        Clock enable: every pipeline register loads only when ``en`` is high.
    a : ``In(signed(a_width))``
    b : ``In(signed(b_width))``
        Factors (integer codes; fixed-point callers keep track of the fraction bits).
    p : ``Out(signed(a_width + b_width))``
        ``a * b``, exact: ``(-2**(a_width-1)) * (-2**(b_width-1)) = 2**(a_width+b_width-2)`` is
        the largest magnitude and fits.

    Latency is ``stages`` enabled cycles (``LATENCY``); throughput one product per cycle.
    """

    def __init__(self, *, a_width, b_width, stages=2):
        self.a_width = check_int("a_width", a_width, 2)
        self.b_width = check_int("b_width", b_width, 2)
        self.stages = self.LATENCY = check_stages(stages)
        self.formats = formats(a_width, b_width)
        super().__init__({
            "en": In(1),
            "a": In(signed(a_width)),
            "b": In(signed(b_width)),
            "p": Out(signed(a_width + b_width)),
        })

    def elaborate(self, platform):
        m = Module()
        if self.stages == 1:
            with m.If(self.en):
                m.d.sync += self.p.eq(self.a * self.b)
            return m
        lo = self.b_width // 2
        b_lo, b_hi = self.b[:lo], self.b[lo:].as_signed()
        # Stage 1: the partial products. a * b_lo lies in (-2**(a_width+lo-1), 2**(a_width+lo-1)).
        p_lo = Signal(signed(self.a_width + lo))
        p_hi = Signal(signed(self.a_width + self.b_width - lo))
        # Stage 2: their aligned sum p_lo + p_hi * 2**lo, exact in a_width + b_width bits (the low
        # lo bits are p_lo's: the adder is a_width + b_width - lo bits wide).
        with m.If(self.en):
            m.d.sync += [
                p_lo.eq(self.a * b_lo),
                p_hi.eq(self.a * b_hi),
                self.p.eq(add_shifted(p_lo, p_hi, lo)),
            ]
        return m


def _block(*, width, b_width=None, stages=2):
    """The registered form: ``a`` is ``width`` bits, ``b`` as wide unless ``b_width`` is given."""
    return Multiplier(a_width=width, b_width=width if b_width is None else b_width, stages=stages)


BLOCK = BlockSpec(_block, ("width", "b_width", "stages"),
                  defaults={"width": 16, "b_width": None, "stages": 2},
                  summary="signed a*b at full precision; stages=2 splits b and registers the "
                          "partial products")

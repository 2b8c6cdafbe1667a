"""Signed x signed multiplier at full precision, one or two pipeline stages."""

from amaranth import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.fixed import check_int
from golden.multiplier import formats

from .block import BlockSpec
from .round_sat import add_shifted

__all__ = ["Multiplier", "SLICE", "STAGES", "check_stages"]

#: The pipeline depths a multiplier can have.
STAGES = (1, 2)
#: Widest slice of the split factor of a two-stage multiplier: an FPGA DSP block's 18 bits.
SLICE = 18


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
    * ``stages=2``: the wider factor (``b`` when both are as wide), say ``b`` of ``n`` bits, is
      split into ``k = max(2, ceil(n / SLICE))`` slices of about ``n / k`` bits, unsigned but the
      top one (signed), so that ``b = sum(b_j * 2**o_j)``. Stage 1 registers the partial
      products ``a * b_j``, each from a multiplier at most :data:`SLICE` bits wide on that side;
      stage 2 registers their aligned sum (the low ``o_1`` bits are ``a * b_0``'s, unadded). The
      critical path is one slice multiplier, or the adders, instead of the full multiplier.
      Splitting the wider factor keeps each partial product as square as possible, and the
      slices fit an FPGA's 18 x 18 DSP blocks: a 26 x 16 product becomes two 13 x 16 ones, one
      block each, where two 26 x 8 ones would take two blocks each; a 51 x 25 product becomes
      three 17 x 25 ones.

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
        # Split the wider factor y into k slices at offsets o; x is the other factor.
        x, y = (self.b, self.a) if self.a_width > self.b_width else (self.a, self.b)
        n = len(y)
        k = max(2, -(-n // SLICE))
        o = [j * n // k for j in range(k)] + [n]
        # Stage 1: the partial products x * y_j, exact in len(x) + (o[j+1] - o[j]) bits (the top
        # slice is signed; the others are unsigned).
        parts = []
        for j in range(k):
            y_j = y[o[j]:o[j + 1]]
            p_j = Signal(signed(len(x) + o[j + 1] - o[j]), name=f"p{j}")
            with m.If(self.en):
                m.d.sync += p_j.eq(x * (y_j.as_signed() if j == k - 1 else y_j))
            parts.append(p_j)
        # Stage 2: the aligned sum, exact in a_width + b_width bits, from the top slice down.
        total = parts[-1]
        for j in range(k - 2, -1, -1):
            total = add_shifted(parts[j], total, o[j + 1] - o[j])
        with m.If(self.en):
            m.d.sync += self.p.eq(total)
        return m


def _block(*, width, b_width=None, stages=2):
    """The registered form: ``a`` is ``width`` bits, ``b`` as wide unless ``b_width`` is given."""
    return Multiplier(a_width=width, b_width=width if b_width is None else b_width, stages=stages)


BLOCK = BlockSpec(_block, ("width", "b_width", "stages"),
                  defaults={"width": 16, "b_width": None, "stages": 2},
                  summary="signed a*b at full precision; stages=2 splits the wider factor into "
                          "slices of at most 18 bits and registers the partial products")

"""Signed x signed multiplier at full precision, one or two pipeline stages."""

from amaranth import Cat, Module, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from l1bn.golden.fixed import check_int
from l1bn.golden.multiplier import formats

from .block import BlockSpec, Int

__all__ = ["MAX_TILES", "Multiplier", "SLICE", "STAGES", "check_stages"]

#: The pipeline depths a multiplier can have.
STAGES = (1, 2)
#: Widest slice of a two-stage multiplier's factors: an FPGA DSP block's 18 bits.
SLICE = 18
#: Most tiles a two-stage multiplier splits into (its second stage: two adder levels); past
#: that, the narrower factor stays whole.
MAX_TILES = 4


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
    * ``stages=2``: both factors are cut into slices of at most :data:`SLICE` bits, the wider
      one (``b`` when both are as wide) into at least two; the slices are unsigned but each
      factor's top one (signed), so that ``a = sum(a_i * 2**o_i)``, ``b = sum(b_j * 2**o_j)``.
      Stage 1 registers every tile product ``a_i * b_j``; stage 2 registers their aligned sum,
      by a balanced tree of adders (the low bits of each pair are the lower tile's, unadded).
      Past :data:`MAX_TILES` tiles the narrower factor stays whole (its slices of the wider
      one are then up to :data:`SLICE` by the narrower width). The critical path is one tile
      product, or the adder tree, instead of the full multiplier; each tile fits an FPGA's
      18 x 18 DSP block with its output registered: a 26 x 16 product is two 13 x 16 tiles,
      a 25 x 25 square four 12/13 x 12/13 tiles, a 51 x 25 product three 17 x 25 slices.

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
        # Split both factors into slices of at most SLICE bits (the wider one into at least two):
        # slices are unsigned but each factor's top one (signed).
        def slices(v, k):
            o = [j * len(v) // k for j in range(k)] + [len(v)]
            return [(v[o[j]:o[j + 1]].as_signed() if j == k - 1 else v[o[j]:o[j + 1]], o[j])
                    for j in range(k)]

        x, y = (self.b, self.a) if self.a_width > self.b_width else (self.a, self.b)
        ky = max(2, -(-len(y) // SLICE))
        kx = -(-len(x) // SLICE)
        xs = slices(x, kx if kx * ky <= MAX_TILES else 1)
        ys = slices(y, ky)
        # Stage 1: one registered tile product per pair of slices, exact in the sum of their
        # widths (unsigned when both slices are).
        tiles = []
        for i, (xi, oi) in enumerate(xs):
            for j, (yj, oj) in enumerate(ys):
                shape = xi.shape().width + yj.shape().width
                signed_ = xi.shape().signed or yj.shape().signed
                t = Signal(signed(shape) if signed_ else unsigned(shape), name=f"p{i}_{j}")
                with m.If(self.en):
                    m.d.sync += t.eq(xi * yj)
                tiles.append((oi + oj, t))
        # Stage 2: the aligned sum, exact in a_width + b_width bits, by a balanced tree of
        # adders (neighbours in offset order); the low bits of each pair are the lower's, unadded.
        tiles.sort(key=lambda t: t[0])
        while len(tiles) > 1:
            tiles = [(lo[0], _add_aligned(lo[1], hi[1], hi[0] - lo[0]))
                     for lo, hi in zip(tiles[::2], tiles[1::2])] + tiles[len(tiles) // 2 * 2:]
        with m.If(self.en):
            m.d.sync += self.p.eq(tiles[0][1])
        return m


def _add_aligned(lo, hi, shift):
    """``lo + hi * 2**shift``, exact; the low ``shift`` bits are ``lo``'s, unadded. Unsigned only
    when both are (``0 <= shift <= len(lo)``)."""
    assert 0 <= shift <= len(lo), (shift, len(lo))
    total = Cat(lo[:shift], (lo >> shift) + hi)
    return total.as_signed() if lo.shape().signed or hi.shape().signed else total


def _block(*, width, b_width=None, stages=2):
    """The registered form: ``a`` is ``width`` bits, ``b`` as wide unless ``b_width`` is given."""
    return Multiplier(a_width=width, b_width=width if b_width is None else b_width, stages=stages)


BLOCK = BlockSpec(_block, ("width", "b_width", "stages"),
                  defaults={"width": 16, "b_width": None, "stages": 2},
                  summary="signed a*b at full precision; stages=2 cuts the factors into slices of "
                          "at most 18 bits and registers the tile products",
                  bounds={"b_width": Int(2, 64)})

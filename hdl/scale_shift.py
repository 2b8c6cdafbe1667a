"""``y = a*x + b`` rounded and saturated: the folded batch-norm affine (inference) of both norms."""

from amaranth import C, Cat, Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from l1bn.golden.fixed import check_int
from l1bn.golden.scale_shift import formats

from .block import BlockSpec, Int
from .multiplier import Multiplier, check_stages
from .round_sat import saturate

__all__ = ["ScaleShift"]


class ScaleShift(wiring.Component):
    """``y = a*x + b``, rounded to nearest (ties up) and saturated, one value per cycle.

    Inference folds both L1BN and L2BN to this affine map (``a = gamma / s``,
    ``b = beta - mu * a``). The product is exact; ``b`` is aligned to its fraction bits and added
    exactly; the sum is rounded once, ``half_up`` (:func:`l1bn.golden.fixed.shift_right`), and
    saturated. Bit for bit as :func:`l1bn.golden.scale_shift.scale_shift`.

    Parameters
    ----------
    width, frac : int
        Format ``Q(width, frac)`` of ``x`` and ``y``; ``width >= 2``, ``0 <= frac <= width``.
    coef_width, coef_frac : int or None
        Format ``Q(coef_width, coef_frac)`` of ``a`` and ``b``; ``coef_width >= 2``,
        ``0 <= coef_frac <= coef_width``. Defaults (``None``): ``coef_width = width + 2`` and
        ``coef_frac = frac``: the data's resolution with two more integer bits, so ``a`` reaches
        ``+-2**(width - frac + 1)`` (``gamma / s`` with ``s`` well below 1) and ``b`` four times
        the data range before the output saturates.
    stages : int
        Pipeline stages of the :class:`~l1bn.hdl.multiplier.Multiplier`, 1 or 2 (default 2).

    Members
    -------
    en : ``In(1)``
        Clock enable: every pipeline register loads only when ``en`` is high.
    x : ``In(signed(width))``
        Input value, ``Q(width, frac)``.
    a, b : ``In(signed(coef_width))``
        Scale and shift, ``Q(coef_width, coef_frac)``, sampled with the ``x`` they apply to.
    y : ``Out(signed(width))``
        ``a*x + b`` in ``Q(width, frac)``: within half an LSB unless saturated.
    sat : ``Out(1)``
        1 when ``y`` was clamped to the most negative or the largest code.

    Latency: ``LATENCY = stages + 2`` enabled cycles (the multiplier, one stage that adds and
    rounds: the rounding half rides in with ``b``, so that stage is one adder; one that
    saturates); throughput one value per cycle.
    """

    def __init__(self, *, width, frac, coef_width=None, coef_frac=None, stages=2):
        check_int("width", width, 2)
        check_stages(stages)
        if coef_width is not None:
            check_int("coef_width", coef_width, 2)
        self.formats = formats(width, frac, coef_width, coef_frac)
        self.width, self.frac = width, frac
        self.coef_width, self.coef_frac = self.formats["a"].width, self.formats["a"].frac
        self.multiplier = Multiplier(a_width=self.coef_width, b_width=width, stages=stages)
        self.LATENCY = self.multiplier.LATENCY + 2
        super().__init__({
            "en": In(1),
            "x": In(signed(width)),
            "a": In(signed(self.coef_width)),
            "b": In(signed(self.coef_width)),
            "y": Out(signed(width)),
            "sat": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.multiplier = mul = self.multiplier
        m.d.comb += [mul.en.eq(self.en), mul.a.eq(self.a), mul.b.eq(self.x)]
        # b travels beside the product; its last register holds b aligned to the product's
        # fraction bits plus the rounding half, so that the last stage has one adder:
        # floor((p + b * 2**frac + half) / 2**coef_frac) is the half-up rounding of the sum.
        n = self.coef_frac
        b = self.b
        for i in range(mul.LATENCY - 1):
            b_next = Signal(signed(self.coef_width), name=f"b_{i + 1}")
            with m.If(self.en):
                m.d.sync += b_next.eq(b)
            b = b_next
        b_half = Signal(signed(self.coef_width + self.frac + 1), name="b_half")
        with m.If(self.en):
            m.d.sync += b_half.eq(Cat(C(0, self.frac), b).as_signed() + (1 << n >> 1))
        # Last stage: the exact sum, floored (rounded by the half in b_half), saturated. Only the
        # carry out of the low n bits is needed: p_lo + b_lo >= 2**n, i.e. p_lo > ~b_lo.
        if n:
            carry = mul.p[:n] > ~b_half[:n]
            total = (mul.p >> n) + (b_half >> n) + carry
        else:
            total = mul.p + b_half
        # The sum is registered; the last stage saturates it.
        total_r = Signal(signed(len(total)), name="sum")
        y, sat = saturate(total_r, self.formats["y"])
        with m.If(self.en):
            m.d.sync += [total_r.eq(total), self.y.eq(y), self.sat.eq(sat)]
        return m


BLOCK = BlockSpec(ScaleShift, ("width", "frac", "coef_width", "coef_frac", "stages"),
                  defaults={"width": 16, "frac": 8, "coef_width": None, "coef_frac": None,
                            "stages": 2},
                  summary="y = a*x + b, rounded half-up and saturated (with a sat flag): the "
                          "folded inference affine",
                  bounds={"coef_width": Int(2, 66),
                          "coef_frac": Int(0, ("coef_width", -1, ("width", 1)))})

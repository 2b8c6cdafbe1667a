"""One lane of the l2 BN backward: ``dx = A*e - B*d + K``, each factor ``+-mant * 2**-e``,
rounded and saturated."""

from amaranth import Module, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from l1bn.golden.centred_scale import pair_exp, pair_limit_bits, pair_shift_cap
from l1bn.golden.fixed import Fmt

from .centred_scale import centred_sum, centred_term, lane_block, lane_parameters

__all__ = ["CentredPair"]


class CentredPair(wiring.Component):
    """``dx = p(A, e) - p(B, d) + k`` with two factors ``+-mant * 2**-(e_p + shift)``, one value
    per cycle.

    The lane of the l2 BN backward (:mod:`l1bn.golden.bn_backward`), bit for bit as
    :func:`l1bn.golden.centred_scale.centred_pair`: each product ``mant * |v|`` (exact, unsigned) is
    shifted onto the grid of ``guard`` fraction bits below the data's (truncated, by ``guard -
    e_p - shift`` bits, ``e_p = -(width+3)``, :func:`~l1bn.golden.centred_scale.pair_exp`) and
    limited to ``2**L - 1``, ``L = mant_width + width + 2 + guard``
    (:func:`~l1bn.golden.centred_scale.pair_limit_bits`); the magnitude takes the sign ``neg xor
    (v < 0)``; the difference of the two terms plus ``k`` is exact, rounded to nearest, ties up,
    and saturated to ``Q(width, frac)``. The two terms are those of
    :class:`~l1bn.hdl.centred_scale.CentredScale` (stages 1 to 5 of
    :func:`~l1bn.hdl.centred_scale.centred_term`, one each) with another exponent base and limit;
    the second is built with the sign ``~neg_b xor (d < 0)``, that of ``-p(B, d)``.

    Stages (each register loads on ``en``):

    1. ``|e|``, ``|d|`` (``(v - n) ^ n`` with ``n`` the sign bit) and the signs ``s_a = neg_a xor
       (e < 0)``, ``s_b = ~neg_b xor (d < 0)``; the mantissas, shifts and ``k`` registered beside;
    2. the products ``mant_a * |e|`` and ``mant_b * |d|``: two unsigned ``mant_width x
       (width+1)`` multipliers (18 x 17 at width 16) into registers; beside them ``k`` takes
       the two negations' ``+1``: ``k + (s_a + s_b)`` (``-q = ~q + 1``);
    3. the products registered once more (the DSP blocks' output registers);
    4. each product aligned to the grid (``guard + width + 3`` bits left; ``shift_cap`` bits in
       all), then shifted right by the high bits of its shift;
    5. shifted right by the low bits of its shift and limited to ``2**L - 1``. ``shift_cap``
       bits shifted by ``shift_cap`` or more are 0, so a shift port takes any value its width
       allows and those above the cap act as the cap does;
    6. ``z = (q_a ^ -s_a) + (q_b ^ -s_b) + (k + s_a + s_b)``: one three-operand sum, exact in
       ``L + 3`` bits;
    7. rounded and saturated by :func:`~l1bn.hdl.round_sat.round_saturate`.

    Parameters
    ----------
    width, frac : int
        Format ``Q(width, frac)`` of ``dx``; ``width >= 2``, ``0 <= frac < width``.
    guard : int
        Fraction bits of the products and ``k`` below the data's, ``guard >= 0``.
    mant_width : int or None
        Bits of the factors' mantissas, ``mant_width >= width + 2``. Default (``None``): 18 up
        to width 16, else ``width + 2`` (as :class:`~l1bn.hdl.centred_scale.CentredScale`).

    Members
    -------
    en : ``In(1)``
        Clock enable: every pipeline register loads only when ``en`` is high.
    e, d : ``In(signed(width + 1))``
        The centred values ``dy - mu_dyF`` and ``x - mu_F``, ``Q(width+1, frac)``.
    mant_a, mant_b : ``In(unsigned(mant_width))``
        The factors' mantissas.
    shift_a, shift_b : ``In(unsigned(bit_length(shift_cap)))``
        The factors' exponents less ``e_p``: ``|A| = mant_a * 2**-(e_p + shift_a)``;
        ``shift_cap = guard - e_p + mant_width + width + 1``
        (:func:`~l1bn.golden.centred_scale.pair_shift_cap`).
    neg_a, neg_b : ``In(1)``
        The factors' signs (1: negative).
    k : ``In(signed(L))``
        The constant, ``Q(L, frac+guard)``. Every input but ``en`` is sampled together.
    dx : ``Out(signed(width))``
        The lane's output, ``Q(width, frac)``.
    sat : ``Out(1)``
        1 when ``dx`` was clamped to the most negative or the largest code.

    Widths (``guard`` 8, ``mant_width`` by default): at width 16 ``e`` and ``d`` 17, ``mant_a``
    and ``mant_b`` 18, ``shift_a`` and ``shift_b`` 6 (``shift_cap`` 62), ``k`` 44 (``L``),
    ``dx`` 16 bits, each product 18 x 17 = 35 bits, the sum 47; at width 32 ``e`` and ``d``
    33, the mantissas 34, the shifts 7 (``shift_cap`` 110), ``k`` 76, ``dx`` 32 bits, each
    product 34 x 33 = 67 bits, the sum 79.

    Latency: ``LATENCY = 7`` enabled cycles; throughput one value per cycle.
    """

    LATENCY = 7

    def __init__(self, *, width, frac, guard, mant_width=None):
        width, frac, guard, mant_width = lane_parameters(width, frac, guard, mant_width)
        self.width, self.frac, self.guard, self.mant_width = width, frac, guard, mant_width
        self.limit_bits = pair_limit_bits(width, guard, mant_width)
        self.shift_cap = pair_shift_cap(width, guard, mant_width)
        self.formats = {"e": Fmt(width + 1, frac), "d": Fmt(width + 1, frac),
                        "mant": Fmt(mant_width, 0, signed=False),
                        "k": Fmt(self.limit_bits, frac + guard), "dx": Fmt(width, frac)}
        shift = unsigned(self.shift_cap.bit_length())
        super().__init__({
            "en": In(1),
            "e": In(signed(width + 1)),
            "d": In(signed(width + 1)),
            "mant_a": In(unsigned(mant_width)),
            "shift_a": In(shift),
            "neg_a": In(1),
            "mant_b": In(unsigned(mant_width)),
            "shift_b": In(shift),
            "neg_b": In(1),
            "k": In(signed(self.limit_bits)),
            "dx": Out(signed(width)),
            "sat": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        # Stages 1 to 5: each term's magnitude and sign (the second that of -p(B, d)).
        terms = [centred_term(m, self.en, v, mant, shift, neg, guard=self.guard,
                              exp=pair_exp(self.width), limit_bits=self.limit_bits,
                              prefix=prefix)
                 for prefix, v, mant, shift, neg in (
                     ("a_", self.e, self.mant_a, self.shift_a, self.neg_a),
                     ("b_", self.d, self.mant_b, self.shift_b, ~self.neg_b))]
        # Beside them k, k + s_a + s_b from stage 2; stage 6: z = (q_a ^ -s_a) + (q_b ^ -s_b)
        # + (k + s_a + s_b), one sum; stage 7: rounded half up and saturated.
        centred_sum(m, self.en, terms, self.k, "k", guard=self.guard, fmt=self.formats["dx"],
                    y=self.dx, sat=self.sat)
        return m


BLOCK = lane_block(CentredPair, "one lane of the l2 BN backward: two products +-mant * |v| "
                                "shifted onto a grid of guard bits, limited, signed, their "
                                "difference plus a constant k, rounded half up and saturated "
                                "(with a sat flag)")

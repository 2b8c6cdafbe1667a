"""One lane of the BN normalize pass: ``y = +-mant * 2**-e * d + b'``, rounded and saturated."""

from typing import NamedTuple

from amaranth import C, Cat, Module, Signal, Value, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from l1bn.golden.centred_scale import formats, shift_cap
from l1bn.golden.fixed import check_int

from .block import BlockSpec, Int
from .round_sat import round_saturate

__all__ = ["CentredScale", "Term", "centred_sum", "centred_term", "lane_block", "lane_parameters",
           "register"]


def lane_parameters(width, frac, guard, mant_width):
    """``(width, frac, guard, mant_width)`` of a centred lane, checked (``ValueError`` naming the
    first bad one); ``mant_width`` None is the default, 18 up to width 16, else ``width + 2``."""
    check_int("width", width, 2)
    check_int("frac", frac, 0, width - 1)
    check_int("guard", guard, 0)
    if mant_width is None:
        mant_width = 18 if width <= 16 else width + 2
    check_int("mant_width", mant_width, width + 2)
    return width, frac, guard, mant_width


def lane_block(cls, summary):
    """The :class:`~l1bn.hdl.block.BlockSpec` of the centred lane ``cls``: keyword parameters
    ``width``, ``frac``, ``guard`` and ``mant_width`` (:func:`lane_parameters`)."""
    return BlockSpec(cls, ("width", "frac", "guard", "mant_width"),
                     defaults={"width": 16, "frac": 8, "guard": 8, "mant_width": None},
                     summary=summary, bounds={"mant_width": Int(("width", 2), 96)})


def register(m, en, name, value):
    """``value`` in a register named ``name`` of its shape, loaded when ``en`` is high."""
    r = Signal(value.shape(), name=name)
    with m.If(en):
        m.d.sync += r.eq(value)
    return r


class Term(NamedTuple):
    """A signed centred product from :func:`centred_term`: ``z = -q`` if ``sign`` else ``q``."""
    q: Value
    """The magnitude, ``limit_bits`` bits unsigned (stage 5's register)."""
    sign: Value
    """The sign (1: negative), beside ``q``."""
    sign_1: Value
    """The sign at stage 1: the ``+1`` of the negation, for a constant added at stage 2."""

    def flipped(self):
        """``q ^ -s``, signed and one bit wider than ``q``: ``z - s`` (``-q = ~q + 1``), so
        that ``z`` is this plus the ``sign_1`` the constant took."""
        return (Cat(self.q, 0) ^ self.sign.replicate(len(self.q) + 1)).as_signed()


def centred_term(m, en, v, mant, shift, neg, *, guard, exp, limit_bits, prefix="", tiles=1):
    """Stages 1 to 5 of a centred product of the signed value ``v`` and the factor
    ``+-mant * 2**-(exp + shift)`` on a grid of ``guard`` fraction bits below ``v``'s: the
    magnitude ``q = min(floor(mant * |v| * 2**(guard - exp - shift)), 2**limit_bits - 1)`` and
    its sign ``neg xor (v < 0)``, as a :class:`Term` after five registers loaded on ``en``
    (named ``prefix`` + ``mag_1``, ``prod_2``, ..., ``q_5``).

    1. ``|v| = (v - n) ^ n`` with ``n`` its sign bit (one adder, the XOR in its sum LUTs; as
       :class:`~l1bn.hdl.abs_sign.AbsSign`) and the sign; ``mant`` and ``shift`` registered beside;
    2. the product ``mant * |v|``: one unsigned ``len(mant) x len(v)`` multiplier into a
       register (``tiles`` > 1: that many, of slices of ``ceil(len(v) / tiles)`` bits of
       ``|v|``);
    3. the product registered once more (with stage 1's registers: the DSP block's input,
       pipeline and output registers; ``tiles`` > 1: the slices' products summed);
    4. the product aligned to the grid (``guard - exp`` constant bits: left when positive, else
       right), then shifted right by the high bits of ``shift`` (a multiple of ``2**k``,
       ``k = len(shift) // 2``);
    5. shifted right by the low ``k`` bits of ``shift`` and limited (every bit set when a bit
       from ``limit_bits`` up is).

    The aligned product has ``len(mant) + len(v) + guard - exp`` bits: shifts from that number
    up give ``q = 0``, as the golden models' cap on the shift does.
    """
    w1 = len(v)

    def reg(name, value):
        return register(m, en, prefix + name, value)

    # Stage 1: |v| = (v - n) ^ n, the product's sign.
    n = v[-1].replicate(w1)
    mag = reg("mag_1", (v + n.as_signed())[:w1] ^ n)
    sign = sign_1 = reg("sign_1", neg ^ v[-1])
    mant, shift = reg("mant_1", mant), reg("shift_1", shift)
    # Stage 2: the product, one unsigned multiplier (or two halves) into a register.
    h = -(-w1 // tiles)
    parts = [reg("prod_2" if tiles == 1 else f"prod{i}_2", mant * mag[i * h:(i + 1) * h])
             for i in range(tiles)]
    sign, shift = reg("sign_2", sign), reg("shift_2", shift)
    # Stage 3: the product once more (the DSP block's output register), or the slices' sum.
    total = parts[0]
    for i, part in enumerate(parts[1:], 1):
        total = total + (part << i * h)
    prod = reg("prod_3", total[:len(mant) + w1])
    sign, shift = reg("sign_3", sign), reg("shift_3", shift)
    # Stage 4: onto the grid, then right by shift's high bits.
    k = len(shift) // 2
    aligned = prod.shift_left(guard - exp)
    coarse = reg("coarse_4", aligned >> Cat(C(0, k), shift[k:]))
    sign, low = reg("sign_4", sign), reg("shift_4", shift[:k])
    # Stage 5: right by shift's low bits, then the limit.
    wide = coarse >> low
    q = reg("q_5", wide[:limit_bits] | wide[limit_bits:].any().replicate(limit_bits))
    return Term(q, reg("sign_5", sign), sign_1)


def centred_sum(m, en, terms, const, name, *, guard, fmt, y, sat):
    """The stages beside and after :func:`centred_term`'s: ``y`` and ``sat`` (registers loaded
    on ``en``) are ``saturate_flags(shift_right(sum z_t + const, guard, "half_up"), fmt)`` of
    the signed ``terms`` (:class:`Term`) and the signed ``const``, sampled with the terms'
    inputs.

    1. ``const`` registered (``name`` + ``_1``);
    2. plus the terms' stage 1 signs, the negations' ``+1`` (``-q = ~q + 1``);
    3. to 5. registered beside the terms;
    6. ``sum (q_t ^ -s_t) + (const + sum s_t)``: one sum, exact (``sum_6``);
    7. rounded and saturated by :func:`~l1bn.hdl.round_sat.round_saturate` into ``y`` and ``sat``.
    """
    def reg(reg_name, value):
        return register(m, en, reg_name, value)

    ones = terms[0].sign_1
    for t in terms[1:]:
        ones = ones + t.sign_1
    const = reg(f"{name}_2", reg(f"{name}_1", const) + ones)
    for stage in (3, 4, 5):
        const = reg(f"{name}_{stage}", const)
    total = terms[0].flipped()
    for t in terms[1:]:
        total = total + t.flipped()
    out, flag = round_saturate(reg("sum_6", total + const), guard, fmt)
    with m.If(en):
        m.d.sync += [y.eq(out), sat.eq(flag)]


class CentredScale(wiring.Component):
    """``y = a*d + b'`` with the gain ``a = +-mant * 2**-(e_c + shift)``, one value per cycle.

    The lane of the BN normalize pass (:mod:`l1bn.golden.bn_forward`, step 6), bit for bit as
    :func:`l1bn.golden.centred_scale.centred_scale`: the product ``mant * |d|`` (exact, unsigned),
    shifted onto the bias's grid of ``guard`` fraction bits below the data's (truncated, by
    ``guard - e_c - shift`` bits, ``e_c = mant_width - width - 2``) and limited to
    ``2**(width+2+guard) - 1``; that magnitude takes the sign ``neg xor (d < 0)``, the bias is
    added exactly, and the sum is rounded to nearest, ties up, and saturated to ``Q(width, frac)``.

    Stages (each register loads on ``en``):

    1. ``|d| = (d - n) ^ n`` with ``n`` its sign bit (as :class:`~l1bn.hdl.abs_sign.AbsSign`) and the
       product's sign ``s = neg xor (d < 0)``; ``mant``, ``shift`` and ``bias`` registered beside;
    2. the product ``mant * |d|``: one unsigned ``mant_width x (width+1)`` multiplier (18 x 17
       at width 16: one ECP5 ``MULT18X18D``) into a register; beside it the bias takes the
       negation's ``+1``: ``b' + s`` (``-q = ~q + 1``);
    3. the product registered once more (with stage 1's registers: the DSP block's input,
       pipeline and output registers);
    4. the product aligned to the bias's grid (``guard - e_c`` constant bits: left when positive,
       else right; ``shift_cap`` bits in all), then shifted right by the high bits of ``shift``
       (a multiple of ``2**k``, ``k = bit_length(shift_cap) // 2``);
    5. shifted right by the low ``k`` bits of ``shift`` and limited to ``2**(width+2+guard) - 1``
       (every bit set when a bit from ``width + 2 + guard`` up is). ``shift_cap`` bits shifted
       by ``shift_cap`` or more are 0, so the port takes any value its width allows and those
       above the cap act as the cap does;
    6. ``z + b' = (q ^ -s) + (b' + s)``: one adder;
    7. rounded and saturated by :func:`~l1bn.hdl.round_sat.round_saturate`.

    Stages 1 to 5 are :func:`centred_term`'s (shared with :class:`~l1bn.hdl.centred_pair.CentredPair`).
    The variable shift takes two stages, and the sum one of its own, so that no stage is
    deeper than the multiplier's: on an ECP5 at width 16 the critical path is the product, as
    in :class:`~l1bn.hdl.scale_shift.ScaleShift` (nextpnr, three seeds: 121 to 141 MHz, against 139
    to 144; with the sum and the rounding in one stage, 119 to 125 MHz).

    Parameters
    ----------
    width, frac : int
        Format ``Q(width, frac)`` of ``y``; ``width >= 2``, ``0 <= frac < width``.
    guard : int
        Fraction bits of the bias below the data's, ``guard >= 0``.
    mant_width : int or None
        Bits of the gain's mantissa, ``mant_width >= width + 2`` (so that ``e_c >= 0``). Default
        (``None``): 18 up to width 16, else ``width + 2``.
    tiles : int
        Multipliers of the product (stage 2), 1 (default) to 4: more cut ``|d|`` into as many
        slices whose products stage 3 sums (a shorter stage 2 for a cell library, that many DSP
        blocks on an FPGA). The same latency and results either way.

    Members
    -------
    en : ``In(1)``
        Clock enable: every pipeline register loads only when ``en`` is high.
    d : ``In(signed(width + 1))``
        The centred value ``x - mu_F``, ``Q(width+1, frac)``.
    mant : ``In(unsigned(mant_width))``
        The gain's mantissa.
    shift : ``In(unsigned(bit_length(shift_cap)))``
        The gain's exponent less ``e_c``: ``|a| = mant * 2**-(e_c + shift)``.
    neg : ``In(1)``
        The gain's sign (1: negative).
    bias : ``In(signed(width + 2 + guard))``
        ``b'``, ``Q(width+2+guard, frac+guard)``. ``d``, ``mant``, ``shift``, ``neg`` and
        ``bias`` are sampled together.
    y : ``Out(signed(width))``
        The lane's output, ``Q(width, frac)``.
    sat : ``Out(1)``
        1 when ``y`` was clamped to the most negative or the largest code.

    Widths (``guard`` 8, ``mant_width`` by default): at width 16 ``d`` 17, ``mant`` 18, ``shift``
    6 (``shift_cap`` 43), ``bias`` 26, ``y`` 16 bits, the product 18 x 17 = 35 bits; at width 32
    ``d`` 33, ``mant`` 34, ``shift`` 7 (``shift_cap`` 75), ``bias`` 42, ``y`` 32 bits, the
    product 34 x 33 = 67 bits.

    Latency: ``LATENCY = 7`` enabled cycles; throughput one value per cycle.
    """

    LATENCY = 7

    def __init__(self, *, width, frac, guard, mant_width=None, tiles=1):
        width, frac, guard, mant_width = lane_parameters(width, frac, guard, mant_width)
        self.tiles = check_int("tiles", tiles, 1, 4)
        self.width, self.frac, self.guard, self.mant_width = width, frac, guard, mant_width
        self.formats = formats(width, frac, guard, mant_width)
        self.shift_cap = shift_cap(width, guard, mant_width)
        super().__init__({
            "en": In(1),
            "d": In(signed(width + 1)),
            "mant": In(unsigned(mant_width)),
            "shift": In(unsigned(self.shift_cap.bit_length())),
            "neg": In(1),
            "bias": In(signed(width + 2 + guard)),
            "y": Out(signed(width)),
            "sat": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        w, g, mw = self.width, self.guard, self.mant_width
        # Stages 1 to 5: the magnitude q (below 2**(w+2+g)) and its sign s.
        term = centred_term(m, self.en, self.d, self.mant, self.shift, self.neg, guard=g,
                            exp=mw - w - 2, limit_bits=w + 2 + g, tiles=self.tiles)
        # Beside them the bias, b' + s from stage 2; stage 6: z + b' = (q ^ -s) + (b' + s), one
        # adder; stage 7: rounded half up to the data's grid and saturated.
        centred_sum(m, self.en, [term], self.bias, "bias", guard=g, fmt=self.formats["y"],
                    y=self.y, sat=self.sat)
        return m


BLOCK = lane_block(CentredScale, "one lane of the BN normalize pass: +-mant * |d| shifted onto "
                                 "the bias's grid, limited, signed, plus the bias, rounded half "
                                 "up and saturated (with a sat flag)")

"""One lane of the BN normalize pass: ``y = +-mant * 2**-e * d + b'``, rounded and saturated."""

from amaranth import C, Cat, Module, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.centred_scale import formats, shift_cap
from golden.fixed import check_int

from .block import BlockSpec, Int
from .round_sat import round_saturate

__all__ = ["CentredScale"]


class CentredScale(wiring.Component):
    """``y = a*d + b'`` with the gain ``a = +-mant * 2**-(e_c + shift)``, one value per cycle.

    The lane of the BN normalize pass (:mod:`golden.bn_forward`, step 6), bit for bit as
    :func:`golden.centred_scale.centred_scale`: the product ``mant * |d|`` (exact, unsigned),
    shifted onto the bias's grid of ``guard`` fraction bits below the data's (truncated, by
    ``guard - e_c - shift`` bits, ``e_c = mant_width - width - 2``) and limited to
    ``2**(width+2+guard) - 1``; that magnitude takes the sign ``neg xor (d < 0)``, the bias is
    added exactly, and the sum is rounded to nearest, ties up, and saturated to ``Q(width, frac)``.

    Stages (each register loads on ``en``):

    1. ``|d| = (d - n) ^ n`` with ``n`` its sign bit (as :class:`~hdl.abs_sign.AbsSign`) and the
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
    7. rounded and saturated by :func:`~hdl.round_sat.round_saturate`.

    The variable shift takes two stages, and the sum one of its own, so that no stage is
    deeper than the multiplier's: on an ECP5 at width 16 the critical path is the product, as
    in :class:`~hdl.scale_shift.ScaleShift` (nextpnr, three seeds: 121 to 141 MHz, against 139
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

    def __init__(self, *, width, frac, guard, mant_width=None):
        check_int("width", width, 2)
        check_int("frac", frac, 0, width - 1)
        check_int("guard", guard, 0)
        if mant_width is None:
            mant_width = 18 if width <= 16 else width + 2
        check_int("mant_width", mant_width, width + 2)
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
        lim = w + 2 + g                                   # q < 2**lim

        def reg(name, value, shape=None):
            """``value`` in a register loaded on ``en``."""
            r = Signal(value.shape() if shape is None else shape, name=name)
            with m.If(self.en):
                m.d.sync += r.eq(value)
            return r

        # Stage 1: |d| = (d - n) ^ n (one adder, the XOR in its sum LUTs), the product's sign.
        n = self.d[-1].replicate(w + 1)
        mag = reg("mag_1", (self.d + n.as_signed())[:w + 1] ^ n)
        sign = reg("sign_1", self.neg ^ self.d[-1])
        mant, shift, bias = (reg(f"{p.name}_1", p) for p in (self.mant, self.shift, self.bias))
        # Stage 2: the product, one unsigned multiplier into a register; the bias takes the
        # negation's +1 (-q = ~q + 1).
        prod = reg("prod_2", mant * mag)
        bias = reg("bias_2", bias + sign)
        sign, shift = reg("sign_2", sign), reg("shift_2", shift)
        # Stage 3: the product once more (the DSP block's output register).
        prod = reg("prod_3", prod)
        sign, shift, bias = reg("sign_3", sign), reg("shift_3", shift), reg("bias_3", bias)
        # Stage 4: onto the bias's grid, shift_cap bits, then right by shift's high bits.
        k = len(shift) // 2
        aligned = prod.shift_left(g - (mw - w - 2))
        coarse = reg("coarse_4", aligned >> Cat(C(0, k), shift[k:]))
        sign, low, bias = reg("sign_4", sign), reg("shift_4", shift[:k]), reg("bias_4", bias)
        # Stage 5: right by shift's low bits, then the limit.
        wide = coarse >> low
        q = reg("q_5", wide[:lim] | wide[lim:].any().replicate(lim))
        sign, bias = reg("sign_5", sign), reg("bias_5", bias)
        # Stage 6: z + b' = (q ^ -s) + (b' + s), one adder.
        total = reg("sum_6", (Cat(q, 0) ^ sign.replicate(lim + 1)).as_signed() + bias)
        # Stage 7: rounded half up to the data's grid and saturated.
        y, sat = round_saturate(total, g, self.formats["y"])
        with m.If(self.en):
            m.d.sync += [self.y.eq(y), self.sat.eq(sat)]
        return m


BLOCK = BlockSpec(CentredScale, ("width", "frac", "guard", "mant_width"),
                  defaults={"width": 16, "frac": 8, "guard": 8, "mant_width": None},
                  summary="one lane of the BN normalize pass: +-mant * |d| shifted onto the "
                          "bias's grid, limited, signed, plus the bias, rounded half up and "
                          "saturated (with a sat flag)",
                  bounds={"mant_width": Int(("width", 2), 96)})

"""Bit-accurate model of :class:`l1bn.hdl.centred_scale.CentredScale`: one lane of the BN normalize
pass, ``y = a*d + b'`` with the gain ``a = +-mant * 2**-e`` held as mantissa and exponent.

With ``d = x - mu_F`` (W+1 bits signed), ``mant`` (MW bits unsigned), the gain's sign ``neg``,
the exponent as ``shift = e - e_c >= 0`` (``e_c = MW - W - 2``, the smallest exponent the lane
takes) and the bias ``b'`` in ``Q(W+2+G, G)``:

1. ``q = min(floor(mant * |d| * 2**(G - e_c - shift)), 2**(W+2+G) - 1)``: the product's
   magnitude on the bias's grid, truncated, limited to eight times the data range;
2. ``z = -q`` if ``neg != (d < 0)`` else ``q``;
3. ``y = saturate_flags(shift_right(z + b', G, "half_up"), Q(W, F))``.

Any ``shift >= shift_cap = G - e_c + MW + W + 1`` gives ``q = 0`` (the product has at most
``MW + W + 1`` bits), so the lane's shift port needs only ``bit_length(shift_cap)`` bits.

:func:`centred_pair` is the lane of the l2 backward (:class:`l1bn.hdl.centred_pair.CentredPair`):
two such products, ``y = saturate(shift_right(z_a - z_b + k, G, "half_up"))``, each factor
``mant * 2**-(e_p + shift)`` with ``e_p = -(W+3)`` (:func:`pair_exp`) and each magnitude
limited to ``L = 2**(MW+W+2+G) - 1`` (:func:`pair_limit_bits`), so that two products far
larger than the data range may cancel; ``k`` is ``Q(MW+W+2+G, G)``.
"""

import numpy as np

from . import fixed

__all__ = ["formats", "shift_cap", "centred_scale", "pair_exp", "pair_limit_bits",
           "pair_shift_cap", "centred_pair"]


def formats(width, frac, guard, mant_width):
    """``{"d", "mant", "bias", "y"}`` formats: ``d = Q(W+1, F)``, ``mant = UQ(MW, 0)``, ``bias =
    Q(W+2+G, F+G)``, ``y = Q(W, F)``."""
    return {"d": fixed.Fmt(width + 1, frac), "mant": fixed.Fmt(mant_width, 0, signed=False),
            "bias": fixed.Fmt(width + 2 + guard, frac + guard), "y": fixed.Fmt(width, frac)}


def shift_cap(width, guard, mant_width):
    """The smallest ``shift`` from which every product truncates to 0."""
    return guard - (mant_width - width - 2) + mant_width + width + 1


def _magnitude(d, mant, left, cap, limit_bits):
    """``min(floor(mant * |d| * 2**(left - min(shift, cap))), 2**limit_bits - 1)`` for a given
    ``shift``: the caller passes ``left - min(shift, cap)`` as ``left``."""
    p = np.abs(fixed.codes(d, 256)) * fixed.codes(mant, 256)
    q = (p << np.where(left >= 0, left, 0)) >> np.where(left < 0, -left, 0)
    return np.minimum(q, (1 << limit_bits) - 1)


def _signed(q, d, neg):
    return np.where((fixed.codes(d, 256) < 0) != np.asarray(neg, dtype=bool), -q, q)


def centred_scale(d, mant, shift, neg, bias, *, width, frac, guard, mant_width):
    """``(y, sat)`` arrays of the lane for codes ``d`` and the per-channel ``mant``, ``shift``,
    ``neg``, ``bias`` (scalars or arrays broadcasting with ``d``)."""
    cap = shift_cap(width, guard, mant_width)
    left = guard - (mant_width - width - 2) - np.minimum(shift, cap)
    z = _signed(_magnitude(d, mant, left, cap, width + 2 + guard), d, neg)
    return fixed.saturate_flags(fixed.shift_right(z + fixed.codes(bias, 128), guard, "half_up"),
                                fixed.Fmt(width, frac))


def pair_exp(width):
    """``e_p = -(W+3)``: the pair lane's smallest factor exponent (from it down, every product
    of a nonzero value reaches the limit)."""
    return -(width + 3)


def pair_limit_bits(width, guard, mant_width):
    """``MW + W + 2 + G``: the pair lane's products are below ``2**pair_limit_bits``."""
    return mant_width + width + 2 + guard


def pair_shift_cap(width, guard, mant_width):
    """The smallest pair ``shift`` from which every product truncates to 0."""
    return guard - pair_exp(width) + mant_width + width + 1


def centred_pair(e, d, fa, fb, k, *, width, frac, guard, mant_width):
    """``(y, sat)`` of the l2 backward lane: ``fa``, ``fb`` = ``(mant, shift, neg)`` of the
    factors of ``e`` and ``d``, ``k`` the constant (``Q(MW+W+2+G, G)`` code)."""
    cap = pair_shift_cap(width, guard, mant_width)
    lim = pair_limit_bits(width, guard, mant_width)

    def term(v, f):
        mant, shift, neg = f
        left = guard - pair_exp(width) - np.minimum(shift, cap)
        return _signed(_magnitude(v, mant, left, cap, lim), v, neg)
    z = term(e, fa) - term(d, fb) + fixed.codes(k, 256)
    return fixed.saturate_flags(fixed.shift_right(z, guard, "half_up"), fixed.Fmt(width, frac))

"""Bit-accurate model of :class:`hdl.centred_scale.CentredScale`: one lane of the BN normalize
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
"""

import numpy as np

from . import fixed

__all__ = ["formats", "shift_cap", "centred_scale"]


def formats(width, frac, guard, mant_width):
    """``{"d", "mant", "bias", "y"}`` formats: ``d = Q(W+1, F)``, ``mant = UQ(MW, 0)``, ``bias =
    Q(W+2+G, F+G)``, ``y = Q(W, F)``."""
    return {"d": fixed.Fmt(width + 1, frac), "mant": fixed.Fmt(mant_width, 0, signed=False),
            "bias": fixed.Fmt(width + 2 + guard, frac + guard), "y": fixed.Fmt(width, frac)}


def shift_cap(width, guard, mant_width):
    """The smallest ``shift`` from which every product truncates to 0."""
    return guard - (mant_width - width - 2) + mant_width + width + 1


def centred_scale(d, mant, shift, neg, bias, *, width, frac, guard, mant_width):
    """``(y, sat)`` arrays of the lane for codes ``d`` and the per-channel ``mant``, ``shift``,
    ``neg``, ``bias`` (scalars or arrays broadcasting with ``d``)."""
    d = fixed.codes(d, 128)
    sh = guard - (mant_width - width - 2) - np.minimum(shift, shift_cap(width, guard, mant_width))
    p = np.abs(d) * fixed.codes(mant, 128)
    left = np.where(sh >= 0, sh, 0)
    right = np.where(sh < 0, -sh, 0)
    q = np.minimum((p << left) >> right, (1 << (width + 2 + guard)) - 1)
    z = np.where((d < 0) != np.asarray(neg, dtype=bool), -q, q)
    return fixed.saturate_flags(fixed.shift_right(z + fixed.codes(bias, 128), guard, "half_up"),
                                fixed.Fmt(width, frac))

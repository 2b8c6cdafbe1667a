"""Bit-accurate model of :class:`l1bn.hdl.scale_shift.ScaleShift`: ``y = a*x + b``, rounded, saturated.

With ``x`` in ``Q(width, frac)`` and ``a``, ``b`` in ``Q(coef_width, coef_frac)``:

1. ``p = a * x`` exactly (``frac + coef_frac`` fraction bits);
2. ``s = p + b * 2**frac``: ``b`` aligned to the product's fraction bits, exact;
3. ``r = shift_right(s, coef_frac, "half_up")``: back to ``frac`` fraction bits, to nearest,
   ties up;
4. ``y, sat = saturate_flags(r, Q(width, frac))``.

Error bound: where ``sat`` is 0, ``|y * 2**-frac - (a*x + b)| <= 2**-(frac + 1)`` (half an output
LSB) with the exact real values of the codes, and exactly ``+1/2`` LSB only on ties. Where
``sat`` is 1, ``y`` is the format's bound nearer to ``a*x + b``.
"""

from . import fixed

__all__ = ["formats", "scale_shift"]


def formats(width, frac, coef_width=None, coef_frac=None):
    """``{"x", "a", "b", "y"}`` formats (:class:`~l1bn.golden.fixed.Fmt`).

    ``x`` and ``y`` are ``Q(width, frac)``; ``a`` and ``b`` are ``Q(coef_width, coef_frac)`` with
    ``coef_width`` defaulting to ``width + 2`` and ``coef_frac`` to ``frac``.
    """
    data = fixed.Fmt(width, frac)
    coef = fixed.Fmt(width + 2 if coef_width is None else coef_width,
                     frac if coef_frac is None else coef_frac)
    return {"x": data, "a": coef, "b": coef, "y": data}


def scale_shift(x, a, b, fmts):
    """``(y, sat)`` of integer codes ``x``, ``a``, ``b`` in the formats ``fmts`` (:func:`formats`).

    ``y`` are codes of ``fmts["y"]``; ``sat`` is a bool array, True where ``y`` was clamped.
    """
    frac, cf = fmts["x"].frac, fmts["a"].frac
    s = fixed.codes(a, 128) * fixed.codes(x, 128) + fixed.codes(b, 128) * (1 << frac)
    return fixed.saturate_flags(fixed.shift_right(s, cf, "half_up"), fmts["y"])

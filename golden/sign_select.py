"""Bit-accurate model of :class:`l1bn.hdl.sign_select.SignSelect`, the per-element term of the backward.

The batch-norm backward multiplies each element by a per-channel constant ``k = mean(g * xhat)``:

* ``l1``: ``term = k * sgn(xhat) - c`` with ``c = k * mean(sgn(xhat))`` given per channel. ``sgn``
  is -1, 0 or +1, so ``k * sgn`` is a select/negate of ``k``: exact, no rounding; the only error
  is saturation (error bound 0 where ``sat`` is 0).
* ``l2``: ``term = xhat * k``, the exact product shifted back to ``frac`` fraction bits with
  ``half_up`` (:func:`l1bn.golden.fixed.shift_right`): within half an LSB of the exact product where
  ``sat`` is 0.

``xhat``, ``k``, ``c`` and ``term`` are all ``Q(width, frac)``; ``term`` is saturated to that
format and every clamped element is flagged.
"""

from . import fixed
from .reference import NORMS

__all__ = ["formats", "term_l1", "term_l2"]


def formats(norm, width, frac):
    """Formats of the ports of ``norm``'s block (:class:`~l1bn.golden.fixed.Fmt`)."""
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")
    data = fixed.Fmt(width, frac)
    if norm == "l1":
        return {"sgn": fixed.Fmt(2, 0), "k": data, "c": data, "term": data}
    return {"xhat": data, "k": data, "term": data}


def term_l1(sgn, k, c, fmt):
    """``(term, sat)`` for L1: ``sign(sgn) * k - c`` saturated to ``fmt``.

    ``sgn`` should be -1, 0 or +1; the 2-bit code -2 counts as -1, as in the RTL (which looks only
    at the sign bit and at zero).
    """
    t = fixed.sign(sgn).astype(object) * fixed.codes(k, 128) - fixed.codes(c, 128)
    return fixed.saturate_flags(t, fmt)


def term_l2(xhat, k, fmt):
    """``(term, sat)`` for L2: ``xhat * k`` rounded half-up to ``fmt.frac`` fraction bits and
    saturated to ``fmt``."""
    p = fixed.codes(xhat, 128) * fixed.codes(k, 128)
    return fixed.saturate_flags(fixed.shift_right(p, fmt.frac, "half_up"), fmt)

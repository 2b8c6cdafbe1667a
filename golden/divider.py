"""Bit-accurate model of :class:`l1bn.hdl.divider.Divider`: ``q = round(n * 2**shift / d)``, saturated.

Integer codes: ``n`` signed (``num`` format), ``d`` unsigned (``den`` format), ``q`` signed
(``quot`` format). With fraction bits ``fn``, ``fd``, ``fq`` the real quotient
``(n * 2**-fn) / (d * 2**-fd)`` in ``fq`` fraction bits is the code ``n * 2**shift / d`` with
``shift = fq + fd - fn`` (:func:`formats` derives it and requires it to be >= 0).

* **Rounding**: to nearest, ties away from zero (:func:`l1bn.golden.fixed.div_round_away`): the
  magnitude ``|n| * 2**shift / d`` is rounded half up and the sign applied afterwards, so the
  result is symmetric, ``q(-n, d) = -q(n, d)``, unless ``-q`` saturates.
* **Error bound**: ``|q - n * 2**shift / d| <= 1/2`` LSB of ``quot`` whenever ``sat`` is 0; equality
  only at exact ties.
* **Saturation**: a rounded quotient outside ``quot`` is clamped to ``quot.max_code`` or
  ``quot.min_code`` and flagged (``sat = 1``). ``d = 0`` gives ``max_code`` for ``n >= 0`` (zero
  included) and ``min_code`` for ``n < 0``, always with ``sat = 1``.
"""

import numpy as np

from . import fixed

__all__ = ["formats", "divide"]


def formats(width, frac, den_width=None, den_frac=None, quot_width=None, quot_frac=None,
            num_signed=True):
    """Formats of the block and its shift: ``({"num", "den", "quot"}: Fmt, shift)``.

    ``num = Q(width, frac)`` (``UQ(width, frac)`` when not ``num_signed``: a numerator known
    to be non-negative, such as a sum of squares); ``den = UQ(den_width, den_frac)`` (default ``UQ(width, frac)``);
    ``quot = Q(quot_width, quot_frac)`` (default ``Q(width, frac)``). The defaults make the block
    a divider in one format, ``q = n / d`` (e.g. ``1 / (sigma + eps)`` with ``n`` = 1.0); the
    batch mean ``sum / m`` uses ``den_frac = 0`` (an integer count).

    Raises
    ------
    ValueError
        A bad width or fraction, or ``shift = quot_frac + den_frac - frac < 0``.
    """
    num = fixed.Fmt(fixed.check_int("width", width, 2), frac, signed=bool(num_signed))
    den = fixed.Fmt(width if den_width is None else den_width,
                    frac if den_frac is None else den_frac, signed=False)
    quot = fixed.Fmt(fixed.check_int("quot_width", width if quot_width is None else quot_width, 2),
                     frac if quot_frac is None else quot_frac)
    shift = quot.frac + den.frac - num.frac
    if shift < 0:
        raise ValueError(f"quot_frac + den_frac - frac must be >= 0 (the shift), got {shift}")
    return {"num": num, "den": den, "quot": quot}, shift


def divide(num, den, shift, quot):
    """``(q, sat)`` arrays for integer codes ``num`` (signed) and ``den`` (``>= 0``).

    ``quot`` is the output :class:`~l1bn.golden.fixed.Fmt`; see the module docstring for the rules.
    """
    n = fixed.codes(num, 128)
    d = fixed.codes(den, 128)
    n, d = np.broadcast_arrays(n, d)
    if np.any(d < 0):
        raise ValueError("den must be non-negative")
    zero = d == 0
    exact = fixed.div_round_away(n * (1 << shift), np.where(zero, 1, d))
    # d = 0: the saturated value of n's sign (an out-of-range stand-in, then clamped and flagged).
    big = 1 << quot.width
    q, sat = fixed.saturate_flags(np.where(zero, np.where(n < 0, -big, big), exact), quot)
    return q, sat

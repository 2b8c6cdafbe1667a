"""Bit-accurate model of :class:`l1bn.hdl.norm_divider.NormDivider`: a quotient with relative
precision, ``num / den ~ mant * 2**-e``, the multiplier-and-shift form of per-channel scales.

``mant = round_half_up(num * 2**e / den)`` in ``[2**(MW-1), 2**MW)`` with the one exponent
``e`` (any integer) that puts it there: one rounding, so the relative error is at most
``2**-MW``. Special cases: ``num == 0`` gives ``mant = 0`` (and ``e = 0``); ``den == 0 < num``,
an infinite quotient, gives ``mant = 0``, ``e = None`` and a saturation count of 1.
:func:`exp_range` bounds ``e`` for given operand widths (the hardware's exponent field).
"""

from .fixed import check_int

__all__ = ["norm_div", "exp_range"]


def _rdiv(num, den):
    return (2 * num + den) // (2 * den)


def norm_div(num, den, mw):
    """``(mant, e, n_sat)``: ``num / den`` (integers ``>= 0``) as ``mant * 2**-e`` with
    ``mant = round_half_up(num * 2**e / den)`` in ``[2**(mw-1), 2**mw)``.

    One rounding: the relative error is at most ``2**-mw``. ``num == 0`` gives ``(0, 0, 0)``;
    ``den == 0 < num`` gives ``(0, None, 1)``, an infinite quotient.
    """
    if num == 0:
        return 0, 0, 0
    if den == 0:
        return 0, None, 1
    e = mw - 1 - (num.bit_length() - den.bit_length())
    if (num << max(e, 0)) < ((den << max(-e, 0)) << (mw - 1)):
        e += 1                       # num * 2**e / den < 2**(mw-1): one more bit
    mant = _rdiv(num << max(e, 0), den << max(-e, 0))
    if mant == 1 << mw:              # rounded up to the next power of two
        mant, e = mant >> 1, e - 1
    return mant, e, 0


def exp_range(num_width, den_width, mant_width):
    """``(lo, hi)``: every ``e`` :func:`norm_div` returns for ``num < 2**num_width``,
    ``den < 2**den_width`` and ``mw = mant_width`` lies in ``[lo, hi]``.

    ``e = mw - 1 - (len(num) - len(den))``, plus 1 when the leading bits of ``num`` are below
    those of ``den``, minus 1 when the mantissa rounds up to ``2**mw``. The least is
    ``mw - 1 - num_width`` (``num = 2**num_width - 1`` over ``den = 1``, rounded up: reached when
    ``num_width > mw``), the largest ``mw + den_width - 1`` (``num = 1`` over
    ``den = 2**den_width - 1``: reached when ``den_width >= 2``). ``lo`` is at most 0, the
    exponent of ``num == 0``.
    """
    num_width = check_int("num_width", num_width, 1)
    den_width = check_int("den_width", den_width, 1)
    mant_width = check_int("mant_width", mant_width, 1)
    return min(mant_width - 1 - num_width, 0), mant_width + den_width - 1

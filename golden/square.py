"""Bit-accurate model of :class:`l1bn.hdl.square.Square`: ``d*d`` of a two's-complement code, exact.

``2*width - 1`` unsigned bits hold every square of a ``width``-bit code (the largest is
``(-2**(width-1))**2 = 2**(2*width-2)``); nothing is rounded or saturated (error bound 0).
"""

from . import fixed
from .multiplier import multiply

__all__ = ["formats", "square"]


def formats(width):
    """``{"d", "sq"}`` integer formats (:class:`~l1bn.golden.fixed.Fmt`)."""
    return {"d": fixed.Fmt(width, 0), "sq": fixed.Fmt(2 * width - 1, 0, signed=False)}


def square(d):
    """Exact squares of integer codes ``d``."""
    return multiply(d, d)

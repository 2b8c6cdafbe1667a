"""Bit-accurate model of :class:`l1bn.hdl.abs_sign.AbsSign`: ``|d|`` and ``sgn(d)`` with ``sgn(0) = 0``.

Exact: ``|d|`` of a ``width``-bit two's-complement code fits ``width`` unsigned bits (the most
negative code gives ``2**(width-1)``); nothing is rounded or saturated.
"""

from . import fixed

__all__ = ["abs_sign"]


def abs_sign(d):
    """``(mag, sgn)`` arrays of integer codes ``d``."""
    return fixed.abs_(d), fixed.sign(d)

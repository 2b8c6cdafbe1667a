"""Bit-accurate model of :class:`l1bn.hdl.isqrt.Isqrt`: ``root = floor(sqrt(radicand))``.

The radicand is an unsigned ``width``-bit code, the root an unsigned ``ceil(width/2)``-bit code.
Read as fixed point, the root of a ``UQ(width, 2f)`` radicand (real value ``n * 2**-2f``) is the
``UQ(ceil(width/2), f)`` code ``floor(sqrt(n))``: its real value is ``sqrt(n * 2**-2f)`` rounded
down to a multiple of ``2**-f``, so the error is in ``[0, 1)`` LSB of the root (truncation, never
rounded up). Nothing saturates: ``floor(sqrt(2**width - 1)) < 2**ceil(width/2)``.
"""

from . import fixed

__all__ = ["formats", "isqrt"]


def formats(width):
    """``{"radicand": UQ(width, 0), "root": UQ(ceil(width/2), 0)}`` (integer codes)."""
    fixed.check_int("width", width, 1)
    return {"radicand": fixed.Fmt(width, 0, signed=False),
            "root": fixed.Fmt((width + 1) // 2, 0, signed=False)}


def isqrt(radicand):
    """Array of roots of the non-negative integer codes ``radicand`` (:func:`l1bn.golden.fixed.isqrt`)."""
    return fixed.isqrt(radicand)

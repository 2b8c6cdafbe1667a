"""Bit-accurate model of :class:`l1bn.hdl.multiplier.Multiplier`: the exact product of two codes.

Nothing is rounded or saturated: ``a_width + b_width`` bits hold every product of an
``a_width``-bit and a ``b_width``-bit two's-complement code (error bound 0).
"""

from . import fixed

__all__ = ["formats", "multiply"]


def formats(a_width, b_width):
    """``{"a", "b", "p"}`` integer formats (:class:`~l1bn.golden.fixed.Fmt`, no fraction bits)."""
    return {"a": fixed.Fmt(a_width, 0), "b": fixed.Fmt(b_width, 0),
            "p": fixed.Fmt(a_width + b_width, 0)}


def multiply(a, b):
    """Exact products of integer codes ``a`` and ``b`` (int64 arrays, or Python ints when wider)."""
    return fixed.codes(a, 128) * fixed.codes(b, 128)

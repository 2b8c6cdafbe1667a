"""Bit-accurate model of :class:`l1bn.hdl.accumulator.Accumulator`: exact running sums.

Nothing is rounded. The sum width ``width + clog2(max_count)`` holds any sum of ``max_count``
terms (:func:`l1bn.golden.fixed.sum_width`); the adder tree of ``lanes`` terms is
``width + clog2(lanes)`` bits.
"""

import numpy as np

from . import fixed

__all__ = ["formats", "running_sums"]


def formats(width, max_count, lanes=1, signed=True):
    """``{"term", "tree", "sum"}`` formats (integers: ``frac = 0``)."""
    fixed.check_int("width", width, 1)
    fixed.check_int("max_count", max_count, 1)
    fixed.check_int("lanes", lanes, 1)
    return {"term": fixed.Fmt(width, 0, signed),
            "tree": fixed.Fmt(fixed.sum_width(width, lanes), 0, signed),
            "sum": fixed.Fmt(fixed.sum_width(width, max_count), 0, signed)}


def running_sums(values, first):
    """Sum after each cycle of ``values`` (shape (n, lanes)), restarting where ``first`` is set."""
    values = np.asarray(values, dtype=object).reshape(len(first), -1)
    out, acc = [], 0
    for row, f in zip(values, first):
        acc = (0 if f else acc) + int(sum(int(v) for v in row))
        out.append(acc)
    return out

"""Bit-accurate model of the statistics accumulator (the L1BN second pass and its L2 twin).

Per channel, with ``x`` and ``mu`` codes of the input format ``Q(width, frac)``:

* ``l1``: ``S = sum |x_i - mu|``, a sum of ``width``-bit magnitudes (``|x - mu| <= 2**width - 1``);
* ``l2``: ``S = sum (x_i - mu)**2``, a sum of ``2*width``-bit squares.

Nothing is rounded: ``S * lsb(sum format)`` equals the float64 sum of the dequantized values
exactly (error bound 0), and the accumulator width (:func:`formats`) makes overflow impossible
for up to ``max_count`` values.
"""

import numpy as np

from . import fixed
from .reference import NORMS

__all__ = ["formats", "terms", "channel_sum"]


def _check_norm(norm):
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")


def formats(norm, width, frac, max_count):
    """Formats of the block: ``{"x": ..., "mu": ..., "term": ..., "sum": ...}`` (:class:`~l1bn.golden.fixed.Fmt`)."""
    _check_norm(norm)
    x = fixed.Fmt(width, frac)
    fixed.check_int("max_count", max_count, 1)
    if norm == "l1":
        term = fixed.Fmt(width, frac, signed=False)
    else:
        term = fixed.Fmt(2 * width, 2 * frac, signed=False)
    total = fixed.Fmt(fixed.sum_width(term.width, max_count), term.frac, signed=False)
    return {"x": x, "mu": x, "term": term, "sum": total}


def terms(x, mu, norm):
    """Per-element terms ``|x - mu|`` (l1) or ``(x - mu)**2`` (l2) of integer codes."""
    _check_norm(norm)
    d = fixed.codes(x, 66).astype(object) - int(mu)
    t = fixed.abs_(d) if norm == "l1" else d * d
    return fixed.codes(t, 2 * _bits(x, mu) + 2)


def _bits(x, mu):
    a = np.asarray(x)
    hi = max([abs(int(mu))] + ([abs(int(a.max())), abs(int(a.min()))] if a.size else []))
    return hi.bit_length() + 1


def channel_sum(x, mu, norm):
    """The block's result for one channel: the exact sum of :func:`terms` as a Python int."""
    x = np.asarray(x)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"x must be a non-empty 1-D array of codes, got shape {x.shape}")
    return int(sum(int(t) for t in terms(x, mu, norm)))

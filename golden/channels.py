"""Channels of every shape the unit testbenches and the model tests draw: one generator for
both, so the data the RTL is checked on is the data the model is checked on against float64."""

import numpy as np

from . import fixed

__all__ = ["KINDS", "channel_codes"]

#: Shapes of the channels (:func:`channel_codes`).
KINDS = ("gauss", "relu", "skew", "const", "extreme", "spiky", "two_level", "narrow", "sparse")


def channel_codes(cfg, rng, m, kind):
    """m data codes of ``cfg.data`` for one channel of shape ``kind`` (:data:`KINDS`):
    Gaussian, ReLU-shaped, skewed, constant, the two extreme codes, nearly constant with one
    outlier (tiny sigma, large gain), two adjacent codes, a large mean with a spread of a few
    LSB, or mostly zeros with a few large values. ``rng`` is a :class:`numpy.random.Generator`."""
    data, f = cfg.data, cfg.frac
    scale = 2.0 ** rng.uniform(-f + 2, cfg.width - f - 3)
    loc = rng.uniform(-0.25, 0.25) * data.max_value
    z = rng.standard_normal(m)
    if kind == "gauss":
        v = loc + scale * z
    elif kind == "relu":
        v = np.maximum(0.0, scale * (z + rng.uniform(-1, 1)))
    elif kind == "skew":
        v = loc + scale * (rng.exponential(1.0, m) - 1.0)
    elif kind == "const":
        v = np.full(m, loc)
    elif kind == "extreme":
        v = rng.choice([data.min_value, data.max_value], m)
    elif kind == "spiky":
        v = np.full(m, loc)
        v[rng.integers(m)] += 2.0 ** -f * 3
    elif kind == "two_level":       # two adjacent codes: a spread of half an LSB
        v = loc + 2.0 ** -f * (rng.random(m) < rng.uniform(0.1, 0.9))
    elif kind == "narrow":          # a large mean and a spread of a few LSB
        v = rng.choice([-0.8, 0.8]) * data.max_value + 2.0 ** -f * rng.normal(0, 2, m)
    elif kind == "sparse":          # mostly zeros, a few large activations (ReLU-like)
        v = np.where(rng.random(m) < 0.95, 0.0, scale * np.abs(z) * 4)
    else:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return fixed.quantize(v, data)[0]

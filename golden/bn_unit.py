"""Bit-accurate golden model of complete L1BN / L2BN batch-normalization units.

Pure NumPy on integer codes; the Amaranth RTL mirrors it bit for bit. Every rounding and
saturation rule used here is one of :mod:`l1bn.golden.fixed` (``div_round_away``, ``shift_right``
``"half_up"``, ``saturate``); the float64 reference it is checked against is
:mod:`l1bn.golden.reference` (its docstring gives the conventions).

Parameters and formats: :mod:`l1bn.golden.bn_config` (:class:`UnitConfig`). The forward pass
(training, inference, running statistics) is :mod:`l1bn.golden.bn_forward` and the backward pass
:mod:`l1bn.golden.bn_backward`, both re-exported here; their docstrings give the error bounds, which
hold for every input. This module adds :func:`run`, the array-level wrapper of both: the
backward of a channel takes what the forward hands over for the same x (its exact sum, spread
and, l1, sum of signs), as the units do.
"""

from __future__ import annotations

import numpy as np

from . import fixed
from .bn_backward import backward
from .bn_config import ALPHA_FMT, ALPHA_FRAC, STATS, UnitConfig
from .bn_forward import batch_stats, forward_infer, forward_train

__all__ = ["STATS", "ALPHA_FRAC", "ALPHA_FMT", "UnitConfig", "batch_stats", "forward_train",
           "forward_infer", "backward", "run"]


# --- array-level wrapper -----------------------------------------------------------------------

_MODES = {
    "train": ({"x", "gamma", "beta"}, {"running_mean", "running_sigma"}),
    "infer": ({"x", "gamma", "beta", "running_mean", "running_sigma"}, set()),
    "backward": ({"x", "dy", "gamma"}, set()),
}


def _channels(a):
    """(N, C[, H, W]) -> (C, m) view of the channel-major values."""
    return np.moveaxis(a, 1, 0).reshape(a.shape[1], -1)


def _unchannels(c, shape):
    moved = (shape[1], shape[0]) + tuple(shape[2:])
    return np.moveaxis(c.reshape(moved), 0, 1)


def run(cfg, mode, **arrays):
    """Run the unit over float arrays: quantize (counting saturation), run per channel, return
    floats and codes.

    Parameters
    ----------
    cfg : UnitConfig
    mode : {"train", "infer", "backward"}
    **arrays
        ``x`` (and ``dy`` for backward) of shape (N, C) or (N, C, H, W); per-channel (C,)
        vectors ``gamma``, ``beta`` (train, infer), ``running_mean``, ``running_sigma`` (infer;
        optional for train, default 0 and 1). x, dy, gamma, beta are quantized to ``cfg.data``,
        the running statistics to ``cfg.stat`` (half_even, :func:`l1bn.golden.fixed.quantize`).

    Returns
    -------
    dict
        Float results (``y`` / ``dx``, per-channel vectors) and their ``*_codes``; ``sat``: the
        saturation counts summed over channels, plus ``input_<name>`` for quantization.
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {tuple(_MODES)}, got {mode!r}")
    need, opt = _MODES[mode]
    names = set(arrays)
    if not need <= names or not names <= need | opt:
        raise ValueError(f"mode {mode!r} needs {sorted(need)} (optional {sorted(opt)}), "
                         f"got {sorted(names)}")
    x = np.asarray(arrays["x"], dtype=np.float64)
    if x.ndim not in (2, 4) or x.size == 0:
        raise ValueError(f"x must be non-empty 2-D (N, C) or 4-D (N, C, H, W), got {x.shape}")
    c = x.shape[1]
    sat_total = {}
    q = {}
    for name, v in arrays.items():
        v = np.asarray(v, dtype=np.float64)
        if name in ("x", "dy"):
            if v.shape != x.shape:
                raise ValueError(f"{name} must have shape {x.shape}, got {v.shape}")
        elif v.shape != (c,):
            raise ValueError(f"{name} must have shape ({c},), got {v.shape}")
        if name == "running_sigma" and np.any(v < 0):
            raise ValueError(f"{name} must be >= 0")
        fmt = cfg.data if name in ("x", "dy", "gamma", "beta") else cfg.stat
        q[name], sat_total[f"input_{name}"] = fixed.quantize(v, fmt)
    xc = _channels(q["x"])
    stat, data = cfg.stat, cfg.data
    out = {}

    def add(sat):
        for k, v in sat.items():
            sat_total[k] = sat_total.get(k, 0) + v

    if mode == "train":
        rm = q.get("running_mean", fixed.quantize(np.zeros(c), stat)[0])
        rs = q.get("running_sigma", fixed.quantize(np.ones(c), stat)[0])
        y = np.empty(xc.shape, dtype=np.int64)
        keys = ("mean", "sigma", "running_mean", "running_sigma")
        vec = {k: [] for k in keys}
        for ch in range(c):
            r = forward_train(cfg, xc[ch], int(q["gamma"][ch]), int(q["beta"][ch]),
                              int(rm[ch]), int(rs[ch]))
            y[ch] = r["y"]
            for k in keys:
                vec[k].append(r[k])
            add(r["sat"])
        out["y_codes"] = _unchannels(y, x.shape)
        out["y"] = fixed.dequantize(out["y_codes"], data)
        for k in keys:
            out[f"{k}_codes"] = fixed.codes(vec[k], stat.width)
            out[k] = fixed.dequantize(out[f"{k}_codes"], stat)
    elif mode == "infer":
        y = np.empty(xc.shape, dtype=np.int64)
        for ch in range(c):
            r = forward_infer(cfg, xc[ch], int(q["gamma"][ch]), int(q["beta"][ch]),
                              int(q["running_mean"][ch]), int(q["running_sigma"][ch]))
            y[ch] = r["y"]
            add(r["sat"])
        out["y_codes"] = _unchannels(y, x.shape)
        out["y"] = fixed.dequantize(out["y_codes"], data)
    else:
        dyc = _channels(q["dy"])
        dx = np.empty(xc.shape, dtype=np.int64)
        dg, db = [], []
        for ch in range(c):
            st = batch_stats(cfg, xc[ch])["sums"]
            r = backward(cfg, xc[ch], dyc[ch], int(q["gamma"][ch]), st["sum_x"], st["spread"])
            dx[ch] = r["dx"]
            dg.append(r["dgamma"])
            db.append(r["dbeta"])
            add(r["sat"])
        out["dx_codes"] = _unchannels(dx, x.shape)
        out["dx"] = fixed.dequantize(out["dx_codes"], data)
        for k, v in (("dgamma", dg), ("dbeta", db)):
            out[f"{k}_codes"] = fixed.codes(v, cfg.grad.width)
            out[k] = fixed.dequantize(out[f"{k}_codes"], cfg.grad)
    out["sat"] = sat_total
    return out

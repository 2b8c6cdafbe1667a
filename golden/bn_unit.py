"""Bit-accurate golden model of complete L1BN / L2BN batch-normalization units.

Pure NumPy on integer codes; the Amaranth RTL mirrors it bit for bit. Every rounding and
saturation rule used here is one of :mod:`golden.fixed` (``div_round_away``, ``shift_right``
``"half_up"``, ``saturate``); the float64 reference it is checked against is
:mod:`golden.reference` (its docstring gives the conventions).

Parameters and formats: :mod:`golden.bn_config` (:class:`UnitConfig`). The forward pass
(training, inference, running statistics) is :mod:`golden.bn_forward`, re-exported here; its
error bounds hold for every input. This module adds the backward pass and :func:`run`, the
array-level wrapper of both.

Backward (inputs x, dy, gamma and the forward's mean and sigma codes, ``mu`` and ``sigma``)
--------------------------------------------------------------------------------------------
``s = saturate_S(sigma + eps_q)`` (l1) or ``sigma`` (l2); ``A = div_round_away(gamma *
2**(FK-F+FS), s)`` saturated to K (``s == 0``: K's bound of gamma's sign);
``d_i = x_i * 2**G - mu`` (exact, FS fraction bits).
One pass: ``Sg = sum dy_i`` (frac F), ``Sgd = sum dy_i * d_i`` (frac F+FS), l1 also
``Ssgn = sum sgn(d_i)`` (sgn(0) = 0). Outputs, each with ONE rounding from exact integers
(``div_round_away``, so |error| <= 1/2 LSB of its format before any saturation):

* ``dbeta = Sg`` (exact, grad format, cannot overflow);
* ``dgamma = div_round_away(Sgd, s)`` (frac F, saturated to grad);
* l1: ``D = div_round_away(-A*Sgd, s*m)`` and ``E = div_round_away(A*(Sgd*Ssgn - Sg*s*m), s*m*m)``
  (const, frac FK+F), i.e. D = -A*dgamma/m and E = -A*Sg/m - D*Ssgn/m with the EXACT
  dgamma = Sgd/s and exact D inside E; per element
  ``dx_i = saturate_data(shift_right(A*dy_i + D*sgn(d_i) + E, FK, "half_up"))``: the sum is exact
  at frac FK+F, one multiplier and a sign select;
* l2: ``B = div_round_away(-A*Sgd * 2**(W-F+G), s*s*m)`` (slope, frac FB; = -A*dgamma/(m*s)),
  ``E = div_round_away(-A*Sg, m)`` (const, frac FK+F); per element
  ``dx_i = saturate_data(shift_right((A*dy_i + E) * 2**(W-F+G) + B*d_i, W+2G, "half_up"))``:
  the sum is exact at frac FB+FS, two multipliers. (The RTL adds the same integer as
  ``A*dy_i * 2**(W-F+G) + B*x_i * 2**G + E'`` with ``E' = E * 2**(W-F+G) - mu*B`` per channel,
  so that its lane product is B by x, not B by d.)

These are the closed forms of numerics.md folded per channel (:func:`fold_backward_float` is the
float64 version; it equals :func:`golden.reference.backward` to ~1e-15). ``s == 0`` in a
division saturates with the numerator's sign and is counted. Format choices: FK+F fraction bits
make A*dy_i, D*sgn and E add exactly; FB = W+G keeps the rounding of B below 2**-(G+1) LSB of dx
for any |d| < 2**(W-F); the const range holds |D| <= 1.5 * 2**(2(W-F)) and
|E| <= 2.5 * 2**(2(W-F)) for any inputs with s > 0 and the forward's sigma; the slope range
holds |B| <= (1 + |A|) * 2**W, which any non-constant channel whose exact dx fits in Q(W, F)
satisfies (take two elements with x_i != x_j: |x_i - x_j| >= 2**-F).

Error bounds (against golden.reference on the same dequantized codes; LSB of each result)
-----------------------------------------------------------------------------------------
Rigorous forms (no first-order approximation) are the ``*_bound`` helpers of
``tests/test_bn_unit_model.py``, checked on every unsaturated sample; the first-order forms
below use real values, eps_S = 2**-FS, a = gamma/s, xhat = (x - mu)/s, g = |gamma|/s**2,
mg = mean(dy * xhat) = dgamma/m:

* dbeta: exact. Unconditional.
* dgamma: <= 1/2 + 2**-G * (|dgamma| + |sum dy|/2) / s. CONDITION for 1 LSB:
  |dgamma| + |sum dy|/2 <~ 2**(G-1) * s. dgamma is a sum of m terms carrying the relative
  error eps_S/s of s, and the error eps_S/2 of mu times sum(dy).
* dx, l2: <= 1/2 + 2**-(G+1) * [1 + (1 + 2g)(|dy_i - mean dy| + |xhat_i mg|)
  + g (4|xhat_i mg| + |xhat_i mean dy| + |mg|)];
  l1: <= 1/2 + 2**-(G+1) * [1 + (1 + 2g)(|dy_i - mean dy| + |c_i mg|) + g |c_i| (2|mg| +
  |mean dy|)] with c_i = sgn(d_i) - mean(sgn d). CONDITION for 4 LSB: the bracket <~ 7 * 2**G,
  i.e. g = |gamma|/s**2 times the gradient scale below ~2**G (dx ~ gamma/s * dy, so its
  sensitivity to s is gamma/s**2). l1 ALSO needs the unit's sgn(d_i) to equal the exact
  sgn(x_i - mu): they differ only if m > 2**(G+1) and some x_i lies within eps_S/2 of the true
  mean; the reference itself jumps there (the |.| kink) and dx differs by up to ~|D|.

These bounds still depend on the gain: the backward does not yet meet an unconditional
contract (the forward does, :mod:`golden.bn_forward`). The tests measure and print the worst
errors under and outside the conditions (``tests/test_bn_unit_model.py``).
"""

from __future__ import annotations

import math

import numpy as np

from . import fixed
from .bn_config import (ALPHA_FMT, ALPHA_FRAC, STATS, UnitConfig, _arr, _check_code,
                        _check_codes, _divide, _sat)
from .bn_forward import batch_stats, forward_infer, forward_train
from .reference import NORMS

__all__ = ["STATS", "ALPHA_FRAC", "ALPHA_FMT", "UnitConfig", "batch_stats", "forward_train",
           "forward_infer", "backward", "fold_backward_float", "run"]


# --- the unit --------------------------------------------------------------------------------

def backward(cfg, x, dy, gamma, mean, sigma):
    """Backward pass of one channel from the forward's ``mean`` and ``sigma`` codes.

    Returns
    -------
    dict
        ``dx`` (int64 codes of ``cfg.data``), ``dgamma``, ``dbeta`` (``cfg.grad`` codes),
        internals ``s``, ``A``, ``E`` and ``D`` (l1) or ``B`` (l2), ``sums`` (sum_dy,
        sum_dy_d, and sum_sgn for l1), ``sat`` (s, a, dgamma, D/B, E, dx) and ``n_sat``.
    """
    x = _check_codes("x", x, cfg)
    dy = _check_codes("dy", dy, cfg)
    if dy.shape != x.shape:
        raise ValueError(f"dy must have the shape of x {x.shape}, got {dy.shape}")
    gamma = _check_code("gamma", gamma, cfg.data)
    mu = _check_code("mean", mean, cfg.stat)
    sigma = _check_code("sigma", sigma, cfg.stat, nonneg=True)
    w, f, g = cfg.width, cfg.frac, cfg.guard
    fk, fs, fb = cfg.coef.frac, cfg.stat.frac, cfg.slope.frac
    m = x.size
    lm = fixed.clog2(m)
    if cfg.norm == "l1":
        s, n_s = _sat(sigma + cfg.eps_q, cfg.stat)
    else:
        s, n_s = sigma, 0
    a, n_a = _divide(gamma << (fk - f + fs), s, cfg.coef)
    d = _arr(x, w + g + 2) * (1 << g) - mu
    sg = int(np.sum(_arr(dy, w + lm)))
    sgd = int(np.sum(_arr(dy, 2 * w + g + 2 + lm) * d))
    dbeta, n_db = _sat(sg, cfg.grad)
    assert n_db == 0, "dbeta cannot overflow the grad format"
    dgamma, n_dg = _divide(sgd, s, cfg.grad)
    sums = {"sum_dy": sg, "sum_dy_d": sgd}
    out = {"s": s, "A": a}
    if cfg.norm == "l1":
        sgn = fixed.sign(d)
        ssgn = int(np.sum(sgn))
        sums["sum_sgn"] = ssgn
        dd, n_d = _divide(-a * sgd, s * m, cfg.const)
        e, n_e = _divide(a * (sgd * ssgn - sg * s * m), s * m * m, cfg.const)
        bits = max(cfg.coef.width + w, cfg.const.width) + 2
        t = _arr(dy, bits) * a + _arr(sgn, bits) * dd + e
        shift = fk
        out.update(D=dd, E=e)
        sat = {"s": n_s, "a": n_a, "dgamma": n_dg, "D": n_d, "E": n_e}
    else:
        up = fb - fk - f + fs
        bb, n_b = _divide((-a * sgd) << up, s * s * m, cfg.slope)
        e, n_e = _divide(-a * sg, m, cfg.const)
        bits = max(cfg.coef.width + w + up, cfg.const.width + up,
                   cfg.slope.width + w + g + 1) + 2
        t = (_arr(dy, bits) * a + e) * (1 << up) + _arr(d, bits) * bb
        shift = fb + fs - f
        out.update(B=bb, E=e)
        sat = {"s": n_s, "a": n_a, "dgamma": n_dg, "B": n_b, "E": n_e}
    dx, flags = fixed.saturate_flags(fixed.shift_right(t, shift, "half_up"), cfg.data)
    sat["dx"] = int(np.count_nonzero(flags))
    out.update(dx=dx, dgamma=dgamma, dbeta=dbeta, sums=sums, sat=sat, n_sat=sum(sat.values()))
    return out


# --- float64 folded form (the algebra the integer backward implements) -------------------------

def fold_backward_float(norm, x, dy, gamma, eps):
    """Per-channel folded backward in float64: dict ``A``, ``E``, ``D`` (l1) or ``B`` (l2),
    ``dx``, ``dgamma``, ``dbeta`` for 1-D ``x``, ``dy`` of one channel.

    A = gamma/s; dgamma = sum(dy*d)/s with d = x - mu;
    l1: D = -A*dgamma/m, E = -A*sum(dy)/m - D*sum(sgn d)/m, dx = A*dy + D*sgn(d) + E;
    l2: B = -A*dgamma/(m*s), E = -A*sum(dy)/m, dx = A*dy + B*d + E.
    """
    x = np.asarray(x, dtype=np.float64)
    dy = np.asarray(dy, dtype=np.float64)
    m = x.size
    mu = x.mean()
    d = x - mu
    if norm == "l1":
        s = np.abs(d).mean() + eps
    elif norm == "l2":
        s = math.sqrt((d * d).mean() + eps)
    else:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    a = gamma / s
    sg = dy.sum()
    dgamma = (dy * d).sum() / s
    out = {"A": a, "dgamma": dgamma, "dbeta": sg}
    if norm == "l1":
        sgn = np.sign(d)
        dd = -a * dgamma / m
        e = -a * sg / m - dd * sgn.sum() / m
        out.update(D=dd, E=e, dx=a * dy + dd * sgn + e)
    else:
        b = -a * dgamma / (m * s)
        e = -a * sg / m
        out.update(B=b, E=e, dx=a * dy + b * d + e)
    return out


# --- array-level wrapper -----------------------------------------------------------------------

_MODES = {
    "train": ({"x", "gamma", "beta"}, {"running_mean", "running_sigma"}),
    "infer": ({"x", "gamma", "beta", "running_mean", "running_sigma"}, set()),
    "backward": ({"x", "dy", "gamma"}, {"mean", "sigma"}),
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
        optional for train, default 0 and 1), ``mean``, ``sigma`` (optional for backward: the
        unit's own batch statistics of ``x`` when absent). x, dy, gamma, beta are quantized to
        ``cfg.data``, the others to ``cfg.stat`` (half_even, :func:`golden.fixed.quantize`).

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
        if name in ("running_sigma", "sigma") and np.any(v < 0):
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
            if "mean" in q and "sigma" in q:
                mu, sg = int(q["mean"][ch]), int(q["sigma"][ch])
            else:
                st = batch_stats(cfg, xc[ch])
                mu = int(q["mean"][ch]) if "mean" in q else st["mean"]
                sg = int(q["sigma"][ch]) if "sigma" in q else st["sigma"]
            r = backward(cfg, xc[ch], dyc[ch], int(q["gamma"][ch]), mu, sg)
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

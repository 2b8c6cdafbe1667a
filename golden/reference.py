"""Float64 reference model of L1-norm and L2-norm batch normalization.

The golden model for the fixed-point hardware: plain NumPy in float64, nothing read at run time.
Equation numbers refer to the L1-norm batch normalization (L1BN) paper: eq. 9-11 (L1BN
forward), eq. 20 (L1BN backward), Algorithm 1 (running statistics, inference); L2BN is the usual
batch normalization (eq. 4-8).

Conventions
-----------
* Layout: ``x`` has shape (N, C) or (N, C, H, W); axis 1 is the channel. Statistics are per
  channel over every other axis, i.e. over the m = N*H*W values of that channel. Per-channel
  vectors (``gamma``, ``beta``, ``running_*``, ``BatchStats.mean`` / ``.sigma``) have shape (C,).
* ``sigma`` and the denominator ``s`` (stated once, in :func:`denominator`):

  - ``"l1"``: sigma = mean(|x - mu|), s = sigma + eps.
  - ``"l2"``: sigma = sqrt(mean((x - mu)**2) + eps) (biased variance), s = sigma.

  The same eps therefore means different things in the two norms, and an L2 ``sigma`` (batch
  or running) already contains eps.
* xhat = (x - mu) / s, eps included, in the forward pass and inside the backward formula
  (eq. 20 is exact for eps > 0 only then). y = gamma * xhat + beta.
* sgn(0) = 0 (``np.sign``, as autograd does) in the L1 backward pass.
* s = 0 (only possible with eps = 0 and a constant channel): the forward pass sets xhat = 0 in
  that channel (x - mu is 0 there anyway); the backward pass raises, the gradient being undefined.
* Running statistics (Algorithm 1, lines 7-8): new = alpha * old + (1 - alpha) * batch, for mu and
  for sigma as defined above. PyTorch's ``momentum`` is 1 - alpha (alpha = 0.9 <-> momentum = 0.1),
  and PyTorch keeps the *unbiased variance*, not sigma, so its running buffers are not comparable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["NORMS", "BatchStats", "denominator", "forward_train", "backward", "forward_infer",
           "update_running"]

NORMS = ("l1", "l2")


@dataclass(frozen=True)
class BatchStats:
    """Per-channel statistics of one training batch.

    Attributes
    ----------
    mean : ndarray, shape (C,)
        Batch mean mu_B.
    sigma : ndarray, shape (C,)
        mean(|x - mu|) for ``"l1"``; sqrt(biased variance + eps) for ``"l2"``.
    xhat : ndarray, shape of x
        Normalized input (x - mu) / s with s = ``denominator(sigma, norm, eps)``.
    """

    mean: np.ndarray
    sigma: np.ndarray
    xhat: np.ndarray


# --- per-channel reductions and broadcasting ------------------------------------------------

def _reduce(a, op=np.mean):
    """Apply ``op`` over every axis but the channel axis 1; returns shape (C,)."""
    return op(a, axis=(0,) + tuple(range(2, a.ndim)))


def _bc(v, ndim):
    """Reshape a (C,) vector so that it broadcasts along axis 1 of an ``ndim``-D array."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


# --- validation ------------------------------------------------------------------------------

def _check_norm(norm):
    if not isinstance(norm, str) or norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


def _check_scalar(value, name, lo, hi=np.inf):
    value = float(value)
    if not (np.isfinite(value) and lo <= value <= hi):
        bounds = f">= {lo:g}" if hi == np.inf else f"in [{lo:g}, {hi:g}]"
        raise ValueError(f"{name} must be finite and {bounds}, got {value!r}")
    return value


def _check_x(x, name="x"):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim not in (2, 4):
        raise ValueError(f"{name} must be 2-D (N, C) or 4-D (N, C, H, W), got shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"{name} must hold at least one value per channel, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must be finite")
    return x


def _check_vec(v, name, c=None, nonneg=False):
    """Return ``v`` as a float64 (C,) vector; ``c=None`` accepts any 1-D length."""
    v = np.asarray(v, dtype=np.float64)
    if v.ndim != 1 or (c is not None and v.shape != (c,)):
        raise ValueError(f"{name} must have shape ({'C' if c is None else c},), got {v.shape}")
    if not np.all(np.isfinite(v)) or (nonneg and np.any(v < 0)):
        raise ValueError(f"{name} must be finite{' and >= 0' if nonneg else ''}")
    return v


def _check_common(x, norm, eps):
    """Validate the arguments every pass takes; returns float64 x and float eps."""
    _check_norm(norm)
    return _check_x(x), _check_scalar(eps, "eps", 0.0)


# --- model -----------------------------------------------------------------------------------

def denominator(sigma, norm, eps):
    """Denominator s of the normalization for a given sigma.

    Parameters
    ----------
    sigma : array_like
        Batch or running sigma as defined for ``norm`` (an L2 sigma already contains eps).
    norm : {"l1", "l2"}
    eps : float

    Returns
    -------
    ndarray
        ``sigma + eps`` for ``"l1"``, ``sigma`` for ``"l2"``.
    """
    _check_norm(norm)
    eps = _check_scalar(eps, "eps", 0.0)
    sigma = np.asarray(sigma, dtype=np.float64)
    return sigma + eps if norm == "l1" else sigma


def _batch_stats(x, norm, eps):
    """Statistics of a validated batch; returns (BatchStats, s)."""
    mu = _reduce(x)
    xc = x - _bc(mu, x.ndim)
    sigma = _reduce(np.abs(xc)) if norm == "l1" else np.sqrt(_reduce(xc * xc) + eps)
    s = denominator(sigma, norm, eps)
    sb = _bc(s, x.ndim)
    xhat = np.divide(xc, sb, out=np.zeros_like(xc), where=sb > 0)
    return BatchStats(mean=mu, sigma=sigma, xhat=xhat), s


def forward_train(x, gamma, beta, norm, eps):
    """Training-mode forward pass (eq. 9-11 for L1, eq. 4-7 for L2).

    Parameters
    ----------
    x : array_like, shape (N, C) or (N, C, H, W)
    gamma, beta : array_like, shape (C,)
    norm : {"l1", "l2"}
    eps : float
        Non-negative; see the module docstring for where it sits.

    Returns
    -------
    y : ndarray, shape of x
    stats : BatchStats
    """
    x, eps = _check_common(x, norm, eps)
    c = x.shape[1]
    gamma, beta = _check_vec(gamma, "gamma", c), _check_vec(beta, "beta", c)
    stats, _ = _batch_stats(x, norm, eps)
    return _bc(gamma, x.ndim) * stats.xhat + _bc(beta, x.ndim), stats


def backward(dy, x, gamma, norm, eps):
    """Gradients of a loss through :func:`forward_train` (eq. 20 for L1, eq. 8 for both).

    With g = dy * gamma and means over each channel's m values:

    * L2: dx = (g - mean(g) - xhat * mean(g * xhat)) / s
    * L1: dx = (g - mean(g) - mean(g * xhat) * (sgn(xhat) - mean(sgn(xhat)))) / s, sgn(0) = 0

    Parameters
    ----------
    dy : array_like, shape of x
        Gradient of the loss with respect to y.
    x, gamma, norm, eps
        As for :func:`forward_train` (the statistics are recomputed from x).

    Returns
    -------
    dx : ndarray, shape of x
    dgamma, dbeta : ndarray, shape (C,)
        sum(dy * xhat) and sum(dy) per channel.
    """
    x, eps = _check_common(x, norm, eps)
    dy = np.asarray(dy, dtype=np.float64)
    if dy.shape != x.shape:
        raise ValueError(f"dy must have the shape of x {x.shape}, got {dy.shape}")
    dy = _check_x(dy, "dy")
    gamma = _check_vec(gamma, "gamma", x.shape[1])
    stats, s = _batch_stats(x, norm, eps)
    if np.any(s == 0):
        raise ValueError("eps must be > 0 when a channel of x is constant (s = 0: no gradient)")
    nd, xhat = x.ndim, stats.xhat
    g = dy * _bc(gamma, nd)
    bracket = g - _bc(_reduce(g), nd)
    gx = _bc(_reduce(g * xhat), nd)
    if norm == "l2":
        bracket -= xhat * gx
    else:
        sgn = np.sign(xhat)
        bracket -= gx * (sgn - _bc(_reduce(sgn), nd))
    return bracket / _bc(s, nd), _reduce(dy * xhat, np.sum), _reduce(dy, np.sum)


def forward_infer(x, gamma, beta, running_mean, running_sigma, norm, eps):
    """Inference-mode forward pass (Algorithm 1, line 9), folded to y = a * x + b.

    a = gamma / s_run and b = beta - running_mean * a, with s_run =
    ``denominator(running_sigma, norm, eps)``: running_sigma + eps for L1, running_sigma itself
    for L2 (its eps is already inside).

    Parameters
    ----------
    x, gamma, beta, norm, eps
        As for :func:`forward_train`.
    running_mean, running_sigma : array_like, shape (C,)
        ``running_sigma`` must be >= 0 and give s_run > 0.

    Returns
    -------
    ndarray, shape of x
    """
    x, eps = _check_common(x, norm, eps)
    c, nd = x.shape[1], x.ndim
    gamma, beta = _check_vec(gamma, "gamma", c), _check_vec(beta, "beta", c)
    running_mean = _check_vec(running_mean, "running_mean", c)
    running_sigma = _check_vec(running_sigma, "running_sigma", c, nonneg=True)
    s = denominator(running_sigma, norm, eps)
    if np.any(s <= 0):
        bad = np.flatnonzero(s <= 0)
        raise ValueError(f"running_sigma gives a zero denominator in channels {bad}")
    a = gamma / s
    return _bc(a, nd) * x + _bc(beta - running_mean * a, nd)


def update_running(running_mean, running_sigma, batch_mean, batch_sigma, alpha):
    """Moving-average update of the running statistics (Algorithm 1, lines 7-8).

    new = alpha * old + (1 - alpha) * batch. PyTorch's ``momentum`` is 1 - alpha (alpha = 0.9 is
    torch's momentum = 0.1); torch's running buffer holds the unbiased variance, not sigma, so
    it is not comparable with ``running_sigma``.

    Parameters
    ----------
    running_mean, running_sigma, batch_mean, batch_sigma : array_like, shape (C,)
        Sigmas as defined for the norm in use, >= 0.
    alpha : float
        Weight of the old value, in [0, 1]; alpha = 1 keeps the old statistics.

    Returns
    -------
    new_mean, new_sigma : ndarray, shape (C,)
    """
    running_mean = _check_vec(running_mean, "running_mean")
    c = running_mean.shape[0]
    running_sigma = _check_vec(running_sigma, "running_sigma", c, nonneg=True)
    batch_mean = _check_vec(batch_mean, "batch_mean", c)
    batch_sigma = _check_vec(batch_sigma, "batch_sigma", c, nonneg=True)
    alpha = _check_scalar(alpha, "alpha", 0.0, 1.0)
    return (alpha * running_mean + (1 - alpha) * batch_mean,
            alpha * running_sigma + (1 - alpha) * batch_sigma)

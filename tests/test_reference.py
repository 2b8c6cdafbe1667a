"""Tests of l1bn.golden.reference: gradients against finite differences, corner cases, validation."""

import math

import numpy as np
import pytest

from l1bn.golden.reference import (NORMS, backward, denominator, forward_infer, forward_train,
                              update_running)

FD_REL_STEP = 1e-6
FD_TOL = 1e-6
KINK_MARGIN = 1e-3


def rel_err(a, b):
    """Norm-wise relative error max|a - b| / max|b|."""
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


def channel_mean(x):
    return x.mean(axis=(0,) + tuple(range(2, x.ndim)), keepdims=True)


def draw_away_from_mean(rng, draw):
    """Call ``draw(rng)`` until no value lies within KINK_MARGIN of its channel mean.

    L1BN's sigma contains |x - mu|, which has a kink at x == mu: a central difference straddling
    it measures the average of the two one-sided slopes, not the derivative. A step h in one x
    moves every x - mu by at most h ~ 1e-6, so with a 1e-3 margin no difference crosses the kink.
    Redrawing keeps the data deterministic for a fixed seed.
    """
    while True:
        x = draw(rng)
        if np.min(np.abs(x - channel_mean(x))) >= KINK_MARGIN:
            return x


def fd_grads(x, gamma, beta, w, norm, eps):
    """Central differences of L = sum(w * y) w.r.t. x, gamma and beta."""
    def grad(arr, loss):
        out = np.empty_like(arr)
        for i in np.ndindex(arr.shape):
            h = FD_REL_STEP * max(1.0, abs(arr[i]))
            up, down = arr.copy(), arr.copy()
            up[i] += h
            down[i] -= h
            out[i] = (loss(up) - loss(down)) / (up[i] - down[i])
        return out

    def loss(x_, g_, b_):
        return np.sum(w * forward_train(x_, g_, b_, norm, eps)[0])

    return (grad(x, lambda a: loss(a, gamma, beta)), grad(gamma, lambda a: loss(x, a, beta)),
            grad(beta, lambda a: loss(x, gamma, a)))


def make_case(seed, shape):
    """Per-channel offsets and scales; data kept away from the L1 kink; random fixed w."""
    rng = np.random.default_rng(seed)
    bshape = (1, shape[1]) + (1,) * (len(shape) - 2)
    loc = np.array([0.5, -1.0, 2.0]).reshape(bshape)
    scale = np.array([1.0, 0.3, 2.0]).reshape(bshape)
    x = draw_away_from_mean(rng, lambda r: loc + scale * r.standard_normal(shape))
    gamma = rng.uniform(0.5, 2.0, shape[1]) * rng.choice([-1.0, 1.0], shape[1])
    beta = rng.standard_normal(shape[1])
    w = rng.standard_normal(shape)
    return x, gamma, beta, w


@pytest.mark.parametrize("shape, seed", [((16, 3), 101), ((4, 3, 5, 5), 202)])
@pytest.mark.parametrize("eps", [1e-5, 0.1])
@pytest.mark.parametrize("norm", NORMS)
def test_backward_matches_finite_differences(norm, eps, shape, seed):
    x, gamma, beta, w = make_case(seed, shape)
    dx, dgamma, dbeta = backward(w, x, gamma, norm, eps)
    fx, fgamma, fbeta = fd_grads(x, gamma, beta, w, norm, eps)
    for name, got, want in (("dx", dx, fx), ("dgamma", dgamma, fgamma), ("dbeta", dbeta, fbeta)):
        err = rel_err(got, want)
        msg = f"seed={seed} norm={norm} eps={eps} shape={shape}: {name} rel err {err:.2e}"
        assert err <= FD_TOL, msg


@pytest.mark.parametrize("norm", NORMS)
def test_constant_channel(norm):
    eps, c0 = 1e-5, 1.5  # 1.5 is exact in binary, so mu == 1.5 exactly and x - mu == 0
    rng = np.random.default_rng(7)
    x = rng.standard_normal((8, 3))
    x[:, 1] = c0
    gamma, beta = np.array([1.0, 2.0, 3.0]), np.array([0.1, -0.2, 0.3])
    dy = rng.standard_normal((8, 3))
    y, st = forward_train(x, gamma, beta, norm, eps)
    assert st.mean[1] == c0
    assert st.sigma[1] == (0.0 if norm == "l1" else math.sqrt(eps))
    assert np.all(st.xhat[:, 1] == 0.0) and np.all(y[:, 1] == beta[1])
    # xhat == 0 in the channel, so dx = (g - mean(g)) / s there; for L1 this relies on sgn(0) = 0.
    dx, dgamma, dbeta = backward(dy, x, gamma, norm, eps)
    g = dy[:, 1] * gamma[1]
    s = denominator(st.sigma[1], norm, eps)
    np.testing.assert_allclose(dx[:, 1], (g - g.mean()) / s, rtol=1e-12)
    assert dgamma[1] == 0.0 and dbeta[1] == pytest.approx(dy[:, 1].sum())
    # eps = 0: s = 0; forward defines xhat = 0, backward refuses.
    y0, st0 = forward_train(x, gamma, beta, norm, 0.0)
    assert np.all(st0.xhat[:, 1] == 0.0) and np.all(np.isfinite(y0))
    with pytest.raises(ValueError, match="^eps"):
        backward(dy, x, gamma, norm, 0.0)


@pytest.mark.parametrize("eps", [1e-5, 0.1])
def test_l1_tie_at_mean_is_sgn_zero(eps):
    """A value exactly at its channel mean: the central difference straddles the |.| kink and
    averages the two one-sided slopes, which is the sgn(0) = 0 convention of eq. 20."""
    # Channel means 0 and 1.5, computed exactly; rows 1 and 2 hold the ties.
    x = np.array([[-1.25, 0.5], [0.0, 1.0], [0.5, 1.5], [3.0, 2.0], [-2.25, 2.5]])
    gamma, beta = np.array([1.5, -0.75]), np.array([0.0, 0.25])
    w = np.random.default_rng(606).standard_normal(x.shape)
    assert np.sum(forward_train(x, gamma, beta, "l1", eps)[1].xhat == 0.0) == 2
    dx = backward(w, x, gamma, "l1", eps)[0]
    fx = fd_grads(x, gamma, beta, w, "l1", eps)[0]
    assert rel_err(dx, fx) <= FD_TOL, f"seed=606 eps={eps}: rel err {rel_err(dx, fx):.2e}"


@pytest.mark.parametrize("shape", [(1, 3), (1, 3, 1, 1)])
@pytest.mark.parametrize("norm", NORMS)
def test_batch_of_one(norm, shape):
    eps = 1e-3
    rng = np.random.default_rng(8)
    x, dy = rng.standard_normal(shape), rng.standard_normal(shape)
    gamma, beta = np.array([1.0, -2.0, 0.5]), np.array([0.25, 0.5, -1.0])
    y, st = forward_train(x, gamma, beta, norm, eps)
    np.testing.assert_array_equal(st.sigma, 0.0 if norm == "l1" else math.sqrt(eps))
    np.testing.assert_array_equal(st.xhat, 0.0)
    np.testing.assert_array_equal(y.reshape(3), beta)
    dx, dgamma, dbeta = backward(dy, x, gamma, norm, eps)
    np.testing.assert_array_equal(dx, 0.0)
    np.testing.assert_array_equal(dgamma, 0.0)
    np.testing.assert_array_equal(dbeta, dy.reshape(3))


def test_l1_mean_sgn_term_matters():
    """Dropping mean(sgn(xhat)) from eq. 20 is visibly wrong on ReLU-shaped data at m = 16."""
    seed, eps, shape = 303, 1e-5, (16, 2)
    rng = np.random.default_rng(seed)
    x = draw_away_from_mean(rng, lambda r: np.maximum(r.standard_normal(shape), 0.0))
    gamma, beta, w = np.array([1.3, 0.7]), np.array([0.1, -0.4]), rng.standard_normal(shape)
    dx = backward(w, x, gamma, "l1", eps)[0]
    fx = fd_grads(x, gamma, beta, w, "l1", eps)[0]
    assert rel_err(dx, fx) <= FD_TOL, f"seed={seed}: full formula rel err {rel_err(dx, fx):.2e}"
    _, st = forward_train(x, gamma, beta, "l1", eps)
    g, s, sgn = w * gamma, st.sigma + eps, np.sign(st.xhat)
    dx_without = (g - g.mean(0) - (g * st.xhat).mean(0) * sgn) / s
    assert rel_err(dx_without, fx) > 1e-3, f"seed={seed}: mean(sgn) term did not matter"


def test_theorem1_ratio_gaussian():
    x = np.random.default_rng(404).standard_normal((65536, 1))
    sigma = {norm: forward_train(x, [1.0], [0.0], norm, 0.0)[1].sigma[0] for norm in NORMS}
    ratio = sigma["l2"] / sigma["l1"]
    assert abs(ratio - math.sqrt(math.pi / 2)) < 0.01, f"seed=404: ratio {ratio:.4f}"


@pytest.mark.parametrize("norm", NORMS)
def test_forward_infer_with_batch_stats_reproduces_training(norm):
    eps = 0.1
    x, gamma, beta, _ = make_case(505, (4, 3, 5, 5))
    y, st = forward_train(x, gamma, beta, norm, eps)
    np.testing.assert_allclose(forward_infer(x, gamma, beta, st.mean, st.sigma, norm, eps), y,
                               rtol=1e-12, atol=1e-12)


def test_forward_infer_eps_placement():
    # x = 3, mu_run = 1, sigma_run = 0.5, eps = 0.5, gamma = 2, beta = 1
    x, args = np.array([[3.0]]), ([2.0], [1.0], [1.0], [0.5])
    assert forward_infer(x, *args, "l1", 0.5)[0, 0] == 2 * 2 / (0.5 + 0.5) + 1  # = 5
    assert forward_infer(x, *args, "l2", 0.5)[0, 0] == 2 * 2 / 0.5 + 1  # = 9, eps inside sigma_run
    np.testing.assert_array_equal(denominator([1.0, 2.0], "l1", 0.5), [1.5, 2.5])
    np.testing.assert_array_equal(denominator([1.0, 2.0], "l2", 0.5), [1.0, 2.0])


def test_update_running():
    rm, rs, bm, bs = [1.0, 2.0], [0.5, 4.0], [3.0, -2.0], [1.5, 0.0]
    m, s = update_running(rm, rs, bm, bs, 0.75)
    np.testing.assert_array_equal(m, [1.5, 1.0])
    np.testing.assert_array_equal(s, [0.75, 3.0])
    m, s = update_running(rm, rs, bm, bs, 1.0)
    np.testing.assert_array_equal(m, rm)
    np.testing.assert_array_equal(s, rs)
    m, s = update_running(rm, rs, bm, bs, 0.0)
    np.testing.assert_array_equal(m, bm)
    np.testing.assert_array_equal(s, bs)


X, G, B, V = np.ones((4, 3)), np.ones(3), np.zeros(3), np.ones(3)
X_NAN, X_INF = X.copy(), X.copy()
X_NAN[0, 0], X_INF[1, 2] = np.nan, np.inf

VALUE_ERRORS = [
    ("norm", lambda: forward_train(X, G, B, "l3", 1e-5)),
    ("norm", lambda: backward(X, X, G, "L1", 1e-5)),
    ("norm", lambda: forward_infer(X, G, B, V, V, None, 1e-5)),
    ("norm", lambda: denominator(V, "linf", 1e-5)),
    ("x", lambda: forward_train(np.ones((4, 3, 5)), G, B, "l1", 1e-5)),
    ("x", lambda: forward_train(np.ones(3), G, B, "l2", 1e-5)),
    ("x", lambda: backward(np.ones((2, 3, 1)), np.ones((2, 3, 1)), G, "l1", 1e-5)),
    ("x", lambda: forward_infer(np.ones((1, 1, 1, 3, 1)), G, B, V, V, "l1", 1e-5)),
    ("x", lambda: forward_train(X_NAN, G, B, "l1", 1e-5)),
    ("x", lambda: backward(X, X_INF, G, "l2", 1e-5)),
    ("x", lambda: forward_infer(X_INF, G, B, V, V, "l1", 1e-5)),
    (r"gamma must have shape \(3,\), got \(4,\)",
     lambda: forward_train(X, np.ones(4), B, "l1", 1e-5)),
    ("gamma", lambda: backward(X, X, np.ones((3, 1)), "l2", 1e-5)),
    ("gamma", lambda: forward_infer(X, np.ones(2), B, V, V, "l1", 1e-5)),
    ("beta", lambda: forward_train(X, G, np.zeros(2), "l2", 1e-5)),
    ("beta", lambda: forward_infer(X, G, 0.0, V, V, "l2", 1e-5)),
    ("running_mean", lambda: forward_infer(X, G, B, np.ones(4), V, "l1", 1e-5)),
    ("running_sigma", lambda: forward_infer(X, G, B, V, np.ones(2), "l2", 1e-5)),
    ("running_sigma", lambda: forward_infer(X, G, B, V, -V, "l1", 1e-5)),
    ("running_sigma", lambda: forward_infer(X, G, B, V, 0 * V, "l2", 1e-5)),
    ("running_mean", lambda: update_running(np.ones((2, 2)), V, V, V, 0.9)),
    ("running_sigma", lambda: update_running(V, np.ones(4), V, V, 0.9)),
    ("batch_mean", lambda: update_running(V, V, np.ones(2), V, 0.9)),
    ("batch_sigma", lambda: update_running(V, V, V, np.ones(4), 0.9)),
    ("dy", lambda: backward(np.ones((4, 2)), X, G, "l1", 1e-5)),
    ("dy", lambda: backward(X.T, X, G, "l2", 1e-5)),
    ("eps", lambda: forward_train(X, G, B, "l1", -1e-5)),
    ("eps", lambda: forward_train(X, G, B, "l2", np.nan)),
    ("eps", lambda: backward(X, X, G, "l1", np.inf)),
    ("eps", lambda: forward_infer(X, G, B, V, V, "l2", -0.1)),
    ("eps", lambda: denominator(V, "l1", -1.0)),
    ("alpha", lambda: update_running(V, V, V, V, -0.1)),
    ("alpha", lambda: update_running(V, V, V, V, 1.1)),
    ("alpha", lambda: update_running(V, V, V, V, np.nan)),
]


@pytest.mark.parametrize("match, call", VALUE_ERRORS,
                         ids=[f"{i}-{m.split()[0]}" for i, (m, _) in enumerate(VALUE_ERRORS)])
def test_value_errors(match, call):
    with pytest.raises(ValueError, match="^" + match):
        call()

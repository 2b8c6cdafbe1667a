"""Tests of l1bn.golden.bn_unit: the array wrapper, the corner channels through the forward and the
backward together, and UnitConfig (the numerics and their bounds on every input are
tests/test_bn_forward.py and tests/test_bn_backward_numerics.py)."""

import math

import numpy as np
import pytest

from l1bn.golden import fixed
from l1bn.golden import reference as ref
from l1bn.golden.bn_unit import (ALPHA_FMT, STATS, UnitConfig, backward, batch_stats, forward_infer,
                            forward_train, run)

VARIANTS = (("l1", "two-pass"), ("l2", "two-pass"), ("l2", "one-pass"))


def _backward(cfg, x, dy, gamma):
    """The backward of a channel with what the forward hands over for the same x."""
    s = batch_stats(cfg, x)["sums"]
    return backward(cfg, x, dy, gamma, s["sum_x"], s["spread"])


# --- corner cases -------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v[0]}-{v[1]}")
def test_batch_of_one(variant):
    """m = 1: mu = x, sigma = 0 (l2: sqrt(eps)), y = beta when a, b fit, dx = 0 exactly
    (A*dy + E cancels and D = B = 0), dgamma = 0, dbeta = dy."""
    for eps in (1e-5, 0.25):
        cfg = UnitConfig(*variant, 16, 8, eps=eps)
        for xv, dyv in ((0, 100), (-32768, -32768), (300, 5), (32767, 32767)):
            x, dy = np.array([xv]), np.array([dyv])
            f = forward_train(cfg, x, 300, -7, 0, 0)
            assert f["mean"] == xv << 8
            if f["sat"]["a"] + f["sat"]["b"] == 0:
                assert f["y"][0] == -7
            b = _backward(cfg, x, dy, 300)
            assert b["dx"][0] == 0 and b["dgamma"] == 0 and b["dbeta"] == dyv


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v[0]}-{v[1]}")
def test_saturating_outputs_are_counted(variant):
    """Large gamma: y leaves Q8.8; every clamped element is counted and at the right bound."""
    seed = 1234
    cfg = UnitConfig(*variant, 16, 8)
    rng = np.random.default_rng(seed)
    x = fixed.quantize(rng.normal(0.5, 1.0, 500), cfg.data)[0]
    gamma = 100 * 256
    f = forward_train(cfg, x, gamma, 0, 0, 256)
    xr = x / 256
    y_ref = ref.forward_train(xr[:, None], [100.0], [0.0], cfg.norm, cfg.eps_q * 2.0 ** -16)[0]
    y_ref = y_ref[:, 0]
    over, under = y_ref > cfg.data.max_value + 0.05, y_ref < cfg.data.min_value - 0.05
    assert over.sum() > 10 and under.sum() > 10
    assert np.all(f["y"][over] == cfg.data.max_code) and np.all(f["y"][under] == cfg.data.min_code)
    clamped = (f["y"] == cfg.data.max_code) | (f["y"] == cfg.data.min_code)
    assert f["sat"]["y"] == clamped.sum() >= over.sum() + under.sum()
    assert f["n_sat"] == f["sat"]["y"]
    inside = ~clamped
    assert np.max(np.abs(f["y"][inside] / 256 - y_ref[inside])) * 256 <= 2.0
    # Backward with the same gamma: dx saturates too, counted.
    dy = fixed.quantize(rng.normal(0, 50.0, 500), cfg.data)[0]
    b = _backward(cfg, x, dy, gamma)
    at_bound = (b["dx"] == cfg.data.max_code) | (b["dx"] == cfg.data.min_code)
    assert b["sat"]["dx"] == at_bound.sum() > 0


@pytest.mark.parametrize("wf", [(8, 4), (16, 8), (32, 16)], ids=["w8", "w16", "w32"])
@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v[0]}-{v[1]}")
def test_most_negative_and_extreme_codes(variant, wf):
    """Full-scale codes (most negative x, dy, gamma, beta; the largest spread) at m = max_batch:
    outputs in their formats, dbeta exact, sums as the definitions."""
    w, f = wf
    cfg = UnitConfig(*variant, w, f, max_batch=64)
    lo, hi = cfg.data.min_code, cfg.data.max_code
    cases = [np.full(64, lo), np.array([lo] * 63 + [hi]), np.array([hi] * 63 + [lo]),
             np.array([lo, hi] * 32)]
    for x in cases:
        x = x.astype(np.int64)
        for gamma in (lo, hi, 1 << f):
            fw = forward_train(cfg, x, gamma, lo, cfg.stat.min_code, cfg.stat.max_code)
            assert fw["sums"]["sum_x"] == int(x.sum())
            assert np.all((fw["y"] >= lo) & (fw["y"] <= hi))
            assert 0 <= fw["running_sigma"] <= cfg.stat.max_code
            for dy in (np.full(64, lo, dtype=np.int64), x[::-1].copy()):
                b = _backward(cfg, x, dy, gamma)
                assert b["dbeta"] == int(dy.sum())
                assert b["sums"]["sum_dy_x"] == int(np.sum(dy.astype(object) * x))
                assert np.all((b["dx"] >= lo) & (b["dx"] <= hi))


# --- array wrapper ------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(12, 3), (4, 3, 2, 5)])
def test_run_wrapper_matches_per_channel(shape):
    seed = 2468
    rng = np.random.default_rng(seed)
    cfg = UnitConfig("l1", "two-pass", 16, 8)
    x = rng.normal(0, 2, shape)
    x[(0, 0) + (0,) * (len(shape) - 2)] = 1e6  # saturates on input, counted
    dy = rng.normal(0, 1, shape)
    gamma, beta = np.array([1.0, -0.5, 2.0]), np.array([0.0, 0.25, -1.0])
    tr = run(cfg, "train", x=x, gamma=gamma, beta=beta)
    assert tr["sat"]["input_x"] == 1 and tr["y"].shape == shape
    xq = fixed.quantize(x, cfg.data)[0]
    xc = np.moveaxis(xq, 1, 0).reshape(3, -1)
    for c in range(3):
        f = forward_train(cfg, xc[c], int(gamma[c] * 256), int(beta[c] * 256), 0, 1 << 16)
        np.testing.assert_array_equal(np.moveaxis(tr["y_codes"], 1, 0).reshape(3, -1)[c], f["y"])
        assert tr["mean_codes"][c] == f["mean"] and tr["sigma_codes"][c] == f["sigma"]
        assert tr["running_sigma_codes"][c] == f["running_sigma"]
    bw = run(cfg, "backward", x=x, dy=dy, gamma=gamma)
    dyq = fixed.quantize(dy, cfg.data)[0]
    dyc = np.moveaxis(dyq, 1, 0).reshape(3, -1)
    for c in range(3):
        b = _backward(cfg, xc[c], dyc[c], int(gamma[c] * 256))
        np.testing.assert_array_equal(np.moveaxis(bw["dx_codes"], 1, 0).reshape(3, -1)[c],
                                      b["dx"])
        assert bw["dgamma_codes"][c] == b["dgamma"] and bw["dbeta_codes"][c] == b["dbeta"]
    inf = run(cfg, "infer", x=x, gamma=gamma, beta=beta, running_mean=tr["mean"],
              running_sigma=tr["sigma"])
    # the running statistics are the batch's rounded to S: y within 1 LSB of training's
    assert np.max(np.abs(inf["y_codes"] - tr["y_codes"])) <= 1
    with pytest.raises(ValueError, match="mode"):
        run(cfg, "eval", x=x, gamma=gamma, beta=beta)
    with pytest.raises(ValueError, match="needs"):
        run(cfg, "infer", x=x, gamma=gamma, beta=beta)
    with pytest.raises(ValueError, match="gamma"):
        run(cfg, "train", x=x, gamma=gamma[:2], beta=beta)
    with pytest.raises(ValueError, match="needs"):
        run(cfg, "backward", x=x, dy=dy, gamma=gamma, mean=tr["mean"])


def test_per_channel_input_validation():
    cfg = UnitConfig("l2", "two-pass", 8, 4, max_batch=4)
    ok = np.array([1, 2, 3], dtype=np.int64)
    with pytest.raises(ValueError, match="x"):
        forward_train(cfg, np.array([200]), 16, 0, 0, 16)  # beyond Q8: 8-bit codes
    with pytest.raises(ValueError, match="max_batch"):
        forward_train(cfg, np.zeros(5, dtype=np.int64), 16, 0, 0, 16)
    with pytest.raises(ValueError, match="x"):
        forward_train(cfg, np.array([], dtype=np.int64), 16, 0, 0, 16)
    with pytest.raises(ValueError, match="x"):
        forward_train(cfg, np.array([0.5]), 16, 0, 0, 16)
    with pytest.raises(ValueError, match="gamma"):
        forward_train(cfg, ok, 128, 0, 0, 16)
    with pytest.raises(ValueError, match="running_sigma"):
        forward_train(cfg, ok, 16, 0, 0, -1)
    with pytest.raises(ValueError, match="running_mean"):
        forward_infer(cfg, ok, 16, 0, 1 << 15, 16)
    with pytest.raises(ValueError, match="dy"):
        backward(cfg, ok, ok[:2], 16, 6, 16)
    with pytest.raises(ValueError, match="spread"):
        backward(cfg, ok, ok, 16, 6, -3)
    with pytest.raises(ValueError, match="sum_x"):
        backward(cfg, ok, ok, 16, 1 << 20, 0)


# --- UnitConfig -----------------------------------------------------------------------------------

CONFIG_ERRORS = [
    ("norm", dict(norm="l3")), ("norm", dict(norm=None)), ("norm", dict(norm="L1")),
    ("stats", dict(stats="three-pass")), ("stats", dict(stats=1)),
    ("stats", dict(norm="l1", stats="one-pass")),
    ("width", dict(width=1)), ("width", dict(width=65)), ("width", dict(width=16.0)),
    ("width", dict(width=True)),
    ("frac", dict(frac=-1)), ("frac", dict(frac=16)), ("frac", dict(frac=8.5)),
    ("guard", dict(guard=-1)), ("guard", dict(guard=33)), ("guard", dict(guard="8")),
    ("max_batch", dict(max_batch=0)), ("max_batch", dict(max_batch=(1 << 32) + 1)),
    ("max_batch", dict(max_batch=2.0)),
    ("alpha", dict(alpha=-0.1)), ("alpha", dict(alpha=1.5)), ("alpha", dict(alpha=math.nan)),
    ("alpha", dict(alpha="0.9")), ("alpha", dict(alpha=True)),
    ("eps", dict(eps=-1e-5)), ("eps", dict(eps=math.inf)), ("eps", dict(eps=1e6)),
    ("eps", dict(eps=None)),
]


@pytest.mark.parametrize("name, kw", CONFIG_ERRORS, ids=[f"{n}-{i}" for i, (n, _) in
                                                         enumerate(CONFIG_ERRORS)])
def test_unit_config_value_errors(name, kw):
    args = {"norm": "l2", "stats": "two-pass", "width": 16, "frac": 8, **kw}
    with pytest.raises(ValueError, match=f"^{name}"):
        UnitConfig(**args)


def test_unit_config_formats():
    cfg = UnitConfig("l1", "two-pass", 16, 8)
    assert STATS == ("two-pass", "one-pass")
    assert (cfg.data.width, cfg.data.frac) == (16, 8)
    assert (cfg.stat.width, cfg.stat.frac) == (24, 16)
    assert (cfg.bias.width, cfg.bias.frac) == (26, 8)
    assert (cfg.grad.width, cfg.grad.frac) == (32, 8)
    assert cfg.alpha_q == 58982 and cfg.eps_q == 1  # round(0.9 * 2**16), round(0.65536)
    assert UnitConfig("l1", "two-pass", 16, 8, alpha=1).alpha_q == 1 << 16
    assert ALPHA_FMT.max_code >= 1 << 16
    assert UnitConfig("l2", "one-pass", 8, 4).eps_q == 0  # 1e-5 * 2**12 rounds to 0
    assert set(cfg.formats) == {"data", "stat", "bias", "grad", "alpha"}

"""The backward numerics (:mod:`l1bn.golden.bn_backward`) against exact values and the float64
reference, on every input.

Property-based: Hypothesis searches the forward's hard channels (``tests/test_bn_forward.py``:
constant at any value, two-level, sparse, large mean with a tiny spread, extreme codes, uniform
and mixtures, any gamma, several eps, guard bits and formats, m from 1 to max_batch) with
gradients dy from the same families or proportional to xhat (l2's cancelling terms) or to
sgn(x - mu) (l1's); every example is checked under both norms. Every check is the
unconditional bound of the module docstring, on the same codes with the unit's own eps code:

* dbeta exact; dgamma within ``max(1, 2**-W |dgamma|)`` LSB where it fits the grad format;
* dx: ``|dx - clip(dx*)| <= 1`` LSB for l1 (the 2-LSB contract on every input); for l2 within
  ``1/2 + 3 * 2**-G + eps_B * Lam`` (so within 2 LSB wherever ``Lam <= 2**(MW-2)``).

``dx*`` is evaluated from the definitions (:func:`exact`: mean, xhat, mean(dy * xhat) as exact
rationals, one float rounding at the end; l2's square root in float64), because the float64
reference cancels terms as large as ``Lam`` (``2**70`` LSB at W = 32). The reference
(:func:`l1bn.golden.reference.backward`, on x and dy translated by codes near their middles, which
changes neither dx nor dgamma) is checked against it within ``2**-46 * Lam``. The searches are
derandomized; run with ``-s`` to see the measured worst errors.
"""

import os
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from l1bn.golden import fixed, reference as ref
from l1bn.golden.bn_backward import backward
from l1bn.golden.bn_forward import batch_stats, forward_train
from l1bn.golden.bn_unit import UnitConfig
from tests.test_bn_forward import _cfg, channels, family

#: Examples per norm: 10,000 in `make test`, more in `make soak` (L1BN_HYPOTHESIS_EXAMPLES).
EXAMPLES = int(os.environ.get("L1BN_HYPOTHESIS_EXAMPLES", 10_000))
#: Slack (LSB) for the float rounding of the exact values, and the float64 reference's error
#: relative to the size of the terms it cancels.
SLOP, REF_REL = 1e-6, 2.0**-46
NORMS = ("l1", "l2")
#: Worst errors seen, per (norm, W, what): printed by test_print_worst_errors.
WORST = {}


@st.composite
def gradients(draw, cfg, x):
    """dy codes for x: a hard family, or k * xhat (l2's cancellation) or k * sgn(x - mu) (l1's)
    plus a little noise."""
    data = cfg.data
    kind = draw(st.sampled_from(("family", "xhat", "sign")))
    if kind == "family":
        return draw(family(data, x.size)).astype(np.int64)
    c = x - x.mean()
    top = np.max(np.abs(c))
    shape = np.sign(c) if kind == "sign" or top == 0 else c / top
    k = draw(st.integers(data.min_code, data.max_code))
    noise = draw(st.integers(0, 2))
    jitter = np.random.default_rng(draw(st.integers(0, 2**16))).integers(-noise, noise + 1,
                                                                          x.size)
    return np.clip(np.round(k * shape) + jitter, data.min_code, data.max_code).astype(np.int64)


@st.composite
def backward_channels(draw, variant):
    cfg, x, gamma, _, _, _ = draw(channels(variant))
    return cfg, x, draw(gradients(cfg, x)), gamma


def eps_b(cfg):
    """Relative error bound of the l2 factors: ``3 * 2**-MW + 2**-(n-3)``."""
    return 3 * 2.0**-cfg.mant_width + 2.0**-(cfg.root_width - 3)


def _div(num, den):
    """Correctly rounded floats of the exact ratios ``num / den`` (Python ints)."""
    return np.array([int(v) / den for v in num], dtype=np.float64)


def exact(cfg, x, dy, gamma):
    """``dx*`` (codes, float), ``dgamma*``, ``Lam`` per element and ``sum |dy * xhat|`` from
    the definitions with exact integers; None where ``s = 0``. With ``mc = m(x - mean x)``,
    ``mdy = m(dy - mean dy)`` and ``t = sum dy * mc``, the bracket times ``m * Den`` (l1) or
    ``m * q`` (l2) is an integer."""
    m, g = x.size, cfg.guard
    xs, dys = fixed.codes(x, 256), fixed.codes(dy, 256)
    mc, mdy = m * xs - int(np.sum(xs)), m * dys - int(np.sum(dys))
    t = int(np.sum(dys * mc))
    terms = np.abs(dys * mc)
    if cfg.norm == "l1":
        den = (int(np.sum(np.abs(mc))) << g) + cfg.eps_q * m * m      # s = den / (m**2 2**G)
        if den == 0:
            return None
        slope = (t << g) * (m * np.sign(mc) - int(np.sum(np.sign(mc))))
        scale, norm = abs(gamma) * m << g, den * den
        return {"dx": _div(gamma * (m << g) * (mdy * den - slope), norm),
                "dgamma": t * m * 2**g / den, "terms": (int(np.sum(terms)) * m << g) / den,
                "lam": _div(scale * (np.abs(mdy) * den + np.abs(slope)), norm)}
    q = (int(np.sum(mc * mc)) // m << 2 * g) + (cfg.eps_q << cfg.stat.frac) * m * m
    if q == 0:
        return None
    root = float(np.sqrt(float(q)))                                 # s = sqrt(q) / (m 2**G)
    slope = mc * t << 2 * g
    return {"dx": _div(gamma * (mdy * q - slope) << g, q) / root,
            "dgamma": (t << g) / root, "terms": (int(np.sum(terms)) << g) / root,
            "lam": _div(abs(gamma) * (np.abs(mdy) * q + np.abs(slope)) << g, q) / root}


def _reference(cfg, x, dy, gamma):
    """(dx, dgamma) codes from l1bn.golden.reference on translated codes."""
    data = cfg.data
    xr = fixed.dequantize(x - int(np.median(x)), data)[:, None]
    dyr = fixed.dequantize(dy - int(np.median(dy)), data)[:, None]
    dx, dg, _ = ref.backward(dyr, xr, [gamma * data.lsb], cfg.norm, cfg.eps_q * cfg.stat.lsb)
    return dx[:, 0] / data.lsb, dg[0] / data.lsb


def _record(cfg, key, err):
    k = (cfg.norm, cfg.width, key)
    WORST[k] = max(WORST.get(k, 0.0), float(err))


def check_channel(cfg, x, dy, gamma):
    """Every bound of one channel, and the reference against the exact values; returns the
    backward's result and its worst dx error (LSB)."""
    sums = batch_stats(cfg, x)["sums"]
    b = backward(cfg, x, dy, gamma, sums["sum_x"], sums["spread"])
    assert b["dbeta"] == int(np.sum(dy))
    ex = exact(cfg, x, dy, gamma)
    if ex is None:      # s = 0, no gradient in the reference: counted, dgamma 0
        assert b["sat"]["a"] == (gamma != 0) and b["dgamma"] == 0
        assert np.all(b["dx"][dy * x.size == np.sum(dy)] == 0)
        return b, 0.0
    data, grad, lam = cfg.data, cfg.grad, ex["lam"]
    dx_ref, dg_ref = _reference(cfg, x, dy, gamma)
    assert np.all(np.abs(dx_ref - ex["dx"]) <= SLOP + REF_REL * lam)
    assert abs(dg_ref - ex["dgamma"]) <= SLOP + REF_REL * ex["terms"]
    if grad.min_code <= ex["dgamma"] <= grad.max_code:
        err = abs(b["dgamma"] - ex["dgamma"])
        _record(cfg, "dgamma error (LSB)", err)
        assert err <= max(1.0, 2.0**-cfg.width * abs(ex["dgamma"])) + SLOP, \
            ("dgamma", b["dgamma"], ex["dgamma"])
    err = np.abs(b["dx"] - np.clip(ex["dx"], data.min_code, data.max_code))
    if cfg.norm == "l1":
        bound = np.full(x.size, 1.0)
    else:
        bound = 0.5 + 3 * 2.0**-cfg.guard + eps_b(cfg) * lam
        contract = lam <= 2.0**(cfg.mant_width - 2)
        if np.any(contract):
            _record(cfg, "dx error where Lam <= 2**(MW-2) (LSB)", err[contract].max())
        _record(cfg, "dx error / bound", (err / bound).max())
    _record(cfg, "dx error (LSB)", err.max())
    worst = int(np.argmax(err - bound))
    assert err[worst] <= bound[worst] + SLOP, (
        f"dx[{worst}] = {b['dx'][worst]}, exact {ex['dx'][worst]:.4f}, error "
        f"{err[worst]:.4f} LSB, bound {bound[worst]:.4f}")
    return b, float(err.max())


_SETTINGS = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def test_bounds_hold_on_searched_channels():
    """EXAMPLES channels, each under both norms; prints the worst errors (``-s``)."""
    @_SETTINGS
    @given(backward_channels(("l1", "two-pass")))
    def search(ch):
        cfg, x, dy, gamma = ch
        for norm in NORMS:
            check_channel(replace(cfg, norm=norm), x, dy, gamma)
    search()
    for (norm, w, key), v in sorted(WORST.items()):
        print(f"backward {norm} W={w}: worst {key} = {v:.4f} ({EXAMPLES} examples)")


# --- named families ------------------------------------------------------------------------------

def _named(norm, x, dy, gamma=256, wf=(16, 8), eps=1e-5, max_batch=65536, guard=8):
    cfg = _cfg(norm, "two-pass", wf, guard, eps, max_batch)
    return (cfg, *check_channel(cfg, np.asarray(x, np.int64), np.asarray(dy, np.int64), gamma))


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("value", [384, -32768, 32767, 0])
def test_constant_channel(norm, value):
    """xhat = 0: dx = (gamma/sqrt(eps)) * (dy - mean dy) (saturated), dgamma 0; dy = its mean
    gives dx = 0."""
    rng = np.random.default_rng(value & 0xFFFF)
    _, b, _ = _named(norm, [value] * 50, rng.integers(-300, 300, 50), gamma=-32768)
    assert b["dgamma"] == 0
    _, b, _ = _named(norm, [value] * 50, [7] * 50, gamma=-32768)
    assert np.all(b["dx"] == 0) and b["dgamma"] == 0


@pytest.mark.parametrize("norm", NORMS)
def test_constant_channel_without_eps_is_counted(norm):
    _, b, _ = _named(norm, [5] * 8, [1, 2, 3, 4, 4, 3, 2, 1], eps=0.0)
    assert b["sat"]["a"] == 1 and b["dgamma"] == 0
    assert b["dx"].tolist() == [-32768, -32768, 32767, 32767, 32767, 32767, -32768, -32768]


@pytest.mark.parametrize("norm", NORMS)
def test_two_level_adjacent_codes(norm):
    """3.0 and 3.0 + 1 LSB (s about 1/2 LSB, gain 2 gamma): ordinary gradients within 1 LSB."""
    x = np.where(np.arange(101) % 3 == 0, 768, 769)
    dy = np.random.default_rng(2).integers(-40, 40, 101)
    _, b, worst = _named(norm, x, dy, gamma=256)
    assert worst <= 1.0 and b["sat"]["dx"] == 0


def test_cancelling_terms_l1_exact_l2_bounded():
    """dy proportional to xhat: dx* = 0. l1 (whose slope multiplies a sign) gives 0; l2 gives
    the counterexample of the module docstring, 4096 LSB, inside its bound."""
    x, dy = [0, 1], [-32736, 32736]
    _, b1, _ = _named("l1", x, dy, gamma=32704, eps=0.0)
    cfg, b2, _ = _named("l2", x, dy, gamma=32704, eps=0.0)
    assert b1["dx"].tolist() == [0, 0]
    assert b2["dx"].tolist() == [4096, -4096]
    assert np.all(4096 <= eps_b(cfg) * exact(cfg, np.array(x), np.array(dy), 32704)["lam"])


def test_no_pair_of_18_bit_factors_meets_2_lsb_on_the_counterexample():
    """The two lanes differ by 2k A' - B' (exact: 0). Every 18-bit A' within 128 of a = 65408
    is j/4 and every 18-bit B' near 2**32 a multiple of 2**14: the difference is at least 16."""
    k, a = 32736, 2 * 32704
    j = np.arange(4 * (a - 128) + 1, 4 * (a + 128))      # A' = j/4, in [2**15, 2**16)
    diff = k * j // 2                                     # 2k A', an integer (k is even)
    gap = np.minimum(diff % 2**14, -diff % 2**14)         # to the nearest B'
    assert gap.min() == 16 and (4 * 32704 * k) % 2**14 == 2**13


@pytest.mark.parametrize("norm", NORMS)
def test_large_mean_small_spread(norm):
    """Mean 40, standard deviation 0.05 at Q16.8 (s about 13 LSB): within 1 LSB."""
    rng = np.random.default_rng(3)
    x = fixed.quantize(40 + 0.05 * rng.standard_normal(500), fixed.Fmt(16, 8))[0]
    _, b, worst = _named(norm, x, rng.integers(-500, 500, 500), gamma=256)
    assert worst <= 1.0 and b["sat"]["dx"] == 0


@pytest.mark.parametrize("norm", NORMS)
def test_sparse_relu_channel(norm):
    rng = np.random.default_rng(5)
    x = np.where(rng.random(1000) < 0.98, 0, rng.integers(1, 2000, 1000))
    assert _named(norm, x, rng.integers(-3000, 3000, 1000), gamma=64)[2] <= 1.0


@pytest.mark.parametrize("norm", NORMS)
def test_batch_of_one_and_maximum_batch(norm):
    _, b, _ = _named(norm, [-5], [300], gamma=300)
    assert b["dx"].tolist() == [0] and b["dgamma"] == 0 and b["dbeta"] == 300
    rng = np.random.default_rng(9)
    x, dy = rng.integers(-32768, 32768, 65536), rng.integers(-32768, 32768, 65536)
    assert _named(norm, x, dy, gamma=-200)[2] <= 1.0


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("wf", [(8, 4), (16, 8), (32, 16), (32, 0)],
                         ids=["w8", "w16", "w32f16", "w32f0"])
def test_formats(norm, wf):
    w, _ = wf
    lo, hi = -(1 << (w - 1)), (1 << (w - 1)) - 1
    rng = np.random.default_rng(w)
    xs = (np.full(9, lo), np.array([lo, hi] * 5), rng.integers(lo, hi + 1, 200),
          np.clip(hi // 3 + rng.integers(-1, 2, 200), lo, hi))
    for x in xs:
        for dy in (np.full(x.size, hi), rng.integers(lo, hi + 1, x.size),
                   rng.integers(-3, 4, x.size)):
            for gamma in (lo, hi, 1):
                _named(norm, x, dy, gamma=gamma, wf=wf)


@pytest.mark.parametrize("norm, stats", [("l1", "two-pass"), ("l2", "two-pass"),
                                         ("l2", "one-pass")])
def test_forward_hands_over_its_exact_sums(norm, stats):
    """The forward's ``sums`` feed the backward; l2 one-pass and two-pass hand over the same
    integers, hence the same gradients."""
    cfg = UnitConfig(norm, stats, 16, 8)
    rng = np.random.default_rng(11)
    x, dy = rng.integers(-500, 500, 64), rng.integers(-500, 500, 64)
    sums = forward_train(cfg, x, 100, 0, 0, 0)["sums"]
    b = backward(cfg, x, dy, 100, sums["sum_x"], sums["spread"])
    two = UnitConfig(norm, "two-pass", 16, 8)
    st_ = batch_stats(two, x)["sums"]
    c = backward(two, x, dy, 100, st_["sum_x"], st_["spread"])
    assert np.array_equal(b["dx"], c["dx"]) and b["dgamma"] == c["dgamma"]


@pytest.mark.parametrize("kw, match", [
    ({"sum_x": 10**9}, "sum_x"), ({"spread": -1}, "spread"), ({"gamma": 1 << 20}, "gamma"),
    ({"dy": np.zeros(3, np.int64)}, "dy must have the shape"),
])
def test_input_validation(kw, match):
    cfg = UnitConfig("l1", "two-pass", 16, 8)
    args = {"x": np.zeros(4, np.int64), "dy": np.zeros(4, np.int64), "gamma": 1, "sum_x": 0,
            "spread": 0, **kw}
    with pytest.raises(ValueError, match=match):
        backward(cfg, **args)
    with pytest.raises(ValueError, match=r"^guard must be an integer in \[3, 32\]"):
        UnitConfig("l1", "two-pass", 16, 8, guard=2)

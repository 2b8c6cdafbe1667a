"""The forward numerics (:mod:`l1bn.golden.bn_forward`) against the float64 reference, on every input.

Property-based: Hypothesis searches channels built from the hard families (constant at any
value, two-level, sparse, large mean with a tiny spread, extreme codes, uniform) and mixtures
of them, any gamma and beta, several eps, guard bits and formats, m from 1 to max_batch. Every
check is the unconditional contract of the module docstring, measured on the same quantized
inputs with the unit's own eps and alpha codes:

* batch mean within 1/2 LSB of S, sigma within 1/2 (l1) or 5/8 (l2) LSB of S;
* y (training and inference) within 1 LSB wherever the reference lies inside the data format,
  and saturated with the reference's sign where it lies outside (``|y - clip(y_ref)| <= 1``);
* running statistics within 1 LSB of S of Algorithm 1.

The searches are derandomized (a fixed seed: Hypothesis prints the falsifying channel). The
named tests below pin the families one by one.
"""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from l1bn.golden import fixed, reference as ref
from l1bn.golden.bn_forward import MIN_GUARD, batch_stats, forward_infer, forward_train
from l1bn.golden.norm_divider import norm_div
from l1bn.golden.bn_unit import UnitConfig
from l1bn.golden.channels import KINDS, channel_codes

VARIANTS = (("l1", "two-pass"), ("l2", "two-pass"), ("l2", "one-pass"))
#: (W, F) formats searched: the widest and narrowest with the common ones.
FORMATS = ((16, 8), (8, 4), (16, 0), (16, 15), (32, 16), (4, 2))
EPS = (1e-5, 0.0, 1e-3, 0.1, 2.0)
#: Examples per norm (l1, l2 two-pass; one-pass is checked equal to two-pass): 10,000 in
#: `make test`, more in `make soak` (L1BN_HYPOTHESIS_EXAMPLES).
EXAMPLES = int(os.environ.get("L1BN_HYPOTHESIS_EXAMPLES", 10_000))
#: Slack (LSB) for the float64 reference's own rounding.
SLOP = 1e-6
#: Seed of the testbench-channel test (plus the shape's index), printed on failure.
SEED = 20261203


def _cfg(norm, stats, wf, guard, eps, max_batch=256):
    w, f = wf
    stat = fixed.Fmt(w + guard, f + guard)
    return UnitConfig(norm=norm, stats=stats, width=w, frac=f, guard=guard,
                      max_batch=max_batch, eps=min(eps, stat.max_value))


@st.composite
def family(draw, data, m):
    """m codes of one hard family."""
    lo, hi = data.min_code, data.max_code
    kind = draw(st.sampled_from(("const", "two", "sparse", "narrow", "extreme", "uniform")))
    v = draw(st.integers(lo, hi))
    if kind == "const":
        return np.full(m, v)
    if kind == "two":
        k = draw(st.integers(1, 3))
        ones = draw(st.lists(st.booleans(), min_size=m, max_size=m))
        return np.clip(np.where(ones, v + k, v), lo, hi)
    if kind == "sparse":
        spikes = draw(st.lists(st.tuples(st.integers(0, m - 1), st.integers(lo, hi)),
                               max_size=max(1, m // 20)))
        x = np.full(m, v)
        for i, s in spikes:
            x[i] = s
        return x
    if kind == "narrow":
        spread = draw(st.integers(0, 4))
        seed = draw(st.integers(0, 2**32 - 1))
        return np.clip(v + np.random.default_rng(seed).integers(-spread, spread + 1, m), lo, hi)
    if kind == "extreme":
        picks = draw(st.lists(st.sampled_from((lo, lo + 1, -1, 0, 1, hi - 1, hi)),
                              min_size=m, max_size=m))
        return np.array(picks)
    seed = draw(st.integers(0, 2**32 - 1))
    return np.random.default_rng(seed).integers(lo, hi + 1, m)


@st.composite
def channels(draw, variant):
    """(cfg, x, gamma, beta, running_mean, running_sigma): a mixture of one or two families."""
    wf = draw(st.sampled_from(FORMATS))
    guard = draw(st.sampled_from((MIN_GUARD, 4, 8)))
    eps = draw(st.sampled_from(EPS))
    cfg = _cfg(*variant, wf, guard, eps)
    data, stat = cfg.data, cfg.stat
    m = draw(st.one_of(st.just(1), st.just(cfg.max_batch), st.integers(1, 64)))
    split = draw(st.integers(0, m))
    x = np.concatenate([draw(family(data, split)) if split else np.zeros(0, np.int64),
                        draw(family(data, m - split)) if split < m else np.zeros(0, np.int64)])
    x = x[np.random.default_rng(draw(st.integers(0, 2**16))).permutation(m)]
    gamma = draw(st.integers(data.min_code, data.max_code))
    beta = draw(st.integers(data.min_code, data.max_code))
    rm = draw(st.integers(stat.min_code, stat.max_code))
    rs = draw(st.one_of(st.just(0), st.integers(0, stat.max_code)))
    return cfg, x.astype(np.int64), gamma, beta, rm, rs


def _slop(cfg):
    return SLOP if cfg.width <= 16 else 1e-4


def _check_y(cfg, y, y_ref, what):
    """|y - clip(y_ref)| <= 1 LSB: within 1 LSB inside the format, saturated outside."""
    data = cfg.data
    ref_codes = np.clip(np.asarray(y_ref, dtype=np.float64) / data.lsb, data.min_code,
                        data.max_code)
    err = np.abs(np.asarray(y, dtype=np.float64) - ref_codes)
    worst = int(np.argmax(err)) if err.size else 0
    assert err.size == 0 or err[worst] <= 1.0 + _slop(cfg), (
        f"{what}: y[{worst}] = {y[worst]}, reference {np.asarray(y_ref)[worst] / data.lsb:.4f} "
        f"codes, error {err[worst]:.4f} LSB")
    return float(err.max()) if err.size else 0.0


def check_channel(cfg, x, gamma, beta, rm, rs):
    """Every contract item of one channel; returns the worst y error (LSB)."""
    data, stat = cfg.data, cfg.stat
    eps = cfg.eps_q * stat.lsb
    al = cfg.alpha_q / 2**16
    # The reference sees x translated by a code near its middle, c: y does not change, and
    # float64 does not cancel a large mean against a tiny spread (at W = 32 that alone costs
    # the reference tens of LSB). The mean is translated back exactly.
    c = int(np.median(x))
    xr = fixed.dequantize(x - c, data)[:, None]
    f = forward_train(cfg, x, gamma, beta, rm, rs)
    y_ref, bs = ref.forward_train(xr, [gamma * data.lsb], [beta * data.lsb], cfg.norm, eps)
    mu_t, sig_t = bs.mean[0] + c * data.lsb, bs.sigma[0]
    slop = _slop(cfg)
    assert abs(f["mean"] * stat.lsb - mu_t) / stat.lsb <= 0.5 + slop, ("mean", f["mean"], mu_t)
    if not f["sat"]["sigma"]:
        bound = 0.5 if cfg.norm == "l1" else 0.625
        assert abs(f["sigma"] * stat.lsb - sig_t) / stat.lsb <= bound + slop, \
            ("sigma", f["sigma"], sig_t / stat.lsb)
    s = float(ref.denominator(sig_t, cfg.norm, eps))
    worst = 0.0
    if s > 0:
        worst = _check_y(cfg, f["y"], y_ref[:, 0], "train")
    else:       # a constant channel without eps: the reference's xhat is 0, y = beta
        assert np.all(f["y"] == beta)
    new_m, new_s = ref.update_running([rm * stat.lsb], [rs * stat.lsb], [mu_t], [sig_t], al)
    assert abs(f["running_mean"] * stat.lsb - new_m[0]) / stat.lsb <= 1 + slop
    if not f["sat"]["sigma"]:       # Algorithm 1 on the batch sigma the format can hold
        assert abs(f["running_sigma"] * stat.lsb - new_s[0]) / stat.lsb <= 1 + slop
    fi = forward_infer(cfg, x, gamma, beta, rm, rs)
    s_run = float(ref.denominator(rs * stat.lsb, cfg.norm, eps))
    if s_run > 0:
        # Inference translates by the running mean's code instead: the reference folds y into
        # a*x + b, and b = beta - running_mean * a cancels against a*x when the gain is large.
        ci = rm >> cfg.guard
        yi = ref.forward_infer(fixed.dequantize(x - ci, data)[:, None], [gamma * data.lsb],
                               [beta * data.lsb], [(rm - (ci << cfg.guard)) * stat.lsb],
                               [rs * stat.lsb], cfg.norm, eps)[:, 0]
        worst = max(worst, _check_y(cfg, fi["y"], yi, "infer"))
    return worst


_SETTINGS = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.parametrize("variant", VARIANTS[:2], ids=["l1", "l2"])
def test_contract_holds_on_searched_channels(variant):
    @_SETTINGS
    @given(channels(variant))
    def search(ch):
        check_channel(*ch)
    search()


@settings(max_examples=2000, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(channels(("l2", "one-pass")))
def test_one_pass_equals_two_pass(ch):
    """m*sum(x**2) - (sum x)**2 and m*sum(d**2) - r**2 are the same integer: identical codes."""
    cfg, x, gamma, beta, rm, rs = ch
    two = UnitConfig("l2", "two-pass", cfg.width, cfg.frac, cfg.guard, cfg.max_batch,
                     eps=cfg.eps)
    a = forward_train(cfg, x, gamma, beta, rm, rs)
    b = forward_train(two, x, gamma, beta, rm, rs)
    assert a["sums"]["spread"] == b["sums"]["spread"]
    for k in ("mean", "sigma", "running_mean", "running_sigma"):
        assert a[k] == b[k]
    assert np.array_equal(a["y"], b["y"]) and a["coef"] == b["coef"]


# --- named families ------------------------------------------------------------------------------

def _named(variant, x, gamma=256, beta=-100, wf=(16, 8), eps=1e-5, **kw):
    cfg = _cfg(*variant, wf, kw.pop("guard", 8), eps, kw.pop("max_batch", 65536))
    x = np.asarray(x, dtype=np.int64)
    worst = check_channel(cfg, x, gamma, beta, kw.pop("rm", 0), kw.pop("rs", 256))
    return cfg, forward_train(cfg, x, gamma, beta, 0, 256), worst


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v[0]}-{v[1]}")
@pytest.mark.parametrize("kind", KINDS)
def test_testbench_channels_meet_the_contract(variant, kind):
    """The channels the unit testbenches stream (:func:`l1bn.golden.channels.channel_codes`,
    every shape) meet the contract against float64 in the model too, at Q16.8 and Q8.4."""
    seed = SEED + KINDS.index(kind)
    rng = np.random.default_rng(seed)
    for wf in ((16, 8), (8, 4)):
        cfg = _cfg(*variant, wf, 8, 1e-5)
        for m in (1, 7, cfg.max_batch):
            x = channel_codes(cfg, rng, m, kind)
            data = cfg.data
            gamma, beta = (int(v) for v in rng.integers(data.min_code, data.max_code + 1, 2))
            try:
                check_channel(cfg, x, gamma, beta, 0, 1 << cfg.guard)
            except AssertionError as exc:
                raise AssertionError(f"{kind} Q{wf[0]}.{wf[1]} m={m} (seed {seed}): {exc}") from None


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v[0]}-{v[1]}")
@pytest.mark.parametrize("value", [384, -32768, 32767, 0])
def test_constant_channel_gives_beta(variant, value):
    """A constant channel at any value, default eps: y = beta exactly, nothing saturates."""
    _, f, _ = _named(variant, [value] * 50, gamma=-32768, beta=1234)
    assert np.all(f["y"] == 1234) and f["sat"]["y"] == 0 and f["sat"]["b"] == 0


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v[0]}-{v[1]}")
def test_large_mean_small_spread(variant):
    """Mean 40, standard deviation 0.05 at Q16.8: y within 1 LSB (was ~34,000 LSB off)."""
    x = fixed.quantize(40 + 0.05 * np.random.default_rng(3).standard_normal(500),
                       fixed.Fmt(16, 8))[0]
    _, f, worst = _named(variant, x, gamma=256, beta=0)
    assert worst <= 1.0 and f["sat"]["y"] == 0


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v[0]}-{v[1]}")
def test_two_level_adjacent_codes(variant):
    """Values 3.0 and 3.0 + 1 LSB: |xhat| about 1, y within 1 LSB."""
    x = np.where(np.arange(101) % 3 == 0, 768, 769)
    _, f, worst = _named(variant, x, gamma=256, beta=0)
    assert worst <= 1.0 and f["sat"]["y"] == 0 and 50 < np.max(np.abs(f["y"])) < 600


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v[0]}-{v[1]}")
def test_sparse_relu_channel(variant):
    """98 % zeros, a few large activations (a ReLU output)."""
    rng = np.random.default_rng(5)
    x = np.where(rng.random(1000) < 0.98, 0, rng.integers(1, 2000, 1000))
    _, _, worst = _named(variant, x, gamma=64, beta=0)
    assert worst <= 1.0


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v[0]}-{v[1]}")
def test_batch_of_one_and_maximum_batch(variant):
    _, f, _ = _named(variant, [-5], gamma=300, beta=7)
    assert f["y"].tolist() == [7] and f["mean"] == -5 << 8
    x = np.random.default_rng(9).integers(-32768, 32768, 4096)
    _named(variant, x, gamma=-200, beta=3, max_batch=4096)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v[0]}-{v[1]}")
@pytest.mark.parametrize("wf", [(2, 0), (4, 2), (8, 4), (32, 16), (32, 0)],
                         ids=["w2", "w4", "w8", "w32f16", "w32f0"])
def test_narrowest_and_widest_formats(variant, wf):
    w, f = wf
    lo, hi = -(1 << (w - 1)), (1 << (w - 1)) - 1
    rng = np.random.default_rng(w)
    for x in (np.full(9, lo), np.array([lo, hi] * 5), rng.integers(lo, hi + 1, 200),
              np.clip(hi // 3 + rng.integers(-1, 2, 200), lo, hi)):
        for gamma in (lo, hi, 1):
            _named(variant, x, gamma=gamma, beta=hi, wf=wf, eps=0.0 if w == 2 else 1e-5)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v[0]}-{v[1]}")
def test_saturating_outputs_keep_their_sign(variant):
    """An outlier channel with a large gain: the reference leaves the format on both sides; the
    unit saturates to the same rail, and counts it."""
    x = np.array([0] * 99 + [1])
    _, f, _ = _named(variant, x, gamma=32767, beta=0, eps=0.0)
    assert f["y"][-1] == 32767 and f["sat"]["y"] >= 1


@pytest.mark.parametrize("norm", ["l1", "l2"])
def test_large_gain_bias_at_maximum_batch(norm):
    """One outlier among 65,535 zeros without eps: the gain passes 2**MW (a negative exponent)
    and the zeros' y = beta - a*r/m must still be within 1 LSB (one rounding of the bias)."""
    x = np.zeros(65536, dtype=np.int64)
    x[0] = 1
    _, f, worst = _named((norm, "two-pass"), x, gamma=30000, beta=0, eps=0.0)
    assert worst <= 1.0 and f["y"][0] == 32767


def test_gain_clamp_is_counted():
    """A gain of 2**(W+2) or more: the lanes clamp it (sat a), the d = 0 outputs keep beta."""
    cfg, f, _ = _named(("l1", "two-pass"), [0] * 99 + [1], gamma=32767, beta=5, eps=0.0)
    assert f["sat"]["a"] == 1 and f["coef"]["exp"] == cfg.lane_exp
    assert f["y"][-1] == 32767 and np.all(f["y"][:-1] == f["y"][0])


def test_guard_below_minimum_is_refused():
    with pytest.raises(ValueError, match=r"^guard must be an integer in \[3, 32\]"):
        UnitConfig("l1", "two-pass", 16, 8, guard=MIN_GUARD - 1)


@pytest.mark.parametrize("num, den", [(1, 3), (2**70 + 1, 7), (5, 2**80), (2**18 - 1, 1),
                                      ((2**18 - 1) * 2 + 1, 2), (123456789, 123456789)])
def test_norm_div_is_one_rounding(num, den):
    mant, e, n = norm_div(num, den, 18)
    assert n == 0 and 2**17 <= mant < 2**18
    exact = num * 2.0**e / den if abs(e) < 900 else None
    lo, hi = (mant * 2 - 1) * den, (mant * 2 + 1) * den      # mant - 1/2 <= num 2^e/den < +1/2
    val = num << e if e >= 0 else num
    scale = 2 if e >= 0 else 2 << -e
    assert lo <= val * scale < hi or (exact is not None and abs(exact - mant) <= 0.5)
    assert norm_div(0, 5, 18) == (0, 0, 0) and norm_div(3, 0, 18) == (0, None, 1)

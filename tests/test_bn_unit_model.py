"""Tests of golden.bn_unit's backward pass and array wrapper (the forward numerics are
tests/test_bn_forward.py).

Every error is measured against golden.reference evaluated on the SAME quantized inputs
(dequantized codes), with the unit's own quantized parameters eps = eps_q * 2**-FS and
alpha = alpha_q * 2**-16, and is expressed in LSB of the result's format. Seeds are fixed and
printed (run with ``-s`` to see the measured worst errors).

Each bound is tested twice:

* the rigorous a-priori bound (``*_bound`` helpers below, derived in the docstrings) holds on
  every unsaturated sample, whatever the data;
* the named LSB bound (dx: 4 LSB; dgamma, dbeta: 1 LSB) holds where its CONDITION holds: the
  rigorous bound is at most the named one. The conditions are gain conditions (see
  golden/bn_unit.py): the rounding of mu and s (1/2 and 1 LSB of S) is amplified by
  gamma/s**2 times the gradient (dx) and by the size of the sums (dgamma). The failure regimes
  are documented by dedicated tests with measured errors.
"""

import functools
import math
from fractions import Fraction

import numpy as np
import pytest

from golden import fixed
from golden import reference as ref
from golden.bn_unit import (ALPHA_FMT, STATS, UnitConfig, backward, batch_stats,
                            fold_backward_float, forward_infer, forward_train, run)

VARIANTS = (("l1", "two-pass"), ("l2", "two-pass"), ("l2", "one-pass"))
#: (W, F) -> (channels, seed). Thousands of channels at Q8.8, fewer at the other widths.
SWEEPS = {(16, 8): (1500, 1608), (8, 4): (400, 804), (32, 16): (150, 3216)}
KINDS = ("gauss", "relu", "skew", "const", "sparse")
#: Slack in LSB for the float64 reference and the float evaluation of the bounds.
SLOP = 1e-6


# --- data --------------------------------------------------------------------------------------

def draw_channel(rng, w, f):
    """One channel's codes: x (m values), dy, gamma, beta, running mean / sigma."""
    data, stat = fixed.Fmt(w, f), fixed.Fmt(w + 8, f + 8)
    kind = KINDS[rng.integers(len(KINDS))]
    if rng.random() < 0.12:
        m = int(rng.choice([1, 2, 7]))
    else:
        m = int(min(1000, max(1, round(math.exp(rng.uniform(0, math.log(1000)))))))
    top = data.max_value
    scale = 2.0 ** rng.uniform(-f, w - f - 4)
    loc = rng.uniform(-0.25, 0.25) * top
    z = rng.standard_normal(m)
    if kind == "gauss":
        v = loc + scale * z
    elif kind == "relu":
        v = np.maximum(0.0, scale * (z + rng.uniform(-1, 1)))
    elif kind == "skew":
        v = loc + scale * (rng.exponential(1.0, m) - 1.0)
    elif kind == "const":
        v = np.full(m, loc)
    else:
        v = loc + scale * z * (rng.random(m) < 0.1)

    def q(val, fmt=data):
        return fixed.quantize(np.clip(val, fmt.min_value, fmt.max_value), fmt)[0]

    x = q(v)
    gamma = int(q(rng.choice([-1.0, 1.0]) * 2.0 ** rng.uniform(-3, min(2, w - f - 3))))
    beta = int(q(rng.uniform(-1, 1) * 2.0 ** (w - f - 3)))
    dys = 2.0 ** rng.uniform(-4, min(1, w - f - 4))
    dy = q(dys * (rng.standard_normal(m) + rng.uniform(-1, 1) * (rng.random() < 0.5)))
    # Running statistics near the channel's own (as after training), sometimes far off.
    if rng.random() < 0.8:
        rm = int(q(np.mean(fixed.dequantize(x, data)) + scale * rng.normal(0, 0.3), stat))
        rs = int(q(scale * 2.0 ** rng.uniform(-1, 1), stat))
    else:
        rm = int(q(rng.uniform(-0.25, 0.25) * top, stat))
        rs = int(q(2.0 ** rng.uniform(-f, w - f - 3), stat))
    return {"kind": kind, "x": x, "dy": dy, "gamma": gamma, "beta": beta, "rm": rm, "rs": rs}


# --- rigorous error bounds (LSB of the result) ---------------------------------------------------

def dgamma_bound(cfg, dg_ref, sg_r, s_q):
    """dgamma = round(Sgd_q / s_q), Sgd_q = Sgd + (mu - mu_q) Sg, Sgd = dgamma_ref * s."""
    e_s = cfg.stat.lsb
    return 0.5 + (abs(dg_ref) * e_s / s_q + e_s / 2 * abs(sg_r) / s_q) / cfg.data.lsb


def dx_bound(cfg, xr, dyr, gamma_r, mu_t, s_t, mu_q, s_q, sgd_q, dg_ref, sgn=None):
    """|dx - dx_ref| <= this (LSB) for unsaturated elements (l1: when every sgn matches).

    With delta = mu - mu_q, A = gamma/s, dA = |A_q - A| <= 2**-(FK+1) + |gamma| eps_S/(s s_q):
    l2: dx = round(A_q dy + B_q d_q + E_q) and dx_ref = A dy - A Sg/m - A P with P = Sgd d/(m s^2);
        error <= 1/2 + |e_B||d_q| + |e_E| + dA (|dy - Sg/m| + |P_q|) + |A| |P_q - P| where
        |P_q - P| <= |Sgd d| eps_S (s + s_q)/(m s^2 s_q^2)
                     + eps_S/2 (|Sg d| + |Sgd| + eps_S/2 |Sg|)/(m s_q^2).
    l1: with c = sgn - Ssgn/m and Q = Sgd c/(m s):
        error <= 1/2 + |e_D| + |e_E| + dA (|dy - Sg/m| + |Q_q|)
                 + |A| |c|/m (|Sgd| eps_S/(s s_q) + eps_S/2 |Sg|/s_q).
    """
    e_s, e_k, lsb = cfg.stat.lsb, cfg.coef.lsb, cfg.data.lsb
    fkf = cfg.const.frac
    m = xr.size
    sg = dyr.sum()
    sgd_t = dg_ref * s_t
    a_t = gamma_r / s_t
    da = e_k / 2 + abs(gamma_r) * e_s / (s_t * s_q)
    dq, dt = xr - mu_q, xr - mu_t
    dyc = np.abs(dyr - sg / m)
    if cfg.norm == "l2":
        e0 = 0.5 + (2.0 ** -(cfg.slope.frac + 1) * np.abs(dq) + 2.0 ** -(fkf + 1)) / lsb
        pq = sgd_q * dq / (m * s_q ** 2)
        t1 = da * (dyc + np.abs(pq))
        t2 = abs(a_t) * (abs(sgd_t) * np.abs(dt) * e_s * (s_t + s_q) / (m * s_t ** 2 * s_q ** 2)
                         + e_s / 2 * (abs(sg) * np.abs(dt) + abs(sgd_t) + e_s / 2 * abs(sg))
                         / (m * s_q ** 2))
        scale = abs(a_t) * (np.abs(dyr) + abs(sg) / m + np.abs(pq))
    else:
        e0 = 0.5 + 2 * 2.0 ** -(fkf + 1) / lsb
        c = sgn - sgn.sum() / m
        qq = sgd_q * c / (m * s_q)
        t1 = da * (dyc + np.abs(qq))
        t2 = abs(a_t) * np.abs(c) / m * (abs(sgd_t) * e_s / (s_t * s_q) + e_s / 2 * abs(sg) / s_q)
        scale = abs(a_t) * (np.abs(dyr) + abs(sg) / m + np.abs(qq))
    return e0 + (t1 + t2) / lsb + 1e-12 * scale / lsb


# --- one channel through the unit and the reference ----------------------------------------------

def evaluate(cfg, ch):
    """Errors, bounds and flags of one channel for one UnitConfig."""
    data, stat = cfg.data, cfg.stat
    lsb, e_s = data.lsb, stat.lsb
    eps_r = cfg.eps_q * e_s
    x, dy, gamma, beta = ch["x"], ch["dy"], ch["gamma"], ch["beta"]
    m = x.size
    xr, dyr = fixed.dequantize(x, data), fixed.dequantize(dy, data)
    gr, br = gamma * lsb, beta * lsb
    out = {}

    f = forward_train(cfg, x, gamma, beta, ch["rm"], ch["rs"])
    st = ref.forward_train(xr[:, None], [gr], [br], cfg.norm, eps_r)[1]
    mu_t, sig_t = st.mean[0], st.sigma[0]
    s_t = float(ref.denominator(sig_t, cfg.norm, eps_r))
    mu_q = f["mean"] * e_s

    if s_t > 0:
        b = backward(cfg, x, dy, gamma, f["mean"], f["sigma"])
        s_q = b["s"] * e_s
        dx_ref, dg_ref, db_ref = ref.backward(dyr[:, None], xr[:, None], [gr], cfg.norm, eps_r)
        dg_ref, db_ref = dg_ref[0], db_ref[0]
        out["dbeta"] = abs(b["dbeta"] * lsb - db_ref) / lsb
        if b["sat"]["dgamma"] == 0:
            out["dgamma"] = (abs(b["dgamma"] * lsb - dg_ref) / lsb,
                             dgamma_bound(cfg, dg_ref, dyr.sum(), s_q))
        const_sat = b["n_sat"] - b["sat"]["dx"] - b["sat"]["dgamma"]
        if const_sat == 0:
            d_q = x.astype(object) * (1 << cfg.guard) - f["mean"]
            sgn_q = np.sign(d_q).astype(np.int64)
            sgn_t = np.sign(x.astype(object) * m - int(x.sum())).astype(np.int64)
            match = bool(np.all(sgn_q == sgn_t))
            sgd_q = b["sums"]["sum_dy_d"] * 2.0 ** -(cfg.frac + stat.frac)
            keep = (b["dx"] > data.min_code) & (b["dx"] < data.max_code)
            err = np.abs(b["dx"] * lsb - dx_ref[:, 0]) / lsb
            bnd = dx_bound(cfg, xr, dyr, gr, mu_t, s_t, mu_q, s_q, sgd_q, dg_ref, sgn_t)
            out["dx" if (match or cfg.norm == "l2") else "dx_kink"] = (err[keep], bnd[keep])
    return out


@functools.lru_cache(maxsize=None)
def sweep(w, f):
    """Run every variant over the channels of SWEEPS[(w, f)]; returns per-variant results."""
    n, seed = SWEEPS[(w, f)]
    rng = np.random.default_rng(seed)
    channels = [draw_channel(rng, w, f) for _ in range(n)]
    res = {}
    for norm, stats in VARIANTS:
        cfg = UnitConfig(norm, stats, w, f)
        acc = {}
        for ch in channels:
            for k, v in evaluate(cfg, ch).items():
                acc.setdefault(k, []).append(v)
        r = {}
        for k, v in acc.items():
            if isinstance(v[0], tuple):
                r[k] = tuple(np.concatenate([np.atleast_1d(e[i]) for e in v]) for i in (0, 1))
            else:
                r[k] = np.asarray(v, dtype=np.float64)
        res[(norm, stats)] = r
    return seed, n, res


def _report(w, f, seed, n, variant, name, err, bnd=None, target=None):
    msg = f"W={w} F={f} seed={seed} channels={n} {variant[0]}/{variant[1]} {name}: "
    msg += f"worst {np.max(err) if err.size else 0:.4f} LSB over {err.size}"
    if bnd is not None:
        cond = bnd <= target
        worst_c = np.max(err[cond]) if np.any(cond) else 0.0
        msg += (f"; within condition (bound <= {target}) {np.mean(cond):.1%}: worst "
                f"{worst_c:.4f}; max err/bound {np.max(err / bnd):.4f}")
    print(msg)
    return msg


SWEEP_IDS = [f"w{w}f{f}" for w, f in SWEEPS]


@pytest.mark.parametrize("wf", list(SWEEPS), ids=SWEEP_IDS)
@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v[0]}-{v[1]}")
@pytest.mark.parametrize("name, target", [("dx", 4.0), ("dgamma", 1.0)])
def test_error_bounds(wf, variant, name, target):
    """Rigorous bound everywhere; the named bound where the gain condition holds."""
    seed, n, res = sweep(*wf)
    err, bnd = res[variant][name]
    msg = _report(*wf, seed, n, variant, name, err, bnd, target)
    assert np.all(err <= bnd + SLOP), msg
    cond = bnd <= target
    assert np.all(err[cond] <= target), msg
    # The condition is not vacuous: a good share of the sweep satisfies it (the sweeps include
    # tiny-sigma and wide channels on purpose; the shares are printed).
    assert np.mean(cond) > 0.3, msg


@pytest.mark.parametrize("wf", list(SWEEPS), ids=SWEEP_IDS)
@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v[0]}-{v[1]}")
def test_dbeta_exact(wf, variant):
    seed, n, res = sweep(*wf)
    msg = _report(*wf, seed, n, variant, "dbeta", res[variant]["dbeta"])
    assert np.max(res[variant]["dbeta"]) == 0.0, msg


# --- documented failure regimes -------------------------------------------------------------------

def _tiny_sigma_channels(rng, cfg, n):
    """Channels spread over 1-3 LSB of x with gamma chosen for a gain |a| of 2**5 .. 2**8.9."""
    out = []
    for _ in range(n):
        m = int(rng.integers(3, 200))
        x = rng.integers(-3, 4, m) * rng.integers(0, 2, m) + rng.integers(-50, 50)
        x[0] += 1  # never constant
        sigma = batch_stats(cfg, x)["sigma"]
        s = (sigma + cfg.eps_q if cfg.norm == "l1" else sigma) * cfg.stat.lsb
        gamma = rng.choice([-1, 1]) * s * 2.0 ** rng.uniform(5, 8.9)
        gamma = int(np.clip(round(gamma / cfg.data.lsb), 1, cfg.data.max_code))
        dy = rng.integers(-300, 300, m)
        out.append({"kind": "tiny", "x": x.astype(np.int64), "dy": dy.astype(np.int64),
                    "gamma": gamma, "beta": 0, "rm": 0, "rs": 1 << cfg.guard})
    return out


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v[0]}-{v[1]}")
def test_regime_tiny_sigma_high_gain(variant):
    """Gain condition violated: s of a few LSB of x with |gamma|/s up to 2**8.

    The roundings of mu (1/2 LSB of S) and s (1 LSB of S) are multiplied by ~|gamma|/s**2 * |dy|
    for dx: the named bound fails here (dx > 4 LSB), while the rigorous bound still holds.
    """
    seed = 4242
    cfg = UnitConfig(*variant, 16, 8)
    rng = np.random.default_rng(seed)
    worst = {}
    for ch in _tiny_sigma_channels(rng, cfg, 200):
        for k, v in evaluate(cfg, ch).items():
            if k in ("dx", "dgamma"):
                err, bnd = v
                assert np.all(err <= bnd + SLOP), f"seed={seed} {variant} {k}"
                worst[k] = max(worst.get(k, 0.0), float(np.max(err, initial=0.0)))
    print(f"seed={seed} {variant} tiny sigma, gain 2**5..2**8: worst errors (LSB) {worst}")
    assert worst["dx"] > 4.0, worst


def test_regime_dgamma_large_sums():
    """dgamma carries eps_S/s of relative error and eps_S/2 * |sum dy| / s: with biased dy over
    m = 1000 and s ~ 1 LSB of x * 16 it exceeds 1 LSB; the rigorous bound holds."""
    seed = 77
    rng = np.random.default_rng(seed)
    worst = {}
    for variant in VARIANTS:
        cfg = UnitConfig(*variant, 16, 8)
        for _ in range(20):
            m = 1000
            x = rng.integers(-16, 17, m) + int(rng.integers(-100, 100))
            dy = rng.integers(200, 600, m)
            ch = {"x": x.astype(np.int64), "dy": dy.astype(np.int64), "gamma": 256, "beta": 0,
                  "rm": 0, "rs": 256}
            err, bnd = evaluate(cfg, ch)["dgamma"]
            assert err <= bnd + SLOP
            worst[variant] = max(worst.get(variant, 0.0), float(err))
    print(f"seed={seed} dgamma with sum(dy) ~ 400 * m, m = 1000: worst errors (LSB) {worst}")
    assert max(worst.values()) > 1.0, worst


def test_regime_l1_sign_at_the_kink():
    """l1 dx needs sgn(x_i*2**G - mu_q) == sgn(x_i - mu) for every i. They differ only when
    m > 2**(G+1) and an x_i lies within eps_S/2 of the true mean: there the reference itself
    jumps (the |.| kink) and dx differs by up to ~|D| (1 + the share of flipped signs)."""
    cfg = UnitConfig("l1", "two-pass", 16, 8)
    m = 601
    half = np.arange(1, 151)
    x = np.concatenate([half, -half, np.zeros(m - 301, dtype=np.int64), [1]]).astype(np.int64)
    assert x.size == m and x.sum() == 1  # true mean 1/601 LSB of x < eps_S / 2
    dy = (np.arange(m) % 7 - 3).astype(np.int64) * 64 + 40
    ch = {"x": x, "dy": dy, "gamma": 256, "beta": 0, "rm": 0, "rs": 256}
    res = evaluate(cfg, ch)
    assert "dx_kink" in res and "dx" not in res
    err, bnd = res["dx_kink"]
    f = forward_train(cfg, x, 256, 0, 0, 256)
    b = backward(cfg, x, dy, 256, f["mean"], f["sigma"])
    d_lsb = abs(b["D"]) * 2.0 ** -cfg.const.frac / cfg.data.lsb
    print(f"l1 kink, m={m}, 300 ties at mu_q: worst dx error {np.max(err):.2f} LSB, |D| = "
          f"{d_lsb:.2f} LSB")
    assert f["mean"] == 0 and np.max(err) > 4.0
    assert np.max(err) <= 2.0 * d_lsb + 1.0


# --- folding identities (float64) and exactness of the integer constants -------------------------

@pytest.mark.parametrize("norm", ref.NORMS)
def test_folded_backward_matches_reference_float(norm):
    seed = 9090
    rng = np.random.default_rng(seed)
    worst = 0.0
    for m in (2, 3, 7, 16, 100, 1000):
        for eps in (0.0, 1e-5, 0.1):
            for kind in ("gauss", "relu"):
                x = rng.normal(rng.uniform(-2, 2), 2.0 ** rng.uniform(-3, 3), m)
                if kind == "relu":
                    x = np.maximum(x, 0.0) + rng.uniform(0, 1e-3, m)
                dy = rng.normal(rng.uniform(-1, 1), 1.0, m)
                gamma = rng.choice([-1, 1]) * rng.uniform(0.2, 3)
                fb = fold_backward_float(norm, x, dy, gamma, eps)
                dx, dg, db = ref.backward(dy[:, None], x[:, None], [gamma], norm, eps)
                # Relative to the size of the terms (dx = 0 exactly for m = 2 and eps = 0).
                inv_s = abs(fb["A"] / gamma)
                for got, want, size in (
                        (fb["dx"], dx[:, 0], abs(fb["A"]) * np.max(np.abs(dy))),
                        (fb["dgamma"], dg[0], np.sum(np.abs(dy * (x - x.mean()))) * inv_s),
                        (fb["dbeta"], db[0], np.sum(np.abs(dy)))):
                    rel = np.max(np.abs(got - want)) / size
                    worst = max(worst, rel)
                    assert rel <= 1e-12, f"seed={seed} {norm} m={m} eps={eps}: {rel:.2e}"
    print(f"seed={seed} {norm}: folded backward vs reference worst rel err {worst:.2e}")


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v[0]}-{v[1]}")
@pytest.mark.parametrize("wf", [(16, 8), (32, 16)], ids=["w16", "w32"])
def test_integer_constants_are_one_rounding_of_the_closed_forms(variant, wf):
    """Every rounded backward quantity equals its exact rational value (from the unit's own
    integers) rounded once: |code - exact| <= 1/2, and dx is A*dy + D*sgn + E (B*d) rounded
    once."""
    seed = 5150
    rng = np.random.default_rng(seed)
    cfg = UnitConfig(*variant, *wf)
    w, f, g = cfg.width, cfg.frac, cfg.guard
    fk, fs = cfg.coef.frac, cfg.stat.frac
    half = Fraction(1, 2)
    for _ in range(30):
        ch = draw_channel(rng, w, f)
        x, dy, gamma = ch["x"], ch["dy"], ch["gamma"]
        m = x.size
        xs = [int(v) for v in x]
        fw = forward_train(cfg, x, gamma, ch["beta"], ch["rm"], ch["rs"])
        b = backward(cfg, x, dy, gamma, fw["mean"], fw["sigma"])
        if b["n_sat"] - b["sat"]["dx"]:
            continue
        s, a = b["s"], b["A"]
        assert abs(a - Fraction(gamma << (f + 2 * g), s)) <= half
        d = [(v << g) - fw["mean"] for v in xs]
        sg = sum(int(v) for v in dy)
        sgd = sum(int(u) * v for u, v in zip(dy, d))
        assert (b["sums"]["sum_dy"], b["sums"]["sum_dy_d"]) == (sg, sgd)
        assert abs(b["dgamma"] - Fraction(sgd, s)) <= half
        # Closed forms in real units, then in the code units of each constant.
        a_r, s_r = Fraction(a, 1 << fk), Fraction(s, 1 << fs)
        sg_r, sgd_r = Fraction(sg, 1 << f), Fraction(sgd, 1 << (f + fs))
        dgamma_exact = sgd_r / s_r
        e_exact = -a_r * sg_r / m
        if cfg.norm == "l1":
            ssgn = sum((v > 0) - (v < 0) for v in d)
            d_exact = -a_r * dgamma_exact / m
            e_exact -= d_exact * ssgn / m
            assert abs(b["D"] - d_exact * (1 << cfg.const.frac)) <= half
        else:
            b_exact = -a_r * dgamma_exact / (m * s_r)
            assert abs(b["B"] - b_exact * (1 << cfg.slope.frac)) <= half
        assert abs(b["E"] - e_exact * (1 << cfg.const.frac)) <= half
        lsb = Fraction(1, 1 << f)
        for i in range(0, m, max(1, m // 17)):
            if cfg.norm == "l1":
                sgn = (d[i] > 0) - (d[i] < 0)
                t = a_r * Fraction(int(dy[i]), 1 << f) + Fraction(b["D"] * sgn + b["E"],
                                                                  1 << cfg.const.frac)
            else:
                t = (a_r * Fraction(int(dy[i]), 1 << f) + Fraction(b["E"], 1 << cfg.const.frac)
                     + Fraction(b["B"] * d[i], 1 << (cfg.slope.frac + fs)))
            if cfg.data.min_code < b["dx"][i] < cfg.data.max_code:
                assert -half < b["dx"][i] - t / lsb <= half  # half_up: ties go up


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
            b = backward(cfg, x, dy, 300, f["mean"], f["sigma"])
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
    b = backward(cfg, x, dy, gamma, f["mean"], f["sigma"])
    at_bound = (b["dx"] == cfg.data.max_code) | (b["dx"] == cfg.data.min_code)
    assert b["sat"]["dx"] == at_bound.sum() > 0


@pytest.mark.parametrize("wf", [(8, 4), (16, 8), (32, 16)], ids=["w8", "w16", "w32"])
@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v[0]}-{v[1]}")
def test_most_negative_and_extreme_codes(variant, wf):
    """Full-scale codes (most negative x, dy, gamma, beta; max spread) at m = max_batch: every
    sum fits cfg.widths and the results are within their rigorous bounds or counted."""
    w, f = wf
    cfg = UnitConfig(*variant, w, f, max_batch=64)
    lo, hi = cfg.data.min_code, cfg.data.max_code
    wd = cfg.widths
    cases = [np.full(64, lo), np.array([lo] * 63 + [hi]), np.array([hi] * 63 + [lo]),
             np.array([lo, hi] * 32)]
    for x in cases:
        x = x.astype(np.int64)
        for gamma in (lo, hi, 1 << f):
            fw = forward_train(cfg, x, gamma, lo, cfg.stat.min_code, cfg.stat.max_code)
            s = fw["sums"]
            assert -(1 << (wd["sum_x"] - 1)) <= s["sum_x"] < 1 << (wd["sum_x"] - 1)
            for k in ("sum_abs_d", "sum_sq_d", "sum_sq_x", "onepass_num"):
                if k in s:
                    assert 0 <= s[k] < 1 << wd[k], k
            assert 0 <= fw["running_sigma"] <= cfg.stat.max_code
            dy = np.full(64, lo, dtype=np.int64)
            b = backward(cfg, x, dy, gamma, fw["mean"], fw["sigma"])
            sb = b["sums"]
            assert -(1 << (wd["sum_dy"] - 1)) <= sb["sum_dy"] < 1 << (wd["sum_dy"] - 1)
            assert abs(sb["sum_dy_d"]) < 1 << (wd["sum_dy_d"] - 1)
            assert b["dbeta"] == int(dy.sum())
            assert np.all((b["dx"] >= lo) & (b["dx"] <= hi))
            res = evaluate(cfg, {"x": x, "dy": dy, "gamma": gamma, "beta": lo,
                                 "rm": cfg.stat.min_code, "rs": cfg.stat.max_code})
            for k in ("y", "dx", "dgamma"):
                if k in res:
                    err, bnd = res[k]
                    assert np.all(err <= bnd + SLOP), (k, x[:2], gamma)
    dvals = (np.array([lo, hi], dtype=object) << cfg.guard) - (hi << cfg.guard)
    assert max(abs(int(v)) for v in dvals) < 1 << (wd["d"] - 1)


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
    bw2 = run(cfg, "backward", x=x, dy=dy, gamma=gamma, mean=tr["mean"], sigma=tr["sigma"])
    np.testing.assert_array_equal(bw["dx_codes"], bw2["dx_codes"])
    np.testing.assert_array_equal(bw["dgamma_codes"], bw2["dgamma_codes"])
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
    with pytest.raises(ValueError, match="sigma"):
        run(cfg, "backward", x=x, dy=dy, gamma=gamma, mean=tr["mean"], sigma=-tr["sigma"] - 1)


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
        backward(cfg, ok, ok[:2], 16, 0, 16)
    with pytest.raises(ValueError, match="sigma"):
        backward(cfg, ok, ok, 16, 0, -3)


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
    assert (cfg.coef.width, cfg.coef.frac) == (26, 16)
    assert (cfg.grad.width, cfg.grad.frac) == (32, 8)
    assert (cfg.const.width, cfg.const.frac) == (43, 24)
    assert (cfg.slope.width, cfg.slope.frac) == (51, 24)
    assert cfg.alpha_q == 58982 and cfg.eps_q == 1  # round(0.9 * 2**16), round(0.65536)
    assert UnitConfig("l1", "two-pass", 16, 8, alpha=1).alpha_q == 1 << 16
    assert ALPHA_FMT.max_code >= 1 << 16
    assert UnitConfig("l2", "one-pass", 8, 4).eps_q == 0  # 1e-5 * 2**12 rounds to 0
    assert set(cfg.formats) == {"data", "stat", "coef", "grad", "const", "slope", "alpha"}
    assert cfg.widths["sum_sq_x"] == 31 + 16  # 48 bits: the numerics note's figure

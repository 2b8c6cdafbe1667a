# amaranth: UnusedElaboratable=no
"""GradJob (the backward unit's per-channel program) against l1bn.golden.bn_backward, in Amaranth's
simulator: the lanes' constants, dgamma and the flags of every job, and the job's length."""

import numpy as np
import pytest

from l1bn.golden import fixed
from l1bn.golden.bn_backward import backward, min_lane_exp
from l1bn.golden.bn_forward import batch_stats
from l1bn.golden.bn_unit import UnitConfig
from l1bn.golden.centred_scale import pair_shift_cap, shift_cap
from l1bn.hdl.bn_grad_job import GradJob
from tests.test_bn_job import _channels, clocked, run_one

SEED = 2207


def _gradients(cfg, rng, x):
    """dy of a channel: random, constant, extreme, or proportional to x - mean."""
    data = cfg.data
    lo, hi = data.min_code, data.max_code
    kind = int(rng.integers(0, 5))
    if kind == 0:
        return rng.integers(lo, hi + 1, x.size)
    if kind == 1:
        return np.full(x.size, int(rng.integers(lo, hi + 1)))
    if kind == 2:
        return rng.choice([lo, hi, 0, -1, 1], x.size)
    c = x - x.mean()
    top = max(float(np.max(np.abs(c))), 1.0)
    k = int(rng.integers(lo, hi + 1))
    shape = np.sign(c) if kind == 3 else c / top
    return np.clip(np.round(k * shape) + rng.integers(-1, 2, x.size), lo, hi).astype(np.int64)


def _expected(cfg, x, dy, gamma):
    """The job's outputs as the golden backward gives them (``operands``, ``want``)."""
    st = batch_stats(cfg, x)["sums"]
    b = backward(cfg, x, dy, gamma, st["sum_x"], st["spread"])
    c, s = b["coef"], b["sums"]
    ops = {"m": x.size, "gamma": gamma, "sum_x": st["sum_x"], "spread": st["spread"],
           "sum_sgn": st.get("sum_sgn", 0), "sum_dy": s["sum_dy"], "sum_dy_x": s["sum_dy_x"]}
    want = {"dgamma": b["dgamma"], "sat_a": int(b["sat"]["a"] > 0),
            "sat_dgamma": b["sat"]["dgamma"], "sat_const": int(b["sat"]["const"] > 0),
            "mu_f": c["mu_f"]}
    w, g, mw = cfg.width, cfg.guard, cfg.mant_width
    if cfg.norm == "l1":
        r = st["sum_x"] - x.size * c["mu_f"]
        want.update(mant=c["mant"], neg=c["neg"], r_pos=int(r > 0), r_neg=int(r < 0),
                    shift=min(c["exp"] - cfg.lane_exp, shift_cap(w, g, mw)),
                    centre=[c["centre"][k] for k in (-1, 0, 1)],
                    bias=[c["bias"][k] for k in (-1, 0, 1)])
    else:
        cap = pair_shift_cap(w, g, mw)
        for name, (sign, mant, e) in (("a", c["A"]), ("b", c["B"])):
            want[name] = (mant, min(max(e - min_lane_exp(cfg), 0), cap) if mant else 0,
                          int(sign < 0))
        if c["A"][1] == 0:       # gamma = 0: A's shift does not matter
            want["a"] = (0, None, want["a"][2])
        want.update(mu_dy=c["mu_dy_f"], k=c["K"])
    return ops, want


def _read(ctx, dut, norm):
    lanes, sat = ctx.get(dut.lanes), ctx.get(dut.sat)
    got = {"dgamma": ctx.get(dut.dgamma), "sat_a": sat.a, "sat_dgamma": sat.dgamma,
           "sat_const": sat.const, "mu_f": lanes.mu_f}
    if norm == "l1":
        got.update(mant=lanes.mant, neg=lanes.neg, r_pos=lanes.r_pos, r_neg=lanes.r_neg,
                   shift=lanes.shift, centre=[lanes.centre[k] for k in range(3)],
                   bias=[lanes.bias[k] for k in range(3)])
    else:
        for name in ("a", "b"):
            f = getattr(lanes, name)
            got[name] = (f.mant, f.shift, f.neg)
        got.update(mu_dy=lanes.mu_dy, k=lanes.k)
    return got


def run_jobs(kw, jobs):
    """Run ``jobs`` = [(operands, want)] back to back; returns [(got, cycles)]."""
    dut = GradJob(**kw)
    results = []

    async def bench(ctx):
        for ops, want in jobs:
            for k, v in ops.items():
                if k != "sum_sgn" or kw["norm"] == "l1":
                    ctx.set(getattr(dut, k), v)
            cycles = await run_one(ctx, dut)
            got = _read(ctx, dut, kw["norm"])
            if "a" in want and want["a"][1] is None:
                got["a"] = (got["a"][0], None, got["a"][2])
            results.append((got, cycles))

    clocked(dut, bench)
    return dut, results


@pytest.mark.parametrize("norm", ["l1", "l2"])
@pytest.mark.parametrize("wf", [(16, 8, 8, 1e-5), (8, 4, 4, 0.0), (32, 16, 8, 1e-5)],
                         ids=["w16", "w8-eps0", "w32"])
def test_jobs_match_golden(norm, wf):
    kw = dict(norm=norm, width=wf[0], frac=wf[1], guard=wf[2], max_batch=1024, eps=wf[3])
    cfg = UnitConfig(stats="two-pass", **kw)
    rng = np.random.default_rng(SEED)
    jobs = []
    for x, gamma, _beta, _rm, _rs in _channels(cfg, rng, 10):
        for dy in (_gradients(cfg, rng, x), _gradients(cfg, rng, x)):
            jobs.append((x, fixed.codes(dy, cfg.width), gamma))
    jobs.append((jobs[0][0], jobs[0][1], 0))
    expected = [_expected(cfg, x, dy, gamma) for x, dy, gamma in jobs]
    dut, res = run_jobs(kw, expected)
    for (x, dy, gamma), (_ops, want), (got, cycles) in zip(jobs, expected, res):
        assert got == want, f"seed {SEED} m={x.size} x[:4]={x[:4]} dy[:4]={dy[:4]} {gamma}"
        assert cycles == dut.CYCLES

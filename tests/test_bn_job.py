# amaranth: UnusedElaboratable=no
"""ChannelJob (the forward unit's per-channel program) against l1bn.golden.bn_forward, in
Amaranth's simulator: every output of every job, and the job's length against job_cycles."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from l1bn.golden import fixed
from l1bn.golden.bn_forward import batch_stats, forward_infer, forward_train
from l1bn.golden.centred_scale import shift_cap
from l1bn.hdl.bn_job import ChannelJob

SEED = 1405
VARIANTS = (("l1", "two-pass"), ("l2", "two-pass"), ("l2", "one-pass"))


def _channels(cfg, rng, n):
    """Hard families and random channels: (x, gamma, beta, rm, rs)."""
    data, stat = cfg.data, cfg.stat
    lo, hi = data.min_code, data.max_code
    out = [(np.full(5, 384), 256, -100, 0, 256), (np.full(3, lo), hi, lo, stat.min_code, 0),
           (np.array([768] * 5 + [769] * 6), 256, 0, 77, 300),
           (np.array([0] * 99 + [1]), hi, 5, 0, 0), (np.array([hi, lo] * 4), lo, hi, 1, 5),
           (np.array([7]), -3, 2, stat.max_code, stat.max_code), (np.array([0, 0]), 0, 9, 0, 0),
           (np.array([1] + [0] * 1023), hi, 0, 0, 0), (np.array([0] * 1023 + [-1]), lo, 1, 0, 0)]
    out = [(np.clip(x, lo, hi), int(np.clip(g, lo, hi)), int(np.clip(b, lo, hi)),
            int(np.clip(rm, stat.min_code, stat.max_code)), int(np.clip(rs, 0, stat.max_code)))
           for x, g, b, rm, rs in out]
    for _ in range(n):
        m = int(rng.integers(1, 300))
        x = np.clip(rng.integers(lo, hi + 1) + rng.integers(-2, 3, m)
                    * (1 << int(rng.integers(0, cfg.width))), lo, hi)
        out.append((x, int(rng.integers(lo, hi + 1)), int(rng.integers(lo, hi + 1)),
                    int(rng.integers(stat.min_code, stat.max_code + 1)),
                    int(rng.integers(0, stat.max_code + 1) >> int(rng.integers(0, 20)))))
    return out


def _expected(cfg, mode, ch):
    x, gamma, beta, rm, rs = ch
    f = (forward_train if mode == "train" else forward_infer)(cfg, x, gamma, beta, rm, rs)
    c = f["coef"]
    want = {"mu_f": c["mu_f"], "mant": c["mant"], "neg": c["neg"], "bias": c["bias"],
            "shift": min(c["exp"] - cfg.lane_exp, shift_cap(cfg.width, cfg.guard,
                                                            cfg.mant_width)),
            "sat_a": f["sat"]["a"], "sat_b": f["sat"]["b"]}
    if mode == "train":
        want.update(mean=f["mean"], sigma=f["sigma"], new_mean=f["running_mean"],
                    new_sigma=f["running_sigma"], sat_sigma=f["sat"]["sigma"],
                    sat_running=int(f["sat"]["running"] > 0),
                    saved_sum_x=f["sums"]["sum_x"], saved_spread=f["sums"]["spread"],
                    saved_sum_sgn=f["sums"].get("sum_sgn", 0))
    return want


def _operands(cfg, ch):
    x = ch[0]
    st = batch_stats(cfg, x)
    s = st["sums"]
    d = x.astype(np.int64) - st["mu_f"]
    sq = s.get("sum_sq_d", s.get("sum_sq_x", 0))
    return {"m": x.size, "sum_x": s["sum_x"], "mu_f_in": st["mu_f"],
            "sum_abs": int(np.sum(np.abs(d))), "n_pos": int(np.sum(d > 0)),
            "n_neg": int(np.sum(d < 0)), "sum_sq": sq}


def clocked(dut, bench):
    """Run the testbench ``bench`` on ``dut`` with a clock."""
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


async def run_one(ctx, dut):
    """Start a job with the operands set on ``dut`` and wait until it is done; its cycles."""
    ctx.set(dut.start, 1)
    await ctx.tick()
    ctx.set(dut.start, 0)
    cycles = 1
    while not ctx.get(dut.done):
        await ctx.tick()
        cycles += 1
    return cycles


def run_jobs(cfg_kw, jobs):
    """Run ``jobs`` = [(mode, channel)] back to back; returns [(got, cycles)]."""
    dut = ChannelJob(**cfg_kw)
    results = []

    async def bench(ctx):
        for mode, ch in jobs:
            ops = _operands(dut.cfg, ch) if mode == "train" else {}
            for k, v in ops.items():
                ctx.set(getattr(dut, k), v)
            _, gamma, beta, rm, rs = ch
            for k, v in (("gamma", gamma), ("beta", beta), ("running_mean", rm),
                         ("running_sigma", rs)):
                ctx.set(getattr(dut, k), v)
            ctx.set(dut.infer, mode == "infer")
            cycles = await run_one(ctx, dut)
            sat = ctx.get(dut.sat)
            got = {k: ctx.get(getattr(dut, k)) for k in ("mu_f", "mant", "neg", "bias", "shift")}
            got.update(sat_a=sat.a, sat_b=sat.b)
            if mode == "train":
                got.update({k: ctx.get(getattr(dut, k)) for k in ("mean", "sigma", "new_mean",
                                                                   "new_sigma", "saved_sum_x",
                                                                   "saved_spread",
                                                                   "saved_sum_sgn")})
                got.update(sat_sigma=sat.sigma, sat_running=sat.running)
            results.append((got, cycles))

    clocked(dut, bench)
    return dut, results


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v[0]}-{v[1]}")
@pytest.mark.parametrize("wf", [(16, 8, 8), (8, 4, 4)], ids=["w16", "w8"])
def test_jobs_match_golden(variant, wf):
    from l1bn.golden.bn_unit import UnitConfig
    kw = dict(norm=variant[0], stats=variant[1], width=wf[0], frac=wf[1], guard=wf[2],
              max_batch=1024)
    cfg = UnitConfig(**kw)
    rng = np.random.default_rng(SEED)
    chans = _channels(cfg, rng, 12)
    jobs = [(mode, ch) for ch in chans for mode in ("train", "infer")]
    dut, res = run_jobs(kw, jobs)
    for (mode, ch), (got, cycles) in zip(jobs, res):
        want = _expected(cfg, mode, ch)
        assert got == want, f"seed {SEED} {mode} m={ch[0].size} x[:4]={ch[0][:4]} {ch[1:]}"
        assert cycles == dut.CYCLES[mode]

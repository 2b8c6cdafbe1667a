"""divider: golden model against exact fractions, and RTL on both simulators."""

import os
from fractions import Fraction

import numpy as np
import pytest

from l1bn.golden.divider import divide, formats
from l1bn.golden.fixed import div_round_away
from l1bn.hdl.registry import design
from l1bn.sim import runner

from .blocksim import SEED, simulate

RANDOM_VALUES = int(os.environ.get("L1BN_RANDOM_VALUES", "5000"))


def _check_against_fractions(n, d, shift, quot):
    """Rounding to nearest (ties away from zero), the 1/2-LSB bound, saturation and its flag."""
    q, sat = divide(n, d, shift, quot)
    for n_, d_, q_, s_ in zip(n, d, q, sat):
        n_, d_, q_ = int(n_), int(d_), int(q_)
        if d_ == 0:
            assert s_ and q_ == (quot.min_code if n_ < 0 else quot.max_code)
            continue
        exact = Fraction(n_ * 2**shift, d_)
        err = abs(q_ - exact)
        if s_:
            assert q_ in (quot.min_code, quot.max_code) and err > Fraction(1, 2)
            assert (q_ == quot.max_code) == (exact > 0)
        else:
            assert err <= Fraction(1, 2), (n_, d_)
            if err == Fraction(1, 2):          # a tie: away from zero
                assert abs(q_) > abs(exact)


def test_model_exhaustive_8_bits():
    """All 256 x 256 codes of the default 8-bit divider (Q4.4 / UQ4.4 -> Q4.4)."""
    f, shift = formats(8, 4)
    n, d = np.meshgrid(np.arange(-128, 128), np.arange(256))
    _check_against_fractions(n.ravel(), d.ravel(), shift, f["quot"])


@pytest.mark.parametrize("params", [
    dict(width=16, frac=8), dict(width=32, frac=16),
    dict(width=24, frac=8, den_width=17, den_frac=0, quot_width=16, quot_frac=8),
    dict(width=12, frac=4, den_width=16, den_frac=8, quot_width=16, quot_frac=12)])
def test_model_random_against_fractions(params):
    f, shift = formats(**params)
    rng = np.random.default_rng(SEED)
    n = [int(v) for v in rng.integers(f["num"].min_code, f["num"].max_code + 1, 3000)]
    d = [int(v) for v in rng.integers(0, f["den"].max_code + 1, 3000)]
    d[:300] = [int(v) for v in rng.integers(0, 8, 300)]
    _check_against_fractions(np.array(n, dtype=object), np.array(d, dtype=object), shift,
                             f["quot"])


def test_ties_go_away_from_zero_and_results_are_symmetric():
    assert div_round_away([5, -5, 7, -7, 4, -4], 2).tolist() == [3, -3, 4, -4, 2, -2]
    f, shift = formats(8, 4)
    n = np.arange(-127, 128)
    for d in (1, 3, 16, 100, 255):
        q, sat = divide(n, d, shift, f["quot"])
        qn, satn = divide(-n, d, shift, f["quot"])
        ok = ~(sat | satn)
        assert np.array_equal(q[ok], -qn[ok])


def test_most_negative_quotient_is_exact_not_saturated():
    f, shift = formats(8, 4)
    q, sat = divide([-128, -128, 127], [16, 15, 16], shift, f["quot"])  # / 1.0, / 0.9375
    assert q.tolist() == [-128, -128, 127] and sat.tolist() == [False, True, False]


def test_formats_and_shift():
    f, shift = formats(24, 8, den_width=17, den_frac=0, quot_width=16, quot_frac=8)
    assert shift == 0 and f["den"].signed is False and f["quot"].width == 16
    assert formats(16, 8)[1] == 8
    with pytest.raises(ValueError, match="must be >= 0"):
        formats(16, 8, den_frac=0, quot_frac=4)


def test_manifest_names_only_given_parameters():
    d = design("divider", width=16, frac=8)
    assert d.name == "divider_w16_f8" and d.manifest["latency"] == 16 + 3
    assert {k: v["frac"] for k, v in d.manifest["formats"].items()} == {
        "num": 8, "den": 8, "quot": 8}
    mean = design("divider", width=24, frac=8, den_width=17, den_frac=0, quot_width=16)
    assert mean.name == "divider_w24_f8_denwidth17_denfrac0_quotwidth16"
    ports = {p["name"]: p for p in mean.manifest["ports"]}
    assert [f["name"] for f in ports["o__payload"]["fields"]] == ["quot", "sat"]


#: Non-default formats: the batch mean (shift 0, integer count), a reciprocal whose shift equals
#: quot_width, a narrow quotient that saturates often, and a dividend narrower than the quotient.
MEAN = dict(width=24, frac=8, den_width=17, den_frac=0, quot_width=16, quot_frac=8)
RECIP = dict(width=12, frac=4, den_width=16, den_frac=8, quot_width=16, quot_frac=12)
NARROW = dict(width=6, frac=2, den_width=5, den_frac=0, quot_width=4, quot_frac=3)
SHORT = dict(width=4, frac=0, den_width=4, den_frac=0, quot_width=8, quot_frac=2)

CASES = [("w8", dict(width=8, frac=4), "exhaustive"),
         ("narrow", NARROW, "exhaustive"), ("short", SHORT, "exhaustive")]
CASES += [(f"w{w}", dict(width=w, frac=w // 2), t) for w in (16, 32)
          for t in ("random_values", "corners")]
CASES += [(name, p, t) for name, p in (("mean", MEAN), ("recip", RECIP))
          for t in ("random_values", "corners")]


@pytest.mark.sim
@pytest.mark.parametrize("params, testcase", [c[1:] for c in CASES],
                         ids=[f"{c[0]}-{c[2]}" for c in CASES])
@pytest.mark.parametrize("simulator", runner.SIMULATORS)
def test_rtl_matches_model(build_root, simulator, params, testcase):
    summary = simulate(build_root, "divider", params, simulator, testcase,
                       random_values=RANDOM_VALUES)
    if testcase == "exhaustive":
        f, _ = formats(**params)
        assert summary["results"] == 2**(f["num"].width + f["den"].width)


def _amaranth_quotients(dut, nums, dens):
    """``(quot, sat, cycles)`` of each division, one at a time (Amaranth simulation)."""
    from amaranth.sim import Simulator

    got = []

    async def bench(ctx):
        for n, d in zip(nums, dens):
            ctx.set(dut.i.payload.num, n)
            ctx.set(dut.i.payload.den, d)
            ctx.set(dut.i.valid, 1)
            await ctx.tick()
            ctx.set(dut.i.valid, 0)
            cycles = 1
            while not ctx.get(dut.o.valid):
                await ctx.tick()
                cycles += 1
            got.append((ctx.get(dut.o.payload.quot), ctx.get(dut.o.payload.sat), cycles))
            ctx.set(dut.o.ready, 1)
            await ctx.tick()
            ctx.set(dut.o.ready, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got


def _check_against_golden(dut, kw, nums, dens, num_signed=True):
    fm, shift = formats(**kw, num_signed=num_signed)
    want_q, want_s = divide(np.array(nums), np.array(dens), shift, fm["quot"])
    got = _amaranth_quotients(dut, nums, dens)
    for (q, sat, cycles), wq, ws, n, d in zip(got, want_q, want_s, nums, dens):
        assert (q, sat) == (int(wq), int(ws)), f"{n}/{d} (seed {SEED})"
        assert cycles == dut.LATENCY


def test_split_load_same_quotients_three_cycles_later():
    """``split_load=True`` (the backward units' wide divisions): the quotients and flags of the golden
    model, ``LATENCY`` three more than without (Amaranth simulation, fixed seed)."""
    from l1bn.hdl.divider import Divider

    rng = np.random.default_rng(SEED)
    kw = dict(width=12, frac=3, den_width=7, den_frac=2, quot_width=9, quot_frac=4)
    dut = Divider(**kw, split_load=True)
    assert dut.LATENCY == kw["quot_width"] + 3 + 3
    fm, _ = formats(**kw)
    nums = [fm["num"].min_code, fm["num"].max_code, 0, -1] + \
        [int(v) for v in rng.integers(fm["num"].min_code, fm["num"].max_code + 1, 60)]
    dens = [1, fm["den"].max_code, 0, 3] + \
        [int(v) for v in rng.integers(0, fm["den"].max_code + 1, 60)]
    _check_against_golden(dut, kw, nums, dens)


def test_unsigned_numerator_exhaustive():
    """``num_signed=False`` (the units' non-negative sums): every numerator and denominator of
    a 6-bit UQ numerator and 4-bit denominator, quotients in range and saturated, ``den = 0``."""
    from l1bn.hdl.divider import Divider

    kw = dict(width=6, frac=0, den_width=4, den_frac=0, quot_width=5, quot_frac=1)
    dut = Divider(**kw, num_signed=False)
    assert dut.formats["num"].signed is False and dut.formats["num"].max_code == 63
    pairs = [(n, d) for n in range(64) for d in range(16)]
    _check_against_golden(dut, kw, [n for n, _ in pairs], [d for _, d in pairs],
                          num_signed=False)


def test_split_load_refuses_an_unsigned_numerator():
    from l1bn.hdl.divider import Divider

    with pytest.raises(ValueError, match=r"split_load needs a signed numerator \(num_signed=True\)"):
        Divider(width=8, frac=0, split_load=True, num_signed=False)

# amaranth: UnusedElaboratable=no
"""norm_divider: golden model against exact fractions, exponent range, RTL on both simulators."""

import os
import random
import subprocess
from fractions import Fraction

import pytest

from l1bn.golden.norm_divider import exp_range, norm_div
from l1bn.hdl.registry import BLOCKS, design
from l1bn.util import toolchain
from l1bn.sim import runner
from l1bn.hdl.generate import generate

from .blocksim import SEED, simulate
from .tools import requires

RANDOM_VALUES = int(os.environ.get("L1BN_RANDOM_VALUES", "5000"))

#: Small (num_width, den_width, mant_width) taken exhaustively: equal widths, a wider
#: denominator, a mantissa wider than both operands, one-bit operands and mantissa.
SMALL = [(6, 6, 4), (5, 8, 6), (8, 3, 9), (3, 5, 2), (1, 1, 1), (1, 4, 3), (2, 1, 5), (4, 4, 1)]


def _magnitudes(rng, width, n):
    """``n`` values whose bit lengths are uniform over ``0 .. width``."""
    out = []
    for _ in range(n):
        length = rng.randint(0, width)
        out.append(rng.getrandbits(length) | (1 << length >> 1))
    return out


def _check_exact(num, den, mw):
    """The mantissa range, one rounding to nearest with ties up, and the special cases; returns
    the exponent of a finite non-zero quotient (else None)."""
    mant, e, n_sat = norm_div(num, den, mw)
    if num == 0:
        assert (mant, e, n_sat) == (0, 0, 0)
        return None
    if den == 0:
        assert (mant, e, n_sat) == (0, None, 1)
        return None
    assert n_sat == 0 and 2**(mw - 1) <= mant < 2**mw, (num, den, mw)
    exact = Fraction(num * 2**e, den) if e >= 0 else Fraction(num, den * 2**-e)
    err = mant - exact
    assert -Fraction(1, 2) < err <= Fraction(1, 2), (num, den, mw)
    return e


@pytest.mark.parametrize("nw, dw, mw", SMALL)
def test_model_exhaustive_against_fractions_and_exponent_range(nw, dw, mw):
    """Every pair: one rounding (ties up), and every exponent inside :func:`exp_range`, whose
    ends are reached (the least when num_width > mant_width, the largest when den_width >= 2)."""
    exps = {_check_exact(n, d, mw) for n in range(2**nw) for d in range(2**dw)} - {None}
    lo, hi = exp_range(nw, dw, mw)
    assert lo <= min(exps) and max(exps) <= hi and lo <= 0     # 0: the exponent of num == 0
    assert (min(exps) == mw - 1 - nw) == (nw > mw)
    assert (max(exps) == hi) == (dw >= 2)


@pytest.mark.parametrize("nw, dw", [(60, 60), (60, 30), (24, 60)])
def test_model_random_wide_against_fractions(nw, dw):
    rng = random.Random(SEED)
    for n, d in zip(_magnitudes(rng, nw, 4000), _magnitudes(rng, dw, 4000)):
        e = _check_exact(n, d, 18)
        assert e is None or exp_range(nw, dw, 18)[0] <= e <= exp_range(nw, dw, 18)[1]


def test_model_round_up_to_the_next_power_of_two():
    """A quotient within 1/2 below 2**mw rounds to 2**mw: mantissa 2**(mw-1), one exponent less."""
    assert norm_div(2**60 - 1, 1, 18) == (2**17, 18 - 1 - 60, 0)
    assert norm_div(2**19 - 1, 2, 18) == (2**17, -1, 0)
    assert norm_div(2**19 - 2, 2, 18) == (2**18 - 1, 0, 0)
    assert norm_div(2**19 - 3, 2, 18) == (2**18 - 1, 0, 0)     # a tie, rounded up
    assert norm_div(1, 2**60 - 1, 18) == (2**17, 18 + 60 - 1, 0)


@pytest.mark.parametrize("nw, dw, mw, width", [
    (60, 60, 18, 8), (40, 40, 18, 7), (6, 6, 4, 5), (1, 1, 1, 2), (60, 8, 18, 7), (3, 3, 9, 5)])
def test_exp_width_is_the_fewest_bits_of_the_range(nw, dw, mw, width):
    from l1bn.hdl.norm_divider import NormDivider

    dut = NormDivider(num_width=nw, den_width=dw, mant_width=mw)
    lo, hi = exp_range(nw, dw, mw)
    assert dut.exp_width == width
    assert -2**(width - 1) <= lo and hi < 2**(width - 1)
    assert lo < -2**(width - 2) or hi >= 2**(width - 2)
    assert dut.LATENCY == dut.CYCLES_PER_RESULT == (max(nw, dw) - 1).bit_length() + mw + 4


def test_registered_block_and_manifest():
    assert "norm_divider" in BLOCKS      # so tests/test_lint.py lints it at 8, 16 and 32 bits
    d = design("norm_divider", width=60, mant_width=18)
    assert d.name == "norm_divider_w60_mantwidth18"
    assert d.manifest["latency"] == d.manifest["cycles_per_result"] == 6 + 18 + 4
    ports = {p["name"]: p for p in d.manifest["ports"]}
    assert {f["name"]: (f["width"], f["signed"]) for f in ports["i__payload"]["fields"]} == {
        "num": (60, False), "den": (60, False)}
    assert {f["name"]: (f["width"], f["signed"]) for f in ports["o__payload"]["fields"]} == {
        "mant": (18, False), "exp": (8, True), "inf": (1, False)}
    assert design("norm_divider", width=40, den_width=24).name == \
        "norm_divider_w40_denwidth24_mantwidth18"


@pytest.mark.parametrize("kwargs, message", [
    (dict(num_width=0, den_width=8, mant_width=4), "num_width must be an integer >= 1, got 0"),
    (dict(num_width=8, den_width="8", mant_width=4), "den_width must be an integer >= 1, got '8'"),
    (dict(num_width=8, den_width=8, mant_width=True),
     "mant_width must be an integer >= 1, got True"),
    (dict(num_width=8, den_width=8, mant_width=2.0),
     "mant_width must be an integer >= 1, got 2.0")])
def test_parameters_are_validated(kwargs, message):
    from l1bn.hdl.norm_divider import NormDivider

    with pytest.raises(ValueError, match=f"^{message}$"):
        NormDivider(**kwargs)
    with pytest.raises(ValueError, match=f"^{message}$"):
        exp_range(*kwargs.values())


def test_parameters_are_keyword_only():
    from l1bn.hdl.norm_divider import NormDivider

    with pytest.raises(TypeError):
        NormDivider(8, 8, 4)


def _amaranth_results(dut, pairs):
    """``(mant, exp, inf, cycles)`` of each pair, one at a time (Amaranth simulation)."""
    from amaranth.sim import Simulator

    got = []

    async def bench(ctx):
        for n, d in pairs:
            ctx.set(dut.i.payload.num, n)
            ctx.set(dut.i.payload.den, d)
            ctx.set(dut.i.valid, 1)
            await ctx.tick()
            ctx.set(dut.i.valid, 0)
            cycles = 1
            while not ctx.get(dut.o.valid):
                await ctx.tick()
                cycles += 1
            p = dut.o.payload
            got.append((ctx.get(p.mant), ctx.get(p.exp), ctx.get(p.inf), cycles))
            ctx.set(dut.o.ready, 1)
            await ctx.tick()
            ctx.set(dut.o.ready, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got


@pytest.mark.parametrize("nw, dw, mw", [(1, 1, 3), (1, 4, 3), (2, 1, 5), (3, 5, 2), (4, 4, 1)])
def test_odd_widths_exhaustive_in_amaranth(nw, dw, mw):
    """One-bit operands (no normalize stage), one-bit mantissas, unequal widths: every pair,
    each result after ``LATENCY`` cycles (Amaranth simulation)."""
    from l1bn.hdl.norm_divider import NormDivider

    dut = NormDivider(num_width=nw, den_width=dw, mant_width=mw)
    pairs = [(n, d) for n in range(2**nw) for d in range(2**dw)]
    for (n, d), got in zip(pairs, _amaranth_results(dut, pairs)):
        mant, e, inf = norm_div(n, d, mw)
        assert got == (mant, 0 if e is None else e, inf, dut.LATENCY), (n, d)


CASES = [(f"n{nw}d{dw}m{mw}", dict(width=nw, den_width=dw, mant_width=mw), "exhaustive")
         for nw, dw, mw in SMALL[:3]]
CASES += [(name, p, t) for name, p in (("n60d60m18", dict(width=60, mant_width=18)),
                                       ("n40d24m18", dict(width=40, den_width=24)))
          for t in ("random_values", "corners")]


@pytest.mark.sim
@pytest.mark.parametrize("params, testcase", [c[1:] for c in CASES],
                         ids=[f"{c[0]}-{c[2]}" for c in CASES])
@pytest.mark.parametrize("simulator", runner.SIMULATORS)
def test_rtl_matches_model(build_root, simulator, params, testcase):
    summary = simulate(build_root, "norm_divider", params, simulator, testcase,
                       random_values=RANDOM_VALUES)
    if testcase == "exhaustive":
        assert summary["results"] == 2**(params["width"] + params["den_width"])


@pytest.mark.lint
@pytest.mark.parametrize("params", [dict(width=60), dict(width=5, den_width=8, mant_width=6),
                                    dict(width=1, mant_width=1),
                                    dict(width=8, den_width=3, mant_width=9)],
                         ids=["n60d60m18", "n5d8m6", "n1d1m1", "n8d3m9"])
def test_verilog_is_lint_clean_at_other_widths(tmp_path, params):
    """``verilator --lint-only -Wall`` beyond tests/test_lint.py's 8, 16 and 32 bits."""
    requires("verilator")
    verilator = toolchain.find("verilator")
    v, _ = generate("norm_divider", tmp_path, **params)
    res = subprocess.run([str(verilator), "--lint-only", "-Wall", str(v)], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr

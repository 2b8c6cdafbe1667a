# amaranth: UnusedElaboratable=no
"""sign_select: golden model (both norms) against exact math and the float backward reference;
RTL on both simulators."""

import math
from fractions import Fraction

import numpy as np
import pytest

from l1bn.golden import fixed, reference
from l1bn.golden.sign_select import formats, term_l1, term_l2
from l1bn.hdl.registry import design
from l1bn.hdl.sign_select import SignSelect
from l1bn.sim import runner

from .blocksim import SEED, simulate


def _codes(rng, fmt, n):
    return [int(v) for v in rng.integers(fmt.min_code, fmt.max_code, n, endpoint=True)]


@pytest.mark.parametrize("width, frac", [(8, 4), (16, 8), (32, 16), (40, 20)])
def test_l1_is_exact_unless_saturated(width, frac):
    """Error bound 0: term = sgn*k - c exactly, or the bound on its side with sat set."""
    fmt = formats("l1", width, frac)["term"]
    rng = np.random.default_rng(SEED)
    n = 2000
    sgn = [int(v) for v in rng.integers(-2, 1, n, endpoint=True)]     # -2 acts as -1
    k, c = _codes(rng, fmt, n), _codes(rng, fmt, n)
    term, sat = term_l1(sgn, k, c, fmt)
    for s, ki, ci, t, f in zip(sgn, k, c, term, sat):
        exact = max(-1, s) * ki - ci
        assert t == min(max(exact, fmt.min_code), fmt.max_code), f"seed {SEED}"
        assert f == (exact != t)
    assert 0 < np.count_nonzero(sat) < n


@pytest.mark.parametrize("width, frac", [(8, 4), (16, 8), (32, 16), (40, 20), (12, 0)])
def test_l2_within_half_lsb_unless_saturated(width, frac):
    """Unsaturated: -1/2 < term - xhat*k <= 1/2 LSB (half-up); saturated: the bound on its side."""
    fmt = formats("l2", width, frac)["term"]
    rng = np.random.default_rng(SEED)
    n = 2000
    bits = rng.integers(0, width, (2, n))
    xhat, k = ([max(fmt.min_code, min(fmt.max_code, int(v) >> (62 - int(b))))
                for v, b in zip(rng.integers(-(1 << 62), 1 << 62, n), row)] for row in bits)
    term, sat = term_l2(xhat, k, fmt)
    for xi, ki, t, f in zip(xhat, k, term, sat):
        exact = Fraction(xi * ki, 1 << frac)                 # in output LSBs
        nearest = math.floor(exact + Fraction(1, 2))
        assert t == min(max(nearest, fmt.min_code), fmt.max_code) and f == (t != nearest)
        if not f:
            assert -Fraction(1, 2) < t - exact <= Fraction(1, 2), f"seed {SEED}"
    assert 0 < np.count_nonzero(sat) < n


@pytest.mark.parametrize("norm", reference.NORMS)
def test_matches_float_backward_reference(norm):
    """The term is what l1bn.golden.reference.backward subtracts: g - mean(g) - dx*s. With xhat, k, c
    quantized to Q(16, 8) (sgn exact, from x - mu): l1 within lsb (k and c each off by <= lsb/2);
    l2 within lsb/2 (rounding) + (|k| + |xhat|)*lsb/2 + lsb**2/4."""
    rng = np.random.default_rng(SEED)
    fmt = formats(norm, 16, 8)["term"]
    eps = 1e-5
    for m in (16, 200):
        x = rng.normal(1, 3, (m, 1))
        dy, gamma = rng.normal(0, 1, (m, 1)), np.array([1.7])
        _, stats = reference.forward_train(x, gamma, np.zeros(1), norm, eps)
        dx, _, _ = reference.backward(dy, x, gamma, norm, eps)
        s = reference.denominator(stats.sigma, norm, eps)
        xhat, g = stats.xhat[:, 0], dy[:, 0] * gamma[0]
        want = g - g.mean() - dx[:, 0] * s[0]
        k = np.mean(g * xhat)
        kq, _ = fixed.quantize(np.full(m, k), fmt)
        if norm == "l1":
            sgn = np.sign(xhat).astype(np.int64)
            cq, _ = fixed.quantize(np.full(m, k * np.mean(sgn)), fmt)
            term, sat = term_l1(sgn, kq, cq, fmt)
            bound = fmt.lsb
        else:
            xq, _ = fixed.quantize(xhat, fmt)
            term, sat = term_l2(xq, kq, fmt)
            bound = fmt.lsb / 2 + (abs(k) + np.abs(xhat)) * fmt.lsb / 2 + fmt.lsb ** 2 / 4
        assert not sat.any()
        err = np.abs(fixed.dequantize(term, fmt) - want)
        assert np.all(err <= bound + 1e-9), f"seed {SEED}, {norm}, m={m}: worst {err.max()}"


def test_constructor():
    l1, l2 = (design("sign_select", norm=n, width=16, frac=8) for n in reference.NORMS)
    assert (l1.manifest["latency"], l2.manifest["latency"]) == (1, 3)
    assert design("sign_select", norm="l2", width=16, frac=8, stages=1).manifest["latency"] == 2
    l1, l2 = ({p["name"] for p in d.manifest["ports"]} - {"clk", "rst"} for d in (l1, l2))
    assert l1 & l2 == {"en", "k", "term", "sat"} and l1 - l2 == {"sgn", "c"} and l2 - l1 == {"xhat"}
    for bad in ({"norm": "l3"}, {"stages": 0}, {"frac": 9}, {"width": 1}):
        with pytest.raises(ValueError):
            SignSelect(**dict({"norm": "l2", "width": 8, "frac": 4}, **bad))


TESTCASES = ("random_values", "corners", "saturation")


@pytest.mark.sim
@pytest.mark.parametrize("testcase", TESTCASES)
@pytest.mark.parametrize("width", [8, 16, 32])
@pytest.mark.parametrize("norm", reference.NORMS)
@pytest.mark.parametrize("simulator", runner.SIMULATORS)
def test_rtl_matches_model(build_root, simulator, norm, width, testcase):
    simulate(build_root, "sign_select", {"norm": norm, "width": width, "frac": width // 2},
             simulator, testcase, random_values=3000)

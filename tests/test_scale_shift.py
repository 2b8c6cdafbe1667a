# amaranth: UnusedElaboratable=no
"""scale_shift: golden model against exact math and the float inference reference; RTL."""

import math
from fractions import Fraction

import numpy as np
import pytest

from l1bn.golden import fixed, reference
from l1bn.golden.scale_shift import formats, scale_shift
from l1bn.hdl.registry import design
from l1bn.hdl.scale_shift import ScaleShift
from l1bn.sim import runner

from .blocksim import SEED, simulate

#: (width, frac, coef_width, coef_frac): defaults, and coefficients with more, fewer and no
#: fraction bits than the data.
FORMATS = [(8, 4, None, None), (16, 8, None, None), (32, 16, None, None), (16, 8, 16, 12),
           (16, 8, 12, 3), (12, 0, 14, 0), (40, 20, 44, 24)]


def _random(rng, fmt, n):
    """Codes spread over every magnitude (both in range and saturating)."""
    bits = rng.integers(0, fmt.width, n)
    return [max(fmt.min_code, min(fmt.max_code, int(v)))
            for v in (rng.integers(-(1 << 62), 1 << 62, n) >> (62 - bits))]


@pytest.mark.parametrize("width, frac, coef_width, coef_frac", FORMATS)
def test_model_within_half_lsb_of_exact(width, frac, coef_width, coef_frac):
    """Unsaturated: -1/2 < y - (a*x + b) <= 1/2 LSB (half-up rounding of the exact value).
    Saturated: the exact value rounds outside the format, and y is the bound on its side."""
    f = formats(width, frac, coef_width, coef_frac)
    rng = np.random.default_rng(SEED)
    n = 3000
    x, a, b = _random(rng, f["x"], n), _random(rng, f["a"], n), _random(rng, f["b"], n)
    y, sat = scale_shift(x, a, b, f)
    lsb, clsb = Fraction(1, 1 << frac), Fraction(1, 1 << f["a"].frac)
    lo, hi = f["y"].min_code, f["y"].max_code
    for xi, ai, bi, yi, si in zip(x, a, b, y, sat):
        exact = (ai * clsb * xi * lsb + bi * clsb) / lsb          # in output LSBs
        nearest = math.floor(exact + Fraction(1, 2))
        if si:
            assert (nearest > hi and yi == hi) or (nearest < lo and yi == lo), f"seed {SEED}"
        else:
            assert yi == nearest and -Fraction(1, 2) < yi - exact <= Fraction(1, 2), \
                f"seed {SEED}: x={xi} a={ai} b={bi}"
    assert 0 < np.count_nonzero(sat) < n      # both kinds were exercised


def test_ties_round_up_and_saturation_is_flagged():
    f = formats(8, 4)                          # x, y: Q(8, 4); a, b: Q(10, 4)
    half, one = 1 << 3, 1 << 4
    x = [1, -1, 3, -3, 127, -128, 127, -128]
    a = [half] * 4 + [one] * 4
    b = [0, 0, 0, 0, 0, 0, 1, -1]                      # b = 1: one output LSB
    y, sat = scale_shift(x, a, b, f)
    assert y.tolist() == [1, 0, 2, -1, 127, -128, 127, -128]
    assert sat.tolist() == [False] * 6 + [True, True]


def test_model_matches_float_inference_reference():
    """Against l1bn.golden.reference.forward_infer (y = gamma*(x - mu)/s + beta folded to a*x + b) with
    the coefficients quantized: |y - ref| <= 1/2 LSB (rounding) + |x|*lsb_a/2 + lsb_b/2."""
    rng = np.random.default_rng(SEED)
    f = formats(16, 8)
    for norm in reference.NORMS:
        x = rng.normal(0, 8, (400, 1))
        xq, _ = fixed.quantize(x, f["x"])
        xf = fixed.dequantize(xq, f["x"])
        gamma, beta = rng.uniform(0.2, 3, 1), rng.uniform(-4, 4, 1)
        mean, sigma = rng.uniform(-3, 3, 1), rng.uniform(1, 8, 1)
        ref = reference.forward_infer(xf, gamma, beta, mean, sigma, norm, 1e-5)
        s = reference.denominator(sigma, norm, 1e-5)
        aq, _ = fixed.quantize(gamma / s, f["a"])
        bq, _ = fixed.quantize(beta - mean * gamma / s, f["b"])
        y, sat = scale_shift(xq[:, 0], np.full(400, aq[0]), np.full(400, bq[0]), f)
        assert not sat.any()
        err = np.abs(fixed.dequantize(y, f["y"]) - ref[:, 0])
        bound = f["y"].lsb / 2 + np.abs(xf[:, 0]) * f["a"].lsb / 2 + f["b"].lsb / 2
        assert np.all(err <= bound + 1e-12), f"seed {SEED}, {norm}: worst {err.max()}"


def test_constructor_defaults_and_checks():
    d = design("scale_shift", width=16, frac=8)
    assert (d.component.coef_width, d.component.coef_frac, d.manifest["latency"]) == (18, 8, 4)
    assert d.name == "scale_shift_w16_f8_s2"
    d = design("scale_shift", width=16, frac=8, coef_width=20, coef_frac=12, stages=1)
    assert (d.name, d.manifest["latency"]) == ("scale_shift_w16_f8_cw20_cf12_s1", 3)
    for bad in ({"frac": 17}, {"coef_width": 1}, {"coef_frac": 20}, {"stages": 3}, {"width": 1}):
        with pytest.raises(ValueError):
            ScaleShift(**dict({"width": 16, "frac": 8}, **bad))


TESTCASES = ("random_values", "corners", "saturation")

#: Per width: the default coefficient format at 8 and 32 bits; at 16 bits Q(16, 12) coefficients,
#: more fraction bits than the data's (the rounding then spans the alignment of b).
RTL_PARAMS = {8: {}, 16: {"coef_width": 16, "coef_frac": 12}, 32: {}}


@pytest.mark.sim
@pytest.mark.parametrize("testcase", TESTCASES)
@pytest.mark.parametrize("width", [8, 16, 32])
@pytest.mark.parametrize("simulator", runner.SIMULATORS)
def test_rtl_matches_model(build_root, simulator, width, testcase):
    simulate(build_root, "scale_shift", dict(RTL_PARAMS[width], width=width, frac=width // 2),
             simulator, testcase, random_values=3000)

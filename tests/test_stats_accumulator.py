"""The statistics accumulator: golden model, lint, and cocotb on Icarus and Verilator."""

import os

import numpy as np
import pytest

from l1bn.golden import fixed, reference
from l1bn.golden.stats_accumulator import channel_sum, formats
from l1bn.sim import runner

from .blocksim import SEED, simulate

#: Random values per (simulator, norm, width): six designs per simulator give > 100k checked cycles.
RANDOM_VALUES = int(os.environ.get("L1BN_RANDOM_VALUES", "18000"))
MAX_COUNT = 1000  # not a power of two: the accumulator width must still be exact


@pytest.mark.parametrize("norm", reference.NORMS)
def test_model_matches_float_reference_exactly(norm):
    """The integer sum equals the float64 sum of the dequantized deviations (error bound 0)."""
    rng = np.random.default_rng(SEED)
    fmt = fixed.Fmt(16, 8)
    for _ in range(200):
        m = int(rng.integers(1, 300))
        x, sat = fixed.quantize(rng.normal(0, 20, m), fmt)
        mu = int(rng.integers(fmt.min_code, fmt.max_code + 1))
        s = channel_sum(x, mu, norm)
        d = fixed.dequantize(x, fmt) - fixed.dequantize(mu, fmt)
        want = np.sum(np.abs(d)) if norm == "l1" else np.sum(d * d)
        f = formats(norm, 16, 8, 300)["sum"]
        assert s * f.lsb == want, f"seed {SEED}"
        assert 0 <= s <= f.max_code


@pytest.mark.parametrize("norm", reference.NORMS)
@pytest.mark.parametrize("width", [2, 8, 16, 32])
def test_accumulator_width_holds_worst_case(norm, width):
    """max_count values at the largest deviation fill the sum format without overflowing."""
    fmt = fixed.Fmt(width, 0)
    for max_count in (1, 2, 3, 1000, 65536):
        worst = channel_sum(np.full(min(max_count, 4), fmt.min_code), fmt.max_code, norm)
        worst = worst // min(max_count, 4) * max_count
        assert worst <= formats(norm, width, 0, max_count)["sum"].max_code


def test_sign_of_zero_is_zero():
    assert list(fixed.sign([-3, 0, 5])) == [-1, 0, 1]


#: The cocotb tests of sim/tb_stats_accumulator.py; each runs as its own pytest test.
TESTCASES = ("random_stream", "back_to_back_full_rate", "most_negative", "all_equal",
             "single_element", "max_batch", "backpressure_hold")


@pytest.mark.sim
@pytest.mark.parametrize("testcase", TESTCASES)
@pytest.mark.parametrize("width", [8, 16, 32])
@pytest.mark.parametrize("norm", reference.NORMS)
@pytest.mark.parametrize("simulator", runner.SIMULATORS)
def test_rtl_matches_model(build_root, simulator, norm, width, testcase):
    params = dict(norm=norm, width=width, frac=width // 2, max_count=MAX_COUNT)
    summary = simulate(build_root, "stats_accumulator", params, simulator, testcase,
                       random_values=RANDOM_VALUES)
    if testcase == "random_stream":
        assert summary["cycles"] >= RANDOM_VALUES

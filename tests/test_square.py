# amaranth: UnusedElaboratable=no
"""square: golden model (exact d*d), latency from the multiplier, RTL on both simulators."""

import numpy as np
import pytest

from l1bn.golden.square import formats, square
from l1bn.hdl.registry import design
from l1bn.hdl.square import Square
from l1bn.sim import runner

from .blocksim import SEED, simulate


@pytest.mark.parametrize("width", [2, 8, 16, 32, 40])
def test_model_is_the_exact_square(width):
    """Error bound 0; the largest square, of the most negative code, fits 2*width - 1 bits."""
    f = formats(width)
    rng = np.random.default_rng(SEED)
    d = [int(v) for v in rng.integers(f["d"].min_code, f["d"].max_code, 300, endpoint=True)]
    d += [f["d"].min_code, f["d"].max_code, 0, -1]
    sq = square(d)
    assert [int(v) for v in sq] == [v * v for v in d], f"seed {SEED}"
    assert int(sq[-4]) == 1 << (2 * width - 2) <= f["sq"].max_code


def test_latency_is_the_multiplier_stages():
    assert design("square", width=8).manifest["latency"] == 2
    assert design("square", width=8, stages=1).manifest["latency"] == 1
    with pytest.raises(ValueError):
        Square(width=8, stages=3)


TESTCASES = ("random_values", "corners")


@pytest.mark.sim
@pytest.mark.parametrize("testcase", TESTCASES)
@pytest.mark.parametrize("width", [8, 16, 32])
@pytest.mark.parametrize("simulator", runner.SIMULATORS)
def test_rtl_matches_model(build_root, simulator, width, testcase):
    simulate(build_root, "square", {"width": width}, simulator, testcase, random_values=3000)

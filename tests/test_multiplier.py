# amaranth: UnusedElaboratable=no
"""multiplier: golden model (exact product), constructor checks, RTL on both simulators."""

import numpy as np
import pytest

from l1bn.golden.multiplier import formats, multiply
from l1bn.hdl.multiplier import Multiplier
from l1bn.hdl.registry import design
from l1bn.sim import runner

from .blocksim import SEED, simulate


@pytest.mark.parametrize("a_width, b_width", [(2, 2), (8, 11), (16, 16), (32, 35), (40, 40)])
def test_model_is_the_exact_product(a_width, b_width):
    """Error bound 0: each product equals the Python-int one and fits a_width + b_width bits."""
    rng = np.random.default_rng(SEED)
    fa, fb, fp = formats(a_width, b_width).values()
    a = [int(v) for v in rng.integers(fa.min_code, fa.max_code, 500, endpoint=True)]
    b = [int(v) for v in rng.integers(fb.min_code, fb.max_code, 500, endpoint=True)]
    a += [fa.min_code, fa.min_code, fa.max_code, 0]
    b += [fb.min_code, fb.max_code, fb.max_code, fb.min_code]
    p = multiply(a, b)
    assert [int(v) for v in p] == [x * y for x, y in zip(a, b)], f"seed {SEED}"
    assert all(fp.min_code <= int(v) <= fp.max_code for v in p)
    assert int(p[-4]) == 1 << (a_width + b_width - 2)   # (-2**(a-1)) * (-2**(b-1)): the largest


def test_constructor():
    assert Multiplier(a_width=8, b_width=8, stages=1).LATENCY == 1
    assert Multiplier(a_width=8, b_width=5).LATENCY == 2
    for bad in ({"stages": 3}, {"stages": 0}, {"stages": "2"}, {"a_width": 1}, {"b_width": 1}):
        with pytest.raises(ValueError):
            Multiplier(**dict({"a_width": 8, "b_width": 8}, **bad))


def test_registered_names():
    assert design("multiplier", width=8).name == "multiplier_w8_s2"
    assert design("multiplier", width=8, b_width=11, stages=1).name == "multiplier_w8_b11_s1"


TESTCASES = ("random_values", "corners")

#: Per case: at 8 bits b three bits wider than a (an odd split of b), at 32 bits 2 x 2 tiles
#: (32 x 35), both with two stages; at 16 bits the one-stage multiplier (square, scale_shift and
#: sign_select test two stages at every width); "a wider" splits a in two (27 x 17: the units'
#: 26 x 16 lanes, odd); "three slices" cuts a 40-bit a into three and keeps b whole (3 x 2
#: tiles would exceed MAX_TILES).
RTL_PARAMS = {"w8": {"width": 8, "b_width": 11, "stages": 2},
              "w16": {"width": 16, "b_width": 16, "stages": 1},
              "w32": {"width": 32, "b_width": 35, "stages": 2},
              "a wider": {"width": 27, "b_width": 17, "stages": 2},
              "three slices": {"width": 40, "b_width": 23, "stages": 2}}


@pytest.mark.sim
@pytest.mark.parametrize("testcase", TESTCASES)
@pytest.mark.parametrize("case", list(RTL_PARAMS))
@pytest.mark.parametrize("simulator", runner.SIMULATORS)
def test_rtl_matches_model(build_root, simulator, case, testcase):
    simulate(build_root, "multiplier", RTL_PARAMS[case], simulator, testcase, random_values=3000)

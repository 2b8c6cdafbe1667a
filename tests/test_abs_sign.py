"""abs_sign: golden model and RTL on both simulators."""

import numpy as np
import pytest

from l1bn.golden.abs_sign import abs_sign
from l1bn.sim import runner

from .blocksim import simulate


def test_model():
    mag, sgn = abs_sign(np.array([-128, -1, 0, 1, 127]))
    assert mag.tolist() == [128, 1, 0, 1, 127]
    assert sgn.tolist() == [-1, -1, 0, 1, 1]


@pytest.mark.sim
@pytest.mark.parametrize("testcase", ["random_values", "corners"])
@pytest.mark.parametrize("width", [2, 8, 16, 32])
@pytest.mark.parametrize("simulator", runner.SIMULATORS)
def test_rtl_matches_model(build_root, simulator, width, testcase):
    simulate(build_root, "abs_sign", {"width": width}, simulator, testcase, random_values=4000)

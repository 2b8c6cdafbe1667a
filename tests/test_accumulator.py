"""accumulator: exact running sums, multi-lane adder tree, on both simulators."""

import pytest

from l1bn.golden.accumulator import formats, running_sums
from l1bn.golden.fixed import Fmt
from l1bn.sim import runner

from .blocksim import simulate


def test_model_restarts_on_first():
    assert running_sums([[1, 2], [3, 4], [5, 6]], [True, False, True]) == [3, 10, 11]


@pytest.mark.parametrize("width, max_count, lanes", [(8, 1000, 1), (8, 1000, 4), (16, 65536, 3),
                                                     (32, 7, 8)])
def test_sum_format_holds_extremes(width, max_count, lanes):
    f = formats(width, max_count, lanes)
    term = Fmt(width, 0)
    assert f["sum"].min_code <= max_count * term.min_code
    assert max_count * term.max_code <= f["sum"].max_code
    assert f["tree"].min_code <= lanes * term.min_code <= lanes * term.max_code <= f["tree"].max_code


@pytest.mark.sim
@pytest.mark.parametrize("testcase", ["random_sums", "extremes_at_max_count", "single_terms"])
@pytest.mark.parametrize("width, lanes", [(8, 1), (16, 4), (32, 3)])
@pytest.mark.parametrize("simulator", runner.SIMULATORS)
def test_rtl_matches_model(build_root, simulator, width, lanes, testcase):
    params = {"width": width, "lanes": lanes, "max_count": 1000}
    simulate(build_root, "accumulator", params, simulator, testcase, random_values=6000)

"""The complete BN unit (hdl/bn_unit.py): parameters, schedule formulas, and cocotb on Icarus and
Verilator against golden/bn_unit.py (every y beat and stats transfer, cycles per pass and gap)."""

import pytest

from hdl.bn_unit import BNUnit, latency_formulas, pass_schedule
from hdl.registry import module_name, resolve
from sim import runner

from .blocksim import simulate

MAX_BATCH = 1000   # not a power of two; m = 1000 is the largest channel of the tests

#: (id, parameters): both norms, both l2 statistics schedules, P = 1 and 4, widths 8, 16, 32.
DESIGNS = (
    ("l1-p1-w16", dict(norm="l1", stats="two-pass", width=16, frac=8, lanes=1)),
    ("l1-p4-w16", dict(norm="l1", stats="two-pass", width=16, frac=8, lanes=4)),
    ("l2-p4-w16", dict(norm="l2", stats="two-pass", width=16, frac=8, lanes=4)),
    ("l2one-p1-w16", dict(norm="l2", stats="one-pass", width=16, frac=8, lanes=1)),
    ("l1-p4-w8", dict(norm="l1", stats="two-pass", width=8, frac=4, lanes=4)),
    ("l2-p1-w32", dict(norm="l2", stats="two-pass", width=32, frac=16, lanes=1)),
)
#: The cocotb tests of sim/tb_bn_unit.py, and which designs run each (all run on both simulators).
TESTCASES = {
    "sizes": ("l1-p1-w16", "l1-p4-w16", "l2-p4-w16", "l2one-p1-w16", "l1-p4-w8", "l2-p1-w32"),
    "shapes": ("l1-p1-w16", "l1-p4-w16", "l2-p4-w16", "l2one-p1-w16", "l1-p4-w8", "l2-p1-w32"),
    "saturation": ("l1-p1-w16", "l1-p4-w16", "l2-p4-w16", "l2one-p1-w16", "l1-p4-w8",
                   "l2-p1-w32"),
    "stalls": ("l1-p1-w16", "l1-p4-w16", "l2-p4-w16", "l2one-p1-w16", "l1-p4-w8", "l2-p1-w32"),
    "back_to_back": ("l1-p1-w16", "l1-p4-w16", "l2-p4-w16", "l2one-p1-w16"),
    "bad_last": ("l1-p1-w16", "l2-p4-w16"),
}


def _cases():
    params = dict(DESIGNS)
    for simulator in runner.SIMULATORS:
        for testcase, designs in TESTCASES.items():
            for d in designs:
                yield pytest.param(simulator, params[d], testcase, id=f"{simulator}-{d}-{testcase}")


@pytest.mark.sim
@pytest.mark.parametrize("simulator, params, testcase", list(_cases()))
def test_rtl_matches_model(build_root, simulator, params, testcase):
    summary = simulate(build_root, "bn_unit", dict(params, max_batch=MAX_BATCH), simulator,
                       testcase)
    assert summary["y_beats"] > 0
    if testcase in ("sizes", "shapes", "saturation", "back_to_back", "bad_last"):
        assert "measured" in summary      # the schedule was checked cycle by cycle


def test_parameters_validated_like_the_model():
    with pytest.raises(ValueError, match="one-pass"):
        BNUnit(norm="l1", stats="one-pass")
    with pytest.raises(ValueError, match="norm"):
        BNUnit(norm="l3")
    with pytest.raises(ValueError, match="lanes"):
        BNUnit(norm="l1", lanes=0)
    with pytest.raises(ValueError, match="width"):
        BNUnit(norm="l2", width=1)


def test_module_name_and_defaults():
    p = resolve("bn_unit", norm="l2", stats="one-pass", lanes=4)
    assert module_name("bn_unit", **p) == "bn_unit_l2_onepass_w16_f8_p4_maxbatch65536_guard8"


def test_schedule_formulas():
    f = latency_formulas(norm="l1", width=16, guard=8, lanes=1)
    assert f["gap_mean"] == 24 + 4 + 1 and f["gap_coef"] == 48 + 1 + 14
    f = latency_formulas(norm="l2", stats="one-pass", width=16, guard=8, lanes=4)
    assert f["gap_coef"] == 96 + 2 + 20 and "gap_mean" not in f
    s = pass_schedule(7, "train", norm="l2", stats="two-pass", lanes=4)
    assert [k for k, _ in s] == ["pass", "gap_mean", "pass", "gap_coef", "pass"]
    assert s[0][1] == 2
    assert pass_schedule(1000, "infer", norm="l1", lanes=4) == [("gap_infer", 34), ("pass", 250)]

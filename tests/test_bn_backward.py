"""The backward BN unit (hdl/bn_backward.py): parameters, schedule formulas, and cocotb on Icarus
and Verilator against l1bn.golden.bn_backward.backward (every dx beat and grads transfer, cycles per pass
and gap)."""

import pytest

from l1bn.hdl.bn_backward import BNBackward, latency_formulas, sequence_cycles
from l1bn.hdl.bn_grad_job import GradJob
from l1bn.hdl.registry import module_name, resolve
from l1bn.sim import runner

from .blocksim import simulate

MAX_BATCH = 1000

#: (id, parameters): both norms, P = 1 and 4, widths 8, 16, 32.
DESIGNS = (
    ("l1-p1-w16", dict(norm="l1", width=16, frac=8, lanes=1)),
    ("l1-p4-w16", dict(norm="l1", width=16, frac=8, lanes=4)),
    ("l2-p1-w16", dict(norm="l2", width=16, frac=8, lanes=1)),
    ("l2-p4-w16", dict(norm="l2", width=16, frac=8, lanes=4)),
    ("l1-p4-w8", dict(norm="l1", width=8, frac=4, lanes=4)),
    ("l2-p1-w32", dict(norm="l2", width=32, frac=16, lanes=1)),
    ("l1-p1-w32", dict(norm="l1", width=32, frac=16, lanes=1)),
)
#: The cocotb tests of sim/tb_bn_backward.py and the designs each runs on (both simulators);
#: trimmed so that the file stays under ~90 s with -n 2 including the Verilator builds.
TESTCASES = {
    "sizes": ("l1-p1-w16", "l1-p4-w16", "l2-p1-w16", "l2-p4-w16", "l1-p4-w8", "l2-p1-w32",
              "l1-p1-w32"),
    "shapes": ("l1-p1-w16", "l1-p4-w16", "l2-p1-w16", "l2-p4-w16"),
    "families": ("l1-p1-w16", "l1-p4-w16", "l2-p1-w16", "l2-p4-w16", "l1-p4-w8", "l2-p1-w32"),
    "saturation": ("l1-p1-w16", "l1-p4-w16", "l2-p1-w16", "l2-p4-w16", "l1-p4-w8", "l2-p1-w32",
                   "l1-p1-w32"),
    "stalls": ("l1-p1-w16", "l1-p4-w16", "l2-p1-w16", "l2-p4-w16", "l1-p4-w8", "l2-p1-w32"),
    "back_to_back": ("l1-p1-w16", "l1-p4-w16", "l2-p4-w16"),
    "throughput": ("l1-p1-w16", "l2-p1-w16"),      # ceil(m/P) above the job: P = 1
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
    summary = simulate(build_root, "bn_backward", dict(params, max_batch=MAX_BATCH), simulator,
                       testcase)
    assert summary["dx_beats"] > 0 and summary["grads"] > 0
    if testcase != "stalls":
        assert summary["sequence_cycles"]      # the schedule was checked cycle by cycle


def test_parameters_validated_like_the_model():
    with pytest.raises(ValueError, match="norm"):
        BNBackward(norm="l3")
    with pytest.raises(ValueError, match="lanes"):
        BNBackward(norm="l1", lanes=0)
    with pytest.raises(ValueError, match="width"):
        BNBackward(norm="l2", width=1)


def test_module_name_and_defaults():
    p = resolve("bn_backward", norm="l1", lanes=4)
    assert module_name("bn_backward", **p) == "bn_backward_l1_w16_f8_p4_maxbatch65536_guard8"


def test_schedule_formulas():
    for norm, lanes, la, pre in (("l1", 1, 1, 2), ("l2", 4, 2, 1)):
        f = latency_formulas(norm=norm, width=16, frac=8, guard=8, lanes=lanes, max_batch=1000)
        jb = GradJob(norm=norm, width=16, frac=8, guard=8, max_batch=1000).CYCLES
        assert f["job_train"] == jb + 1 and f["request_train"] == la + 3
        assert f["dx_latency"] == pre + 7
    r = sequence_cycles(1, 7, norm="l1", lanes=4, max_batch=1000)
    (_c0, k0, s0, e0), (_c1, k1, s1, e1) = r["passes"]
    assert (k0, k1) == ("first", "final") and (s0, e0) == (1, 2)
    f = latency_formulas(norm="l1", lanes=4, max_batch=1000)
    assert s1 == e0 + f["request_train"] + f["job_train"] and e1 == s1 + 1
    assert r["total"] == e1 + f["dx_latency"] + 1
    # Long channels: 2 * C * ceil(m/P) + K, K the same for every C >= 2.
    ks = {sequence_cycles(c, 4000, norm="l2", lanes=4)["total"] - 2 * c * 1000
          for c in (2, 3, 8, 40)}
    assert len(ks) == 1

"""The complete BN unit (hdl/bn_unit.py): parameters, schedule formulas, and cocotb on Icarus and
Verilator against golden/bn_unit.py (every y beat and stats transfer, cycles per pass and gap)."""

import pytest

from l1bn.golden.bn_unit import UnitConfig
from l1bn.hdl.bn_job import program, program_cycles
from l1bn.hdl.bn_unit import SQUARE_STAGES, BNUnit, latency_formulas, sequence_cycles
from l1bn.hdl.centred_scale import CentredScale
from l1bn.hdl.registry import module_name, resolve
from l1bn.sim import runner

from .blocksim import simulate

MAX_BATCH = 2000   # not a power of two; large enough that P = 4 hides the per-channel job

#: (id, parameters): both norms, both l2 statistics schedules, P = 1 and 4, widths 8, 16, 32.
DESIGNS = (
    ("l1-p1-w16", dict(norm="l1", stats="two-pass", width=16, frac=8, lanes=1)),
    ("l1-p4-w16", dict(norm="l1", stats="two-pass", width=16, frac=8, lanes=4)),
    ("l2-p4-w16", dict(norm="l2", stats="two-pass", width=16, frac=8, lanes=4)),
    ("l2one-p1-w16", dict(norm="l2", stats="one-pass", width=16, frac=8, lanes=1)),
    ("l1-p4-w8-g4", dict(norm="l1", stats="two-pass", width=8, frac=4, lanes=4, guard=4)),
    ("l2-p1-w32", dict(norm="l2", stats="two-pass", width=32, frac=16, lanes=1)),
    # narrow L2: the running sigma's product outlasts the a divider (R > 0 in the job formula)
    ("l2-p4-w8-g4", dict(norm="l2", stats="two-pass", width=8, frac=4, lanes=4, guard=4)),
    ("l2one-p4-w8-g4", dict(norm="l2", stats="one-pass", width=8, frac=4, lanes=4, guard=4)),
    # a host that never reads stats
    ("l1-p4-w16-drop", dict(norm="l1", stats="two-pass", width=16, frac=8, lanes=4,
                            stats_out="drop")),
    ("l2one-p1-w16-drop", dict(norm="l2", stats="one-pass", width=16, frac=8, lanes=1,
                               stats_out="drop")),
    # a host that writes every descriptor first (a descriptor FIFO)
    ("l1-p4-w16-desc6", dict(norm="l1", stats="two-pass", width=16, frac=8, lanes=4,
                             desc_depth=6)),
    ("l2one-p1-w8-desc1", dict(norm="l2", stats="one-pass", width=8, frac=4, lanes=1, guard=4,
                               desc_depth=1)),
)
#: The cocotb tests of sim/tb_bn_unit.py, and which designs run each (all run on both simulators).
TESTCASES = {
    "sizes": ("l1-p1-w16", "l1-p4-w16", "l2-p4-w16", "l2one-p1-w16", "l1-p4-w8-g4", "l2-p1-w32",
              "l2-p4-w8-g4", "l2one-p4-w8-g4", "l1-p4-w16-drop"),
    "shapes": ("l1-p1-w16", "l1-p4-w16", "l2-p4-w16", "l2one-p1-w16", "l1-p4-w8-g4", "l2-p1-w32"),
    "families": ("l1-p1-w16", "l1-p4-w16", "l2-p4-w16", "l2one-p1-w16", "l1-p4-w8-g4", "l2-p1-w32",
                 "l2-p4-w8-g4", "l2one-p4-w8-g4"),
    "saturation": ("l1-p1-w16", "l1-p4-w16", "l2-p4-w16", "l2one-p1-w16", "l1-p4-w8-g4",
                   "l2-p1-w32"),
    "stalls": ("l1-p1-w16", "l1-p4-w16", "l2-p4-w16", "l2one-p1-w16", "l1-p4-w8-g4", "l2-p1-w32"),
    "back_to_back": ("l1-p1-w16", "l1-p4-w16", "l2-p4-w16", "l2one-p1-w16"),
    "throughput": ("l1-p1-w16", "l1-p4-w16", "l2-p4-w16", "l2one-p1-w16"),
    "bad_last": ("l1-p1-w16", "l2-p4-w16"),
    "stats_unread": ("l1-p4-w16-drop", "l2one-p1-w16-drop"),
    "descriptors_first": ("l1-p4-w16-desc6", "l2one-p1-w8-desc1", "l1-p1-w16"),
}


#: Designs built for Icarus only (a Verilator build of a unit takes about a minute).
ICARUS_ONLY = ("l2one-p1-w8-desc1",)


def _cases():
    params = dict(DESIGNS)
    for simulator in runner.SIMULATORS:
        for testcase, designs in TESTCASES.items():
            for d in designs:
                if simulator == "verilator" and d in ICARUS_ONLY:
                    continue
                yield pytest.param(simulator, params[d], testcase, id=f"{simulator}-{d}-{testcase}")


@pytest.mark.sim
@pytest.mark.parametrize("simulator, params, testcase", list(_cases()))
def test_rtl_matches_model(build_root, simulator, params, testcase):
    summary = simulate(build_root, "bn_unit", dict(params, max_batch=MAX_BATCH), simulator,
                       testcase)
    assert summary["y_beats"] > 0
    if testcase not in ("stalls", "descriptors_first"):
        assert summary["sequence_cycles"]     # the schedule was checked cycle by cycle


@pytest.mark.sim
@pytest.mark.parametrize("simulator, norm", [("icarus", "l1"), ("icarus", "l2"),
                                             ("verilator", "l2")])
def test_small_max_batch_saturation(build_root, simulator, norm):
    """max_batch 48: the bias's lift cap is 0 (its constants must keep a bit: a zero-width one
    reached the Verilog as an undriven wire, x on Icarus); saturating channels."""
    simulate(build_root, "bn_unit", dict(norm=norm, stats="two-pass", width=8, frac=4, lanes=3,
                                         guard=4, max_batch=48), simulator, "saturation")


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
    """The job constants come from the per-channel program (l1bn.hdl.bn_job): one cycle per register
    step, LATENCY + 1 per unit step; the mean waits for the mu_F divider (W + 5 cycles)."""
    f = latency_formulas(norm="l1", width=16, guard=8, lanes=1)
    cyc = program_cycles(norm="l1", width=16, frac=0, guard=8)
    assert f["mean_delay"] == 16 + 6 + 1 and f["request_train"] == 1 + 3
    assert (f["job_train"], f["job_infer"]) == (cyc["train"] + 1, cyc["infer"] + 1)
    steps = program(UnitConfig("l1", "two-pass", 16, 8), "train")
    assert [s.name for s in steps][:3] == ["m_muf", "centre", "mean"]
    f = latency_formulas(norm="l2", stats="one-pass", width=16, guard=8, lanes=4, max_batch=1000)
    assert "mean_delay" not in f and f["request_train"] == 2 + 2 + SQUARE_STAGES
    assert f["y_latency"] == 1 + CentredScale.LATENCY
    # One channel, three passes of 2 beats: mean and coefficient waits are not hidden.
    r = sequence_cycles(1, 7, "train", norm="l2", lanes=4)
    f = latency_formulas(norm="l2", lanes=4)
    kinds = [(c, k) for c, k, _s, _e in r["passes"]]
    assert kinds == [(0, "first"), (0, "mid"), (0, "final")]
    (_, _, s0, e0), (_, _, s1, e1), (_, _, s2, e2) = r["passes"]
    assert (s0, e0) == (1, 2) and s1 == e0 + 1 + f["mean_delay"] and e1 == s1 + 1
    assert s2 == e1 + f["request_train"] + f["job_train"]
    assert r["total"] == e2 + f["y_latency"] + 1


@pytest.mark.parametrize("norm, stats", [("l1", "two-pass"), ("l2", "two-pass"),
                                         ("l2", "one-pass")])
def test_sequence_cost_is_linear_in_channels(norm, stats):
    """passes * C * ceil(m/P) + K with K independent of C once ceil(m/P) covers the work.

    Two-pass schedules (one-pass statistics) hide the coefficient job behind the previous
    channel's normalize pass, so a lone channel (C = 1) pays it once more."""
    passes = 2 if stats == "one-pass" else 3
    for lanes in (1, 4):
        m = 600 * lanes
        k = {c: sequence_cycles(c, m, "train", norm=norm, stats=stats, lanes=lanes)["total"]
             - passes * c * 600 for c in (1, 2, 3, 8, 50)}
        assert len({k[c] for c in (2, 3, 8, 50)}) == 1
        if passes == 3:
            assert k[1] == k[2]
        else:
            assert k[1] > k[2]
        k = {sequence_cycles(c, m, "infer", norm=norm, stats=stats, lanes=lanes)["total"]
             - c * 600 for c in (1, 3, 8, 50)}
        assert len(k) == 1


@pytest.mark.parametrize("block, params", [
    ("bn_unit", dict(norm="l1", max_batch=1)),
    ("bn_unit", dict(norm="l2", stats="one-pass", max_batch=2)),
    ("bn_backward", dict(norm="l1", max_batch=48)),
    ("bn_layer", dict(norm="l2", buffer_depth=16)),
], ids=["l1-mb1", "l2one-mb2", "backward-l1-mb48", "layer-d16"])
def test_tiny_batches_emit_no_zero_width_wire(tmp_path, block, params):
    """The smallest batches make constants of no bits; the emitted Verilog has none (emit
    refuses a ``[-1:0]`` wire)."""
    from l1bn.hdl.generate import generate
    verilog, _m = generate(block, tmp_path, width=8, frac=4, guard=4, **params)
    assert "[-1:0]" not in verilog.read_text()

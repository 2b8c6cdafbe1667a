"""The FuseSoC core written beside every design: FuseSoC lists it and its lint target runs
Verilator on the design (and fails when the design is not lint clean)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from l1bn.hdl.generate import VLNV_PREFIX, generate
from l1bn.util import toolchain

from .tools import requires


def _fusesoc(root, *args):
    verilator = Path(toolchain.find("verilator"))
    env = dict(os.environ, PATH=f"{verilator.parent}{os.pathsep}{os.environ.get('PATH', '')}",
               XDG_CACHE_HOME=str(root / "xdg-cache"), XDG_DATA_HOME=str(root / "xdg-data"),
               XDG_CONFIG_HOME=str(root / "xdg-config"))
    return subprocess.run([sys.executable, "-m", "fusesoc.main", "--cores-root", str(root / "ip"),
                           *args], cwd=root, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.lint
def test_core_lists_and_lints(tmp_path):
    requires("verilator")
    verilog, _ = generate("bn_unit", tmp_path / "ip", norm="l2", lanes=2)
    core = verilog.with_suffix(".core")
    vlnv = f"{VLNV_PREFIX}:{verilog.stem}:"
    listed = _fusesoc(tmp_path, "core", "list")
    assert listed.returncode == 0 and vlnv in listed.stdout, listed.stdout + listed.stderr
    lint = _fusesoc(tmp_path, "run", "--build-root", "good", "--target", "lint", vlnv.rstrip(":"))
    assert lint.returncode == 0, lint.stdout[-2000:] + lint.stderr[-2000:]
    # The target really lints: a design with a truncating assignment fails it.
    text = verilog.read_text().replace(");\n", ");\n  wire [3:0] l1bn_probe = 8'hff;\n", 1)
    verilog.write_text(text)
    assert core.is_file()
    bad = _fusesoc(tmp_path, "run", "--build-root", "bad", "--target", "lint", vlnv.rstrip(":"))
    assert bad.returncode != 0 and "WIDTHTRUNC" in bad.stdout + bad.stderr

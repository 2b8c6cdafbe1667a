"""Every registered block's Verilog passes `verilator --lint-only -Wall` at 8, 16 and 32 bits."""

import subprocess

import pytest

from golden.reference import NORMS
from hdl.registry import BLOCKS
from l1bn import toolchain
from synth.generate import generate


def _cases():
    for block, spec in BLOCKS.items():
        for width in (8, 16, 32):
            for norm in (NORMS if "norm" in spec.params else (None,)):
                yield pytest.param(block, width, norm, id=f"{block}-{norm or 'any'}-w{width}")


@pytest.mark.parametrize("block, width, norm", list(_cases()))
def test_verilog_is_lint_clean(tmp_path, block, width, norm):
    verilator = toolchain.find("verilator")
    if verilator is None:
        pytest.skip("not run: verilator missing")
    params = {"width": width, "norm": norm}
    if "frac" in BLOCKS[block].params:
        params["frac"] = width // 2
    v, _ = generate(block, tmp_path, **params)
    res = subprocess.run([str(verilator), "--lint-only", "-Wall", str(v)], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr

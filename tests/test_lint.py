"""Every registered block's Verilog passes `verilator --lint-only -Wall` at 8, 16 and 32 bits;
the complete units also at P = 1, 4 and 8 lanes and with both L2 statistics schedules."""

import subprocess

import pytest

from l1bn.golden.reference import NORMS
from l1bn.hdl.registry import BLOCKS
from l1bn.util import toolchain
from l1bn.hdl.generate import generate
from .tools import requires


UNITS = ("bn_unit", "bn_backward")


def _cases():
    for block, spec in BLOCKS.items():
        for width in (8, 16, 32):
            for norm in (NORMS if "norm" in spec.params else (None,)):
                variants = [{}]
                if block in UNITS:
                    stats = ("two-pass", "one-pass") if "stats" in spec.params and norm == "l2" \
                        else (None,)
                    variants = [{"lanes": p, **({"stats": st} if st else {})}
                                for p in (1, 4, 8) for st in stats]
                    if "stats_out" in spec.params and width == 16:
                        variants.append({"lanes": 4, "stats_out": "drop"})
                for extra in variants:
                    tag = "".join(f"-{k}{v}" for k, v in extra.items())
                    yield pytest.param(block, width, norm, extra,
                                       id=f"{block}-{norm or 'any'}-w{width}{tag}")


@pytest.mark.lint
@pytest.mark.parametrize("block, width, norm, extra", list(_cases()))
def test_verilog_is_lint_clean(tmp_path, block, width, norm, extra):
    requires("verilator")
    verilator = toolchain.find("verilator")
    params = {"width": width, "norm": norm, **extra}
    if "frac" in BLOCKS[block].params:
        params["frac"] = width // 2
    v, _ = generate(block, tmp_path, **params)
    res = subprocess.run([str(verilator), "--lint-only", "-Wall", str(v)], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr

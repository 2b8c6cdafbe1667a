"""cocotb testbench of :class:`l1bn.hdl.abs_sign.AbsSign` against :func:`l1bn.golden.abs_sign.abs_sign`."""

import cocotb

from l1bn.golden.abs_sign import abs_sign

from .core_tb import check_core, formats, random_columns, repeat

#: The random test the report runs as its quick check of this block.
SMOKE_TEST = "random_values"


def _model(d):
    mag, sgn = abs_sign(d)
    return {"mag": mag, "sgn": sgn}


@cocotb.test()
async def random_values(dut):
    """Random codes (uniform and spread over all magnitudes) with random enable gaps."""
    columns, _ = random_columns("random_values", ("d",))
    await check_core(dut, "random_values", columns, _model)


@cocotb.test()
async def corners(dut):
    """Zero, +-1, most negative, maximum, each repeated (all-equal runs) at full rate."""
    fmt = formats()["d"]
    values = [0, 1, -1, fmt.min_code, fmt.max_code, fmt.min_code + 1]
    await check_core(dut, "corners", {"d": repeat(values, 4)}, _model, p_en=1.0)

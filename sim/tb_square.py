"""cocotb testbench of :class:`l1bn.hdl.square.Square` against :func:`l1bn.golden.square.square`."""

import cocotb

from l1bn.golden.square import square

from .core_tb import check_core, formats, random_columns, repeat

#: The random test the report runs as its quick check of this block.
SMOKE_TEST = "random_values"


def _model(d):
    return {"sq": square(d)}


@cocotb.test()
async def random_values(dut):
    """Random values (uniform and spread over all magnitudes), random enable gaps."""
    columns, _ = random_columns("random_values", ("d",))
    await check_core(dut, "random_values", columns, _model)


@cocotb.test()
async def corners(dut):
    """Zero, +-1, most negative (the largest square, 2**(2*width-2)), maximum, the split of the
    multiplier's operand, each repeated (all-equal runs) at full rate."""
    fmt = formats()["d"]
    lo = 1 << (fmt.width // 2)
    values = [0, 1, -1, fmt.min_code, fmt.max_code, fmt.min_code + 1, lo - 1, lo, -lo, -lo - 1]
    await check_core(dut, "corners", {"d": repeat(values, 4)}, _model, p_en=1.0)

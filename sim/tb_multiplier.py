"""cocotb testbench of :class:`l1bn.hdl.multiplier.Multiplier` against
:func:`l1bn.golden.multiplier.multiply`."""

import cocotb

from l1bn.golden.multiplier import multiply

from .core_tb import as_columns, check_core, formats, random_columns, repeat, value_rng

#: The random test the report runs as its quick check of this block.
SMOKE_TEST = "random_values"


def _model(a, b):
    return {"p": multiply(a, b)}


@cocotb.test()
async def random_values(dut):
    """Random factors (uniform and spread over all magnitudes), random enable gaps."""
    columns, _ = random_columns("random_values", ("a", "b"))
    await check_core(dut, "random_values", columns, _model)


@cocotb.test()
async def corners(dut):
    """Zero, most negative and maximum factors in every pairing, values of b at the split of its
    low (unsigned) and high (signed) halves, and all-equal runs at full rate."""
    f, rng = formats(), value_rng("corners")
    a, b = f["a"], f["b"]
    lo = 1 << (b.width // 2)
    a_vals = [0, 1, -1, a.min_code, a.max_code, a.min_code + 1]
    b_vals = [0, 1, -1, b.min_code, b.max_code, lo - 1, lo, -lo, -lo - 1, lo + 1]
    rows = [(x, y) for x in a_vals for y in b_vals]
    rows += [(rng.randint(a.min_code, a.max_code), y) for y in b_vals for _ in range(4)]
    rows += repeat([(a.min_code, b.min_code), (a.max_code, b.max_code), (0, b.min_code)], 5)
    await check_core(dut, "corners", as_columns("ab", rows), _model, p_en=1.0)

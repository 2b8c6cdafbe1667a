"""cocotb testbench of :class:`l1bn.hdl.scale_shift.ScaleShift` against
:func:`l1bn.golden.scale_shift.scale_shift`."""

import cocotb

from l1bn.golden.scale_shift import scale_shift

from .core_tb import as_columns, check_core, formats, random_columns, repeat, value_rng

#: The random test the report runs as its quick check of this block.
SMOKE_TEST = "random_values"


def _model(x, a, b):
    y, sat = scale_shift(x, a, b, formats())
    return {"y": y, "sat": sat}


def _one(f):
    """The coefficient code of 1.0."""
    return 1 << f["a"].frac


@cocotb.test()
async def random_values(dut):
    """Random x, a, b (uniform and spread over all magnitudes: both in range and saturating)."""
    columns, _ = random_columns("random_values", ("x", "a", "b"))
    await check_core(dut, "random_values", columns, _model)


@cocotb.test()
async def corners(dut):
    """Zero x, zero a (y = b), a = 1 (y = x + b), most negative x and a, maximum x and a,
    rounding ties (a = 1/2 with odd x: half-up rounds toward +inf), all-equal runs."""
    f, rng = formats(), value_rng("corners")
    x, c = f["x"], f["a"]
    one = _one(f)
    half = one >> 1
    rows = [(0, rng.randint(c.min_code, c.max_code), rng.randint(c.min_code, c.max_code))
            for _ in range(8)]                                                  # zero x
    rows += [(rng.randint(x.min_code, x.max_code), 0, b) for b in (0, 1, -1, c.max_code,
                                                                     c.min_code)]  # zero a
    rows += [(v, one, 0) for v in (x.min_code, x.max_code, 0, 1, -1)]           # identity
    rows += [(x.min_code, c.min_code, 0), (x.min_code, c.min_code, c.min_code),  # most negative
             (x.min_code, c.max_code, c.max_code), (x.max_code, c.min_code, 0),
             (x.max_code, c.max_code, c.min_code), (x.min_code, -one, 0)]        # and maximum
    if half:
        rows += [(v, half, 0) for v in (1, -1, 3, -3, x.max_code, x.min_code + 1)]  # ties
    rows += repeat([(x.max_code, one, 0), (x.min_code, c.min_code, c.max_code), (0, 0, 0)], 5)
    await check_core(dut, "corners", as_columns("xab", rows), _model, p_en=1.0)


@cocotb.test()
async def saturation(dut):
    """Saturating high and low, and the codes just inside: y = max and y = min exactly (sat 0),
    one LSB beyond them (sat 1), and far beyond with the largest a and b."""
    f = formats()
    x, c = f["x"], f["a"]
    one = _one(f)
    lsb = 1 << (c.frac - x.frac) if c.frac >= x.frac else 1   # one output LSB in b's codes
    rows = [(x.max_code, one, 0), (x.max_code, one, lsb), (x.min_code, one, 0),
            (x.min_code, one, -lsb), (x.max_code, c.max_code, c.max_code),
            (x.min_code, c.max_code, c.min_code), (x.max_code, c.min_code, c.min_code),
            (x.min_code, c.min_code, c.max_code), (0, 0, c.max_code), (0, 0, c.min_code)]
    await check_core(dut, "saturation", as_columns("xab", repeat(rows, 3)), _model, p_en=0.6)

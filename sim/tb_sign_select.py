"""cocotb testbench of :class:`l1bn.hdl.sign_select.SignSelect` (both norms) against
:func:`l1bn.golden.sign_select.term_l1` and :func:`l1bn.golden.sign_select.term_l2`."""

import cocotb

from l1bn.golden.sign_select import term_l1, term_l2

from .core_tb import as_columns, check_core, formats, parameters, random_columns, repeat

#: The random test the report runs as its quick check of this block.
SMOKE_TEST = "random_values"


def _model(**columns):
    fmt = formats()["term"]
    term, sat = term_l1(fmt=fmt, **columns) if "sgn" in columns else term_l2(fmt=fmt, **columns)
    return {"term": term, "sat": sat}


def _l1():
    return parameters()["norm"] == "l1"


async def _check(dut, name, rows_l1, rows_l2, p_en=0.75):
    """Rows ``(sgn, k, c)`` for l1 or ``(xhat, k)`` for l2, whichever norm the design has."""
    columns = as_columns(("sgn", "k", "c"), rows_l1) if _l1() else \
        as_columns(("xhat", "k"), rows_l2)
    await check_core(dut, name, columns, _model, p_en)


@cocotb.test()
async def random_values(dut):
    """l1: random sgn in {-1, 0, 1}, k and c; l2: random xhat and k. Random enable gaps."""
    l1 = _l1()
    columns, rng = random_columns("random_values", ("k", "c") if l1 else ("xhat", "k"))
    if l1:
        columns["sgn"] = [rng.choice((-1, 0, 1)) for _ in columns["k"]]
    await check_core(dut, "random_values", columns, _model)


@cocotb.test()
async def corners(dut):
    """Zero k, zero sgn / xhat, most negative and maximum k (and xhat), the 2-bit code -2 of sgn
    (acts as -1), rounding ties of xhat*k (l2), all-equal runs; at full rate."""
    fmt = formats()["term"]
    lo, hi = fmt.min_code, fmt.max_code
    half = (1 << (fmt.frac - 1)) if fmt.frac else 0    # k = 1/2: xhat*k ties for odd xhat
    rows_l1 = [(s, k, c) for s in (-1, 0, 1, -2) for k in (0, 1, -1, lo, hi) for c in (0, lo, hi)]
    rows_l1 += repeat([(1, hi, 0), (-1, lo + 1, 0), (0, lo, 0)], 5)
    rows_l2 = [(x, k) for x in (0, 1, -1, lo, hi, 1 << fmt.frac) for k in (0, 1, -1, lo, hi)]
    if half:
        rows_l2 += [(x, half) for x in (1, -1, 3, -3, hi, lo + 1)]
    rows_l2 += repeat([(hi, 1 << fmt.frac), (lo, -1), (0, lo)], 5)
    await _check(dut, "corners", rows_l1, rows_l2, p_en=1.0)


@cocotb.test()
async def saturation(dut):
    """Saturating high and low, and just inside: term = max and term = min exactly (sat 0), one
    LSB beyond (sat 1), and the extremes (l1: -k with k most negative; l2: xhat = k = min)."""
    fmt = formats()["term"]
    lo, hi, one = fmt.min_code, fmt.max_code, 1 << fmt.frac
    rows_l1 = [(1, hi, 0), (1, hi, -1), (1, lo, 0), (1, lo, 1), (-1, lo, 0), (-1, lo, -1),
               (1, hi, lo), (-1, hi, hi), (0, 0, lo), (-1, lo + 1, 0)]
    rows_l2 = [(hi, one), (lo, one), (lo, -one), (hi, -one), (lo, lo), (hi, hi), (lo, hi),
               (hi, one + 1), (lo, one + 1)]
    await _check(dut, "saturation", repeat(rows_l1, 3), repeat(rows_l2, 3), p_en=0.6)

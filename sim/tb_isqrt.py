"""cocotb testbench of :class:`l1bn.hdl.isqrt.Isqrt` against :func:`l1bn.golden.isqrt.isqrt`."""

import math

import cocotb

from l1bn.golden.isqrt import isqrt

from .seqbench import check_unit, setup

#: The random test the report runs as its quick check of this block.
SMOKE_TEST = "random_values"


async def _check(dut, name, radicands, **rates):
    roots = isqrt(radicands)
    await check_unit(dut, name, [{"radicand": int(n)} for n in radicands],
                     [{"root": int(r)} for r in roots], **rates)


def _top():
    formats, cfg, rng = setup()
    return int(formats["radicand"]["max"]), cfg, rng


@cocotb.test()
async def exhaustive(dut):
    """Every radicand once, at full rate (also checks one root per LATENCY cycles)."""
    top, _, _ = _top()
    assert top < 1 << 16, "the exhaustive test is for widths up to 16"
    await _check(dut, "exhaustive", list(range(top + 1)))


@cocotb.test()
async def random_values(dut):
    """Uniform random radicands with random valid gaps and backpressure."""
    top, cfg, rng = _top()
    n = cfg.get("random_values", 2000)
    await _check(dut, "random_values", [rng.randint(0, top) for _ in range(n)],
                 p_valid=0.7, p_ready=0.6)


@cocotb.test()
async def corners(dut):
    """0, 1, the maximum, perfect squares and their neighbours (the largest too), stalled."""
    top, _, rng = _top()
    r_max = math.isqrt(top)
    roots = {0, 1, 2, 3, r_max - 1, r_max} | {rng.randint(0, r_max) for _ in range(40)}
    values = {0, 1, 2, 3, top - 1, top}
    for r in roots:
        values |= {r * r - 1, r * r, r * r + 1, (r + 1) * (r + 1) - 1}
    values = sorted(v for v in values if 0 <= v <= top)
    values += [top] * 4 + [0] * 4  # all-equal runs
    await _check(dut, "corners", values, p_valid=0.6, p_ready=0.3)

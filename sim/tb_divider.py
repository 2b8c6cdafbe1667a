"""cocotb testbench of :class:`l1bn.hdl.divider.Divider` against :func:`l1bn.golden.divider.divide`."""

import cocotb

from l1bn.golden.divider import divide, formats

from .seqbench import check_unit, setup

#: The random test the report runs as its quick check of this block.
SMOKE_TEST = "random_values"


def _formats():
    _, cfg, rng = setup()
    fmts, shift = formats(**cfg["manifest"]["parameters"])
    return fmts["num"], fmts["den"], fmts["quot"], shift, cfg, rng


async def _check(dut, name, pairs, **rates):
    num, den, quot, shift, _, _ = _formats()
    q, sat = divide([n for n, _ in pairs], [d for _, d in pairs], shift, quot)
    await check_unit(dut, name, [{"num": n, "den": d} for n, d in pairs],
                     [{"quot": int(a), "sat": int(b)} for a, b in zip(q, sat)], **rates)


@cocotb.test()
async def exhaustive(dut):
    """Every (num, den) pair once, at full rate (also checks one quotient per LATENCY cycles)."""
    num, den, *_ = _formats()
    assert num.width + den.width <= 20, "the exhaustive test is for small widths"
    pairs = [(n, d) for n in range(num.min_code, num.max_code + 1)
             for d in range(den.min_code, den.max_code + 1)]
    await _check(dut, "exhaustive", pairs)


def _random_den(rng, n, den, quot, shift):
    """A divisor for ``n``: uniform, small, or near the saturation threshold of ``n``."""
    kind = rng.random()
    if kind < 0.4:
        d = rng.randint(1, den.max_code)
    elif kind < 0.6:
        d = rng.randint(1, min(den.max_code, 1 << (den.width // 2)))
    else:  # |n| * 2**shift / d close to the largest quotient: rounding at the saturation edge
        d = (abs(n) << shift >> (quot.width - 1)) + rng.randint(-2, 2)
    return min(max(d, 1), den.max_code)


@cocotb.test()
async def random_values(dut):
    """Random numerators with uniform, small and near-saturation divisors; gaps, backpressure."""
    num, den, quot, shift, cfg, rng = _formats()
    pairs = []
    for _ in range(cfg.get("random_values", 2000)):
        n = rng.randint(num.min_code, num.max_code)
        pairs.append((n, _random_den(rng, n, den, quot, shift)))
    await _check(dut, "random_values", pairs, p_valid=0.7, p_ready=0.6)


@cocotb.test()
async def corners(dut):
    """den = 1 and 0, most negative / zero / largest num, equal inputs, exact ties, stalled."""
    num, den, quot, shift, _, rng = _formats()
    nums = [num.min_code, num.min_code + 1, -1, 0, 1, num.max_code]
    dens = [0, 1, 2, 3, den.max_code, den.max_code - 1, min(1 << den.frac, den.max_code)]
    pairs = [(n, d) for n in nums for d in dens]
    pairs += [(v, v) for v in (1, 2, 3, min(num.max_code, den.max_code))]
    # Exact ties: d = 2**(shift+1) * e and |n| = e * (2k + 1) give n * 2**shift / d = k + 1/2.
    for _ in range(20):
        e = rng.randint(1, max(1, den.max_code >> (shift + 1)))
        if e << (shift + 1) <= den.max_code:
            k = rng.randint(0, max(0, num.max_code // e - 1) // 2)
            pairs += [(e * (2 * k + 1), e << (shift + 1)), (-e * (2 * k + 1), e << (shift + 1))]
    pairs += [(num.min_code, 1)] * 3 + [(0, 0)] * 3  # all-equal runs
    await _check(dut, "corners", pairs, p_valid=0.6, p_ready=0.3)

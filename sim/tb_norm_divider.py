"""cocotb testbench of :class:`l1bn.hdl.norm_divider.NormDivider` against its golden model."""

import cocotb

from l1bn.golden.norm_divider import norm_div

from .harness import payload_fields
from .seqbench import check_unit, setup

#: The random test the report runs as its quick check of this block.
SMOKE_TEST = "random_values"


def _widths():
    """``(num_width, den_width, mant_width, cfg, rng)`` from the manifest's ports."""
    _, cfg, rng = setup()
    fields = {**payload_fields(cfg["manifest"], "i__payload"),
              **payload_fields(cfg["manifest"], "o__payload")}
    return fields["num"][1], fields["den"][1], fields["mant"][1], cfg, rng


async def _check(dut, name, pairs, **rates):
    _, _, mw, _, _ = _widths()
    expected = []
    for n, d in pairs:
        mant, e, n_inf = norm_div(n, d, mw)
        expected.append({"mant": mant, "exp": 0 if e is None else e, "inf": n_inf})
    await check_unit(dut, name, [{"num": n, "den": d} for n, d in pairs], expected, **rates)


def _magnitude(rng, width):
    """A value of a bit length drawn uniformly from ``0 .. width`` (0 for length 0)."""
    length = rng.randint(0, width)
    return rng.getrandbits(length) | (1 << length >> 1)


@cocotb.test()
async def exhaustive(dut):
    """Every (num, den) pair once, at full rate (also checks one result per LATENCY cycles)."""
    nw, dw, _, _, _ = _widths()
    assert nw + dw <= 16, "the exhaustive test is for small widths"
    await _check(dut, "exhaustive", [(n, d) for n in range(1 << nw) for d in range(1 << dw)])


@cocotb.test()
async def random_values(dut):
    """Operands of uniformly random bit lengths, random valid gaps and backpressure."""
    nw, dw, _, cfg, rng = _widths()
    pairs = [(_magnitude(rng, nw), _magnitude(rng, dw))
             for _ in range(cfg.get("random_values", 2000))]
    await _check(dut, "random_values", pairs, p_valid=0.7, p_ready=0.6)


def _round_up_pairs(rng, nw, dw, mw):
    """Pairs whose quotient is in ``[2**mw - 1/2, 2**mw) * 2**t`` (rounded up to ``2**mw``) and
    their neighbours just below (``num - 1``): ``num = ceil((2**(mw+1) - 1) * den * 2**t / 2)``."""
    pairs = []
    for _ in range(40):
        d = _magnitude(rng, dw) or 1
        lo = 2 - d.bit_length()             # den * 2**t >= 2: the quotient is below 2**mw
        t = rng.randint(lo, max(lo, nw - mw - d.bit_length()))
        a, b = (2**(mw + 1) - 1) * d, 2
        a, b = (a << t, b) if t >= 0 else (a, b << -t)
        n = -(-a // b)
        if 1 < n < 1 << nw:
            pairs += [(n, d), (n - 1, d)]
    return pairs


def _tie_pairs(rng, nw, dw, mw):
    """Exact ties: ``num = c * x * 2**t``, ``den = c * 2**j`` with ``x`` odd of ``mw + 1`` bits."""
    pairs = []
    for _ in range(40):
        x = rng.getrandbits(mw) | 1 | (1 << mw)
        c = rng.randint(1, 7)
        n, d = c * x << rng.randint(0, 3), c << rng.randint(0, 3)
        if n < 1 << nw and d < 1 << dw:
            pairs.append((n, d))
    return pairs


@cocotb.test()
async def corners(dut):
    """Zeros, equal operands, powers of two, all ones, results rounded up to 2**mant_width (and
    just below), exact ties; stalled."""
    nw, dw, mw, _, rng = _widths()
    nums = sorted({0, 1, 2, 3, (1 << nw) - 1, (1 << nw) - 2, 1 << (nw - 1)}
                  | {1 << rng.randrange(nw) for _ in range(4)})
    dens = sorted({0, 1, 2, 3, (1 << dw) - 1, (1 << dw) - 2, 1 << (dw - 1)}
                  | {1 << rng.randrange(dw) for _ in range(4)})
    pairs = [(n, d) for n in nums for d in dens]
    top = min(nw, dw)
    pairs += [(v, v) for v in (1, 2, 3, (1 << top) - 1, _magnitude(rng, top) or 1)]
    pairs += _round_up_pairs(rng, nw, dw, mw) + _tie_pairs(rng, nw, dw, mw)
    pairs += [((1 << nw) - 1, 1)] * 3 + [(0, 0)] * 3 + [(1, 0)] * 3  # all-equal runs
    await _check(dut, "corners", pairs, p_valid=0.6, p_ready=0.3)

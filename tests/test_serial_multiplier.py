"""hdl/serial_multiplier.py: exact products of signed values, the stated latency and handshake
(Amaranth simulation; the BN backward unit's cocotb tests use it end to end)."""

import random

import pytest
from amaranth.sim import Simulator

from l1bn.hdl.serial_multiplier import SerialMultiplier

SEED = 20261124


def _run(aw, bw, pairs, o_ready=lambda i: True, neg=False):
    dut = SerialMultiplier(a_width=aw, b_width=bw)
    got = []

    async def bench(ctx):
        for n, (a, b) in enumerate(pairs):
            ctx.set(dut.i.payload.a, a)
            ctx.set(dut.i.payload.b, b)
            ctx.set(dut.i.payload.neg, int(neg))
            ctx.set(dut.i.valid, 1)
            while not ctx.get(dut.i.ready):
                await ctx.tick()
            await ctx.tick()
            ctx.set(dut.i.valid, 0)
            cycles = 1
            while not ctx.get(dut.o.valid):
                await ctx.tick()
                cycles += 1
            # hold the result a few cycles when the consumer is slow: it must stay
            waits = 0
            while not o_ready(n) and waits < 3:
                await ctx.tick()
                waits += 1
                assert ctx.get(dut.o.valid) and ctx.get(dut.o.payload.p) == (-a * b if neg else a * b)
            got.append((ctx.get(dut.o.payload.p), cycles))
            ctx.set(dut.o.ready, 1)
            await ctx.tick()
            ctx.set(dut.o.ready, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return dut, got


@pytest.mark.parametrize("aw, bw", [(2, 2), (5, 9), (9, 5), (18, 57), (26, 40)])
def test_products_exact_with_stated_latency(aw, bw):
    rng = random.Random(SEED + aw * 100 + bw)
    lo_a, hi_a = -(1 << (aw - 1)), (1 << (aw - 1)) - 1
    lo_b, hi_b = -(1 << (bw - 1)), (1 << (bw - 1)) - 1
    corners = [(lo_a, lo_b), (lo_a, hi_b), (hi_a, lo_b), (hi_a, hi_b), (0, lo_b), (lo_a, 0),
               (-1, -1), (1, lo_b)]
    pairs = corners + [(rng.randint(lo_a, hi_a), rng.randint(lo_b, hi_b)) for _ in range(40)]
    dut, got = _run(aw, bw, pairs, o_ready=lambda n: n % 3 != 0)
    for (a, b), (p, cycles) in zip(pairs, got):
        assert p == a * b, f"{a} * {b}: got {p} (seed {SEED})"
        assert cycles == dut.LATENCY


@pytest.mark.parametrize("neg", [False, True])
def test_exhaustive_small(neg):
    pairs = [(a, b) for a in range(-8, 8) for b in range(-4, 4)]
    _dut, got = _run(4, 3, pairs, neg=neg)
    assert [p for p, _c in got] == [(-a * b if neg else a * b) for a, b in pairs]


def test_bad_widths():
    with pytest.raises(ValueError, match="a_width"):
        SerialMultiplier(a_width=1, b_width=4)
    with pytest.raises(ValueError, match="b_width"):
        SerialMultiplier(a_width=4, b_width=0)

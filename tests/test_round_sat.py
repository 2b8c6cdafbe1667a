"""hdl/round_sat.py: every rounding and saturation expression against l1bn.golden.fixed, exhaustively
over small widths (Amaranth simulation of the combinational expressions)."""

import numpy as np
import pytest
from amaranth import Module, Signal, signed
from amaranth.sim import Simulator

from l1bn.golden import fixed
from l1bn.hdl.round_sat import round_saturate, saturate, shift_right_half_up


def _evaluate(width, out_width, exprs):
    """Every code of a signed ``width``-bit value through ``exprs(value)``: pairs of (value,
    flag) expressions, the values read into signals two bits wider than ``out_width`` (a
    result must be a signed value, whatever it is assigned to), the flags into one bit."""
    m = Module()
    value = Signal(signed(width))
    outs = []
    for i, e in enumerate(exprs(value)):
        o = Signal(signed(out_width + 2) if i % 2 == 0 else 1, name=f"o{i}")
        m.d.comb += o.eq(e)
        outs.append(o)
    codes = range(-(1 << (width - 1)), 1 << (width - 1))
    got = []

    async def bench(ctx):
        for v in codes:
            ctx.set(value, v)
            got.append([ctx.get(o) for o in outs])

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    return np.array(list(codes)), np.array(got, dtype=np.int64)


# (input width, shift, output width): the rounded value narrower than, as wide as and wider
# than the output; a one-bit shift; no shift; a one-bit wider output than the shifted value.
CASES = [(9, 3, 4), (8, 3, 4), (7, 3, 4), (6, 3, 4), (9, 1, 4), (8, 0, 4), (9, 4, 2), (10, 2, 8),
         (8, 5, 4)]


@pytest.mark.parametrize("width,n,out_width", CASES)
def test_round_saturate_equals_golden(width, n, out_width):
    """``round_saturate`` = ``l1bn.golden.fixed`` half-up shift then saturation, value and flag, for
    every input code; so is the two-step RTL form it replaces."""
    fmt = fixed.Fmt(out_width, 0)
    codes, got = _evaluate(width, out_width, lambda v: [
        *round_saturate(v, n, fmt), *saturate(shift_right_half_up(v, n), fmt)])
    want, flags = fixed.saturate_flags(fixed.shift_right(codes, n, "half_up"), fmt)
    for col, name in ((0, "round_saturate"), (2, "saturate(shift_right_half_up)")):
        assert np.array_equal(got[:, col], want), (name, codes[got[:, col] != want][:8])
        assert np.array_equal(got[:, col + 1], flags.astype(np.int64)), name
    assert flags.any() or width - n <= out_width      # saturation is exercised where possible


def test_round_saturate_rejects_bad_arguments():
    with pytest.raises(ValueError, match="round_saturate needs a signed format"):
        round_saturate(Signal(signed(8)), 2, fixed.Fmt(4, 0, signed=False))
    with pytest.raises(ValueError, match="round_saturate needs a signed value"):
        round_saturate(Signal(8), 2, fixed.Fmt(4, 0))
    with pytest.raises(ValueError, match="n must be non-negative, got -1"):
        round_saturate(Signal(signed(8)), -1, fixed.Fmt(4, 0))

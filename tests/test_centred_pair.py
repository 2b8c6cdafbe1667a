# amaranth: UnusedElaboratable=no
"""centred_pair: golden model against exact math, named corners, parameter checks; the RTL on
both simulators, its two multipliers and the per-term stages it shares with centred_scale."""

import math
import random
from fractions import Fraction

import numpy as np
import pytest

from l1bn.golden.centred_scale import centred_pair, pair_exp, pair_limit_bits, pair_shift_cap
from l1bn.golden.fixed import Fmt
from l1bn.hdl.registry import design
from l1bn.sim.core_tb import random_codes

from .blocksim import SEED, simulate
from .test_centred_scale import FORMATS, _mw, check_lane_design, mul_cells, rtl_cases


def _exact(e, d, fa, fb, k, width, guard, mw):
    """``(dx, sat, limited)`` from the documented semantics in exact rational arithmetic: each
    factor ``+-mant * 2**-(e_p + shift)`` times its value, the magnitude truncated to
    ``2**-guard`` output LSBs and limited, signed; the difference plus k, rounded half up,
    saturated."""
    limit = 2 ** pair_limit_bits(width, guard, mw) - 1
    limited = False

    def term(v, f):
        nonlocal limited
        mant, shift, neg = f
        mag = Fraction(mant * abs(v)) * Fraction(2) ** (guard - pair_exp(width) - shift)
        limited |= math.floor(mag) > limit
        q = min(math.floor(mag), limit)
        return -q if (v < 0) != bool(neg) else q

    y = math.floor(Fraction(term(e, fa) - term(d, fb) + k, 2 ** guard) + Fraction(1, 2))
    lo, hi = -2 ** (width - 1), 2 ** (width - 1) - 1
    return min(max(y, lo), hi), not lo <= y <= hi, limited


def _vectors(rng, width, guard, n):
    """Random e, d, mantissas and k spread over every magnitude; shifts that put each product
    near the output range or anywhere in the port's range; both signs; a third of the rows with
    two terms of about the same size."""
    mw = _mw(width)
    v, m = Fmt(width + 1, 0), Fmt(mw, 0, signed=False)
    top = (1 << pair_shift_cap(width, guard, mw).bit_length()) - 1
    e, d, ma, mb = (random_codes(rng, f, n) for f in (v, v, m, m))
    k = random_codes(rng, Fmt(pair_limit_bits(width, guard, mw), 0), n)

    def shift(x, y):
        return min(max((abs(x) * y).bit_length() + rng.randint(0, 8), 0), top) \
            if rng.random() < 0.75 else rng.randint(0, top)

    sa, sb = [shift(*p) for p in zip(e, ma)], [shift(*p) for p in zip(d, mb)]
    for i in range(n):
        if rng.random() < 1 / 3:
            sb[i] = min(max((abs(d[i]) * mb[i]).bit_length() - (abs(e[i]) * ma[i]).bit_length()
                            + sa[i], 0), top)
    na, nb = ([rng.randint(0, 1) for _ in range(n)] for _ in "ab")
    return e, d, list(zip(ma, sa, na)), list(zip(mb, sb, nb)), k


def _model(e, d, fa, fb, k, width=16, frac=8, guard=8):
    fa, fb = (tuple(np.asarray(c) for c in zip(*f)) for f in (fa, fb))
    y, sat = centred_pair(np.asarray(e), np.asarray(d), fa, fb, np.asarray(k), width=width,
                          frac=frac, guard=guard, mant_width=_mw(width))
    return y.tolist(), sat.tolist()


@pytest.mark.parametrize("width, frac, guard", FORMATS)
def test_model_matches_exact_math(width, frac, guard):
    """dx and sat equal the exact-rational evaluation of the documented semantics; unlimited
    and unsaturated, dx is within 1/2 + 2 * 2**-guard LSB of A*e - B*d + k (rounding and the
    truncation of the two magnitudes); every regime is exercised."""
    mw = _mw(width)
    e, d, fa, fb, k = _vectors(random.Random(SEED), width, guard, 3000)
    y, sat = _model(e, d, fa, fb, k, width=width, frac=frac, guard=guard)
    kinds = set()
    for row in zip(e, d, fa, fb, k, y, sat):
        want, wsat, limited = _exact(*row[:5], width, guard, mw)
        assert row[5:] == (want, wsat), f"seed {SEED}: e, d, fa, fb, k = {row[:5]}"
        real = Fraction(row[4], 2 ** guard) + sum(
            (-s if neg else s) * mant * v * Fraction(2) ** -(pair_exp(width) + shift)
            for s, v, (mant, shift, neg) in ((1, row[0], row[2]), (-1, row[1], row[3])))
        if not limited and not row[6]:
            assert abs(row[5] - real) <= Fraction(1, 2) + Fraction(2, 2 ** guard), f"seed {SEED}"
        kinds.add("limited" if limited else "sat" if row[6] else "in range")
    assert kinds == {"limited", "sat", "in range"}


def test_equal_terms_cancel_exactly_even_at_the_limit():
    """The same value and factor twice: z = k, so dx = round(k / 2**G), whatever the product
    (zero, in range, or at the limit 2**44 - 1 at shift 0)."""
    f = [(0, 0, 0), ((1 << 18) - 1, 0, 0), ((1 << 18) - 1, 0, 1), (1 << 17, 40, 1)]
    v = [-65536, 65535, -65536, 12345]
    y, sat = _model(v, v, f, f, [384, -385, (1 << 43) - 1, -(1 << 43)])
    assert y == [2, -2, 32767, -32768] and sat == [False, False, True, True]


def test_unit_factors_give_the_difference():
    """mant = 2**17, shift = 2**17's place: A = B = 1 (e_p + shift = 17, shift = 36), so dx =
    e - d rounded, saturated beyond the data range."""
    one = (1 << 17, 17 - pair_exp(16), 0)
    assert one[1] == 36
    y, sat = _model([5, -32768, 32767, 100], [3, 1, -1, 100], [one] * 4, [one] * 4, [0] * 4)
    assert y == [2, -32768, 32767, 0] and sat == [False, True, True, False]


def test_ties_round_up_for_both_terms():
    """A = B = 1/2 (shift 37): +-1 * 1/2 and +-3 * 1/2 are ties, rounded toward +inf, from
    either term."""
    half = (1 << 17, 37, 0)
    zero = (0, 0, 0)
    v = [1, -1, 3, -3]
    assert _model(v, [0] * 4, [half] * 4, [zero] * 4, [0] * 4)[0] == [1, 0, 2, -1]
    assert _model([0] * 4, v, [zero] * 4, [half] * 4, [0] * 4)[0] == [0, 1, -1, 2]


def test_shifts_from_the_cap_up_give_a_zero_product():
    """pair_shift_cap(16, 8, 18) = 62: every shift from 62 to the port's largest value (63)
    acts as the cap does, a zero product (so does 61: |v| <= 2**W, the product is below
    2**(MW+W)); at 60 the largest product still gives 1 on the grid."""
    assert pair_shift_cap(16, 8, 18) == 62 and pair_shift_cap(32, 8, 34) == 110
    big = ((1 << 18) - 1, 0, 0)
    for shift, q in ((60, 1), (61, 0), (62, 0), (63, 0), (1000, 0)):
        f = ((1 << 18) - 1, shift, 0)
        y, _ = _model([-65536], [0], [f], [big], [-q * 385])
        assert y == [-2 * q]


def test_defaults_widths_and_name():
    ports = {}
    for w, mw, shift, k in ((16, 18, 6, 44), (32, 34, 7, 76)):
        ports[w] = {"e": (w + 1, True), "d": (w + 1, True), "k": (k, True), "dx": (w, True),
                    "sat": (1, False)}
        for t in "ab":
            ports[w].update({f"mant_{t}": (mw, False), f"shift_{t}": (shift, False),
                             f"neg_{t}": (1, False)})
    check_lane_design("centred_pair", ports[16], ports[32])


def test_terms_are_centred_scales_stages():
    """Both terms are built by l1bn.hdl.centred_scale.centred_term: their registers carry its stage
    names with the prefixes a_ and b_."""
    rtlil = design("centred_pair").rtlil
    for prefix in ("a_", "b_"):
        for reg in ("mag_1", "sign_1", "prod_2", "prod_3", "coarse_4", "q_5", "sign_5"):
            assert f"\\{prefix}{reg}" in rtlil


@pytest.mark.synth
def test_two_unsigned_18x17_multipliers(tmp_path):
    """At width 16 the design has two multiplications, each unsigned 18 x 17 bits into 35: in
    Amaranth's RTLIL and in the emitted Verilog read back by Yosys (narrowed by wreduce)."""
    assert mul_cells("centred_pair", tmp_path) == ([(False, 18, False, 17, 35)] * 2,) * 2


@rtl_cases
def test_rtl_matches_model(build_root, simulator, width, frac, guard, testcase):
    simulate(build_root, "centred_pair", {"width": width, "frac": frac, "guard": guard},
             simulator, testcase, random_values=2000)

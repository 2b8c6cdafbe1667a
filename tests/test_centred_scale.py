# amaranth: UnusedElaboratable=no
"""centred_scale: golden model against exact math, named corners, parameter checks (shared by
centred_pair); the RTL on both simulators, its one multiplier and its lint."""

import math
import re
from fractions import Fraction

import numpy as np
import pytest

from l1bn.golden.centred_scale import centred_scale, formats, shift_cap
from l1bn.hdl.centred_pair import CentredPair
from l1bn.hdl.centred_scale import CentredScale
from l1bn.hdl.registry import design
from l1bn.sim import runner
from l1bn.hdl.generate import generate
from l1bn.util.yosys import run_script

from .blocksim import SEED, simulate

#: (width, frac, guard): the default, few guard bits, a wide format, and two where the 18-bit
#: mantissa puts e_c (8 and 12) above the guard bits: the product is aligned by a right shift.
FORMATS = [(16, 8, 8), (8, 4, 4), (16, 8, 3), (4, 2, 3), (32, 16, 8)]


def _mw(width):
    return 18 if width <= 16 else width + 2


def _exact(d, mant, shift, neg, bias, width, guard, mw):
    """``(y, sat, limited)`` from the documented semantics in exact rational arithmetic: the
    gain ``+-mant * 2**-(e_c + shift)`` times ``d``, its magnitude truncated to ``2**-guard``
    output LSBs and limited, signed, plus the bias, rounded half up, saturated."""
    e_c = mw - width - 2
    mag = Fraction(mant * abs(d), 1) / 2 ** (e_c + shift) * 2 ** guard
    limit = 2 ** (width + 2 + guard) - 1
    q = min(math.floor(mag), limit)
    z = -q if (d < 0) != bool(neg) else q
    y = math.floor(Fraction(z + bias, 2 ** guard) + Fraction(1, 2))
    lo, hi = -2 ** (width - 1), 2 ** (width - 1) - 1
    return min(max(y, lo), hi), not lo <= y <= hi, math.floor(mag) > limit


def _vectors(rng, width, frac, guard, n):
    """Random d, mant, bias spread over every magnitude; shifts near the output range or
    anywhere in the port's range; both signs."""
    mw = _mw(width)
    f = formats(width, frac, guard, mw)

    def spread(fmt):
        bits = rng.integers(0, fmt.width + 1, n)
        v = [int(rng.integers(0, 1 << 62)) >> (62 - int(b)) for b in bits]
        return [max(fmt.min_code, min(fmt.max_code, -x if fmt.signed and rng.random() < 0.5
                                      else x)) for x in v]

    d, mant, bias = spread(f["d"]), spread(f["mant"]), spread(f["bias"])
    cap = shift_cap(width, guard, mw)
    e_c = mw - width - 2
    shift = [max(0, (abs(a) * b).bit_length() - e_c - width + 1
                 + int(rng.integers(-4, 4))) if rng.random() < 0.75
             else int(rng.integers(0, 1 << cap.bit_length())) for a, b in zip(d, mant)]
    neg = [int(v) for v in rng.integers(0, 2, n)]
    return d, mant, shift, neg, bias


@pytest.mark.parametrize("width, frac, guard", FORMATS)
def test_model_matches_exact_math(width, frac, guard):
    """y and sat equal the exact-rational evaluation of the documented semantics; unlimited and
    unsaturated, y is within 1/2 + 2**-guard LSB of a*d + b' (rounding and the truncation of
    the magnitude); limited, y saturates with the sign of the product."""
    mw = _mw(width)
    rng = np.random.default_rng(SEED)
    cols = _vectors(rng, width, frac, guard, 3000)
    y, sat = centred_scale(*(np.asarray(c) for c in cols), width=width, frac=frac, guard=guard,
                           mant_width=mw)
    e_c = mw - width - 2
    kinds = set()
    for d, mant, shift, neg, bias, yi, si in zip(*cols, y.tolist(), sat.tolist()):
        want, wsat, limited = _exact(d, mant, shift, neg, bias, width, guard, mw)
        assert (yi, si) == (want, wsat), f"seed {SEED}: d={d} mant={mant} shift={shift} " \
                                         f"neg={neg} bias={bias}"
        real = (-1 if neg else 1) * Fraction(mant * d, 2 ** (e_c + shift)) \
            + Fraction(bias, 2 ** guard)
        if limited:
            assert si and yi == (-2 ** (width - 1) if real < 0 else 2 ** (width - 1) - 1)
        elif not si:
            assert abs(yi - real) <= Fraction(1, 2) + Fraction(1, 2 ** guard), f"seed {SEED}"
        kinds.add("limited" if limited else "sat" if si else "in range")
    assert kinds == {"limited", "sat", "in range"}      # every regime was exercised


def _model(d, mant, shift, neg, bias, width=16, frac=8, guard=8):
    y, sat = centred_scale(np.asarray(d), np.asarray(mant), np.asarray(shift), np.asarray(neg),
                           np.asarray(bias), width=width, frac=frac, guard=guard,
                           mant_width=_mw(width))
    return y.tolist(), sat.tolist()


def test_unit_gain_is_the_identity_plus_the_bias():
    """mant = 2**17, shift = W + 1 = 17 (e_c = 0): a = 1, so y = d + b'/2**G rounded."""
    d = [0, 1, -1, 1000, -32768, 32767, -65536, 65535]
    y, sat = _model(d, [1 << 17] * 8, [17] * 8, [0] * 8, [0] * 8)
    assert y == [0, 1, -1, 1000, -32768, 32767, -32768, 32767]
    assert sat == [False] * 6 + [True, True]
    y, _ = _model([5, 5, 5], [1 << 17] * 3, [17] * 3, [1] * 3, [256 * 10, 127, 128])
    assert y == [5, -5, -4]                              # -5 + 10, -5 + 0.496, -5 + 0.5


def test_ties_round_up_for_both_signs_of_the_product():
    """a = 1/2 (shift = W + 2): +-1 * 1/2 and +-3 * 1/2 are ties, rounded toward +inf."""
    d = [1, -1, 3, -3, 1, -1, 3, -3]
    y, sat = _model(d, [1 << 17] * 8, [18] * 8, [0] * 4 + [1] * 4, [0] * 8)
    assert y == [1, 0, 2, -1, 0, 1, -1, 2] and not any(sat)


def test_constant_channel_gives_the_bias_whatever_the_gain():
    """d = 0: y = round(b'/2**G) for any mant, shift, sign, down to the guard bits."""
    mant, shift = [0, 1, (1 << 18) - 1, (1 << 18) - 1], [0, 5, 0, 63]
    for bias, want in ((0, 0), (383, 1), (384, 2), (-385, -2), (-384, -1), (-(1 << 25), -32768)):
        y, sat = _model([0] * 4, mant, shift, [0, 1, 1, 0], [bias] * 4)
        assert y == [want] * 4 and sat == [want == -32768] * 4


def test_limit_saturates_with_the_sign_of_the_product_despite_the_bias():
    """The largest product at shift 0 is limited to 2**26 - 1; the most opposed bias
    (|b'| < 2**25) leaves it beyond the output range on the product's side."""
    big, m = [-65536, 65535], (1 << 18) - 1
    b = [(1 << 25) - 1, -(1 << 25)]
    y, sat = _model(big, [m, m], [0, 0], [0, 0], b)
    assert y == [-32768, 32767] and sat == [True, True]
    y, sat = _model(big, [m, m], [0, 0], [1, 1], b[::-1])
    assert y == [32767, -32768] and sat == [True, True]


def test_shifts_from_the_cap_up_give_a_zero_product():
    """shift_cap(16, 8, 18) = 43: every shift from 43 to the port's largest value (63) acts
    as the cap does, a zero product; one below it the largest product is already gone."""
    assert shift_cap(16, 8, 18) == 43 and shift_cap(32, 8, 34) == 75
    for shift in (42, 43, 44, 63, 1000):
        y, sat = _model([-65536, 65535], [(1 << 18) - 1] * 2, [shift] * 2, [0, 1], [-385, 385])
        assert y == [-2, 2] and sat == [False, False]


def test_defaults_widths_and_name():
    check_lane_design("centred_scale",
                      {"d": (17, True), "mant": (18, False), "shift": (6, False),
                       "neg": (1, False), "bias": (26, True), "y": (16, True), "sat": (1, False)},
                      {"d": (33, True), "mant": (34, False), "shift": (7, False),
                       "neg": (1, False), "bias": (42, True), "y": (32, True), "sat": (1, False)})


def check_lane_design(block, ports16, ports32):
    """The lane ``block`` at width 16 (its default: frac 8, guard 8, mant_width 18) and 32
    (frac 16, mant_width 34): latency 7 and the ports' ``(width, signed)`` besides clk, rst and
    en; its module names, with and without mant_width."""
    for width, mw, ports in ((16, 18, ports16), (32, 34, ports32)):
        d = design(block, **({} if width == 16 else {"width": width, "frac": width // 2}))
        c = d.component
        assert (c.width, c.frac, c.guard, c.mant_width) == (width, width // 2, 8, mw)
        assert d.manifest["latency"] == c.LATENCY == 7
        assert {p["name"]: (p["width"], p["signed"]) for p in d.manifest["ports"]} == \
            {"clk": (1, False), "rst": (1, False), "en": (1, False), **ports}
    assert design(block).name == f"{block}_w16_f8_guard8"
    assert design(block, mant_width=20).name == f"{block}_w16_f8_guard8_mantwidth20"


@pytest.mark.parametrize("bad, message", [
    ({"width": 1}, "width must be an integer >= 2, got 1"),
    ({"width": 16.0}, "width must be an integer >= 2, got 16.0"),
    ({"frac": 16}, "frac must be an integer in [0, 15], got 16"),
    ({"frac": -1}, "frac must be an integer in [0, 15], got -1"),
    ({"guard": -1}, "guard must be an integer >= 0, got -1"),
    ({"guard": True}, "guard must be an integer >= 0, got True"),
    ({"mant_width": 17}, "mant_width must be an integer >= 18, got 17"),
    ({"mant_width": "18"}, "mant_width must be an integer >= 18, got '18'"),
])
@pytest.mark.parametrize("lane", [CentredScale, CentredPair])
def test_parameter_errors(lane, bad, message):
    with pytest.raises(ValueError) as exc:
        lane(**dict({"width": 16, "frac": 8, "guard": 8}, **bad))
    assert str(exc.value) == message


@pytest.mark.parametrize("lane", [CentredScale, CentredPair])
def test_positional_parameters_are_refused(lane):
    with pytest.raises(TypeError):
        lane(16, 8, 8)


@pytest.mark.synth
def test_one_unsigned_18x17_multiplier(tmp_path):
    """At width 16 the design has one multiplication, unsigned 18 x 17 bits into 35: in
    Amaranth's RTLIL and in the emitted Verilog read back by Yosys (narrowed by wreduce)."""
    assert mul_cells("centred_scale", tmp_path) == ([(False, 18, False, 17, 35)],) * 2


def mul_cells(block, tmp_path):
    """:func:`_muls` of ``block`` (default parameters) in Amaranth's RTLIL and in its emitted
    Verilog read back by Yosys and narrowed by ``wreduce``."""
    v, _ = generate(block, tmp_path)
    run_script(tmp_path, "muls", [f"read_verilog {v.name}", f"hierarchy -top {v.stem}", "proc",
                              "opt", "wreduce", "opt_clean", "write_rtlil muls.il"], ["muls.il"])
    return _muls(design(block).rtlil), _muls((tmp_path / "muls.il").read_text())


def _muls(rtlil):
    """``[(a_signed, a_width, b_signed, b_width, y_width)]`` of every ``$mul`` cell (the
    operands in the order narrower last)."""
    out = []
    for body in re.findall(r"^\s*cell \$mul \S+\n(.*?)^\s*end$", rtlil, re.M | re.S):
        p = dict(re.findall(r"parameter \\(\w+) (?:signed )?(\d+)", body))
        a, b = (bool(int(p["A_SIGNED"])), int(p["A_WIDTH"])), \
            (bool(int(p["B_SIGNED"])), int(p["B_WIDTH"]))
        a, b = sorted((a, b), key=lambda t: -t[1])
        out.append((*a, *b, int(p["Y_WIDTH"])))
    return out


TESTCASES = ("random_values", "corners", "shift_sweep", "rounding_and_saturation")


#: Formats each simulator runs: Icarus every one; Verilator (a C++ build per format) the
#: default, the narrowest and the widest.
SIM_FORMATS = [("icarus", f) for f in FORMATS] + \
    [("verilator", f) for f in FORMATS if f in ((16, 8, 8), (4, 2, 3), (32, 16, 8))]


def rtl_cases(test):
    """``test`` marked ``sim`` and run for every testcase (of this lane's testbench and
    centred_pair's, which have the same names) and every (simulator, format) of
    :data:`SIM_FORMATS`."""
    cases = [(s, *f) for s, f in SIM_FORMATS]
    for mark in (pytest.mark.parametrize("testcase", TESTCASES),
                 pytest.mark.parametrize("simulator, width, frac, guard", cases,
                                         ids=[f"{s}-w{w}-f{fr}-g{g}" for s, w, fr, g in cases]),
                 pytest.mark.sim):
        test = mark(test)
    return test


@rtl_cases
def test_rtl_matches_model(build_root, simulator, width, frac, guard, testcase):
    simulate(build_root, "centred_scale", {"width": width, "frac": frac, "guard": guard},
             simulator, testcase, random_values=2000)

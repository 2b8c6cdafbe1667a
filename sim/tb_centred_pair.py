"""cocotb testbench of :class:`l1bn.hdl.centred_pair.CentredPair` against
:func:`l1bn.golden.centred_scale.centred_pair`."""

import cocotb

from l1bn.golden.centred_scale import centred_pair, pair_shift_cap
from l1bn.golden.fixed import Fmt

from .core_tb import as_columns, check_core, formats, random_codes, repeat, value_rng
from .harness import load_config

#: The random test the report runs as its quick check of this block.
SMOKE_TEST = "random_values"

_INPUTS = ("e", "mant_a", "shift_a", "neg_a", "d", "mant_b", "shift_b", "neg_b", "k")


def _params():
    """``{width, frac, guard, mant_width}`` from the manifest's formats."""
    f = formats()
    return {"width": f["dx"].width, "frac": f["dx"].frac, "guard": f["k"].frac - f["dx"].frac,
            "mant_width": f["mant"].width}


def _cap():
    p = _params()
    return pair_shift_cap(p["width"], p["guard"], p["mant_width"])


def _shift_port():
    return Fmt(_cap().bit_length(), 0, signed=False)


def _model(e, mant_a, shift_a, neg_a, d, mant_b, shift_b, neg_b, k):
    dx, sat = centred_pair(e, d, (mant_a, shift_a, neg_a), (mant_b, shift_b, neg_b), k,
                           **_params())
    return {"dx": dx, "sat": sat}


def _k_codes(rng, n):
    """``n`` codes of k: 3/4 of them within the output range (``W + G`` bits), where the two
    terms and the rounding show, the others over the port's whole range."""
    f, p = formats(), _params()
    near = Fmt(p["width"] + p["guard"], 0)
    return [random_codes(rng, near if rng.random() < 0.75 else f["k"], 1)[0] for _ in range(n)]


def _near_shift(rng, v, mant):
    """A shift that puts ``mant * |v|`` near the top of the output range (from 2 bits above
    to 6 below): ``q = mant * |v| * 2**(G + W + 3 - shift)`` against ``2**(W - 1 + G)``."""
    return min(max((abs(v) * mant).bit_length() + 4 + rng.randint(-2, 6), 0),
               _shift_port().max_code)


@cocotb.test()
async def random_values(dut):
    """Random e, d, mantissas over every magnitude and k mostly near the output range; each
    shift near the output range (3/4 of the values) or anywhere in the port's range; both signs
    of each factor; in a quarter of the rows the second term equals the first (z = k exactly,
    even with both at the limit), in another quarter its shift is chosen so that the two terms
    are about equal in size; random enable gaps."""
    f, rng = formats(), value_rng("random_values")
    n = load_config().get("random_values", 4000)
    port = _shift_port()
    cols = {"e": random_codes(rng, f["e"], n), "d": random_codes(rng, f["d"], n),
            "mant_a": random_codes(rng, f["mant"], n), "mant_b": random_codes(rng, f["mant"], n),
            "k": _k_codes(rng, n),
            "neg_a": [rng.randint(0, 1) for _ in range(n)],
            "neg_b": [rng.randint(0, 1) for _ in range(n)]}
    for t, v in (("a", "e"), ("b", "d")):
        cols[f"shift_{t}"] = [_near_shift(rng, x, m) if rng.random() < 0.75
                              else random_codes(rng, port, 1)[0]
                              for x, m in zip(cols[v], cols[f"mant_{t}"])]
    for i in range(n):
        r = rng.random()
        if r < 0.25:                               # the same term twice: z = k
            cols["d"][i], cols["mant_b"][i] = cols["e"][i], cols["mant_a"][i]
            cols["shift_b"][i], cols["neg_b"][i] = cols["shift_a"][i], cols["neg_a"][i]
        elif r < 0.5:                              # two terms of about the same size
            pa = (abs(cols["e"][i]) * cols["mant_a"][i]).bit_length() - cols["shift_a"][i]
            pb = (abs(cols["d"][i]) * cols["mant_b"][i]).bit_length()
            cols["shift_b"][i] = min(max(pb - pa, 0), port.max_code)
    await check_core(dut, "random_values", cols, _model)


@cocotb.test()
async def corners(dut):
    """Extreme codes: each term over every combination of v = -2**W, 2**W - 1, 0, +-1; mant =
    0, 2**(MW-1), 2**MW - 1; shift = 0, cap - 1, cap, the port's largest value; both signs;
    paired with a zero term, with itself (exact cancellation) and with a random extreme term,
    for k = 0 and its two extremes. Then all-equal runs at full rate."""
    f, cap, rng = formats(), _cap(), value_rng("corners")
    vv, mm, kk = f["e"], f["mant"], f["k"]
    top = _shift_port().max_code
    terms = [(v, m, s, n)
             for v in (vv.min_code, vv.max_code, 0, 1, -1)
             for m in (0, 1 << (mm.width - 1), mm.max_code)
             for s in sorted({0, cap - 1, cap, top})
             for n in (0, 1)]
    zero = (0, 0, 0, 0)
    ks = (0, kk.min_code, kk.max_code)
    rows = [(*a, *b, k) for a in terms for b in (zero, a, rng.choice(terms)) for k in ks]
    rows += [(*zero, *b, k) for b in terms for k in ks]
    big = (vv.min_code, mm.max_code, 0)
    rows += repeat([(*big, 1, *big, 0, kk.max_code), (*big, 0, *big, 1, kk.min_code),
                    (*big, 0, *big, 0, kk.min_code), (*zero, 0, 0, top, 1, kk.max_code)], 5)
    await check_core(dut, "corners", as_columns(_INPUTS, rows), _model, p_en=1.0)


@cocotb.test()
async def shift_sweep(dut):
    """Every value of each shift port for extreme and random v and mant, both signs, the other
    term random (or zero) and a random k (or 0): each product's magnitude crosses the limit,
    the output range and zero."""
    f, rng, port = formats(), value_rng("shift_sweep"), _shift_port()
    vv, mm = f["e"], f["mant"]
    vs = [vv.min_code, vv.max_code, 1, -1] + random_codes(rng, vv, 2)
    ms = [mm.max_code, 1 << (mm.width - 1)] + random_codes(rng, mm, 1)

    def other():
        v = random_codes(rng, vv, 1)[0]
        m = rng.choice((0, random_codes(rng, mm, 1)[0]))
        return v, m, _near_shift(rng, v, m), rng.randint(0, 1)

    rows = []
    for v in vs:
        for m in ms:
            for s in range(port.max_code + 1):
                swept = (v, m, s, rng.randint(0, 1))
                k = rng.choice((0, _k_codes(rng, 1)[0]))
                rows.append((*swept, *other(), k))
                rows.append((*other(), *swept, k))
    await check_core(dut, "shift_sweep", as_columns(_INPUTS, rows), _model, p_en=0.6)


@cocotb.test()
async def rounding_and_saturation(dut):
    """Ties (mant * |v| an odd number of half output LSBs: half up rounds toward +inf) from
    either term with both signs, their difference, and k alone at and just beyond the output's
    bounds."""
    f, p = formats(), _params()
    w, g, mw = p["width"], p["guard"], p["mant_width"]
    half, s = 1 << (mw - 1), mw + w + 3          # q = |v| * 2**(G-1)
    zero = (0, 0, 0, 0)
    rows = []
    for v in (v for v in (1, -1, 3, -3, 5, -5) if f["e"].min_code <= 2 * v <= f["e"].max_code):
        for n in (0, 1):
            rows += [(v, half, s, n, *zero, 0), (*zero, v, half, s, n, 0),
                     (v, half, s, n, 2 * v, half, s, n, 0)]        # z = -v * 2**(G-1)
    y = f["dx"]
    for b in (y.max_code << g, y.min_code << g):
        rows += [(*zero, *zero, b + k) for k in sorted({-(1 << g >> 1) - 1, -(1 << g >> 1), -1, 0,
                                                        (1 << g >> 1) - 1, 1 << g >> 1})]
    await check_core(dut, "rounding_and_saturation", as_columns(_INPUTS, repeat(rows, 2)),
                     _model, p_en=0.6)

"""cocotb testbench of :class:`l1bn.hdl.centred_scale.CentredScale` against
:func:`l1bn.golden.centred_scale.centred_scale`."""

import cocotb

from l1bn.golden.centred_scale import centred_scale, shift_cap
from l1bn.golden.fixed import Fmt

from .core_tb import as_columns, check_core, formats, random_codes, repeat, value_rng
from .harness import load_config

#: The random test the report runs as its quick check of this block.
SMOKE_TEST = "random_values"

_INPUTS = ("d", "mant", "shift", "neg", "bias")


def _params():
    """``{width, frac, guard, mant_width}`` from the manifest's formats."""
    f = formats()
    w = f["y"].width
    return {"width": w, "frac": f["y"].frac, "guard": f["bias"].width - w - 2,
            "mant_width": f["mant"].width}


def _cap():
    p = _params()
    return shift_cap(p["width"], p["guard"], p["mant_width"])


def _model(d, mant, shift, neg, bias):
    y, sat = centred_scale(d, mant, shift, neg, bias, **_params())
    return {"y": y, "sat": sat}


def _near_shift(rng, p, d, mant):
    """A shift that puts ``mant * |d|`` near the top of the output range (a few bits either
    way), for the parameters ``p``: the shifts where rounding, the sign and saturation matter."""
    e_c = p["mant_width"] - p["width"] - 2
    return max((abs(d) * mant).bit_length() - e_c - p["width"] + 1 + rng.randint(-4, 3), 0)


@cocotb.test()
async def random_values(dut):
    """Random d, mant, bias over every magnitude; shift near the output range (3/4 of the
    values) or anywhere in the port's range; both signs of the gain; random enable gaps."""
    f, p, rng = formats(), _params(), value_rng("random_values")
    n = load_config().get("random_values", 4000)
    d, mant, bias = (random_codes(rng, f[k], n) for k in ("d", "mant", "bias"))
    port = Fmt(_cap().bit_length(), 0, signed=False)
    shift = [min(_near_shift(rng, p, di, mi), port.max_code) if rng.random() < 0.75
             else random_codes(rng, port, 1)[0] for di, mi in zip(d, mant)]
    neg = [rng.randint(0, 1) for _ in range(n)]
    columns = {"d": d, "mant": mant, "shift": shift, "neg": neg, "bias": bias}
    await check_core(dut, "random_values", columns, _model)


@cocotb.test()
async def corners(dut):
    """Every combination of the extreme codes: d = -2**W, 2**W - 1, 0, +-1; mant = 0, 2**(MW-1),
    2**MW - 1; shift = 0, cap - 1, cap, the port's largest value; both signs; bias = 0 and
    its extremes. Then all-equal runs at full rate."""
    f, cap = formats(), _cap()
    dd, mm, bb = f["d"], f["mant"], f["bias"]
    top = (1 << cap.bit_length()) - 1
    rows = [(d, m, s, n, b)
            for d in (dd.min_code, dd.max_code, 0, 1, -1)
            for m in (0, 1 << (mm.width - 1), mm.max_code)
            for s in sorted({0, cap - 1, cap, top})
            for n in (0, 1)
            for b in (0, bb.min_code, bb.max_code)]
    rows += repeat([(dd.min_code, mm.max_code, 0, 1, bb.max_code),
                    (dd.max_code, mm.max_code, 0, 0, bb.min_code), (0, 0, top, 1, 0)], 5)
    await check_core(dut, "corners", as_columns(_INPUTS, rows), _model, p_en=1.0)


@cocotb.test()
async def shift_sweep(dut):
    """Every value of the shift port for extreme and random d and mant, both signs and a random
    bias: the product's magnitude crosses the limit, the output range and zero."""
    f, rng, cap = formats(), value_rng("shift_sweep"), _cap()
    dd, mm, bb = f["d"], f["mant"], f["bias"]
    ds = [dd.min_code, dd.max_code, 1, -1] + random_codes(rng, dd, 2)
    ms = [mm.max_code, 1 << (mm.width - 1)] + random_codes(rng, mm, 1)
    rows = [(d, m, s, rng.randint(0, 1), rng.choice((0, random_codes(rng, bb, 1)[0])))
            for d in ds for m in ms for s in range(1 << cap.bit_length())]
    await check_core(dut, "shift_sweep", as_columns(_INPUTS, rows), _model, p_en=0.6)


@cocotb.test()
async def rounding_and_saturation(dut):
    """Ties (mant * |d| an odd number of half output LSBs: half up rounds toward +inf) with
    both signs of the product, and a bias alone at and just beyond the output's bounds."""
    f, p = formats(), _params()
    w, g, mw = p["width"], p["guard"], p["mant_width"]
    half = 1 << (mw - 1)                     # with shift = W + 2: q = |d| * 2**(G-1)
    rows = [(d, half, w + 2, n, 0) for d in (1, -1, 3, -3, 5, -5) for n in (0, 1)]
    y = f["y"]
    for b in (y.max_code << g, y.min_code << g):
        rows += [(0, 0, 0, 0, b + k) for k in sorted({-(1 << g >> 1) - 1, -(1 << g >> 1), -1, 0,
                                                      (1 << g >> 1) - 1, 1 << g >> 1})]
    await check_core(dut, "rounding_and_saturation", as_columns(_INPUTS, repeat(rows, 2)),
                     _model, p_en=0.6)

"""isqrt: golden model (properties, fixed-point reading) and RTL on both simulators."""

import math
import os

import numpy as np
import pytest

from l1bn.golden.fixed import Fmt, dequantize
from l1bn.golden.isqrt import formats, isqrt
from l1bn.hdl.registry import design
from l1bn.sim import runner

from .blocksim import SEED, simulate

RANDOM_VALUES = int(os.environ.get("L1BN_RANDOM_VALUES", "5000"))


@pytest.mark.parametrize("width", [1, 2, 3, 8, 9, 12])
def test_model_exhaustive_floor_property(width):
    """root**2 <= n < (root + 1)**2 for every radicand, and the root fits its format."""
    f = formats(width)
    n = np.arange(f["radicand"].max_code + 1)
    r = isqrt(n)
    assert np.all(r * r <= n) and np.all((r + 1) * (r + 1) > n)
    assert int(r.max()) <= f["root"].max_code == (1 << math.ceil(width / 2)) - 1


def test_model_wide_radicands_exact():
    rng = np.random.default_rng(SEED)
    n = [int(v) for v in rng.integers(0, 2**62, 500)] + [2**64 - 1, 2**64 - 2**33 + 1]
    for v, r in zip(n, isqrt(np.array(n, dtype=object))):
        r = int(r)  # int64 when the root fits; its square may not
        assert r * r <= v < (r + 1) * (r + 1)


@pytest.mark.parametrize("width, frac", [(16, 4), (32, 8), (15, 3)])
def test_fixed_point_root_truncates_within_one_lsb(width, frac):
    """The root of UQ(width, 2f) read as UQ(ceil(width/2), f) is sqrt rounded down: error in [0, 1) LSB."""
    rng = np.random.default_rng(SEED)
    f = formats(width)
    n = rng.integers(0, f["radicand"].max_code + 1, 2000)
    exact = np.sqrt(dequantize(n, Fmt(width, 2 * frac, signed=False)))
    got = dequantize(isqrt(n), Fmt(f["root"].width, frac, signed=False))
    err = (exact - got) * 2.0**frac
    assert np.all(err >= -1e-9) and np.all(err < 1)


def test_manifest_states_formats_and_latency():
    d = design("isqrt", width=9)
    assert d.name == "isqrt_w9" and d.manifest["latency"] == 5
    assert d.manifest["formats"]["root"]["width"] == 5
    ports = {p["name"]: p for p in d.manifest["ports"]}
    assert ports["i__payload"]["fields"] == [{"name": "radicand", "offset": 0, "width": 9,
                                              "signed": False}]


#: (width, cocotb testcase) pairs: exhaustive at 8 (and 9: an odd width pads the radicand).
CASES = [(8, "exhaustive"), (9, "exhaustive"), (16, "random_values"), (16, "corners"),
         (32, "random_values"), (32, "corners")]


@pytest.mark.sim
@pytest.mark.parametrize("width, testcase", CASES, ids=[f"w{w}-{t}" for w, t in CASES])
@pytest.mark.parametrize("simulator", runner.SIMULATORS)
def test_rtl_matches_model(build_root, simulator, width, testcase):
    summary = simulate(build_root, "isqrt", {"width": width}, simulator, testcase,
                       random_values=RANDOM_VALUES)
    if testcase == "exhaustive":
        assert summary["results"] == 2**width

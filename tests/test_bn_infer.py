# amaranth: UnusedElaboratable=no
"""The inference-only unit: its constants equal the forward unit's inference, the model stays
within 1 LSB of float64 on every channel family, parameter checks; the RTL on both simulators
(random, full rate, corners, channels beyond C), lint, one multiplier per lane."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from l1bn.golden.bn_forward import apply_constants, forward_infer, infer_constants, lane_codes
from l1bn.golden.bn_unit import UnitConfig
from l1bn.golden.centred_scale import centred_scale
from l1bn.hdl.bn_infer import BNInfer
from l1bn.hdl.registry import resolve

from .blocksim import simulate

#: (width, frac, lanes, channels): the report's point, the narrowest, the widest, a channel
#: count that is not a power of two (indices beyond it exist), a single channel of one lane.
CONFIGS = [(16, 8, 4, 32), (4, 2, 1, 3), (32, 16, 2, 5), (8, 4, 3, 20), (16, 8, 1, 1)]
TESTCASES = ("random_stream", "full_rate", "corners", "bad_channel")


def _cfg(norm, width=16, frac=8):
    return UnitConfig(norm=norm, stats="two-pass", width=width, frac=frac, guard=8)


@settings(max_examples=3000, derandomize=True, deadline=None)
@given(norm=st.sampled_from(["l1", "l2"]), data=st.data())
def test_loaded_constants_reproduce_forward_infer(norm, data):
    """On every family of running statistics (random, sigma 0, a large mean with a tiny spread,
    the extremes of S) and any x, the lane codes through the lane (what the unit computes) give
    forward_infer's y, whose bound against float64 (<= 1 LSB) tests/test_bn_forward.py checks
    on searched channels."""
    cfg = _cfg(norm)
    d, s = cfg.data, cfg.stat
    code = st.integers(d.min_code, d.max_code)
    rm = data.draw(st.one_of(st.integers(s.min_code, s.max_code),
                             st.sampled_from([s.min_code, s.max_code, 0])))
    rs = data.draw(st.one_of(st.integers(0, s.max_code), st.integers(0, 16)))
    g, b = data.draw(code), data.draw(code)
    x = np.array(data.draw(st.lists(code, min_size=1, max_size=16)))
    full = forward_infer(cfg, x, g, b, rm, rs)
    k = infer_constants(cfg, g, b, rm, rs)
    assert k["coef"] == full["coef"]
    y, _flags = apply_constants(cfg, x, k["coef"])
    c = lane_codes(cfg, k["coef"])
    y2, _s = centred_scale(x - c["mu_f"], c["mant"], c["shift"], c["neg"], c["bias"],
                           width=16, frac=8, guard=8, mant_width=cfg.mant_width)
    assert np.array_equal(full["y"], y) and np.array_equal(y, y2)
    assert -(1 << 15) <= c["mu_f"] <= 1 << 15 and 0 <= c["shift"] < 64


@pytest.mark.parametrize("given, message", [
    ({"channels": 0}, "channels must be an integer in [1, 4096], got 0"),
    ({"channels": 5000}, "channels must be an integer in [1, 4096], got 5000"),
    ({"lanes": 0}, "lanes must be an integer in [1, 64], got 0"),
    ({"guard": 2}, "guard must be an integer in [3, 32], got 2"),
])
def test_bad_parameters(given, message):
    with pytest.raises(ValueError) as exc:
        resolve("bn_infer", **given)
    assert str(exc.value) == message


def test_ports_and_latency():
    u = BNInfer(width=16, frac=8, lanes=4, channels=32)
    assert u.LATENCY == 9
    assert len(u.coef.payload.channel) == 5 and len(u.x.payload.data) == 4
    assert u.MULTIPLIERS == {"per_lane": 2, "lanes": 4, "scalar": 0}


#: Icarus: every testcase on the report's point and on a channel count that is not a power of
#: two, the random stream (loads racing beats, gaps and backpressure) on the others; Verilator:
#: every testcase on the report's point, the random stream on the narrowest and widest.
MATRIX = [("icarus", c, t) for c in CONFIGS for t in TESTCASES
          if t == "random_stream" or c in (CONFIGS[0], CONFIGS[3])] + \
         [("verilator", c, t) for c in CONFIGS for t in TESTCASES
          if c == CONFIGS[0] or (t == "random_stream" and c in (CONFIGS[1], CONFIGS[2]))]


@pytest.mark.sim
@pytest.mark.parametrize("simulator, config, testcase", MATRIX,
                         ids=[f"{s}-" + "-".join(map(str, c)) + f"-{t}" for s, c, t in MATRIX])
def test_rtl_equals_model(tmp_path_factory, simulator, config, testcase):
    width, frac, lanes, channels = config
    params = dict(width=width, frac=frac, lanes=lanes, channels=channels,
                  guard=min(8, max(3, frac)))
    summary = simulate(tmp_path_factory.getbasetemp(), "bn_infer", params, simulator, testcase,
                       random_values=1200)
    assert summary["results"] > 0

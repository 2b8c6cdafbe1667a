"""cocotb testbench of the single-stream forward layer (:class:`l1bn.hdl.bn_layer.BNLayer`).

The host streams every channel's values once (descriptors on ``channel``, beats on ``x`` in
channel order) with random gaps, takes ``y`` and ``stats`` with random backpressure, and every
``y`` beat and ``stats`` transfer is compared, in order, with :mod:`l1bn.golden.bn_forward` (the
forward unit's model, which the layer must equal bit for bit).
"""

from collections import deque

import cocotb
import numpy as np

from l1bn.golden.bn_unit import UnitConfig

from .harness import Bench, StreamSink, StreamSource, lane_values, load_config
from .harness import field_value as _get, payload_fields as _fields
from .tb_bn_unit import _stats_check, draw
from .unitbench import pack_lanes

#: The random test the report runs as its quick check of this block.
SMOKE_TEST = "random_stream"


def _setup():
    config = load_config()
    p = config["manifest"]["parameters"]
    cfg = UnitConfig(norm=p["norm"], stats=p["stats"], width=p["width"], frac=p["frac"],
                     guard=p["guard"], max_batch=p["buffer_depth"],
                     alpha=0.9 if p["alpha"] is None else p["alpha"],
                     eps=1e-5 if p["eps"] is None else p["eps"])
    return config, p, cfg


async def run_layer(dut, name, sequences, *, p_valid=1.0, p_ready=1.0):
    """Stream ``sequences`` (lists of channels of one mode) and check every output."""
    config, p, _cfg = _setup()
    P, W = p["lanes"], p["width"]
    bench = Bench(dut, config, name)
    man = config["manifest"]
    yf, sf = _fields(man, "y__payload"), _fields(man, "stats__payload")
    chan = StreamSource(bench.ports, "channel", bench.rng, p_valid)
    src = StreamSource(bench.ports, "x", bench.rng, p_valid)
    ysink = StreamSink(bench.ports, "y", bench.rng, p_ready)
    ssink = StreamSink(bench.ports, "stats", bench.rng, p_ready)
    exp_y, exp_s = deque(), deque()
    for seq in sequences:
        for ci, ch in enumerate(seq):
            chan.push(dict(ch.descriptor(), last=int(ci == len(seq) - 1)))
            nb = -(-ch.m // P)
            for b in range(nb):
                vals = ch.x[b * P:(b + 1) * P]
                src.push({"data": pack_lanes(vals, W, P, bench.rng, 0, 0),
                          "last": int(b == nb - 1)})
                ys = [int(v) for v in ch.gold["y"][b * P:(b + 1) * P]]
                exp_y.append((ys + [0] * (P - len(ys)), int(b == nb - 1)))
            if ch.side:
                exp_s.append(ch)
    await bench.reset({"channel__valid": 0, "channel__payload": 0, "x__valid": 0,
                       "x__payload": 0, "y__ready": 0, "stats__ready": 0})
    state = {"mism": 0, "y": 0, "stats": 0}

    def bad(cycle, what):
        state["mism"] += 1
        if state["mism"] <= 10:
            bench.log.error("cycle %d: %s", cycle, what)

    def on_sample(cycle):
        _v, payload, taken = ysink.sample()
        if taken:
            want = exp_y.popleft() if exp_y else None
            got = (lane_values(payload, yf["data"], W, P), _get(payload, yf["last"]))
            if want is None or got != want:
                bad(cycle, f"y beat {state['y']}: got {got}, expected {want}")
            state["y"] += 1
        _v, spayload, staken = ssink.sample()
        if staken:
            if not exp_s:
                bad(cycle, "unexpected stats transfer")
            else:
                got, want = _stats_check(exp_s.popleft(), spayload, sf)
                if got != want:
                    bad(cycle, f"stats {state['stats']}: got {got}, expected {want}")
            state["stats"] += 1
        src.sample()
        chan.sample()

    n = sum(ch.m for seq in sequences for ch in seq)
    budget = int((3 * n / P + 700 * sum(map(len, sequences))) / min(p_valid, p_ready)) + 500
    await bench.run([chan, src, ysink, ssink], on_sample,
                    lambda: not exp_y and not exp_s and src.idle and chan.idle, budget)
    if int(dut.err.value):
        bad(bench.cycle, "err set")
    bench.record(cycles=bench.cycle, mismatches=state["mism"], y_beats=state["y"],
                 stats=state["stats"], values=n)
    assert state["mism"] == 0, f"{state['mism']} mismatches (seed {bench.seed})"


def _rng(name):
    config = load_config()
    return np.random.default_rng([int(config["seed"]), sum(map(ord, name))])


def _channels(cfg, rng, n, mode, top):
    kinds = ("gauss", "two_level", "narrow", "relu", "const", "sparse", "spiky")
    sizes = [1, top, 2] + [int(v) for v in rng.integers(1, top + 1, max(0, n - 3))]
    return [draw(cfg, rng, sizes[i], kinds[i % len(kinds)], mode) for i in range(n)]


@cocotb.test()
async def random_stream(dut):
    """Training sequences (1, the buffer's size and random sizes) and an inference sequence,
    random gaps and backpressure."""
    _c, p, cfg = _setup()
    rng = _rng("random_stream")
    top = p["buffer_depth"]
    await run_layer(dut, "random_stream",
                    [_channels(cfg, rng, 5, "train", top), _channels(cfg, rng, 3, "infer", top),
                     _channels(cfg, rng, 1, "train", top)], p_valid=0.8, p_ready=0.8)


@cocotb.test()
async def full_rate(dut):
    """Inputs always valid, outputs always ready: the layer never stalls itself."""
    _c, p, cfg = _setup()
    rng = _rng("full_rate")
    await run_layer(dut, "full_rate", [_channels(cfg, rng, 6, "train", p["buffer_depth"])])

"""cocotb testbench of the complete BN unit (:class:`hdl.bn_unit.BNUnit`), forward train / infer.

Each test streams channels (every pass the schedule needs), compares every ``y`` beat and every
``stats`` transfer with :mod:`golden.bn_unit` (in order, all lanes, lanes beyond m must be 0),
and, at full rate (``x`` always valid, outputs always ready), asserts that every pass and every
gap takes the cycles of :func:`hdl.bn_unit.pass_schedule` and that each ``y`` beat leaves
``y_latency`` cycles after its ``x`` beat. Records checked cycles and mismatches.
"""

import math
from collections import deque

import cocotb
import numpy as np

from golden import fixed
from golden.bn_unit import UnitConfig, forward_infer, forward_train
from hdl.bn_unit import latency_formulas, pass_schedule

from .harness import Bench, StreamSink, StreamSource, lane_values, load_config
from .harness import field_value as _get, payload_fields as _fields

#: The random test the report could run as its quick check of this unit.
SMOKE_TEST = "stalls"


def _setup():
    config = load_config()
    man = config["manifest"]
    p = man["parameters"]
    cfg = UnitConfig(norm=p["norm"], stats=p["stats"], width=p["width"], frac=p["frac"],
                     guard=p["guard"], max_batch=p["max_batch"],
                     alpha=0.9 if p["alpha"] is None else p["alpha"],
                     eps=1e-5 if p["eps"] is None else p["eps"])
    return config, man, p, cfg


class Channel:
    """One channel: mode, codes and the golden results."""

    def __init__(self, cfg, mode, x, gamma, beta, rm, rs):
        self.mode, self.x = mode, [int(v) for v in x]
        self.gamma, self.beta, self.rm, self.rs = int(gamma), int(beta), int(rm), int(rs)
        f = forward_train if mode == "train" else forward_infer
        self.gold = f(cfg, np.array(self.x, dtype=np.int64), self.gamma, self.beta, self.rm,
                      self.rs)

    @property
    def m(self):
        return len(self.x)


def draw(cfg, rng, m, kind, mode="train", gamma=None, beta=None):
    """A channel of ``kind`` in gauss, relu, skew, const, extreme, spiky."""
    data, stat = cfg.data, cfg.stat
    w, f = cfg.width, cfg.frac
    top = data.max_value
    scale = 2.0 ** rng.uniform(-f + 2, w - f - 3)
    loc = rng.uniform(-0.25, 0.25) * top
    z = rng.standard_normal(m)
    if kind == "gauss":
        v = loc + scale * z
    elif kind == "relu":
        v = np.maximum(0.0, scale * (z + rng.uniform(-1, 1)))
    elif kind == "skew":
        v = loc + scale * (rng.exponential(1.0, m) - 1.0)
    elif kind == "const":
        v = np.full(m, loc)
    elif kind == "extreme":
        v = rng.choice([data.min_value, data.max_value], m)
    elif kind == "spiky":        # nearly constant with one outlier: tiny sigma, large gain
        v = np.full(m, loc)
        v[rng.integers(m)] += 2.0 ** -f * 3
    else:
        raise ValueError(kind)
    x, _ = fixed.quantize(v, data)
    if gamma is None:
        gamma = int(fixed.quantize(rng.uniform(-2, 2), data)[0])
    if beta is None:
        beta = int(fixed.quantize(rng.uniform(-1, 1), data)[0])
    rm = int(fixed.quantize(rng.uniform(-0.5, 0.5) * top, stat)[0])
    rs = int(fixed.quantize(abs(rng.normal(0, 1)) * 2.0 ** rng.uniform(-3, 3), stat)[0])
    return Channel(cfg, mode, x, gamma, beta, rm, rs)


async def run_channels(dut, name, channels, *, p_valid=1.0, p_ready=1.0, p_stats=1.0,
                       bad_last=False):
    """Stream ``channels`` and check everything; ``bad_last`` inverts ``last`` on every beat of
    channel 0's first pass (the unit must count with m and raise ``err``)."""
    config, man, p, cfg = _setup()
    P, W = p["lanes"], p["width"]
    bench = Bench(dut, config, name)
    xf, yf, sf = _fields(man, "x__payload"), _fields(man, "y__payload"), \
        _fields(man, "stats__payload")
    src = StreamSource(bench.ports, "x", bench.rng, p_valid)
    ysink = StreamSink(bench.ports, "y", bench.rng, p_ready)
    ssink = StreamSink(bench.ports, "stats", bench.rng, p_stats)
    exp_y, exp_stats = deque(), deque()
    beats = []                       # (channel index, pass index, beat index) per x beat, in order
    mask = (1 << W) - 1
    for ci, ch in enumerate(channels):
        side = {"mode": int(ch.mode == "infer"), "m": ch.m, "gamma": ch.gamma, "beta": ch.beta,
                "running_mean": ch.rm, "running_sigma": ch.rs}
        passes = 1 if ch.mode == "infer" else (2 if cfg.stats == "one-pass" else 3)
        nb = -(-ch.m // P)
        for pi in range(passes):
            for b in range(nb):
                lanes = ch.x[b * P:(b + 1) * P]
                junk = [bench.rng.randint(cfg.data.min_code, cfg.data.max_code)
                        for _ in range(P - len(lanes))]
                packed = 0
                for i, v in enumerate(lanes + junk):
                    packed |= (v & mask) << (i * W)
                last = int(b == nb - 1) ^ int(bad_last and ci == 0 and pi == 0)
                src.push({"data": packed, "last": last},
                         side if (pi == 0 and b == 0) else None)
                beats.append((ci, pi, b))
        y = [int(v) for v in ch.gold["y"]]
        n_sat = ch.gold["sat"]["y"]
        for b in range(nb):
            lanes = y[b * P:(b + 1) * P]
            exp_y.append((ci, b, lanes + [0] * (P - len(lanes)), b == nb - 1))
        if ch.mode == "train":
            g = ch.gold
            exp_stats.append((ci, {"mean": g["mean"], "sigma": g["sigma"],
                                   "running_mean": g["running_mean"],
                                   "running_sigma": g["running_sigma"],
                                   "sat": g["sat"]}))
        ch.n_sat_y = n_sat
    await bench.reset({"x__valid": 0, "x__payload": 0, "y__ready": 0, "stats__ready": 0,
                       "mode": 0, "m": 1, "gamma": 0, "beta": 0, "running_mean": 0,
                       "running_sigma": 0})
    state = {"mism": 0, "checked": 0, "beat": 0, "y": 0, "stats": 0, "sat_y": {}}
    x_cycles, y_cycles = [], []

    def bad(cycle, what):
        state["mism"] += 1
        if state["mism"] <= 10:
            bench.log.error("cycle %d: %s", cycle, what)

    def on_sample(cycle):
        state["checked"] += 1
        valid, payload, taken = ysink.sample()
        if taken:
            if not exp_y:
                bad(cycle, f"unexpected y beat {payload:#x}")
            else:
                ci, b, lanes, last = exp_y.popleft()
                got = lane_values(payload, yf["data"], W, P)
                sat = _get(payload, yf["sat"])
                glast = _get(payload, yf["last"])
                state["sat_y"][ci] = state["sat_y"].get(ci, 0) + bin(sat).count("1")
                if got != lanes or glast != int(last):
                    bad(cycle, f"channel {ci} y beat {b}: got {got} last {glast}, "
                               f"expected {lanes} last {int(last)}")
                y_cycles.append(cycle)
                state["y"] += 1
        svalid, spayload, staken = ssink.sample()
        if staken:
            if not exp_stats:
                bad(cycle, "unexpected stats transfer")
            else:
                ci, want = exp_stats.popleft()
                got = {k: _get(spayload, sf[k], True) for k in
                       ("mean", "sigma", "running_mean", "running_sigma")}
                sat = _get(spayload, sf["sat"])
                off = {name: i for i, name in enumerate(("sigma", "s", "a", "b", "running"))}
                gsat = {k: (sat >> i) & 1 for k, i in off.items()}
                wsat = {k: int(want["sat"][k]) for k in off}
                wvals = {k: int(want[k]) for k in got}
                if got != wvals or gsat != wsat:
                    bad(cycle, f"channel {ci} stats: got {got} {gsat}, expected {wvals} {wsat}")
                state["stats"] += 1
        item, ready = src.sample()
        if item is not None:
            x_cycles.append(cycle)
            state["beat"] += 1

    def done():
        return src.idle and not exp_y and not exp_stats

    total = len(beats)
    budget = int((total + 400 * len(channels)) / min(p_valid, p_ready, p_stats) * 3) + 500
    await bench.run([src, ysink, ssink], on_sample, done, budget)
    # A few more cycles: nothing else may come out.
    from cocotb.triggers import FallingEdge, ReadOnly
    for _ in range(8):
        await FallingEdge(dut.clk)
        ysink.drive()
        ssink.drive()
        await ReadOnly()
        state["checked"] += 1
        if bench.ports.read("y__valid") or bench.ports.read("stats__valid"):
            bad(bench.cycle, "output valid after the last expected transfer")
        bench.cycle += 1
    if int(dut.err.value) != int(bad_last):
        bad(bench.cycle, f"err = {int(dut.err.value)}, expected {int(bad_last)}")
    for ci, ch in enumerate(channels):
        if state["sat_y"].get(ci, 0) != ch.n_sat_y:
            bad(-1, f"channel {ci}: {state['sat_y'].get(ci, 0)} saturated y lanes, "
                    f"model {ch.n_sat_y}")
    figures = {}
    if p_valid == 1.0 and p_ready == 1.0 and p_stats == 1.0:
        figures = _check_schedule(bench, p, channels, beats, x_cycles, y_cycles, bad)
    bench.record(cycles=state["checked"], mismatches=state["mism"], y_beats=state["y"],
                 stats=state["stats"], values=sum(ch.m for ch in channels),
                 saturated_y=sum(state["sat_y"].values()),
                 saturated_stats=sum(int(ch.gold["n_sat"]) - ch.n_sat_y for ch in channels),
                 **figures)
    assert state["mism"] == 0, f"{state['mism']} mismatches (seed {bench.seed})"
    return figures


def _check_schedule(bench, p, channels, beats, x_cycles, y_cycles, bad):
    """Full rate: passes and gaps take exactly the formula's cycles; y leaves y_latency later."""
    lat = latency_formulas(**p)
    first, last = {}, {}
    for (ci, pi, _b), c in zip(beats, x_cycles):
        first.setdefault((ci, pi), c)
        last[(ci, pi)] = c
    measured = {}
    prev_end = -1     # the cycle before channel 0's first beat is presented is -1 (sample 0)
    for ci, ch in enumerate(channels):
        sched = pass_schedule(ch.m, ch.mode, **p)
        pi, t = 0, prev_end
        for kind, cycles in sched:
            if kind == "pass":
                got = last[(ci, pi)] - first[(ci, pi)] + 1
                gap_before = first[(ci, pi)] - t - 1
                if got != cycles:
                    bad(-1, f"channel {ci} pass {pi}: {got} cycles, formula {cycles}")
                if t is not None and pi == 0 and ch.mode == "train" and ci > 0 \
                        and gap_before != 0:
                    bad(-1, f"channel {ci}: {gap_before} cycles after the previous channel")
                measured.setdefault(f"pass_m{ch.m}", got)
                t = last[(ci, pi)]
                pi += 1
            else:
                nxt = first[(ci, pi)]
                got = nxt - t - 1
                if ci == 0 and kind == "gap_infer":
                    got = nxt           # from sample 0, when the first beat is presented
                if got != cycles:
                    bad(-1, f"channel {ci} {kind}: {got} cycles, formula {cycles}")
                measured[kind] = got
        prev_end = t
    # y beats in order: each leaves y_latency cycles after its normalize-pass x beat.
    norm_x = [c for (ci, pi, _b), c in zip(beats, x_cycles)
              if pi == (0 if channels[ci].mode == "infer"
                        else (1 if p["stats"] == "one-pass" else 2))]
    lags = {y - x for x, y in zip(norm_x, y_cycles)}
    if lags != {lat["y_latency"]} or len(norm_x) != len(y_cycles):
        bad(-1, f"y latency {sorted(lags)}, formula {lat['y_latency']}")
    measured["y_latency"] = sorted(lags)
    return {"measured": measured}


def _rng(name):
    config = load_config()
    return np.random.default_rng([int(config["seed"]), sum(map(ord, name))])


@cocotb.test()
async def sizes(dut):
    """m in {1, 2, 7, 64, 1000} (most not multiples of P), train then infer, full rate."""
    _c, _m, p, cfg = _setup()
    rng = _rng("sizes")
    kinds = ("gauss", "relu", "skew", "gauss", "relu")
    chans = []
    for m, k in zip((1, 2, 7, 64, 1000), kinds):
        if m > cfg.max_batch:
            continue
        chans.append(draw(cfg, rng, m, k, "train"))
        chans.append(draw(cfg, rng, m, k, "infer"))
    await run_channels(dut, "sizes", chans)


@cocotb.test()
async def shapes(dut):
    """Gaussian, ReLU-shaped, skewed and constant channels, negative gamma, back to back."""
    _c, _m, p, cfg = _setup()
    rng = _rng("shapes")
    chans = []
    for i, k in enumerate(("gauss", "relu", "skew", "const", "gauss", "relu", "skew", "const")):
        m = int(rng.choice([3, 5, 9, 33, 100]))
        g = -int(fixed.quantize(rng.uniform(0.1, 2), cfg.data)[0]) if i % 2 else None
        chans.append(draw(cfg, rng, m, k, "train", gamma=g))
    await run_channels(dut, "shapes", chans)


@cocotb.test()
async def saturation(dut):
    """Saturating y (tiny sigma with large gamma, extreme codes), constant channels (eps path)."""
    _c, _m, p, cfg = _setup()
    rng = _rng("saturation")
    big, small = cfg.data.max_code, cfg.data.min_code
    chans = [
        draw(cfg, rng, 16, "spiky", "train", gamma=big, beta=big),
        draw(cfg, rng, 9, "spiky", "train", gamma=small, beta=small),
        draw(cfg, rng, 13, "extreme", "train", gamma=big, beta=0),
        draw(cfg, rng, 6, "const", "train", gamma=big, beta=small),
        draw(cfg, rng, 5, "const", "train", gamma=0, beta=big),
        draw(cfg, rng, 7, "extreme", "infer", gamma=big, beta=big),
        Channel(cfg, "infer", [small, big, 0, 1, -1], big, small, 0, 0),
        Channel(cfg, "train", [small] * 5, small, big, cfg.stat.max_code, cfg.stat.max_code),
    ]
    await run_channels(dut, "saturation", chans)


@cocotb.test()
async def stalls(dut):
    """Random input gaps and output backpressure, mixed train / infer channels of various m."""
    _c, _m, p, cfg = _setup()
    rng = _rng("stalls")
    chans = []
    for i in range(10):
        m = int(rng.choice([1, 2, 3, 7, 8, 17, 64, 150]))
        k = ("gauss", "relu", "skew", "const", "extreme")[i % 5]
        chans.append(draw(cfg, rng, m, k, "infer" if i % 3 == 2 else "train"))
    await run_channels(dut, "stalls", chans, p_valid=0.7, p_ready=0.6, p_stats=0.3)


@cocotb.test()
async def back_to_back(dut):
    """Several channels with different m back to back at full rate (train and infer)."""
    _c, _m, p, cfg = _setup()
    rng = _rng("back_to_back")
    chans = []
    for i, m in enumerate((5, 1, 12, 4, 2, 31, 8, 3)):
        chans.append(draw(cfg, rng, m, ("gauss", "skew", "relu")[i % 3],
                          "infer" if i in (3, 4) else "train"))
    await run_channels(dut, "back_to_back", chans)


@cocotb.test()
async def bad_last(dut):
    """``last`` wrong on every beat of one pass: the unit counts with m and sets ``err``."""
    _c, _m, p, cfg = _setup()
    rng = _rng("bad_last")
    chans = [draw(cfg, rng, 11, "gauss", "train"), draw(cfg, rng, 6, "relu", "infer"),
             draw(cfg, rng, 9, "skew", "train")]
    await run_channels(dut, "bad_last", chans, bad_last=True)

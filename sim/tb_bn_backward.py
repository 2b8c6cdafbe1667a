"""cocotb testbench of the backward BN unit (:class:`hdl.bn_backward.BNBackward`).

Each test streams channels (pass 1 and pass 2 of (x, dy)), compares every ``dx`` beat and every
``grads`` transfer with :func:`golden.bn_unit.backward` (in order, all lanes, lanes beyond m must
be 0, saturation flags), and, at full rate, asserts that every pass and gap takes the cycles of
:func:`hdl.bn_backward.pass_schedule` and that dx beats leave ``dx_latency`` cycles after their
x beats. Records checked cycles and mismatches.
"""

from collections import deque

import cocotb
import numpy as np

from golden import fixed
from golden.bn_unit import UnitConfig, backward, batch_stats
from hdl.bn_backward import latency_formulas, pass_schedule

from .harness import Bench, StreamSink, StreamSource, lane_values, load_config
from .harness import field_value as _get, payload_fields as _fields

SMOKE_TEST = "stalls"


def _setup():
    config = load_config()
    man = config["manifest"]
    p = man["parameters"]
    cfg = UnitConfig(norm=p["norm"], stats="two-pass", width=p["width"], frac=p["frac"],
                     guard=p["guard"], max_batch=p["max_batch"],
                     eps=1e-5 if p["eps"] is None else p["eps"])
    return config, man, p, cfg


class Channel:
    def __init__(self, cfg, x, dy, gamma, mean=None, sigma=None):
        self.x, self.dy = [int(v) for v in x], [int(v) for v in dy]
        self.gamma = int(gamma)
        if mean is None or sigma is None:
            st = batch_stats(cfg, np.array(self.x, dtype=np.int64))
            mean = st["mean"] if mean is None else mean
            sigma = st["sigma"] if sigma is None else sigma
        self.mean, self.sigma = int(mean), int(sigma)
        self.gold = backward(cfg, np.array(self.x, dtype=np.int64),
                             np.array(self.dy, dtype=np.int64), self.gamma, self.mean, self.sigma)

    @property
    def m(self):
        return len(self.x)


def draw(cfg, rng, m, kind, gamma=None, dscale=None):
    data = cfg.data
    w, f = cfg.width, cfg.frac
    top = data.max_value
    scale = 2.0 ** rng.uniform(-f + 2, w - f - 3)
    loc = rng.uniform(-0.25, 0.25) * top
    z = rng.standard_normal(m)
    if kind == "gauss":
        v = loc + scale * z
    elif kind == "relu":
        v = np.maximum(0.0, scale * (z + rng.uniform(-1, 1)))
    elif kind == "const":
        v = np.full(m, loc)
    elif kind == "extreme":
        v = rng.choice([data.min_value, data.max_value], m)
    elif kind == "spiky":
        v = np.full(m, loc)
        v[rng.integers(m)] += 2.0 ** -f * 3
    else:
        raise ValueError(kind)
    x, _ = fixed.quantize(v, data)
    ds = 2.0 ** rng.uniform(-f + 2, w - f - 3) if dscale is None else dscale
    dy, _ = fixed.quantize(rng.standard_normal(m) * ds + rng.uniform(-0.1, 0.1) * ds, data)
    if gamma is None:
        gamma = int(fixed.quantize(rng.uniform(-2, 2), data)[0])
    return Channel(cfg, x, dy, gamma)


async def run_channels(dut, name, channels, *, p_valid=1.0, p_ready=1.0, p_grads=1.0):
    config, man, p, cfg = _setup()
    P, W = p["lanes"], p["width"]
    bench = Bench(dut, config, name)
    yf, gf = _fields(man, "dx__payload"), _fields(man, "grads__payload")
    src = StreamSource(bench.ports, "x", bench.rng, p_valid)
    ysink = StreamSink(bench.ports, "dx", bench.rng, p_ready)
    gsink = StreamSink(bench.ports, "grads", bench.rng, p_grads)
    exp_y, exp_g = deque(), deque()
    beats = []
    mask = (1 << W) - 1
    satnames = ("s", "a", "dgamma", "D" if cfg.norm == "l1" else "B", "E")
    for ci, ch in enumerate(channels):
        side = {"m": ch.m, "gamma": ch.gamma, "mean": ch.mean, "sigma": ch.sigma}
        nb = -(-ch.m // P)
        for pi in range(2):
            for b in range(nb):
                px = pdy = 0
                xs, dys = ch.x[b * P:(b + 1) * P], ch.dy[b * P:(b + 1) * P]
                for i in range(P):
                    vx = xs[i] if i < len(xs) else bench.rng.randint(cfg.data.min_code,
                                                                     cfg.data.max_code)
                    vd = dys[i] if i < len(dys) else bench.rng.randint(cfg.data.min_code,
                                                                       cfg.data.max_code)
                    px |= (vx & mask) << (i * W)
                    pdy |= (vd & mask) << (i * W)
                src.push({"x": px, "dy": pdy, "last": int(b == nb - 1)},
                         side if (pi == 0 and b == 0) else None)
                beats.append((ci, pi, b))
        dx = [int(v) for v in ch.gold["dx"]]
        for b in range(nb):
            lanes = dx[b * P:(b + 1) * P]
            exp_y.append((ci, b, lanes + [0] * (P - len(lanes)), b == nb - 1))
        g = ch.gold
        exp_g.append((ci, int(g["dgamma"]), int(g["dbeta"]),
                      {k: int(g["sat"][k]) for k in satnames}))
    await bench.reset({"x__valid": 0, "x__payload": 0, "dx__ready": 0, "grads__ready": 0,
                       "m": 1, "gamma": 0, "mean": 0, "sigma": 0})
    state = {"mism": 0, "checked": 0, "dx": 0, "grads": 0, "sat_dx": {}}
    x_cycles, y_cycles = [], []

    def bad(cycle, what):
        state["mism"] += 1
        if state["mism"] <= 10:
            bench.log.error("cycle %d: %s", cycle, what)

    def on_sample(cycle):
        state["checked"] += 1
        _v, payload, taken = ysink.sample()
        if taken:
            if not exp_y:
                bad(cycle, f"unexpected dx beat {payload:#x}")
            else:
                ci, b, lanes, last = exp_y.popleft()
                got = lane_values(payload, yf["data"], W, P)
                sat = _get(payload, yf["sat"])
                glast = _get(payload, yf["last"])
                state["sat_dx"][ci] = state["sat_dx"].get(ci, 0) + bin(sat).count("1")
                if got != lanes or glast != int(last):
                    bad(cycle, f"channel {ci} dx beat {b}: got {got} last {glast}, "
                               f"expected {lanes} last {int(last)}")
                y_cycles.append(cycle)
                state["dx"] += 1
        _gv, gp, gtaken = gsink.sample()
        if gtaken:
            if not exp_g:
                bad(cycle, "unexpected grads transfer")
            else:
                ci, dg, db, wsat = exp_g.popleft()
                got = (_get(gp, gf["dgamma"], True), _get(gp, gf["dbeta"], True))
                sat = _get(gp, gf["sat"])
                gsat = {k: (sat >> i) & 1 for i, k in enumerate(satnames)}
                if got != (dg, db) or gsat != wsat:
                    bad(cycle, f"channel {ci} grads: got {got} {gsat}, expected "
                               f"{(dg, db)} {wsat}")
                state["grads"] += 1
        item, _ready = src.sample()
        if item is not None:
            x_cycles.append(cycle)

    def done():
        return src.idle and not exp_y and not exp_g

    total = len(beats)
    budget = int((total + 600 * len(channels)) / min(p_valid, p_ready, p_grads) * 3) + 500
    await bench.run([src, ysink, gsink], on_sample, done, budget)
    from cocotb.triggers import FallingEdge, ReadOnly
    for _ in range(8):
        await FallingEdge(dut.clk)
        ysink.drive()
        gsink.drive()
        await ReadOnly()
        state["checked"] += 1
        if bench.ports.read("dx__valid") or bench.ports.read("grads__valid"):
            bad(bench.cycle, "output valid after the last expected transfer")
        bench.cycle += 1
    if int(dut.err.value) != 0:
        bad(bench.cycle, "err set")
    for ci, ch in enumerate(channels):
        if state["sat_dx"].get(ci, 0) != ch.gold["sat"]["dx"]:
            bad(-1, f"channel {ci}: {state['sat_dx'].get(ci, 0)} saturated dx lanes, "
                    f"model {ch.gold['sat']['dx']}")
    if exp_y or exp_g:
        bad(-1, f"{len(exp_y)} dx beats and {len(exp_g)} grads never came")
    figures = {}
    if p_valid == 1.0 and p_ready == 1.0 and p_grads == 1.0:
        figures = _check_schedule(p, channels, beats, x_cycles, y_cycles, bad)
    bench.record(cycles=state["checked"], mismatches=state["mism"], dx_beats=state["dx"],
                 grads=state["grads"], values=sum(ch.m for ch in channels),
                 saturated_dx=sum(state["sat_dx"].values()),
                 saturated_grads={k: sum(int(ch.gold["sat"][k]) for ch in channels)
                                  for k in satnames}, **figures)
    assert state["mism"] == 0, f"{state['mism']} mismatches (seed {bench.seed})"
    return figures


def _check_schedule(p, channels, beats, x_cycles, y_cycles, bad):
    lat = latency_formulas(**p)
    first, last = {}, {}
    for (ci, pi, _b), c in zip(beats, x_cycles):
        first.setdefault((ci, pi), c)
        last[(ci, pi)] = c
    measured = {}
    prev_end = None
    for ci, ch in enumerate(channels):
        sched = pass_schedule(ch.m, **p)
        pi, t = 0, prev_end
        for kind, cycles in sched:
            if kind == "pass":
                got = last[(ci, pi)] - first[(ci, pi)] + 1
                if got != cycles:
                    bad(-1, f"channel {ci} pass {pi}: {got} cycles, formula {cycles}")
                if pi == 0 and t is not None and first[(ci, 0)] - t - 1 != 0:
                    bad(-1, f"channel {ci}: {first[(ci, 0)] - t - 1} cycles after the previous")
                measured.setdefault(f"pass_m{ch.m}", got)
                t = last[(ci, pi)]
                pi += 1
            else:
                got = first[(ci, pi)] - t - 1
                if got != cycles:
                    bad(-1, f"channel {ci} {kind}: {got} cycles, formula {cycles}")
                measured[kind] = got
        prev_end = t
    p2 = [c for (ci, pi, _b), c in zip(beats, x_cycles) if pi == 1]
    lags = {y - x for x, y in zip(p2, y_cycles)}
    if lags != {lat["dx_latency"]} or len(p2) != len(y_cycles):
        bad(-1, f"dx latency {sorted(lags)}, formula {lat['dx_latency']}")
    measured["dx_latency"] = sorted(lags)
    return {"measured": measured}


def _rng(name):
    config = load_config()
    return np.random.default_rng([int(config["seed"]), sum(map(ord, name))])


@cocotb.test()
async def sizes(dut):
    """m in {1, 2, 7, 64, 1000}, full rate, back to back."""
    _c, _m, p, cfg = _setup()
    rng = _rng("sizes")
    chans = [draw(cfg, rng, m, k) for m, k in
             zip((1, 2, 7, 64, 1000), ("gauss", "relu", "gauss", "relu", "gauss"))
             if m <= cfg.max_batch]
    await run_channels(dut, "sizes", chans)


@cocotb.test()
async def shapes(dut):
    """Gaussian, ReLU and constant channels, negative gamma, full rate."""
    _c, _m, p, cfg = _setup()
    rng = _rng("shapes")
    chans = []
    for i, k in enumerate(("gauss", "relu", "const", "gauss", "relu", "const")):
        m = int(rng.choice([3, 5, 9, 33, 100]))
        g = -int(fixed.quantize(rng.uniform(0.1, 2), cfg.data)[0]) if i % 2 else None
        chans.append(draw(cfg, rng, m, k, gamma=g))
    await run_channels(dut, "shapes", chans)


@cocotb.test()
async def saturation(dut):
    """Saturating dx (tiny sigma, extreme gamma and dy), sigma 0, constants."""
    _c, _m, p, cfg = _setup()
    rng = _rng("saturation")
    big, small = cfg.data.max_code, cfg.data.min_code
    top = cfg.data.max_value
    chans = [
        draw(cfg, rng, 16, "spiky", gamma=big, dscale=top / 2),
        draw(cfg, rng, 9, "spiky", gamma=small, dscale=top / 4),
        draw(cfg, rng, 13, "extreme", gamma=big, dscale=top),
        draw(cfg, rng, 6, "const", gamma=big),
        Channel(cfg, [small, big, 0, 1, -1], [big, small, big, small, 0], big, 0, 0),
        Channel(cfg, [small] * 5, [big] * 5, small, cfg.stat.max_code, cfg.stat.max_code),
    ]
    await run_channels(dut, "saturation", chans)


@cocotb.test()
async def stalls(dut):
    """Random input gaps, dx backpressure and grads backpressure."""
    _c, _m, p, cfg = _setup()
    rng = _rng("stalls")
    chans = []
    for i in range(8):
        m = int(rng.choice([1, 2, 3, 7, 8, 17, 64]))
        chans.append(draw(cfg, rng, m, ("gauss", "relu", "const", "extreme")[i % 4]))
    await run_channels(dut, "stalls", chans, p_valid=0.7, p_ready=0.6, p_grads=0.3)


@cocotb.test()
async def back_to_back(dut):
    """Several channels of different m back to back at full rate."""
    _c, _m, p, cfg = _setup()
    rng = _rng("back_to_back")
    chans = [draw(cfg, rng, m, ("gauss", "relu")[i % 2]) for i, m in
             enumerate((5, 1, 12, 4, 2, 31, 8, 3))]
    await run_channels(dut, "back_to_back", chans)

"""cocotb testbench of the complete BN unit (:class:`hdl.bn_unit.BNUnit`), forward train / infer.

Each test streams sequences of channels (descriptors on ``channel``, beats on ``x`` in the order
of :func:`hdl.bn_unit.slot_order`), compares every ``y`` beat and every ``stats`` transfer with
:mod:`golden.bn_unit` (in order, all lanes, lanes beyond m must be 0), and, at full rate (inputs
always valid, outputs always ready, each sequence drained before the next), asserts that every
pass starts and ends in the cycle :func:`hdl.bn_unit.sequence_cycles` gives and that the last
``y`` beat leaves at its ``total``. Records checked cycles and mismatches.
"""

from collections import deque

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly

from golden import fixed
from golden.bn_unit import UnitConfig, forward_infer, forward_train
from hdl.bn_unit import latency_formulas, sequence_cycles

from .harness import Bench, StreamSink, StreamSource, lane_values, load_config
from .harness import field_value as _get, payload_fields as _fields
from .unitbench import UnitStimulus, check_schedule, pack_lanes

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
    """One channel: mode, codes, the golden results, and its descriptor and beats."""

    lanes, rng = 1, None            # set by run_sequences (P, the bench's random source)

    def __init__(self, cfg, mode, x, gamma, beta, rm, rs):
        self.cfg = cfg
        self.mode, self.x = mode, [int(v) for v in x]
        self.single = mode == "infer"
        self.gamma, self.beta, self.rm, self.rs = int(gamma), int(beta), int(rm), int(rs)
        f = forward_train if mode == "train" else forward_infer
        self.gold = f(cfg, np.array(self.x, dtype=np.int64), self.gamma, self.beta, self.rm,
                      self.rs)

    @property
    def m(self):
        return len(self.x)

    def descriptor(self):
        return {"mode": int(self.single), "m": self.m, "gamma": self.gamma, "beta": self.beta,
                "running_mean": self.rm, "running_sigma": self.rs}

    def beat(self, kind, b):
        P, data = self.lanes, self.cfg.data
        return {"data": pack_lanes(self.x[b * P:(b + 1) * P], self.cfg.width, P, self.rng,
                                   data.min_code, data.max_code)}


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


def _sequences(channels, max_len=None):
    """Split ``channels`` into sequences: runs of one mode, at most ``max_len`` channels."""
    out = []
    for ch in channels:
        if out and out[-1][-1].mode == ch.mode and (max_len is None or len(out[-1]) < max_len):
            out[-1].append(ch)
        else:
            out.append([ch])
    return out


async def run_sequences(dut, name, sequences, *, p_valid=1.0, p_ready=1.0, p_stats=1.0,
                        p_chan=1.0, bad_last=False):
    """Stream ``sequences`` (lists of :class:`Channel`) and check everything.

    At full rate each sequence is drained before the next starts and its schedule is checked;
    otherwise all sequences are streamed back to back. ``bad_last`` inverts ``last`` on every
    beat of the first channel's first pass (the unit must count with m and raise ``err``).
    """
    config, man, p, cfg = _setup()
    P, W = p["lanes"], p["width"]
    bench = Bench(dut, config, name)
    full = min(p_valid, p_ready, p_stats, p_chan) == 1.0
    for ch in (c for seq in sequences for c in seq):
        ch.lanes, ch.rng = P, bench.rng
    stim = UnitStimulus(sequences, passes=2 if cfg.stats == "one-pass" else 3, lanes=P,
                        bad_last=bad_last)
    channels = stim.channels
    yf, sf = _fields(man, "y__payload"), _fields(man, "stats__payload")
    src = StreamSource(bench.ports, "x", bench.rng, p_valid)
    chan = StreamSource(bench.ports, "channel", bench.rng, p_chan)
    ysink = StreamSink(bench.ports, "y", bench.rng, p_ready)
    ssink = StreamSink(bench.ports, "stats", bench.rng, p_stats)
    seq_of = [si for si, seq in enumerate(sequences) for _ in seq]
    exp_y, exp_stats = deque(), deque()
    for ci, ch in enumerate(channels):
        y = [int(v) for v in ch.gold["y"]]
        nb = -(-ch.m // P)
        for b in range(nb):
            lanes = y[b * P:(b + 1) * P]
            exp_y.append((ci, b, lanes + [0] * (P - len(lanes)), b == nb - 1))
        if ch.mode == "train":
            exp_stats.append((ci, ch.gold))
    await bench.reset({"x__valid": 0, "x__payload": 0, "channel__valid": 0,
                       "channel__payload": 0, "y__ready": 0, "stats__ready": 0})
    state = {"mism": 0, "checked": 0, "y": 0, "stats": 0, "sat_y": {}}
    tags, x_cycles, chan_cycles = [], [], []
    out_cycles = [[] for _ in sequences]
    pending_tags = deque(tag for _f, tag in stim.beats)

    def bad(cycle, what):
        state["mism"] += 1
        if state["mism"] <= 10:
            bench.log.error("cycle %d: %s", cycle, what)

    def on_sample(cycle):
        state["checked"] += 1
        _v, payload, taken = ysink.sample()
        if taken:
            if not exp_y:
                bad(cycle, f"unexpected y beat {payload:#x}")
            else:
                ci, b, lanes, last = exp_y.popleft()
                got = lane_values(payload, yf["data"], W, P)
                glast = _get(payload, yf["last"])
                sat = _get(payload, yf["sat"])
                state["sat_y"][ci] = state["sat_y"].get(ci, 0) + bin(sat).count("1")
                if got != lanes or glast != int(last):
                    bad(cycle, f"channel {ci} y beat {b}: got {got} last {glast}, "
                               f"expected {lanes} last {int(last)}")
                out_cycles[seq_of[ci]].append(cycle)
                state["y"] += 1
        _v, spayload, staken = ssink.sample()
        if staken:
            if not exp_stats:
                bad(cycle, "unexpected stats transfer")
            else:
                ci, g = exp_stats.popleft()
                keys = ("mean", "sigma", "running_mean", "running_sigma")
                got = {k: _get(spayload, sf[k], True) for k in keys}
                sat = _get(spayload, sf["sat"])
                names = ("sigma", "s", "a", "b", "running")
                gsat = {k: (sat >> i) & 1 for i, k in enumerate(names)}
                want = {k: int(g[k]) for k in keys}
                wsat = {k: int(g["sat"][k]) for k in names}
                if got != want or gsat != wsat:
                    bad(cycle, f"channel {ci} stats: got {got} {gsat}, expected {want} {wsat}")
                state["stats"] += 1
        item, _ready = src.sample()
        if item is not None:
            x_cycles.append(cycle)
            tags.append(pending_tags.popleft())
        item, _ready = chan.sample()
        if item is not None:
            chan_cycles.append(cycle)

    groups = [[si] for si in range(len(sequences))] if full else [list(range(len(sequences)))]
    d0 = 0
    for group in groups:
        n_desc = sum(len(sequences[si]) for si in group)
        for fields in stim.descriptors[d0:d0 + n_desc]:
            chan.push(fields)
        d0 += n_desc
        for fields, tag in stim.beats:
            if tag[0] in group:
                src.push(fields)
        last_ci = sum(len(sequences[si]) for si in range(group[-1] + 1)) - 1

        def done():
            return src.idle and chan.idle and not any(c <= last_ci for c, *_ in exp_y) \
                and not any(c <= last_ci for c, _g in exp_stats)

        beats = sum(1 for _f, tag in stim.beats if tag[0] in group)
        budget = int((beats + 300 * n_desc) / min(p_valid, p_ready, p_stats, p_chan) * 3) + 500
        await bench.run([src, chan, ysink, ssink], on_sample, done, budget)
        await FallingEdge(dut.clk)
    # A few more cycles: nothing else may come out.
    for _ in range(8):
        ysink.drive()
        ssink.drive()
        await ReadOnly()
        state["checked"] += 1
        if bench.ports.read("y__valid") or bench.ports.read("stats__valid"):
            bad(bench.cycle, "output valid after the last expected transfer")
        bench.cycle += 1
        await FallingEdge(dut.clk)
    if int(dut.err.value) != int(bad_last):
        bad(bench.cycle, f"err = {int(dut.err.value)}, expected {int(bad_last)}")
    for ci, ch in enumerate(channels):
        if state["sat_y"].get(ci, 0) != ch.gold["sat"]["y"]:
            bad(-1, f"channel {ci}: {state['sat_y'].get(ci, 0)} saturated y lanes, "
                    f"model {ch.gold['sat']['y']}")
    figures = {}
    if full:
        def model(chans):
            return sequence_cycles(len(chans), [ch.m for ch in chans], chans[0].mode, **p)
        figures = check_schedule(sequences, model, tags, x_cycles, chan_cycles, out_cycles, bad)
    bench.record(cycles=state["checked"], mismatches=state["mism"], y_beats=state["y"],
                 stats=state["stats"], values=sum(ch.m for ch in channels),
                 saturated_y=sum(state["sat_y"].values()), **figures)
    assert state["mism"] == 0, f"{state['mism']} mismatches (seed {bench.seed})"
    return figures


def _rng(name):
    config = load_config()
    return np.random.default_rng([int(config["seed"]), sum(map(ord, name))])


@cocotb.test()
async def sizes(dut):
    """m in {1, 2, 7, 64, 1000} (most not multiples of P): a train, then an infer sequence."""
    _c, _m, p, cfg = _setup()
    rng = _rng("sizes")
    kinds = ("gauss", "relu", "skew", "gauss", "relu")
    train, infer = [], []
    for m, k in zip((1, 2, 7, 64, 1000), kinds):
        if m <= cfg.max_batch:
            train.append(draw(cfg, rng, m, k, "train"))
            infer.append(draw(cfg, rng, m, k, "infer"))
    await run_sequences(dut, "sizes", [train, infer])


@cocotb.test()
async def shapes(dut):
    """Gaussian, ReLU-shaped, skewed and constant channels, negative gamma, one sequence."""
    _c, _m, p, cfg = _setup()
    rng = _rng("shapes")
    chans = []
    for i, k in enumerate(("gauss", "relu", "skew", "const", "gauss", "relu", "skew", "const")):
        m = int(rng.choice([3, 5, 9, 33, 100]))
        g = -int(fixed.quantize(rng.uniform(0.1, 2), cfg.data)[0]) if i % 2 else None
        chans.append(draw(cfg, rng, m, k, "train", gamma=g))
    await run_sequences(dut, "shapes", [chans])


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
    await run_sequences(dut, "saturation", _sequences(chans))


@cocotb.test()
async def stalls(dut):
    """Random gaps on x and channel, backpressure on y and stats; train and infer sequences of
    various m streamed back to back (no drain between sequences)."""
    _c, _m, p, cfg = _setup()
    rng = _rng("stalls")
    chans = []
    for i in range(12):
        m = int(rng.choice([1, 2, 3, 7, 8, 17, 64, 150]))
        k = ("gauss", "relu", "skew", "const", "extreme")[i % 5]
        chans.append(draw(cfg, rng, m, k, "infer" if i % 4 == 3 else "train"))
    await run_sequences(dut, "stalls", _sequences(chans, max_len=4), p_valid=0.7, p_ready=0.6,
                        p_stats=0.3, p_chan=0.5)


@cocotb.test()
async def back_to_back(dut):
    """Sequences of channels with different m at full rate (train and infer)."""
    _c, _m, p, cfg = _setup()
    rng = _rng("back_to_back")
    chans = []
    for i, m in enumerate((5, 1, 12, 4, 2, 31, 8, 3)):
        chans.append(draw(cfg, rng, m, ("gauss", "skew", "relu")[i % 3],
                          "infer" if i in (3, 4) else "train"))
    await run_sequences(dut, "back_to_back", _sequences(chans))


@cocotb.test()
async def throughput(dut):
    """C in {1, 3, 8} channels of m values with ceil(m/P) above the per-channel work: the
    sequence takes passes * C * ceil(m/P) + K cycles with the same K for every C (train), and
    C * ceil(m/P) + K (infer)."""
    _c, _m, p, cfg = _setup()
    rng = _rng("throughput")
    P = p["lanes"]
    lat = latency_formulas(**p)
    work = max(lat.get("mean_delay", 0), lat["request_train"] + lat["job_train"],
               lat["request_infer"] + lat["job_infer"])
    beats = work + 3
    m = min(beats * P, cfg.max_batch)
    beats = -(-m // P)
    modes = (("train", 2 if cfg.stats == "one-pass" else 3), ("infer", 1))
    seqs = [[draw(cfg, rng, m, "gauss", mode) for _ in range(c)]
            for mode, _p in modes for c in (1, 3, 8)]
    got = await run_sequences(dut, "throughput", seqs)
    for i, (mode, passes) in enumerate(modes):
        totals = got["sequence_cycles"][3 * i:3 * i + 3]
        ks = [t - passes * c * beats for t, c in zip(totals, (1, 3, 8))]
        # Two-pass schedules hide each job behind the previous channel: C = 1 pays it once.
        same = ks if passes != 2 else ks[1:]
        assert len(set(same)) == 1, f"{mode}: K = {ks} depends on C (m = {m}, P = {P})"
        dut._log.info("throughput %s: m = %d, P = %d, totals %s, K = %s", mode, m, P, totals, ks)


@cocotb.test()
async def bad_last(dut):
    """``last`` wrong on every beat of one pass: the unit counts with m and sets ``err``."""
    _c, _m, p, cfg = _setup()
    rng = _rng("bad_last")
    chans = [draw(cfg, rng, 11, "gauss", "train"), draw(cfg, rng, 6, "relu", "train"),
             draw(cfg, rng, 9, "skew", "train")]
    await run_sequences(dut, "bad_last", [chans], bad_last=True)

"""cocotb testbench of the complete BN unit (:class:`l1bn.hdl.bn_unit.BNUnit`), forward train / infer.

Each test streams sequences of channels (descriptors on ``channel``, beats on ``x`` in the order
of :func:`l1bn.hdl.bn_unit.slot_order`), compares every ``y`` beat and every ``stats`` transfer with
:mod:`l1bn.golden.bn_unit` (in order, all lanes, lanes beyond m must be 0), and, at full rate (inputs
always valid, outputs always ready, each sequence drained before the next), asserts that every
pass starts and ends in the cycle :func:`l1bn.hdl.bn_unit.sequence_cycles` gives and that the last
``y`` beat leaves at its ``total``. Records checked cycles and mismatches.
"""

import cocotb
import numpy as np

from l1bn.golden import fixed
from l1bn.golden.channels import channel_codes
from l1bn.golden.bn_unit import UnitConfig, forward_infer, forward_train
from l1bn.hdl.bn_job import SAT_FIELDS
from l1bn.hdl.bn_unit import latency_formulas, sequence_cycles

from .harness import field_value as _get, load_config
from .unitbench import UnitSpec, pack_lanes, run_unit, soak_channels

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
        self.side = mode == "train"         # a stats transfer
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
    x = channel_codes(cfg, rng, m, kind)
    if gamma is None:
        gamma = int(fixed.quantize(rng.uniform(-2, 2), data)[0])
    if beta is None:
        beta = int(fixed.quantize(rng.uniform(-1, 1), data)[0])
    rm = int(fixed.quantize(rng.uniform(-0.5, 0.5) * data.max_value, stat)[0])
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


_STATS = ("mean", "sigma", "running_mean", "running_sigma")
_STATS_SAT = SAT_FIELDS


#: What the backward takes, exact (``sum_sgn``: l1 only).
_HANDOVER = ("sum_x", "spread", "sum_sgn")


def _stats_check(ch, payload, fields):
    got = {k: _get(payload, fields[k], True) for k in _STATS}
    sat = _get(payload, fields["sat"])
    got.update({f"sat_{k}": (sat >> i) & 1 for i, k in enumerate(_STATS_SAT)})
    want = {k: int(ch.gold[k]) for k in _STATS}
    want.update({f"sat_{k}": int(ch.gold["sat"][k]) for k in _STATS_SAT})
    for k in _HANDOVER:
        if k in fields:
            got[k] = _get(payload, fields[k], k != "spread")
            want[k] = int(ch.gold["sums"][k])
    return got, want


async def run_sequences(dut, name, sequences, *, p_valid=1.0, p_ready=1.0, p_stats=1.0,
                        p_chan=1.0, bad_last=False, stats=True, descriptors_first=False):
    """:func:`l1bn.sim.unitbench.run_unit` on the forward unit: ``y`` beats and ``stats``."""
    config, man, p, cfg = _setup()

    def model(chans):
        return sequence_cycles(len(chans), [ch.m for ch in chans], chans[0].mode, **p)

    spec = UnitSpec(config=config, manifest=man, params=p,
                    passes=2 if cfg.stats == "one-pass" else 3, out="y", side="stats",
                    expected=lambda ch: ([int(v) for v in ch.gold["y"]], ch.gold["sat"]["y"]),
                    side_check=_stats_check, model=model)
    return await run_unit(dut, name, sequences, spec, p_valid=p_valid, p_ready=p_ready,
                          p_side=p_stats, p_chan=p_chan, bad_last=bad_last, side=stats,
                          descriptors_first=descriptors_first)


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
async def stats_unread(dut):
    """``stats_out="drop"``: a host that never takes ``stats`` (ready low throughout) streams
    training and inference channels at full rate; y and the schedule are as with a drained
    ``stats``, and nothing stalls."""
    _c, _m, p, cfg = _setup()
    assert p.get("stats_out") == "drop", "stats_unread needs a unit with stats_out='drop'"
    rng = _rng("stats_unread")
    train = [draw(cfg, rng, int(m), k, "train") for m, k in
             zip((5, 40, 3, 17, 64), ("gauss", "two_level", "narrow", "relu", "sparse"))]
    infer = [draw(cfg, rng, 9, "gauss", "infer") for _ in range(2)]
    await run_sequences(dut, "stats_unread", [train, infer], stats=False)


@cocotb.test()
async def descriptors_first(dut):
    """A host that writes every descriptor of a training sequence before any data: with a
    descriptor FIFO of D entries, D + 2 channels complete (random gaps and backpressure);
    ``status`` names every beat's channel and pass."""
    _c, _m, p, cfg = _setup()
    rng = _rng("descriptors_first")
    n = (p.get("desc_depth") or 0) + 2
    train = [draw(cfg, rng, int(m), "gauss", "train") for m in rng.integers(1, 40, n)]
    await run_sequences(dut, "descriptors_first", [train], p_valid=0.8, p_ready=0.8,
                        p_stats=0.8, descriptors_first=True)


@cocotb.test()
async def families(dut):
    """The hard channel families of the numerics: constant at the extreme codes and in between,
    two adjacent codes, a large mean with a spread of a few LSB, mostly zeros; gamma of both
    signs and full scale; train and infer sequences."""
    _c, _m, p, cfg = _setup()
    rng = _rng("families")
    data = cfg.data
    chans = [Channel(cfg, "train", [data.min_code] * 7, data.max_code, 3, 0, 0),
             Channel(cfg, "train", [data.max_code] * 4, data.min_code, -3, 0, 0)]
    for i, k in enumerate(("const", "two_level", "narrow", "sparse") * 2):
        m = int(rng.choice([2, 9, 40, 101]))
        g = (data.max_code, data.min_code, None, -64)[i % 4]
        chans.append(draw(cfg, rng, m, k, "train", gamma=g))
    for k in ("const", "two_level", "narrow", "sparse"):
        chans.append(draw(cfg, rng, int(rng.choice([3, 17])), k, "infer"))
    await run_sequences(dut, "families", _sequences(chans))


@cocotb.test()
async def soak(dut):
    """``make soak``: random channels of every family (train and infer, gamma anywhere in the
    format), random gaps and backpressure, until at least ``L1BN_SOAK_CYCLES`` cycles."""
    _c, _m, p, cfg = _setup()
    data = cfg.data

    def make(m, kind, rng):
        mode = "infer" if rng.random() < 0.25 else "train"
        return draw(cfg, rng, m, kind, mode,
                    gamma=int(rng.integers(data.min_code, data.max_code + 1)))

    lat = latency_formulas(**p)
    chans = soak_channels(cfg, _rng("soak"), make, 2 if cfg.stats == "one-pass" else 3,
                          p["lanes"], lambda ch: lat[f"job_{ch.mode}"])
    await run_sequences(dut, "soak", _sequences(chans, max_len=6), p_valid=0.8, p_ready=0.8,
                        p_stats=0.5, p_chan=0.7)


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

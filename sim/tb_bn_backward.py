"""cocotb testbench of the backward BN unit (:class:`l1bn.hdl.bn_backward.BNBackward`).

Each test streams sequences of channels (descriptors on ``channel``; (x, dy) beats of the sums
pass and the dx pass in the order of :func:`l1bn.hdl.bn_sequencer.slot_order`), compares every ``dx``
beat and every ``grads`` transfer with :func:`l1bn.golden.bn_backward.backward` (in order, all lanes,
lanes beyond m must be 0, saturation flags), and, at full rate, asserts that every pass starts
and ends in the cycles of :func:`l1bn.hdl.bn_backward.sequence_cycles` (:mod:`l1bn.sim.unitbench`).
Records checked cycles and mismatches.
"""

import cocotb
import numpy as np

from l1bn.golden import fixed
from l1bn.golden.channels import channel_codes
from l1bn.golden.bn_backward import backward
from l1bn.golden.bn_forward import batch_stats
from l1bn.golden.bn_unit import UnitConfig
from l1bn.hdl.bn_backward import latency_formulas, sequence_cycles

from .harness import field_value as _get, load_config
from .unitbench import UnitSpec, pack_lanes, run_unit, soak_channels

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
    """One channel: codes, what the forward hands over, the golden results, descriptor and
    beats."""

    single, side = False, True          # two passes; a grads transfer
    lanes, rng = 1, None                # set by run_unit (P, the bench's random source)

    def __init__(self, cfg, x, dy, gamma, spread=None):
        self.cfg = cfg
        self.x, self.dy = [int(v) for v in x], [int(v) for v in dy]
        self.gamma = int(gamma)
        xs = np.array(self.x, dtype=np.int64)
        sums = batch_stats(cfg, xs)["sums"]
        self.sum_x = sums["sum_x"]
        self.spread = sums["spread"] if spread is None else int(spread)
        self.gold = backward(cfg, xs, np.array(self.dy, dtype=np.int64), self.gamma,
                             self.sum_x, self.spread)

    @property
    def m(self):
        return len(self.x)

    def descriptor(self):
        d = {"m": self.m, "gamma": self.gamma, "sum_x": self.sum_x, "spread": self.spread}
        if self.cfg.norm == "l1":
            d["sum_sgn"] = self.gold["sums"]["sum_sgn"]
        return d

    def beat(self, kind, b):
        P, d = self.lanes, self.cfg.data
        return {k: pack_lanes(v[b * P:(b + 1) * P], self.cfg.width, P, self.rng, d.min_code,
                              d.max_code) for k, v in (("x", self.x), ("dy", self.dy))}


def draw(cfg, rng, m, kind, gamma=None, dscale=None):
    """A channel of ``kind`` (:data:`l1bn.golden.channels.KINDS`) with Gaussian dy of scale
    ``dscale`` (default random) and a random gamma unless given."""
    data, w, f = cfg.data, cfg.width, cfg.frac
    x = channel_codes(cfg, rng, m, kind)
    ds = 2.0 ** rng.uniform(-f + 2, w - f - 3) if dscale is None else dscale
    dy, _ = fixed.quantize(rng.standard_normal(m) * ds + rng.uniform(-0.1, 0.1) * ds, data)
    if gamma is None:
        gamma = int(fixed.quantize(rng.uniform(-2, 2), data)[0])
    return Channel(cfg, x, dy, gamma)


#: The grads transfer's saturation flags, in bit order.
SAT_NAMES = ("a", "dgamma", "const")


def _grads_check(ch, payload, fields):
    sat = _get(payload, fields["sat"])
    got = {"dgamma": _get(payload, fields["dgamma"], True),
           "dbeta": _get(payload, fields["dbeta"], True)}
    got.update({f"sat_{k}": (sat >> i) & 1 for i, k in enumerate(SAT_NAMES)})
    want = {"dgamma": int(ch.gold["dgamma"]), "dbeta": int(ch.gold["dbeta"])}
    want.update({f"sat_{k}": int(ch.gold["sat"][k] > 0) for k in SAT_NAMES})
    return got, want


async def run_channels(dut, name, channels, *, p_valid=1.0, p_ready=1.0, p_grads=1.0,
                       p_chan=1.0, max_len=None):
    """:func:`l1bn.sim.unitbench.run_unit` on the backward unit: ``channels`` (a list of channels,
    split into sequences of at most ``max_len``, default one sequence; or a list of sequences)."""
    config, man, p, cfg = _setup()
    if channels and isinstance(channels[0], list):
        sequences = channels
    else:
        n = max_len or max(len(channels), 1)
        sequences = [channels[i:i + n] for i in range(0, len(channels), n)]

    def model(chans):
        return sequence_cycles(len(chans), [ch.m for ch in chans], **p)

    spec = UnitSpec(config=config, manifest=man, params=p, passes=2, out="dx", side="grads",
                    expected=lambda ch: ([int(v) for v in ch.gold["dx"]], ch.gold["sat"]["dx"]),
                    side_check=_grads_check, model=model)
    return await run_unit(dut, name, sequences, spec, p_valid=p_valid, p_ready=p_ready,
                          p_side=p_grads, p_chan=p_chan)


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
    """Saturating dx (tiny spread, extreme gamma and dy), a zero spread handed over, constants."""
    _c, _m, p, cfg = _setup()
    rng = _rng("saturation")
    big, small = cfg.data.max_code, cfg.data.min_code
    top = cfg.data.max_value
    chans = [
        draw(cfg, rng, 16, "spiky", gamma=big, dscale=top / 2),
        draw(cfg, rng, 9, "spiky", gamma=small, dscale=top / 4),
        draw(cfg, rng, 13, "extreme", gamma=big, dscale=top),
        draw(cfg, rng, 6, "const", gamma=big),
        Channel(cfg, [small, big, 0, 1, -1], [big, small, big, small, 0], big, spread=0),
        Channel(cfg, [small] * 5, [big] * 5, small),
        Channel(cfg, [small, big] * 3, [small, big] * 3, big, spread=1),
    ]
    await run_channels(dut, "saturation", chans)


@cocotb.test()
async def families(dut):
    """The hard channel families of the numerics: constant at the extreme codes, two adjacent
    codes, a large mean with a spread of a few LSB, mostly zeros; gamma of both signs and full
    scale, dy at full scale or proportional to sgn(x - mean), m from 1 to 101."""
    _c, _m, p, cfg = _setup()
    rng = _rng("families")
    data = cfg.data
    lo, hi = data.min_code, data.max_code
    chans = [Channel(cfg, [lo] * 7, [hi, lo] * 3 + [0], hi),
             Channel(cfg, [hi] * 4, [lo] * 4, lo), Channel(cfg, [5], [hi], hi)]
    for i, k in enumerate(("const", "two_level", "narrow", "sparse") * 2):
        m = int(rng.choice([2, 9, 40, 101]))
        g = (hi, lo, None, -64)[i % 4]
        ch = draw(cfg, rng, m, k, gamma=g, dscale=data.max_value / (1 + 7 * (i % 2)))
        chans.append(ch)
        if i % 2:
            x = np.array(ch.x)
            dy = np.where(x > x.mean(), hi, np.where(x < x.mean(), lo, 0))
            chans.append(Channel(cfg, ch.x, dy, ch.gamma))
    await run_channels(dut, "families", chans, max_len=4)


@cocotb.test()
async def soak(dut):
    """``make soak``: random channels of every family, gamma anywhere in the format, random
    gaps and backpressure, until at least ``L1BN_SOAK_CYCLES`` cycles."""
    _c, _m, p, cfg = _setup()
    data = cfg.data

    def make(m, kind, rng):
        return draw(cfg, rng, m, kind, gamma=int(rng.integers(data.min_code, data.max_code + 1)))

    lat = latency_formulas(**p)
    chans = soak_channels(cfg, _rng("soak"), make, 2, p["lanes"], lambda ch: lat["job_train"])
    await run_channels(dut, "soak", chans, p_valid=0.8, p_ready=0.8, p_grads=0.5, p_chan=0.7,
                       max_len=6)


@cocotb.test()
async def stalls(dut):
    """Random input gaps, dx backpressure and grads backpressure."""
    _c, _m, p, cfg = _setup()
    rng = _rng("stalls")
    chans = []
    for i in range(8):
        m = int(rng.choice([1, 2, 3, 7, 8, 17, 64]))
        chans.append(draw(cfg, rng, m, ("gauss", "relu", "const", "extreme")[i % 4]))
    await run_channels(dut, "stalls", chans, p_valid=0.7, p_ready=0.6, p_grads=0.3, p_chan=0.5,
                       max_len=3)


@cocotb.test()
async def back_to_back(dut):
    """Several channels of different m back to back at full rate."""
    _c, _m, p, cfg = _setup()
    rng = _rng("back_to_back")
    chans = [draw(cfg, rng, m, ("gauss", "relu")[i % 2]) for i, m in
             enumerate((5, 1, 12, 4, 2, 31, 8, 3))]
    await run_channels(dut, "back_to_back", chans, max_len=3)


@cocotb.test()
async def throughput(dut):
    """C in {1, 3, 8} channels with ceil(m/P) above the constants job: 2 * C * ceil(m/P) + K
    cycles, K the same for C = 3 and 8 (a lone channel waits for its job once more)."""
    _c, _m, p, cfg = _setup()
    rng = _rng("throughput")
    P = p["lanes"]
    lat = latency_formulas(**p)
    m = (lat["request_train"] + lat["job_train"] + 3) * P
    assert m <= cfg.max_batch, f"the throughput test needs max_batch >= {m} at P = {P}"
    beats = -(-m // P)
    seqs = [[draw(cfg, rng, m, "gauss") for _ in range(c)] for c in (1, 3, 8)]
    spec_model = [sequence_cycles(len(s), m, **p)["total"] for s in seqs]
    got = await run_channels(dut, "throughput", seqs)
    ks = [t - 2 * len(s) * beats for t, s in zip(got["sequence_cycles"], seqs)]
    assert got["sequence_cycles"] == spec_model
    assert ks[1] == ks[2], f"K = {ks} depends on C (m = {m}, P = {P})"
    dut._log.info("throughput: m = %d, P = %d, totals %s, K = %s", m, P, got["sequence_cycles"],
                  ks)

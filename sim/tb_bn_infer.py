"""cocotb testbench of the inference-only unit (:class:`l1bn.hdl.bn_infer.BNInfer`).

Constants go in on ``coef`` (those of :func:`l1bn.golden.bn_forward.infer_constants` for random
and adversarial running statistics of both norms, or raw lane codes), beats of random channels
on ``x``; :class:`l1bn.sim.harness.StallPipelineScoreboard` checks every cycle of ``y`` against
:func:`l1bn.golden.centred_scale.centred_scale` on the constants loaded when the beat was taken
(a load taken at the same edge as a beat is not yet seen by it).
"""

import cocotb

from l1bn.golden.bn_forward import infer_constants, lane_codes
from l1bn.golden.bn_unit import UnitConfig
from l1bn.golden.centred_scale import centred_scale, shift_cap

from .core_tb import formats, random_codes, value_rng
from .harness import Bench, StallPipelineScoreboard, StreamSink, StreamSource, load_config

#: The random test the report runs as its quick check of this block.
SMOKE_TEST = "random_stream"

_CONST = ("mu_f", "mant", "shift", "neg", "bias")


def _params():
    p = dict(load_config()["manifest"]["parameters"])
    return p, formats()


def _pack(values, width):
    mask = (1 << width) - 1
    return sum((v & mask) << (i * width) for i, v in enumerate(values))


def _stat_codes(rng, cfg):
    """Running (mean, sigma) codes: random, constant channels (sigma 0), a large mean with a
    tiny spread, the extremes of S."""
    s = cfg.stat
    kind = rng.randrange(5)
    if kind == 0:
        return rng.randint(s.min_code, s.max_code), rng.randint(0, s.max_code)
    if kind == 1:
        return rng.randint(s.min_code, s.max_code), 0
    if kind == 2:
        return rng.choice((1, -1)) * rng.randint(s.max_code // 2, s.max_code), rng.randint(0, 8)
    if kind == 3:
        return rng.choice((s.min_code, s.max_code)), rng.choice((0, 1, s.max_code))
    near = min(1 << cfg.guard + 4, s.max_code)
    return rng.randint(-near, near), rng.randint(1, min(1 << cfg.guard, s.max_code))


def constants(rng, p, raw_share=0.2):
    """Lane codes of one channel: those of :func:`infer_constants` for random gamma, beta and
    running statistics (norm l1 or l2), or, with probability ``raw_share``, raw codes over the
    ports' ranges (``mu_f`` within the data range and its upper end, as the host must give)."""
    f = formats()
    if rng.random() < raw_share:
        w = p["width"]
        out = {k: random_codes(rng, f[k], 1)[0] for k in ("mant", "bias")}
        return dict(out, mu_f=rng.randint(-(1 << w - 1), 1 << w - 1),
                    shift=rng.randint(0, (1 << _shift_bits()) - 1), neg=rng.randint(0, 1))
    cfg = UnitConfig(norm=rng.choice(("l1", "l2")), stats="two-pass", width=p["width"],
                     frac=p["frac"], guard=p["guard"])
    rm, rs = _stat_codes(rng, cfg)
    g, b = (random_codes(rng, cfg.data, 1)[0] for _ in range(2))
    return lane_codes(cfg, infer_constants(cfg, g, b, rm, rs)["coef"])


def _shift_bits():
    """Bits of the lanes' shift port (:func:`l1bn.golden.centred_scale.shift_cap`)."""
    p, f = _params()
    return shift_cap(p["width"], p["guard"], f["mant"].width).bit_length()


def expected_y(p, table, data, channel):
    """``{data, sat}`` of the ``y`` beat for the ``x`` beat ``data`` (lane codes) of
    ``channel`` under the loaded constants ``table``."""
    if channel >= p["channels"]:
        return {"data": 0, "sat": 0}
    k = table[channel]
    d = [v - k["mu_f"] for v in data]
    y, sat = centred_scale(d, k["mant"], k["shift"], k["neg"], k["bias"], width=p["width"],
                           frac=p["frac"], guard=p["guard"], mant_width=formats()["mant"].width)
    return {"data": _pack([int(v) for v in y], p["width"]), "sat": _pack([int(s) for s in sat], 1)}


async def run_stream(dut, name, loads, beats, *, p_valid=1.0, p_ready=1.0, p_load=1.0):
    """Send ``loads`` (``[(channel, lane codes)]``) on ``coef`` and ``beats`` (``[(channel,
    [x codes])]``) on ``x`` at once; check every cycle of ``y``; return the bench."""
    config = load_config()
    bench = Bench(dut, config, name)
    p, _f = _params()
    board = StallPipelineScoreboard(config["manifest"]["latency"], bench.log)
    coef = StreamSource(bench.ports, "coef", bench.rng, p_load)
    src = StreamSource(bench.ports, "x", bench.rng, p_valid)
    sink = StreamSink(bench.ports, "y", bench.rng, p_ready)
    for ch, k in loads:
        coef.push(dict(k, channel=ch))
    for i, (ch, data) in enumerate(beats):
        src.push({"data": _pack(data, p["width"]), "channel": ch, "last": i % 7 == 6},
                 None)
    await bench.reset({"coef__valid": 0, "coef__payload": 0, "x__valid": 0, "x__payload": 0,
                       "y__ready": 0})
    table = {c: dict.fromkeys(_CONST, 0) for c in range(p["channels"])}
    pending = {"data": [b[1] for b in beats], "i": 0}

    def on_sample(cycle):
        valid, payload, taken = sink.sample()
        board.check(cycle, valid, payload)
        item, ready = src.sample()
        if item is not None:
            i = pending["i"]
            pending["i"] += 1
            fields = item[0]
            want = expected_y(p, table, pending["data"][i], fields["channel"])
            board.expect(bench.ports.pack("y__payload", last=fields["last"], **want), f"beat {i}")
        load, _ = coef.sample()
        if load is not None and load[0]["channel"] < p["channels"]:
            table[load[0]["channel"]] = {k: load[0][k] for k in _CONST}
        board.step(ready, taken)

    budget = int((len(beats) + len(loads) + 20) / min(p_valid, p_ready, p_load) * 4) + 200
    await bench.run([coef, src, sink], on_sample,
                    lambda: src.idle and coef.idle and not board.pending, budget)
    bench.record(cycles=board.checked, mismatches=board.mismatches, results=board.results,
                 values=len(beats) * p["lanes"])
    assert board.mismatches == 0, f"{board.mismatches} mismatches (seed {bench.seed})"
    assert board.results == len(beats)
    return bench


def _beats(rng, p, n, channels=None):
    f = formats()["x"]
    chans = channels or range(p["channels"])
    return [(rng.choice(chans), random_codes(rng, f, p["lanes"])) for _ in range(n)]


def _all_loads(rng, p):
    return [(c, constants(rng, p)) for c in range(p["channels"])]


@cocotb.test()
async def random_stream(dut):
    """Every channel loaded, then random beats of random channels interleaved with reloads;
    random valid gaps on both inputs and backpressure on ``y``."""
    p, _f = _params()
    rng = value_rng("random_stream")
    n = load_config().get("random_values", 4000) // p["lanes"]
    loads = _all_loads(rng, p) + [(rng.randrange(p["channels"]), constants(rng, p))
                                  for _ in range(n // 8)]
    await run_stream(dut, "random_stream", loads, _beats(rng, p, n), p_valid=0.7,
                     p_ready=0.7, p_load=0.3)


@cocotb.test()
async def full_rate(dut):
    """Inputs always valid, ``y`` always ready: one beat per cycle, loads racing the beats."""
    p, _f = _params()
    rng = value_rng("full_rate")
    n = load_config().get("random_values", 4000) // p["lanes"]
    await run_stream(dut, "full_rate", _all_loads(rng, p) * 2, _beats(rng, p, n))


@cocotb.test()
async def corners(dut):
    """The extreme x codes (most negative, largest, 0, +-1) on every lane under extreme
    constants: the largest gain of both signs, shift 0, the bias's extremes, a zero gain."""
    p, f = _params()
    x = f["x"]
    cap = (1 << _shift_bits()) - 1
    corner = [{"mu_f": mu, "mant": mant, "shift": sh, "neg": neg, "bias": b}
              for mu in (-(1 << p["width"] - 1), 0, 1 << p["width"] - 1)
              for mant, sh in ((f["mant"].max_code, 0), (0, cap), (1 << f["mant"].width - 1, 7))
              for neg in (0, 1) for b in (f["bias"].min_code, 0, f["bias"].max_code)]
    loads, beats = [], []
    for i, k in enumerate(corner):
        ch = i % p["channels"]
        loads.append((ch, k))
        for v in (x.min_code, x.max_code, 0, 1, -1):
            beats.append((ch, [v] * p["lanes"]))
    await run_stream(dut, "corners", loads, beats, p_valid=0.5, p_ready=0.8, p_load=1.0)


@cocotb.test()
async def bad_channel(dut):
    """Channels beyond C on ``x`` (and a load beyond C): zeros out, the sticky ``err`` set.
    With C a power of two no index is beyond C, and ``err`` stays 0."""
    p, _f = _params()
    rng = value_rng("bad_channel")
    top = (1 << max(1, (p["channels"] - 1).bit_length())) - 1
    loads = _all_loads(rng, p) + [(top, constants(rng, p))]
    beats = _beats(rng, p, 40, channels=range(top + 1))
    await run_stream(dut, "bad_channel", loads, beats, p_valid=0.8, p_ready=0.8)
    assert int(dut.err.value) == (1 if top >= p["channels"] else 0)

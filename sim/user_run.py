"""cocotb testbench for ``l1bn simulate``: stream a user's channels through a BN unit, dump codes.

Two cocotb tests, :func:`user_run` (forward unit) and :func:`user_run_backward`. The runner's
configuration (``l1bn.sim.runner.run``) holds the manifest, the ``mode`` ("train", "infer" or
"backward"), ``data_path`` (an ``.npz`` written by :mod:`l1bn.sim.simulate`, loaded with
``allow_pickle=False``: ``x`` (and ``dy``) (C, m) data codes, one row per channel, and the
per-channel descriptor fields) and ``dump_path``, where the test writes every output code:

* forward: ``y`` (C, m) codes, ``y_sat`` (C,) saturated-lane counts (the unit's ``y.sat``
  flags); train also ``mean``, ``sigma``, ``running_mean``, ``running_sigma`` (C,) S codes and
  ``stats_sat`` (C, 5) flags in the order sigma, s, a, b, running;
* backward: ``dx`` (C, m), ``dx_sat`` (C,), ``dgamma``, ``dbeta`` (C,) grad codes and
  ``grads_sat`` (C, 5) flags in the order s, a, dgamma, D/B, E;
* ``lanes_beyond_m`` (non-zero output lanes beyond m: must be 0), ``y_last_bad`` (beats whose
  ``last`` flag was wrong), ``err`` (the unit's sticky error output), ``cycles`` (from the first
  descriptor handshake to the last output, inclusive).

The C channels form ONE sequence streamed at full rate (descriptors, then beats in the order of
:func:`l1bn.hdl.bn_sequencer.slot_order`; every input valid, every output ready). This testbench does
not compare anything: :mod:`l1bn.sim.simulate` compares the dump with the golden model.
"""

import random

import cocotb
import numpy as np

from l1bn.util.files import atomic_open

from .harness import Bench, StreamSink, StreamSource, load_config
from .harness import field_value as _get, payload_fields as _fields
from .unitbench import UnitStimulus, pack_lanes

__all__ = ["user_run", "user_run_backward"]

#: Per-channel output: (stream, value fields, number of sat flags) of each unit.
_SIDE = {"bn_unit": ("stats", ("mean", "sigma", "running_mean", "running_sigma"), 5),
         "bn_backward": ("grads", ("dgamma", "dbeta"), 5)}


def _save_atomic(path, **arrays):
    with atomic_open(path) as f:
        np.savez(f, **arrays)


class _UserChannel:
    """A channel of the user's data: descriptor fields and the rows streamed in every pass."""

    def __init__(self, fields, rows, width, single, side):
        self.fields, self.rows, self.width = fields, rows, width
        self.single, self.side = single, side
        self.m = len(next(iter(rows.values())))
        self.lanes, self.rng = 1, random.Random(0)

    def descriptor(self):
        return self.fields

    def beat(self, kind, b):
        P = self.lanes
        return {k: pack_lanes(v[b * P:(b + 1) * P], self.width, P, self.rng, 0, 0)
                for k, v in self.rows.items()}


async def _run(dut, name, backward):
    config = load_config()
    man = config["manifest"]
    p = man["parameters"]
    mode = config["mode"]
    block = "bn_backward" if backward else "bn_unit"
    with np.load(config["data_path"], allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    rows = ("x", "dy") if backward else ("data",)
    x = data["x"]
    C, m = x.shape
    P, W = p["lanes"], p["width"]
    if backward:
        desc = ("m", "gamma", "sum_x", "spread") + (("sum_sgn",) if p["norm"] == "l1" else ())
        passes, single, has_side = 2, False, True
    else:
        desc = ("mode", "m", "gamma", "beta", "running_mean", "running_sigma")
        data["mode"] = np.full(C, int(mode == "infer"))
        passes = 2 if p["stats"] == "one-pass" else 3
        single, has_side = mode == "infer", mode == "train"
    data["m"] = np.full(C, m)
    chans = []
    for c in range(C):
        fields = {k: int(data[k][c]) for k in desc}
        vals = {r: [int(v) for v in data["x" if r == "data" else r][c]] for r in rows}
        chans.append(_UserChannel(fields, vals, W, single, has_side))
    bench = Bench(dut, config, name)
    for ch in chans:
        ch.lanes = P
    stim = UnitStimulus([chans], passes=passes, lanes=P)
    out = "dx" if backward else "y"
    side, side_fields, n_flags = _SIDE[block]
    of, sf = _fields(man, f"{out}__payload"), _fields(man, f"{side}__payload")
    src = StreamSource(bench.ports, "x", bench.rng, 1.0)
    chan = StreamSource(bench.ports, "channel", bench.rng, 1.0)
    osink = StreamSink(bench.ports, out, bench.rng, 1.0)
    ssink = StreamSink(bench.ports, side, bench.rng, 1.0)
    for fields in stim.descriptors:
        chan.push(fields)
    for fields, _tag in stim.beats:
        src.push(fields)
    await bench.reset({"x__valid": 0, "x__payload": 0, "channel__valid": 0,
                       "channel__payload": 0, f"{out}__ready": 0, f"{side}__ready": 0})
    nb = -(-m // P)
    res = np.zeros((C, nb * P), dtype=np.int64)
    res_sat = np.zeros(C, dtype=np.int64)
    side_vals = {k: np.zeros(C, dtype=np.int64) for k in side_fields}
    side_sat = np.zeros((C, n_flags), dtype=np.int64)
    n_side = C if has_side else 0
    state = {"out": 0, "side": 0, "start": None, "end": 0, "last_bad": 0}

    def on_sample(cycle):
        _v, payload, taken = osink.sample()
        if taken:
            c, b = divmod(state["out"], nb)
            if c < C:
                for i in range(P):
                    res[c, b * P + i] = _get(payload, (of["data"][0] + i * W, W), True)
                res_sat[c] += bin(_get(payload, of["sat"])).count("1")
                if _get(payload, of["last"]) != int(b == nb - 1):
                    state["last_bad"] += 1
            state["out"] += 1
            state["end"] = cycle
        _v, spayload, staken = ssink.sample()
        if staken:
            c = state["side"]
            if c < C:
                for k in side_fields:
                    side_vals[k][c] = _get(spayload, sf[k], True)
                sat = _get(spayload, sf["sat"])
                for i in range(n_flags):
                    side_sat[c, i] = (sat >> i) & 1
            state["side"] += 1
            state["end"] = cycle
        src.sample()
        if chan.sample()[0] is not None and state["start"] is None:
            state["start"] = cycle

    def done():
        return src.idle and state["out"] >= C * nb and state["side"] >= n_side

    lat = man["latency"]
    budget = passes * C * (nb + lat["request_train"] + lat["job_train"] + 64) + 1000
    await bench.run([src, chan, osink, ssink], on_sample, done, budget)
    cycles = state["end"] - state["start"] + 1
    dump = {out: res[:, :m], f"{out}_sat": res_sat,
            "lanes_beyond_m": np.int64(np.count_nonzero(res[:, m:])),
            "y_last_bad": np.int64(state["last_bad"]), "err": np.int64(int(dut.err.value)),
            "cycles": np.int64(cycles)}
    if has_side:
        dump.update(side_vals)
        dump[f"{side}_sat"] = side_sat
    _save_atomic(config["dump_path"], **dump)
    bench.record(cycles=int(cycles), values=int(C * m), channels=int(C),
                 **{f"{out}_beats": int(state["out"]), side: int(state["side"])})
    assert state["out"] == C * nb, f"{state['out']} {out} beats, expected {C * nb}"
    assert state["side"] == n_side, f"{state['side']} {side} transfers, expected {n_side}"


@cocotb.test()
async def user_run(dut):
    """Forward unit (:class:`l1bn.hdl.bn_unit.BNUnit`): stream every channel (all passes), collect
    every y beat and stats transfer."""
    await _run(dut, "user_run", backward=False)


@cocotb.test()
async def user_run_backward(dut):
    """Backward unit (:class:`l1bn.hdl.bn_backward.BNBackward`): stream every channel's (x, dy)
    pairs (both passes), collect every dx beat and grads transfer."""
    await _run(dut, "user_run_backward", backward=True)

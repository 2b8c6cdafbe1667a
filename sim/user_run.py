"""cocotb testbench for ``l1bn simulate``: stream a user's channels through the BN unit, dump codes.

One cocotb test, :func:`user_run`. The runner's configuration (``sim.runner.run``) holds the
manifest, the ``mode`` ("train" or "infer"), ``data_path`` (an ``.npz`` written by
:mod:`synth.simulate`, loaded with ``allow_pickle=False``: ``x`` (C, m) data codes, one row per
channel in the unit's order, and per-channel ``gamma``, ``beta``, ``running_mean``,
``running_sigma`` codes) and ``dump_path``, where the test writes every output code:

* ``y`` (C, m) codes, ``y_sat`` (C,) saturated-lane counts (the unit's ``y.sat`` flags);
* train: ``mean``, ``sigma``, ``running_mean``, ``running_sigma`` (C,) S codes and ``stats_sat``
  (C, 5) flags in the order sigma, s, a, b, running;
* ``lanes_beyond_m`` (count of non-zero y lanes beyond m: must be 0), ``err`` (the unit's sticky
  error output), ``cycles`` (simulated cycles from the end of reset to the last output).

Channels follow each other through ONE simulation at full rate (``x`` always valid, ``y`` and
``stats`` always ready), every pass of the schedule streams the channel's m values again. This
testbench does not compare anything: :mod:`synth.simulate` compares the dump with the golden
model. The unit's protocol is the docstring of :class:`hdl.bn_unit.BNUnit`.
"""

import os
import tempfile

import cocotb
import numpy as np

from .harness import Bench, StreamSink, StreamSource, load_config
from .harness import field_value as _get, payload_fields as _fields
from .tb_bn_unit import _setup

__all__ = ["user_run"]

_STATS_SAT = ("sigma", "s", "a", "b", "running")


def _save_atomic(path, **arrays):
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".dump.", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


@cocotb.test()
async def user_run(dut):
    """Stream every channel of the user's data (all passes), collect every y beat and stats."""
    config, man, p, cfg = _setup()
    mode = config["mode"]
    if mode not in ("train", "infer"):
        raise ValueError(f"mode must be train or infer, got {mode!r}")
    with np.load(config["data_path"], allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    x = data["x"]
    C, m = x.shape
    P, W = p["lanes"], p["width"]
    bench = Bench(dut, config, "user_run")
    xf, yf, sf = (_fields(man, "x__payload"), _fields(man, "y__payload"),
                  _fields(man, "stats__payload"))
    del xf
    src = StreamSource(bench.ports, "x", bench.rng, 1.0)
    ysink = StreamSink(bench.ports, "y", bench.rng, 1.0)
    ssink = StreamSink(bench.ports, "stats", bench.rng, 1.0)
    mask = (1 << W) - 1
    nb = -(-m // P)
    passes = 1 if mode == "infer" else (2 if cfg.stats == "one-pass" else 3)
    for c in range(C):
        side = {"mode": int(mode == "infer"), "m": m, "gamma": int(data["gamma"][c]),
                "beta": int(data["beta"][c]), "running_mean": int(data["running_mean"][c]),
                "running_sigma": int(data["running_sigma"][c])}
        row = [int(v) for v in x[c]]
        for pi in range(passes):
            for b in range(nb):
                packed = 0
                for i, v in enumerate(row[b * P:(b + 1) * P]):
                    packed |= (v & mask) << (i * W)
                src.push({"data": packed, "last": int(b == nb - 1)},
                         side if (pi == 0 and b == 0) else None)
    await bench.reset({"x__valid": 0, "x__payload": 0, "y__ready": 0, "stats__ready": 0,
                       "mode": 0, "m": 1, "gamma": 0, "beta": 0, "running_mean": 0,
                       "running_sigma": 0})
    y = np.zeros((C, nb * P), dtype=np.int64)
    y_sat = np.zeros(C, dtype=np.int64)
    y_last_bad = 0
    stats = {k: np.zeros(C, dtype=np.int64)
             for k in ("mean", "sigma", "running_mean", "running_sigma")}
    stats_sat = np.zeros((C, len(_STATS_SAT)), dtype=np.int64)
    n_stats_expected = C if mode == "train" else 0
    state = {"y": 0, "stats": 0, "end": 0}

    def on_sample(cycle):
        _v, payload, taken = ysink.sample()
        if taken:
            k = state["y"]
            c, b = divmod(k, nb)
            if c < C:
                for i in range(P):
                    y[c, b * P + i] = _get(payload, (yf["data"][0] + i * W, W), True)
                y_sat[c] += bin(_get(payload, yf["sat"])).count("1")
                if _get(payload, yf["last"]) != int(b == nb - 1):
                    nonlocal_bad[0] += 1
            state["y"] += 1
            state["end"] = cycle
        _v, spayload, staken = ssink.sample()
        if staken:
            c = state["stats"]
            if c < C:
                for k in stats:
                    stats[k][c] = _get(spayload, sf[k], True)
                sat = _get(spayload, sf["sat"])
                for i in range(len(_STATS_SAT)):
                    stats_sat[c, i] = (sat >> i) & 1
            state["stats"] += 1
            state["end"] = cycle
        src.sample()

    nonlocal_bad = [0]

    def done():
        return src.idle and state["y"] >= C * nb and state["stats"] >= n_stats_expected

    gap = 4 * (p["width"] + p["guard"]) + 64
    budget = passes * C * (nb + gap) + 1000
    await bench.run([src, ysink, ssink], on_sample, done, budget)
    y_last_bad = nonlocal_bad[0]
    beyond = int(np.count_nonzero(y[:, m:]))
    out = {"y": y[:, :m], "y_sat": y_sat, "lanes_beyond_m": np.int64(beyond),
           "y_last_bad": np.int64(y_last_bad), "err": np.int64(int(dut.err.value)),
           "cycles": np.int64(state["end"] + 1), "y_beats": np.int64(state["y"]),
           "stats_transfers": np.int64(state["stats"])}
    if mode == "train":
        out.update(stats)
        out["stats_sat"] = stats_sat
    _save_atomic(config["dump_path"], **out)
    bench.record(cycles=int(state["end"] + 1), values=int(C * m), channels=int(C),
                 y_beats=int(state["y"]), stats=int(state["stats"]))
    assert state["y"] == C * nb, f"{state['y']} y beats, expected {C * nb}"
    assert state["stats"] == n_stats_expected, \
        f"{state['stats']} stats transfers, expected {n_stats_expected}"


@cocotb.test()
async def user_run_backward(dut):
    """Backward unit (:class:`hdl.bn_backward.BNBackward`): stream every channel's (x, dy)
    pairs twice, collect every dx beat and grads transfer. ``data_path`` holds ``x``, ``dy``
    (C, m) data codes and per-channel ``gamma`` (data), ``mean``, ``sigma`` (S codes); the dump
    has ``dx`` (C, m), ``dx_sat`` (C,), ``dgamma``, ``dbeta`` (C,) grad codes, ``grads_sat``
    (C, 5) flags (s, a, dgamma, c, e), ``lanes_beyond_m``, ``y_last_bad``, ``err``, ``cycles``.
    """
    config = load_config()
    man = config["manifest"]
    p = man["parameters"]
    with np.load(config["data_path"], allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    x, dy = data["x"], data["dy"]
    C, m = x.shape
    P, W = p["lanes"], p["width"]
    bench = Bench(dut, config, "user_run_backward")
    df, gf = _fields(man, "dx__payload"), _fields(man, "grads__payload")
    src = StreamSource(bench.ports, "x", bench.rng, 1.0)
    dsink = StreamSink(bench.ports, "dx", bench.rng, 1.0)
    gsink = StreamSink(bench.ports, "grads", bench.rng, 1.0)
    mask = (1 << W) - 1
    nb = -(-m // P)
    for c in range(C):
        side = {"m": m, "gamma": int(data["gamma"][c]), "mean": int(data["mean"][c]),
                "sigma": int(data["sigma"][c])}
        xr, dr = [int(v) for v in x[c]], [int(v) for v in dy[c]]
        for pi in range(2):
            for b in range(nb):
                px = pd = 0
                for i in range(min(P, m - b * P)):
                    px |= (xr[b * P + i] & mask) << (i * W)
                    pd |= (dr[b * P + i] & mask) << (i * W)
                src.push({"x": px, "dy": pd, "last": int(b == nb - 1)},
                         side if (pi == 0 and b == 0) else None)
    await bench.reset({"x__valid": 0, "x__payload": 0, "dx__ready": 0, "grads__ready": 0,
                       "m": 1, "gamma": 0, "mean": 0, "sigma": 0})
    dx = np.zeros((C, nb * P), dtype=np.int64)
    dx_sat = np.zeros(C, dtype=np.int64)
    grads = {k: np.zeros(C, dtype=np.int64) for k in ("dgamma", "dbeta")}
    grads_sat = np.zeros((C, 5), dtype=np.int64)
    state = {"dx": 0, "grads": 0, "end": 0, "last_bad": 0}

    def on_sample(cycle):
        _v, payload, taken = dsink.sample()
        if taken:
            c, b = divmod(state["dx"], nb)
            if c < C:
                for i in range(P):
                    dx[c, b * P + i] = _get(payload, (df["data"][0] + i * W, W), True)
                dx_sat[c] += bin(_get(payload, df["sat"])).count("1")
                if _get(payload, df["last"]) != int(b == nb - 1):
                    state["last_bad"] += 1
            state["dx"] += 1
            state["end"] = cycle
        _v, gpayload, gtaken = gsink.sample()
        if gtaken:
            c = state["grads"]
            if c < C:
                for k in grads:
                    grads[k][c] = _get(gpayload, gf[k], True)
                sat = _get(gpayload, gf["sat"])
                for i in range(5):
                    grads_sat[c, i] = (sat >> i) & 1
            state["grads"] += 1
            state["end"] = cycle
        src.sample()

    def done():
        return src.idle and state["dx"] >= C * nb and state["grads"] >= C

    gap = 8 * (p["width"] + p["guard"]) + 64
    budget = 2 * C * (nb + gap) + 1000
    await bench.run([src, dsink, gsink], on_sample, done, budget)
    _save_atomic(config["dump_path"], dx=dx[:, :m], dx_sat=dx_sat,
                 lanes_beyond_m=np.int64(np.count_nonzero(dx[:, m:])),
                 y_last_bad=np.int64(state["last_bad"]), err=np.int64(int(dut.err.value)),
                 cycles=np.int64(state["end"] + 1), dgamma=grads["dgamma"],
                 dbeta=grads["dbeta"], grads_sat=grads_sat)
    bench.record(cycles=int(state["end"] + 1), values=int(C * m), channels=int(C),
                 dx_beats=int(state["dx"]), grads=int(state["grads"]))
    assert state["dx"] == C * nb and state["grads"] == C

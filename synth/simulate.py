"""``l1bn simulate``: run the generated BN unit RTL under cocotb on a user's arrays.

:func:`simulate` quantizes the user's float arrays to the unit's formats (the golden model's
quantization: :func:`golden.fixed.quantize`, half-even, saturation counted), generates the design
with :func:`synth.generate.generate`, streams every channel through ONE cocotb simulation
(:mod:`sim.user_run`), collects every output code and compares it with the bit-accurate golden
model (:func:`golden.bn_unit.run`). :func:`save` writes the result as an ``.npz`` atomically.

Bad input raises :class:`InputError` (a ``ValueError``) before anything is generated or written.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from l1bn.files import atomic_open

__all__ = ["InputError", "MODES", "simulate", "load_inputs", "save", "mismatch_lines"]

MODES = ("train", "infer", "backward")
_PER_CHANNEL = ("gamma", "beta", "running_mean", "running_sigma")
#: Output names per mode; train names map to the golden model's keys.
_OUTPUTS = {
    "train": {"y": "y", "batch_mean": "mean", "batch_sigma": "sigma",
              "running_mean": "running_mean", "running_sigma": "running_sigma"},
    "infer": {"y": "y"},
    "backward": {"dx": "dx", "dgamma": "dgamma", "dbeta": "dbeta"},
}


class InputError(ValueError):
    """Bad user input (missing array, wrong shape, non-finite values, m > max_batch, C = 0)."""


def load_inputs(path):
    """The arrays of ``path`` (``.npz``, no pickles) as a dict; :class:`InputError` if unreadable."""
    try:
        with np.load(path, allow_pickle=False) as f:
            if not hasattr(f, "files"):
                raise InputError(f"{path}: not an .npz archive")
            return {k: f[k] for k in f.files}
    except InputError:
        raise
    except (OSError, ValueError, EOFError, KeyError) as exc:
        raise InputError(f"cannot read {path}: {exc}".replace("\n", " ")) from None
    except Exception as exc:  # zipfile.BadZipFile and friends
        raise InputError(f"cannot read {path}: {type(exc).__name__}: {exc}".replace("\n", " "))\
            from None


def _validate(mode, arrays, max_batch):
    """Float64 copies of the arrays the mode uses; raises :class:`InputError`."""
    if mode not in MODES:
        raise InputError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    need = {"train": ("x", "gamma", "beta"), "infer": ("x", "gamma", "beta", "running_mean",
                                                        "running_sigma"),
            "backward": ("x", "dy", "gamma")}[mode]
    opt = {"train": ("running_mean", "running_sigma"), "backward": ("beta",)}.get(mode, ())
    missing = [k for k in need if k not in arrays]
    if missing:
        raise InputError(f"mode {mode} needs array{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(missing)} (missing)")
    out = {}
    for k in need + tuple(k for k in opt if k in arrays):
        v = np.asarray(arrays[k])
        if v.dtype.kind not in "biuf":
            raise InputError(f"{k} must be a numeric array, got dtype {v.dtype}")
        v = v.astype(np.float64)
        if not np.all(np.isfinite(v)):
            raise InputError(f"{k} holds non-finite values (NaN or infinity)")
        out[k] = v
    x = out["x"]
    if x.ndim not in (2, 4):
        raise InputError(f"x must be (N, C) or (N, C, H, W), got shape {x.shape}")
    c = x.shape[1]
    if c == 0:
        raise InputError(f"x has no channels (C = 0), shape {x.shape}")
    m = x.size // c
    if m == 0:
        raise InputError(f"x has no values per channel (m = 0), shape {x.shape}")
    if m > max_batch:
        raise InputError(f"m = N*H*W = {m} values per channel exceeds max_batch = {max_batch}")
    if "dy" in out and out["dy"].shape != x.shape:
        raise InputError(f"dy must have the shape of x {x.shape}, got {out['dy'].shape}")
    for k in _PER_CHANNEL:
        if k in out and out[k].shape != (c,):
            raise InputError(f"{k} must have shape ({c},), got {out[k].shape}")
    if "running_sigma" in out and np.any(out["running_sigma"] < 0):
        raise InputError("running_sigma must be >= 0")
    return out


def _channels(a):
    return np.moveaxis(a, 1, 0).reshape(a.shape[1], -1)


def _unchannels(c, shape):
    return np.moveaxis(c.reshape((shape[1], shape[0]) + tuple(shape[2:])), 0, 1)


def simulate(norm, mode, arrays, *, stats="two-pass", simulator="verilator", width=16, frac=8,
             lanes=1, max_batch=65536, build_dir=None):
    """Run the generated unit RTL on ``arrays`` and compare with the golden model.

    Parameters
    ----------
    norm : "l1" or "l2"
    mode : "train", "infer" or "backward" (backward needs the ``bn_backward`` block)
    arrays : dict of array-likes
        ``x`` (N, C) or (N, C, H, W); ``gamma``, ``beta`` (C,); infer: ``running_mean``,
        ``running_sigma`` (C,); train: optional running statistics (default 0 and 1);
        backward: ``dy`` shaped like ``x``.
    stats, width, frac, lanes, max_batch : the unit's parameters (as ``l1bn generate``)
    simulator : "icarus" or "verilator"
    build_dir : directory for the generated design and the simulator build (kept and reused);
        None: a temporary directory, removed afterwards.

    Returns
    -------
    dict
        For every output ``name`` of the mode (train: y, batch_mean, batch_sigma, running_mean,
        running_sigma; infer: y; backward: dx, dgamma, dbeta): ``name`` (floats, y shaped like
        x, the others (C,)), ``name_codes`` (the RTL's integer codes), ``golden_name`` (the
        golden model's codes); ``mismatches`` (int), ``mismatch_list`` (list of ``(name,
        channel, index, rtl, golden)``, at most 100), ``saturated`` (dict of counts: the inputs'
        quantization ``input_<array>`` and the unit's stages, from the golden model),
        ``saturated_total``, ``cycles`` (simulated cycles), ``design`` (module name),
        ``simulator``.

    Raises
    ------
    InputError
        Bad input or parameters; nothing is generated or written.
    sim.runner.SimulationFailed
        The simulator did not build or run.
    """
    from golden import bn_unit as gold
    from golden import fixed

    if simulator not in ("icarus", "verilator"):
        raise InputError(f"simulator must be icarus or verilator, got {simulator!r}")
    from sim import runner
    why = runner.available(simulator)
    if why:
        raise InputError(f"simulator {simulator} cannot run here: {why}")
    if not isinstance(max_batch, int) or isinstance(max_batch, bool) or max_batch < 1:
        raise InputError(f"max_batch must be an integer >= 1, got {max_batch!r}")
    a = _validate(mode, arrays, max_batch)
    try:
        cfg = gold.UnitConfig(norm=norm, stats=stats, width=width, frac=frac, guard=8,
                              max_batch=max_batch)
        if isinstance(lanes, bool) or not isinstance(lanes, int) or not 1 <= lanes <= 64:
            raise ValueError(f"lanes must be an integer in [1, 64], got {lanes!r}")
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if cfg.coef.width > 62:
        raise InputError(f"width {width} too large for l1bn simulate (statistics must fit 62 "
                         "bits)")
    if mode == "backward":
        return _simulate_backward(cfg, a, simulator=simulator, lanes=lanes, build_dir=build_dir)

    x = a["x"]
    c = x.shape[1]
    # The golden model quantizes exactly as below (fixed.quantize, half_even) and counts.
    try:
        g = gold.run(cfg, mode, **a)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    xq, _ = fixed.quantize(x, cfg.data)
    gq = fixed.quantize(a["gamma"], cfg.data)[0]
    bq = fixed.quantize(a["beta"], cfg.data)[0]
    rm = fixed.quantize(a.get("running_mean", np.zeros(c)), cfg.stat)[0]
    rs = fixed.quantize(a.get("running_sigma", np.ones(c)), cfg.stat)[0]
    xc = _channels(xq).astype(np.int64)
    inputs = dict(x=xc, gamma=np.asarray(gq, np.int64), beta=np.asarray(bq, np.int64),
                  running_mean=np.asarray(rm, np.int64), running_sigma=np.asarray(rs, np.int64))
    name, dump = _run_rtl("bn_unit", dict(norm=norm, stats=stats, width=width, frac=frac,
                                          lanes=lanes, max_batch=max_batch),
                          "user_run", mode, inputs, simulator, build_dir)
    f = gold.forward_train if mode == "train" else gold.forward_infer
    sat_y = [int(f(cfg, xc[ch], int(gq[ch]), int(bq[ch]), int(rm[ch]), int(rs[ch]))["sat"]["y"])
             for ch in range(c)]
    rtl = {}
    for out_name, gkey in _OUTPUTS[mode].items():
        rtl[out_name] = dump["y"] if out_name == "y" else np.asarray(dump[gkey], np.int64)
    golden = {k: np.asarray(g[f"{gk}_codes"], np.int64) for k, gk in _OUTPUTS[mode].items()}
    golden["y"] = _channels(golden["y"])
    fmts = {k: (cfg.data if k == "y" else cfg.stat) for k in _OUTPUTS[mode]}
    return _collect(name, simulator, x.shape, rtl, golden, fmts, dump, "y_sat", sat_y,
                    {k: int(v) for k, v in g["sat"].items()})


def _run_rtl(block, params, testcase, mode, inputs, simulator, build_dir):
    """Generate ``block``, run ``sim.user_run.<testcase>`` on ``inputs``; (module name, dump)."""
    from sim import runner
    from synth.generate import generate

    def run_in(root):
        root = Path(root)
        verilog, manifest_path = generate(block, root / "designs", **params)
        manifest = json.loads(manifest_path.read_text())
        work = root / manifest["name"] / simulator
        work.mkdir(parents=True, exist_ok=True)
        fd, data_path = tempfile.mkstemp(dir=work, prefix="user_data.", suffix=".npz")
        dump_path = data_path[:-4] + ".out.npz"
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **inputs)
            runner.run(verilog=verilog, toplevel=manifest["name"], test_module="sim.user_run",
                       simulator=simulator, build_dir=work, testcase=testcase,
                       config={"manifest": manifest, "seed": 1, "mode": mode,
                               "data_path": data_path, "dump_path": dump_path})
            with np.load(dump_path, allow_pickle=False) as f:
                dump = {k: f[k] for k in f.files}
        finally:
            for pth in (data_path, dump_path):
                if os.path.exists(pth):
                    os.unlink(pth)
        return manifest["name"], dump

    if build_dir is None:
        with tempfile.TemporaryDirectory(prefix="l1bn-simulate-") as tmp:
            return run_in(tmp)
    return run_in(build_dir)


def _collect(name, simulator, shape, rtl, golden, fmts, dump, sat_key, sat_golden, sat):
    """Compare the RTL's codes with the golden model's; build the result dict.

    ``rtl``/``golden``: output name -> codes; the per-element output (y or dx) as (C, m).
    """
    from golden import fixed

    result = {"design": name, "simulator": simulator, "cycles": int(dump["cycles"])}
    mism = []
    total = 0

    def note(item):
        if len(mism) < 100:
            mism.append(item)

    for out_name in rtl:
        r, want = np.asarray(rtl[out_name], np.int64), np.asarray(golden[out_name], np.int64)
        per_element = r.ndim == 2
        bad = np.argwhere(r != want)
        total += len(bad)
        for idx in bad[:100]:
            idx = tuple(int(i) for i in idx)
            note((out_name, idx[0], idx[1] if per_element else 0, int(r[idx]), int(want[idx])))
        if per_element:
            r, want = _unchannels(r, shape), _unchannels(want, shape)
        result[out_name] = fixed.dequantize(r, fmts[out_name])
        result[f"{out_name}_codes"] = r
        result[f"golden_{out_name}"] = want
    # The unit's own saturation flags must agree with the model's counts.
    for ch, want in enumerate(sat_golden):
        if int(dump[sat_key][ch]) != want:
            total += 1
            note((f"{sat_key[:-4]}_saturated_count", ch, 0, int(dump[sat_key][ch]), want))
    for what in ("lanes_beyond_m", "y_last_bad", "err"):
        if int(dump[what]) != 0:
            total += 1
            note((what, -1, 0, int(dump[what]), 0))
    result["mismatches"] = total
    result["mismatch_list"] = mism
    result["saturated"] = sat
    result["saturated_total"] = sum(sat.values())
    return result


def _simulate_backward(cfg, a, *, simulator, lanes, build_dir):
    """Backward on the ``bn_backward`` RTL, with the golden forward's batch mean and sigma of
    the same quantized x (the unit's own statistics, ``stats`` schedule of ``cfg``)."""
    from golden import bn_unit as gold
    from golden import fixed

    x = a["x"]
    c = x.shape[1]
    sat = {}
    q = {}
    for k, fmt in (("x", cfg.data), ("dy", cfg.data), ("gamma", cfg.data)):
        q[k], sat[f"input_{k}"] = fixed.quantize(a[k], fmt)
    xc = _channels(q["x"]).astype(np.int64)
    dyc = _channels(q["dy"]).astype(np.int64)
    gq = np.asarray(q["gamma"], np.int64)
    mean, sigma = np.zeros(c, np.int64), np.zeros(c, np.int64)
    dx = np.zeros(xc.shape, np.int64)
    dgamma, dbeta = np.zeros(c, np.int64), np.zeros(c, np.int64)
    sat_dx = []
    for ch in range(c):
        st = gold.batch_stats(cfg, xc[ch])
        mean[ch], sigma[ch] = st["mean"], st["sigma"]
        r = gold.backward(cfg, xc[ch], dyc[ch], int(gq[ch]), int(mean[ch]), int(sigma[ch]))
        dx[ch], dgamma[ch], dbeta[ch] = r["dx"], r["dgamma"], r["dbeta"]
        sat_dx.append(int(r["sat"]["dx"]))
        for k, v in r["sat"].items():
            sat[k] = sat.get(k, 0) + int(v)
    inputs = dict(x=xc, dy=dyc, gamma=gq, mean=mean, sigma=sigma)
    params = dict(norm=cfg.norm, width=cfg.width, frac=cfg.frac, lanes=lanes,
                  max_batch=cfg.max_batch)
    name, dump = _run_rtl("bn_backward", params, "user_run_backward", "backward", inputs,
                          simulator, build_dir)
    rtl = {"dx": dump["dx"], "dgamma": dump["dgamma"], "dbeta": dump["dbeta"]}
    golden = {"dx": dx, "dgamma": dgamma, "dbeta": dbeta}
    fmts = {"dx": cfg.data, "dgamma": cfg.grad, "dbeta": cfg.grad}
    return _collect(name, simulator, x.shape, rtl, golden, fmts, dump, "dx_sat", sat_dx, sat)


def mismatch_lines(result, limit=10):
    """Human-readable lines: where the RTL and the golden model disagree."""
    lines = [f"{result['mismatches']} mismatches between the RTL ({result['simulator']}) and "
             "the golden model"]
    for name, ch, i, rtl, want in result["mismatch_list"][:limit]:
        where = f"channel {ch}" + (f" index {i}" if name in ("y", "dx") else "")
        lines.append(f"  {name}: {where}: RTL {rtl}, golden {want}")
    return lines


def save(path, result):
    """Write ``result`` (from :func:`simulate`) to ``path`` as ``.npz``, atomically.

    Arrays: every output, ``<name>_codes``, ``golden_<name>``, ``mismatches``, ``cycles``,
    ``saturated`` (total), ``saturated_<stage>`` (each count).
    """
    path = Path(path)
    arrays = {}
    for k, v in result.items():
        if k in ("mismatch_list", "saturated", "saturated_total", "design", "simulator"):
            continue
        arrays[k] = np.asarray(v)
    arrays["saturated"] = np.int64(result["saturated_total"])
    for k, v in result["saturated"].items():
        arrays[f"saturated_{k}"] = np.int64(v)
    arrays["mismatches"] = np.int64(result["mismatches"])
    arrays["cycles"] = np.int64(result["cycles"])
    with atomic_open(path) as f:
        np.savez(f, **arrays)
    return path

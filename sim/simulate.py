"""``l1bn simulate``: run the generated BN unit RTL under cocotb on a user's arrays.

:func:`simulate` quantizes the user's float arrays to the unit's formats (the golden model's
quantization: :func:`l1bn.golden.fixed.quantize`, half-even, saturation counted), generates the design
with :func:`l1bn.hdl.generate.generate`, streams every channel through ONE cocotb simulation
(:mod:`l1bn.sim.user_run`), collects every output code and compares it with the bit-accurate golden
model (:func:`l1bn.golden.bn_unit.run`). :func:`save` writes the result as an ``.npz`` atomically.

Bad input raises :class:`InputError` (a ``ValueError``) before anything is generated or written.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from l1bn.hdl.manifest import numerics
from l1bn.util.files import atomic_open

__all__ = ["InputError", "MAX_ELEMENTS", "MODES", "check_arrays", "config", "expected_names",
           "load_inputs", "mismatch_lines", "save", "simulate"]

MODES = ("train", "infer", "backward")
_PER_CHANNEL = ("gamma", "beta", "running_mean", "running_sigma")
#: Output names per mode; train names map to the golden model's keys.
_OUTPUTS = {
    "train": {"y": "y", "batch_mean": "mean", "batch_sigma": "sigma",
              "running_mean": "running_mean", "running_sigma": "running_sigma"},
    "infer": {"y": "y"},
    "backward": {"dx": "dx", "dgamma": "dgamma", "dbeta": "dbeta"},
}


#: Default of ``max_elements``: values in all arrays of one input together (2**24; as float64
#: 128 MiB per copy, well within a machine of a few GiB for the copies a run makes).
MAX_ELEMENTS = 1 << 24

#: Arrays each mode needs, and those it takes when given.
_NEED = {"train": ("x", "gamma", "beta"),
         "infer": ("x", "gamma", "beta", "running_mean", "running_sigma"),
         "backward": ("x", "dy", "gamma")}
_OPTIONAL = {"train": ("running_mean", "running_sigma"), "infer": (), "backward": ("beta",)}
_NPY_MAGIC = b"\x93NUMPY"


class InputError(ValueError):
    """Bad user input (missing or unknown array, wrong shape or dtype, non-finite values,
    m > max_batch, C = 0, too many values, an unreadable file) or a bad parameter."""


def expected_names(mode):
    """``(needed, optional)`` array names of ``mode``; :class:`InputError` for a bad mode."""
    if mode not in MODES:
        raise InputError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    return _NEED[mode], _OPTIONAL[mode]


def _check_names(mode, names, where):
    """Refuse unknown and missing array names of ``mode``."""
    need, opt = expected_names(mode)
    unknown = [n for n in names if n not in need + opt]
    if unknown:
        raise InputError(f"{where}unknown array{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(map(repr, unknown))} (mode {mode} takes "
                         f"{', '.join(need)}" + (f"; optional {', '.join(opt)})" if opt else ")"))
    missing = [k for k in need if k not in names]
    if missing:
        raise InputError(f"{where}mode {mode} needs array{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(missing)} (missing)")


def _header(zf, info):
    """``(shape, dtype)`` of the ``.npy`` member ``info`` from its header, data not read."""
    fmt = np.lib.format
    with zf.open(info) as f:
        version = fmt.read_magic(f)
        read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, _fortran, dtype = read(f)
        size = f.tell() + int(np.prod(shape, dtype=object)) * dtype.itemsize
    if dtype.hasobject or dtype.kind not in "biuf":
        raise ValueError(f"dtype {dtype} is not a numeric type (integers or floats)")
    if info.file_size < size:
        raise ValueError(f"truncated ({info.file_size} bytes, its header says {size})")
    return shape, dtype


def _open_zip(path):
    """``path`` as an open :class:`zipfile.ZipFile`; :class:`InputError` if it is not an
    ``.npz`` archive (naming what it is instead when that is clear)."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{path} is not a regular file")
        with open(path, "rb") as f:
            head = f.read(len(_NPY_MAGIC))
        if head == _NPY_MAGIC:
            raise InputError(f"{path} is a single .npy array, not an .npz archive "
                             "(write the arrays with numpy.savez)")
        if not zipfile.is_zipfile(path):
            raise InputError(f"{path} is not an .npz archive (a zip of .npy arrays, as "
                             "numpy.savez writes)")
        return zipfile.ZipFile(path)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except zipfile.BadZipFile as exc:
        raise InputError(f"{path} is not a readable .npz archive ({exc})") from None


def load_inputs(path, mode=None, *, max_elements=MAX_ELEMENTS):
    """The arrays of the ``.npz`` file ``path`` as a dict, read lazily and bounded.

    The members' names are checked first (with ``mode``: an unknown or missing array is an
    error naming it and the expected names), then every member's ``.npy`` header (a numeric
    dtype, as much data as the header says, and at most ``max_elements`` values in all
    members together), and only then are the arrays loaded (never pickles).

    Raises
    ------
    InputError
        Naming the file, the array and the reason; nothing has been loaded.
    """
    if isinstance(max_elements, bool) or not isinstance(max_elements, int) or max_elements < 1:
        raise InputError(f"max_elements must be an integer >= 1, got {max_elements!r}")
    with _open_zip(path) as zf:
        infos = {i.filename.removesuffix(".npy"): i for i in zf.infolist() if not i.is_dir()}
        if mode is not None:
            _check_names(mode, list(infos), f"{path}: ")
        total = 0
        for name, info in infos.items():
            try:
                if not info.filename.endswith(".npy"):
                    raise ValueError("not a .npy array")
                shape, _dtype = _header(zf, info)
            except (ValueError, EOFError, OSError, zipfile.BadZipFile) as exc:
                why = str(exc).replace("\n", " ")
                raise InputError(f"{path}: array {name!r}: {why}") from None
            total += int(np.prod(shape, dtype=object))
            if total > max_elements:
                raise InputError(f"{path}: more than {max_elements} values in all arrays "
                                 f"(array {name!r} has shape {shape}; --max-elements raises "
                                 "the limit)")
    try:
        with np.load(path, allow_pickle=False) as f:
            return {name: f[name] for name in infos}
    except (ValueError, EOFError, OSError, zipfile.BadZipFile) as exc:
        why = str(exc).replace("\n", " ")
        raise InputError(f"cannot read {path}: {why}") from None


def config(norm, *, stats="two-pass", width=16, frac=8, lanes=1, max_batch=65536, eps=None,
           alpha=None, guard=None):
    """The :class:`l1bn.golden.bn_unit.UnitConfig` of a run; :class:`InputError` naming a bad
    parameter. ``eps``, ``alpha``, ``guard`` None: the unit's defaults (1e-5, 0.9, 8)."""
    from l1bn.golden import bn_unit as gold

    given = {k: v for k, v in (("eps", eps), ("alpha", alpha), ("guard", guard)) if v is not None}
    try:
        cfg = gold.UnitConfig(norm=norm, stats=stats, width=width, frac=frac,
                              max_batch=max_batch, **given)
        if isinstance(lanes, bool) or not isinstance(lanes, int) or not 1 <= lanes <= 64:
            raise ValueError(f"lanes must be an integer in [1, 64], got {lanes!r}")
    except (ValueError, TypeError) as exc:
        raise InputError(str(exc)) from None
    if max(cfg.stat.width, cfg.grad.width) > 62:
        raise InputError(f"width {width} with guard {cfg.guard} and max_batch {max_batch} is too "
                         "large for l1bn simulate (the statistics and gradients must fit 62 "
                         "bits)")
    return cfg


def check_arrays(mode, arrays, max_batch):
    """Float64 copies of the arrays ``mode`` uses, checked (names, dtypes, finite values,
    shapes, m <= ``max_batch``); raises :class:`InputError`."""
    _check_names(mode, list(arrays), "")
    need, opt = expected_names(mode)
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
             lanes=1, max_batch=65536, build_dir=None, eps=None, alpha=None, guard=None):
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
    build_dir : directory for the generated design and the simulator build (kept and reused;
        runs may share it: each run's configuration, data and results are in a directory of
        its own, removed after the run unless the simulator failed); None: a temporary
        directory, removed afterwards unless the simulator failed.
    eps, alpha, guard : the unit's eps (>= 0, fitting the statistics format), running-statistics
        weight alpha (in [0, 1]) and guard bits (3 to 32), for the RTL and the golden model
        alike; None: the defaults 1e-5, 0.9 and 8. The result's ``numerics`` gives each value
        asked for, its code and the value in effect.

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
        ``simulator``, ``numerics`` (:func:`l1bn.hdl.manifest.numerics`).

    Raises
    ------
    InputError
        Bad input or parameters; nothing is generated or written.
    l1bn.sim.runner.SimulationFailed
        The simulator did not build or run; its ``log`` is kept and named.
    """
    from l1bn.golden import bn_unit as gold
    from l1bn.golden import fixed

    if simulator not in ("icarus", "verilator"):
        raise InputError(f"simulator must be icarus or verilator, got {simulator!r}")
    from l1bn.sim import runner
    why = runner.available(simulator)
    if why:
        raise InputError(f"simulator {simulator} cannot run here: {why}")
    cfg = config(norm, stats=stats, width=width, frac=frac, lanes=lanes, max_batch=max_batch,
                 eps=eps, alpha=alpha, guard=guard)
    a = check_arrays(mode, arrays, cfg.max_batch)
    if mode == "backward":
        return _simulate_backward(cfg, a, simulator=simulator, lanes=lanes, build_dir=build_dir,
                                  eps=eps, guard=guard)

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
    params = dict(norm=norm, stats=stats, width=width, frac=frac, lanes=lanes,
                  max_batch=max_batch, eps=eps, alpha=alpha, guard=guard)
    name, dump = _run_rtl("bn_unit", params, "user_run", mode, inputs, simulator, build_dir)
    f = gold.forward_train if mode == "train" else gold.forward_infer
    sat_y = [int(f(cfg, xc[ch], int(gq[ch]), int(bq[ch]), int(rm[ch]), int(rs[ch]))["sat"]["y"])
             for ch in range(c)]
    rtl = {}
    for out_name, gkey in _OUTPUTS[mode].items():
        rtl[out_name] = dump["y"] if out_name == "y" else np.asarray(dump[gkey], np.int64)
    golden = {k: np.asarray(g[f"{gk}_codes"], np.int64) for k, gk in _OUTPUTS[mode].items()}
    golden["y"] = _channels(golden["y"])
    fmts = {k: (cfg.data if k == "y" else cfg.stat) for k in _OUTPUTS[mode]}
    result = _collect(name, simulator, x.shape, rtl, golden, fmts, dump, "y_sat", sat_y,
                      {k: int(v) for k, v in g["sat"].items()})
    return dict(result, numerics=numerics(cfg))


def _run_rtl(block, params, testcase, mode, inputs, simulator, build_dir):
    """Generate ``block``, run ``l1bn.sim.user_run.<testcase>`` on ``inputs``; (module name, dump).

    The design and the simulator build go to ``build_dir`` (shared with other runs), this run's
    configuration, data and results to a fresh directory of its own, removed afterwards unless
    the simulator failed (its log is in it). ``build_dir`` None: a temporary directory for all.
    """
    from l1bn.sim import runner
    from l1bn.hdl.generate import generate

    own = build_dir is None
    root = Path(tempfile.mkdtemp(prefix="l1bn-simulate-")) if own else Path(build_dir)
    run_dir, failed = None, False
    try:
        verilog, manifest_path = generate(block, root / "designs", **params)
        manifest = json.loads(manifest_path.read_text())
        work = root / manifest["name"] / simulator
        work.mkdir(parents=True, exist_ok=True)
        run_dir = Path(tempfile.mkdtemp(dir=work, prefix="run-"))
        data_path, dump_path = run_dir / "user_data.npz", run_dir / "user_dump.npz"
        with open(data_path, "wb") as f:
            np.savez(f, **inputs)
        runner.run(verilog=verilog, toplevel=manifest["name"], test_module="l1bn.sim.user_run",
                   simulator=simulator, build_dir=work, testcase=testcase, run_dir=run_dir,
                   config={"manifest": manifest, "seed": 1, "mode": mode,
                           "data_path": str(data_path), "dump_path": str(dump_path)})
        with np.load(dump_path, allow_pickle=False) as f:
            return manifest["name"], {k: f[k] for k in f.files}
    except runner.SimulationFailed:
        failed = True
        raise
    finally:
        if failed:    # keep the logs, not the data
            (run_dir / "user_data.npz").unlink(missing_ok=True)
        elif own or run_dir is not None:
            shutil.rmtree(root if own else run_dir, ignore_errors=True)


def _collect(name, simulator, shape, rtl, golden, fmts, dump, sat_key, sat_golden, sat):
    """Compare the RTL's codes with the golden model's; build the result dict.

    ``rtl``/``golden``: output name -> codes; the per-element output (y or dx) as (C, m).
    """
    from l1bn.golden import fixed

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


def _int_column(values):
    """Exact integers of any size as decimal strings (``.npz`` without pickles)."""
    return np.array([str(int(v)) for v in values])


def _simulate_backward(cfg, a, *, simulator, lanes, build_dir, eps, guard):
    """Backward on the ``bn_backward`` RTL, with what the golden forward hands over for the
    same quantized x (its exact sum, spread and, l1, sum of signs)."""
    from l1bn.golden import fixed
    from l1bn.golden.bn_backward import backward
    from l1bn.golden.bn_forward import batch_stats

    x = a["x"]
    c = x.shape[1]
    sat = {}
    q = {}
    for k, fmt in (("x", cfg.data), ("dy", cfg.data), ("gamma", cfg.data)):
        q[k], sat[f"input_{k}"] = fixed.quantize(a[k], fmt)
    xc = _channels(q["x"]).astype(np.int64)
    dyc = _channels(q["dy"]).astype(np.int64)
    gq = np.asarray(q["gamma"], np.int64)
    hand = {k: np.zeros(c, dtype=object) for k in ("sum_x", "spread", "sum_sgn")}
    dx = np.zeros(xc.shape, np.int64)
    dgamma, dbeta = np.zeros(c, np.int64), np.zeros(c, np.int64)
    sat_dx = []
    for ch in range(c):
        st = batch_stats(cfg, xc[ch])["sums"]
        r = backward(cfg, xc[ch], dyc[ch], int(gq[ch]), st["sum_x"], st["spread"])
        for k in hand:
            hand[k][ch] = st.get(k, 0)
        dx[ch], dgamma[ch], dbeta[ch] = r["dx"], r["dgamma"], r["dbeta"]
        sat_dx.append(int(r["sat"]["dx"]))
        for k, v in r["sat"].items():
            sat[k] = sat.get(k, 0) + int(v)
    inputs = dict(x=xc, dy=dyc, gamma=gq, **{k: _int_column(v) for k, v in hand.items()})
    params = dict(norm=cfg.norm, width=cfg.width, frac=cfg.frac, lanes=lanes,
                  max_batch=cfg.max_batch, eps=eps, guard=guard)
    name, dump = _run_rtl("bn_backward", params, "user_run_backward", "backward", inputs,
                          simulator, build_dir)
    rtl = {"dx": dump["dx"], "dgamma": dump["dgamma"], "dbeta": dump["dbeta"]}
    golden = {"dx": dx, "dgamma": dgamma, "dbeta": dbeta}
    fmts = {"dx": cfg.data, "dgamma": cfg.grad, "dbeta": cfg.grad}
    result = _collect(name, simulator, x.shape, rtl, golden, fmts, dump, "dx_sat", sat_dx, sat)
    return dict(result, numerics=numerics(cfg, ("eps", "guard")))


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
        if k in ("mismatch_list", "saturated", "saturated_total", "design", "simulator",
                 "numerics"):
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

"""``l1bn explore SPEC.toml -o DIR``: a design-space sweep of the BN units, accuracy against
cost, with L1 and L2 Pareto fronts side by side.

The spec (TOML) names the points:

.. code-block:: toml

    [sample]
    kind = "grid"         # every combination; or "random": `points` distinct ones, `seed`
    points = 200
    seed = 1

    [space]               # every entry a list (a single value is a list of one)
    direction = ["forward", "backward"]     # bn_unit, bn_backward
    norm = ["l1", "l2"]
    stats = ["two-pass", "one-pass"]        # forward L2 only: L1 and backward are two-pass
    width = [8, 12, 16]
    frac = [4]            # optional: width // 2 when absent
    guard = [8]
    lanes = [1, 4]
    adder = ["ripple", "brent-kung", "kogge-stone"]   # OSU 0.18 um carry architecture
    booth = [true, false]                             # OSU 0.18 um radix-4 Booth multipliers

    [targets]
    flows = ["osu018"]    # and/or "ecp5", "ice40"

Every point runs the report's stages (:func:`l1bn.report.stages.evaluate`, on the executor of
``--jobs`` or ``--scheduler``, cached in ``DIR/.cache``: a re-run computes only new points):
OSU 0.18 um synthesis with the point's adder and Booth choice, the unit's Icarus simulation
(the input activity and the cycle check), OpenSTA timing and power, and the FPGA flows asked
for. Its accuracy is the bit-accurate model's worst error against float64 (:func:`accuracy`)
on a fixed activation set. ``DIR/points.csv`` and ``points.json`` hold a row per point (every
parameter and figure a column); ``DIR/fronts.png`` (and ``.svg``) the Pareto fronts of error
against area, error against energy per element, and Fmax against area, L1 and L2 side by side.
"""

import itertools
import math
import tomllib

import numpy as np

from l1bn.synth import yosys

from .sweep import ASIC, HEADLINE_LAYER, STA

__all__ = ["SpecError", "load_spec", "points", "accuracy", "pareto", "explore"]

#: The space's parameters and what each may hold.
SPACE = {"direction": ("forward", "backward"), "norm": ("l1", "l2"),
         "stats": ("two-pass", "one-pass"), "width": int, "frac": int, "guard": int,
         "lanes": int, "adder": tuple(yosys.ADDERS), "booth": bool}
#: Target flows and their stages.
FLOWS = {"osu018": (ASIC, STA, "sim_icarus"), "ecp5": ("fpga_ecp5-25k",),
         "ice40": ("fpga_ice40-hx8k",)}
#: Values per channel of the accuracy set, and channels per family.
ACCURACY_M, ACCURACY_CHANNELS = 256, 2
#: Largest number of points a spec may name.
MAX_POINTS = 10000


class SpecError(ValueError):
    """A bad spec: its message is one line for the user."""


def _values(name, value):
    vals = value if isinstance(value, list) else [value]
    if not vals:
        raise SpecError(f"[space] {name}: empty range")
    kind = SPACE[name]
    for v in vals:
        ok = (v in kind) if isinstance(kind, tuple) else (
            isinstance(v, kind) and (kind is bool or not isinstance(v, bool)))
        if not ok:
            want = ", ".join(map(str, kind)) if isinstance(kind, tuple) else kind.__name__
            raise SpecError(f"[space] {name}: {v!r} is not one of {want}" if isinstance(
                kind, tuple) else f"[space] {name}: {v!r} is not an {want}")
    return list(dict.fromkeys(vals))


def load_spec(text):
    """The checked spec of TOML ``text``: ``{"sample": {...}, "space": {...}, "flows": [...]}``.

    Raises
    ------
    SpecError
        On a TOML error, an unknown table or parameter, an empty range, a value of the wrong
        kind, or a sample that cannot be drawn.
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"not TOML: {exc}") from None
    for table in doc:
        if table not in ("sample", "space", "targets"):
            raise SpecError(f"unknown table [{table}] (sample, space, targets)")
    sample = dict(doc.get("sample", {}))
    for key in sample:
        if key not in ("kind", "points", "seed"):
            raise SpecError(f"[sample]: unknown parameter {key!r} (kind, points, seed)")
    kind = sample.setdefault("kind", "grid")
    if kind not in ("grid", "random"):
        raise SpecError(f"[sample] kind: 'grid' or 'random', got {kind!r}")
    for key, lo in (("points", 1), ("seed", 0)):
        v = sample.setdefault(key, 1 if key == "seed" else 100)
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= MAX_POINTS * 1000:
            raise SpecError(f"[sample] {key}: an integer >= {lo}, got {v!r}")
    space = {}
    for name, value in doc.get("space", {}).items():
        if name not in SPACE:
            raise SpecError(f"[space]: unknown parameter {name!r} ({', '.join(SPACE)})")
        space[name] = _values(name, value)
    if "width" not in space:
        raise SpecError("[space] width: required")
    targets = doc.get("targets", {})
    for key in targets:
        if key != "flows":
            raise SpecError(f"[targets]: unknown parameter {key!r} (flows)")
    flows = targets.get("flows", ["osu018"])
    flows = flows if isinstance(flows, list) else [flows]
    bad = [f for f in flows if f not in FLOWS]
    if not flows or bad:
        raise SpecError(f"[targets] flows: one or more of {', '.join(FLOWS)}, got {flows!r}")
    return {"sample": sample, "space": space, "flows": list(dict.fromkeys(flows))}


def _point(combo):
    """A combination of the space as a design: ``(block, given parameters, synth)``; the
    parameters a combination does not apply to are dropped (stats beyond forward L2)."""
    c = dict(combo)
    backward = c.pop("direction", "forward") == "backward"
    synth = {"adder": c.pop("adder", "kogge-stone"), "booth": c.pop("booth", True)}
    c.setdefault("norm", "l1")
    c.setdefault("frac", c["width"] // 2)
    if backward or c["norm"] == "l1":
        c.pop("stats", None)
    return ("bn_backward" if backward else "bn_unit"), c, synth


def points(spec):
    """The spec's distinct points ``[(block, params, synth)]``, parameters resolved.

    Raises
    ------
    SpecError
        On an invalid combination (naming it and why), or more than :data:`MAX_POINTS`.
    """
    from l1bn.hdl.registry import resolve
    names = list(spec["space"])
    grid = [dict(zip(names, vals)) for vals in itertools.product(*spec["space"].values())]
    if len(grid) > MAX_POINTS * 100:
        raise SpecError(f"the space has {len(grid)} combinations, more than "
                        f"{MAX_POINTS * 100}")
    out, seen = [], set()
    for combo in grid:
        block, given, synth = _point(combo)
        try:
            params = resolve(block, **given)
        except ValueError as exc:
            raise SpecError(f"invalid combination {combo}: {exc}") from None
        key = (block, tuple(sorted(params.items())), tuple(sorted(synth.items())))
        if key not in seen:
            seen.add(key)
            out.append((block, params, synth))
    sample = spec["sample"]
    if sample["kind"] == "random":
        if sample["points"] > len(out):
            raise SpecError(f"[sample] points: {sample['points']} asked, the space has "
                            f"{len(out)} distinct points")
        rng = np.random.default_rng(sample["seed"])
        out = [out[i] for i in sorted(rng.choice(len(out), sample["points"], replace=False))]
    if len(out) > MAX_POINTS:
        raise SpecError(f"{len(out)} points, more than {MAX_POINTS}")
    return out


def _config(params):
    from l1bn.golden.bn_unit import UnitConfig
    return UnitConfig(norm=params["norm"], stats=params.get("stats") or "two-pass",
                      width=params["width"], frac=params["frac"], guard=params["guard"],
                      max_batch=params["max_batch"],
                      eps=1e-5 if params.get("eps") is None else params["eps"])


def _channel_error(cfg, block, x, g, b, dy):
    """``(worst |model - float64| in LSB or None, values outside the format)`` of one channel
    of codes ``x`` (gamma ``g``, beta ``b`` or dy codes ``dy``, by direction), float64 seeing the
    codes translated by their median (its rounding then cancels nothing)."""
    from l1bn.golden import fixed, reference as ref
    from l1bn.golden.bn_backward import backward
    from l1bn.golden.bn_forward import batch_stats, forward_train
    d, eps = cfg.data, cfg.eps_q * cfg.stat.lsb
    xr = fixed.dequantize(x - int(np.median(x)), d)[:, None]
    if block == "bn_unit":
        got = forward_train(cfg, x, g, b, 0, 0)["y"]
        want = ref.forward_train(xr, [g * d.lsb], [b * d.lsb], cfg.norm, eps)[0][:, 0]
    else:
        sums = batch_stats(cfg, x)["sums"]
        got = backward(cfg, x, dy, g, sums["sum_x"], sums["spread"])["dx"]
        want = ref.backward(fixed.dequantize(dy, d)[:, None], xr, [g * d.lsb], cfg.norm,
                            eps)[0][:, 0]
    want = want / d.lsb
    inside = (want >= d.min_code) & (want <= d.max_code)
    worst = float(np.max(np.abs(got[inside] - want[inside]))) if inside.any() else None
    return worst, int((~inside).sum())


def _channels(cfg, rng, real):
    """``(kind, x codes, gamma, beta, dy codes)`` of the accuracy set: :data:`ACCURACY_CHANNELS`
    channels of every family the format can hold, then the ``real`` activations quantized
    (saturating) to the format; a family it cannot hold as ``(kind, None, ...)``."""
    from l1bn.golden import fixed
    from l1bn.golden.channels import KINDS, channel_codes
    d = cfg.data

    def scalars():
        return (int(fixed.quantize(rng.uniform(0.5, 2), d)[0]),
                int(fixed.quantize(rng.uniform(-1, 1), d)[0]))
    for kind in KINDS:
        for _ in range(ACCURACY_CHANNELS):
            try:
                x = channel_codes(cfg, rng, ACCURACY_M, kind)
            except ValueError:          # a family the format is too narrow for
                yield kind, None, 0, 0, None
                continue
            g, b = scalars()
            dy = fixed.quantize(rng.standard_normal(ACCURACY_M) * 0.5, d)[0]
            yield kind, x, g, b, dy
    for x, dy in zip(real["x"], real["dy"]) if real else ():
        g, b = scalars()
        yield "real", fixed.quantize(x, d)[0], g, b, fixed.quantize(dy, d)[0]


def accuracy(block, params, seed=1, real=None):
    """The bit-accurate model's worst error against float64 on the accuracy set.

    The set: :data:`ACCURACY_CHANNELS` channels of :data:`ACCURACY_M` values of every family of
    :data:`l1bn.golden.channels.KINDS` (Gaussian, ReLU, constant, two-level, sparse, a large
    mean with a small spread, ...), and the channels of ``real`` (``{"x", "dy"}``: float arrays,
    a channel per row, quantized to the format with saturation;
    :func:`l1bn.experiments.activations.captured`, the experiments' real activations); gamma in
    [0.5, 2), beta in [-1, 1); backward, dy ~ N(0, 1/4) for the families (constant channels
    left out: float64 has no gradient there). Forward: training y; backward: dx. A value whose
    float64 result lies outside the format is counted in ``outside`` instead. Returns
    ``{"error": worst |model - float64| (real units), "error_lsb": the same in LSB,
    "error_lsb_real": over the real channels alone (None without them), "outside", "values",
    "skipped"}`` (``skipped``: the families a narrow format cannot hold, space-separated; the
    errors are None when it holds none).
    """
    cfg = _config(params)
    rng = np.random.default_rng(seed)
    worst = {"all": None, "real": None}
    outside, values, skipped = 0, 0, set()
    for kind, x, g, b, dy in _channels(cfg, rng, real):
        if x is None:
            skipped.add(kind)
            continue
        if block != "bn_unit" and np.ptp(x) == 0:
            continue
        err, out = _channel_error(cfg, block, x, g, b, dy)
        for key in ("all", "real") if kind == "real" else ("all",):
            if err is not None:
                worst[key] = max(worst[key] or 0.0, err)
        outside += out
        values += x.size
    lsb = cfg.data.lsb
    return {"error": None if worst["all"] is None else worst["all"] * lsb,
            "error_lsb": worst["all"], "error_lsb_real": worst["real"], "outside": outside,
            "values": values, "skipped": " ".join(sorted(skipped))}


def pareto(rows, x, y, maximize_y=False):
    """The rows on the Pareto front of ``x`` (smaller is better) and ``y`` (smaller, or larger
    with ``maximize_y``), sorted by ``x``; rows without both figures are left out."""
    sign = -1 if maximize_y else 1
    have = sorted((r for r in rows if r.get(x) is not None and r.get(y) is not None),
                  key=lambda r: (r[x], sign * r[y]))
    front, best = [], math.inf
    for r in have:
        if sign * r[y] < best:
            front.append(r)
            best = sign * r[y]
    return front


def _row(block, params, synth, res, acc):
    """A point's row: every parameter and figure a column (None where not run)."""
    from .figures import figure_value as _figure, unit_figures
    row = {"direction": "backward" if block == "bn_backward" else "forward",
           "norm": params["norm"], "stats": params.get("stats") or "two-pass",
           **{k: params[k] for k in ("width", "frac", "guard", "lanes")}, **synth,
           "name": res.get("name"), "error": acc["error"], "error_lsb": acc["error_lsb"],
           "error_lsb_real": acc["error_lsb_real"], "outside": acc["outside"],
           "families_skipped": acc["skipped"]}
    if "error" in res and isinstance(res["error"], str):
        return dict(row, failed=res["error"])
    row.update({"area_um2": _figure(res, "osu018", "area_um2"),
                "critical_ns": _figure(res, "sta", "critical_ns"),
                "fmax_mhz": _figure(res, "sta", "fmax_mhz"),
                "power_mw": _figure(res, "sta", "power_mw"),
                "mismatches": _figure(res, "sim_icarus", "mismatches"),
                "cached": " ".join(sorted(res.get("cached", [])))})
    lay = unit_figures(res)["layers"].get(HEADLINE_LAYER.name, {})
    row["cycles_per_element"] = lay.get("cycles_per_element")
    row["energy_per_element_pj"] = lay.get("energy_per_element_pj")
    for flow, section in (("ecp5", "fpga_ecp5-25k"), ("ice40", "fpga_ice40-hx8k")):
        for key in ("fmax_mhz", "luts", "dsp"):
            row[f"{flow}_{key}"] = _figure(res, section, key)
    return row


#: The fronts of ``fronts.png``: (x, y, larger y is better, axis labels); areas in mm^2.
FRONTS = (("area_um2", "error", False, "OSU 0.18 um area (mm^2)", "worst error vs float64"),
          ("energy_per_element_pj", "error", False,
           f"energy per element, {HEADLINE_LAYER.name} (pJ)", "worst error vs float64"),
          ("area_um2", "fmax_mhz", True, "OSU 0.18 um area (mm^2)", "Fmax, OpenSTA (MHz)"))
_SCALE = {"area_um2": 1e-6}


def _axis_scale(ax, values, axis):
    """Logarithmic where the values span more than a factor of 20."""
    v = [x for x in values if x and x > 0]
    if v and max(v) / min(v) > 20:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")


def plot_fronts(rows, out_dir):
    """``fronts.png`` / ``.svg``: per panel of :data:`FRONTS`, every point (light) and the L1
    and L2 Pareto fronts (lines and filled markers; forward solid, backward dashed: a front
    never mixes directions)."""
    from .plots import plt, save_figure
    fig, axes = plt.subplots(1, len(FRONTS), figsize=(5.2 * len(FRONTS), 4.4))
    styles = {"l1": ("tab:blue", "o"), "l2": ("tab:red", "^")}
    for ax, (x, y, up, xl, yl) in zip(axes, FRONTS):
        sx, sy = _SCALE.get(x, 1), _SCALE.get(y, 1)
        xs, ys = [], []
        for direction, ls in (("forward", "-"), ("backward", "--")):
            for norm, (colour, marker) in styles.items():
                sel = [r for r in rows if r["norm"] == norm and r["direction"] == direction]
                pts = [(r[x] * sx, r[y] * sy) for r in sel
                       if r.get(x) is not None and r.get(y) is not None]
                if not pts:
                    continue
                xs += [p[0] for p in pts]
                ys += [p[1] for p in pts]
                ax.scatter(*zip(*pts), s=12, alpha=0.3, color=colour, marker=marker)
                front = [(r[x] * sx, r[y] * sy) for r in pareto(sel, x, y, up)]
                ax.step(*zip(*front), where="post", color=colour, linestyle=ls, linewidth=1.6,
                        marker=marker, markersize=5,
                        label=f"{norm.upper()} {direction} front ({len(front)} of {len(pts)})")
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        _axis_scale(ax, xs, "x")
        _axis_scale(ax, ys, "y")
        ax.grid(True, which="both", alpha=0.3)
        if xs:
            ax.legend(fontsize=7)
    fig.suptitle("Design space: every point (light) and the Pareto fronts (lines); "
                 "lower error, smaller area and energy, higher Fmax are better")
    fig.tight_layout()
    return save_figure(fig, out_dir, "fronts")


def equal_accuracy(rows):
    """L1 against L2 at equal accuracy: per direction and format (width, frac, guard) the worst
    error each norm's points measured, and the smallest area and the lowest energy per element
    each norm reaches in that format (over lanes, adder, Booth and statistics schedule), with
    the L1/L2 ratios. Formats that lack either norm are left out."""
    out = []
    for fmt in sorted({(r["direction"], r["width"], r["frac"], r["guard"]) for r in rows}):
        sel = {n: [r for r in rows if r["norm"] == n and r.get("area_um2") and
                   (r["direction"], r["width"], r["frac"], r["guard"]) == fmt]
               for n in ("l1", "l2")}
        if not sel["l1"] or not sel["l2"]:
            continue
        row = dict(zip(("direction", "width", "frac", "guard"), fmt))
        for n, rs in sel.items():
            errs = [r["error_lsb"] for r in rs if r.get("error_lsb") is not None]
            energy = [r["energy_per_element_pj"] for r in rs if r.get("energy_per_element_pj")]
            row[f"error_lsb_{n}"] = max(errs) if errs else None
            row[f"area_um2_{n}"] = min(r["area_um2"] for r in rs)
            row[f"energy_pj_{n}"] = min(energy) if energy else None
        row["area_l1_over_l2"] = row["area_um2_l1"] / row["area_um2_l2"]
        row["energy_l1_over_l2"] = (row["energy_pj_l1"] / row["energy_pj_l2"]
                                    if row["energy_pj_l1"] and row["energy_pj_l2"] else None)
        out.append(row)
    return out


def summary_lines(rows, fronts_link):
    """Markdown: the equal-accuracy table and what it says, computed from ``rows``."""
    from .tables import md_table
    eq = equal_accuracy(rows)
    if not eq:
        return ["No format has points of both norms: nothing to compare.", ""]

    def fmt(v, spec):
        return "n/a" if v is None else format(v, spec)
    lines = [f"{len(rows)} points; fronts: [{fronts_link}]({fronts_link}). At equal accuracy "
             "(the same format: each norm's model stays within its bound of float64, the "
             "worst errors below), the smallest area and the lowest energy per element each "
             "norm reaches over lanes, carry architecture, Booth and statistics schedule:", ""]
    lines += md_table(["direction", "width", "frac", "guard", "L1 error LSB", "L2 error LSB",
                       "L1 area um^2", "L2 area um^2", "area L1/L2", "L1 pJ", "L2 pJ",
                       "energy L1/L2"],
                      [[r["direction"], r["width"], r["frac"], r["guard"],
                        fmt(r["error_lsb_l1"], ".3f"), fmt(r["error_lsb_l2"], ".3f"),
                        f"{r['area_um2_l1']:.0f}", f"{r['area_um2_l2']:.0f}",
                        f"{r['area_l1_over_l2']:.3f}", fmt(r["energy_pj_l1"], ".1f"),
                        fmt(r["energy_pj_l2"], ".1f"), fmt(r["energy_l1_over_l2"], ".3f")]
                       for r in eq])
    lines.append("")
    for d in ("forward", "backward"):
        sel = [r for r in eq if r["direction"] == d]
        if not sel:
            continue
        wins_a = [f"{r['width']}/{r['guard']}" for r in sel if r["area_l1_over_l2"] < 1]
        loses_a = [f"{r['width']}/{r['guard']}" for r in sel if r["area_l1_over_l2"] >= 1]
        en = [r for r in sel if r["energy_l1_over_l2"] is not None]
        wins_e = [f"{r['width']}/{r['guard']}" for r in en if r["energy_l1_over_l2"] < 1]
        loses_e = [f"{r['width']}/{r['guard']}" for r in en if r["energy_l1_over_l2"] >= 1]
        lines.append(
            f"- {d.capitalize()}: L1 is smaller than L2 in {len(wins_a)} of {len(sel)} formats "
            f"(width/guard {', '.join(wins_a) or 'none'}; not in "
            f"{', '.join(loses_a) or 'none'}), area L1/L2 "
            f"{min(r['area_l1_over_l2'] for r in sel):.3f} to "
            f"{max(r['area_l1_over_l2'] for r in sel):.3f}; cheaper in energy per element in "
            f"{len(wins_e)} of {len(en)} (width/guard {', '.join(wins_e) or 'none'}; not in "
            f"{', '.join(loses_e) or 'none'}).")
    return lines + [""]


def explore(spec, out_dir, jobs=2, scheduler=None, real=None):
    """Run the points of ``spec`` (:func:`load_spec`) and write the table and the fronts under
    ``out_dir`` (module docstring); ``real``: the real activations of the accuracy set
    (:func:`accuracy`). Returns 0, or 1 when a simulation mismatched or a point failed.
    :class:`~l1bn.report.executor.SchedulerError` before anything is written."""
    import sys
    import time
    from pathlib import Path

    from l1bn.util.files import write_json, write_text

    from .cache import tool_versions
    from .executor import executor
    from .tables import write_csv
    pts = points(spec)
    stages = frozenset(s for f in spec["flows"] for s in FLOWS[f])
    designs = [(b, p, stages, synth) for b, p, synth in pts]
    ex = executor(jobs, scheduler)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0, versions, where = time.perf_counter(), tool_versions(), ex.where
    print(f"l1bn explore: {len(designs)} points, {where}", file=sys.stderr, flush=True)
    results = ex.run(designs, out_dir / ".cache", versions, lambda n, _res: print(
        f"[{n}/{len(designs)}] {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True))
    rows = [_row(b, p, synth, res, accuracy(b, p, real=real)) for (b, p, synth), res in zip(pts, results)]
    seconds = time.perf_counter() - t0
    write_csv(out_dir / "points.csv", rows)
    acc_set = ("the channel families of l1bn.golden.channels"
               + (f" and {len(real['x'])} channels of real activations: {real['source']}"
                  if real else ""))
    write_json(out_dir / "points.json", {"spec": spec, "seconds": seconds, "where": where,
                                         "versions": versions, "accuracy_set": acc_set,
                                         "points": rows})
    plot_fronts(rows, out_dir)
    write_text(out_dir / "fronts.md", "\n".join(
        ["# Design-space sweep", "", f"{len(rows)} points in {seconds:.0f} s on {where}. "
         f"Accuracy set: {acc_set}.", ""] + summary_lines(rows, "fronts.png")))
    print(f"wrote {out_dir / 'points.csv'}, points.json, fronts.png and fronts.md: {len(rows)} "
          f"points in {seconds:.1f} s")
    bad = [r["name"] for r in rows if r.get("failed") or r.get("mismatches") not in (0, None)]
    if bad:
        print(f"failed or mismatched points: {', '.join(map(str, bad))}", file=sys.stderr)
        return 1
    return 0

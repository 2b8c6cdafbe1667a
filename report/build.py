"""Run the sweep and write the report (:func:`build_report`)."""

import datetime
import os
import sys
import time
from pathlib import Path

from l1bn.synth import fpga
from l1bn.util.files import write_json, write_text

from . import derived, plots
from .cache import complete, prune_stale, tool_versions
from .figures import (energy_points, figure_value, side_of, stage_times, unit_figures,
                      unit_numerics, unit_ratios)
from .executor import executor
from .sweep import ASIC, PERIOD_NS, SEED, SIMULATORS, SIM_STAGES, STA, WIDTHS, cost, sweep
from .tables import design_rows, pair_tables, unit_rows, write_csv
from .text import markdown


def build_report(out_dir, jobs=2, designs=None, full=False, eps=None, alpha=None, guard=None,
                 scheduler=None):
    """Run the sweep and write the report under ``out_dir``; returns 0, or 1 on a mismatch.

    Parameters
    ----------
    out_dir : path
        Receives ``report.md``, ``report.json``, ``designs.csv``, ``units.csv``, ``ratios.csv``,
        ``targets.csv``, ``blocks.csv`` and the plots (PNG and SVG); the cache is
        ``out_dir/.cache``.
    jobs : int
        Designs evaluated at once (local processes; :class:`l1bn.report.executor.ProcessPool`).
    designs : list or None
        ``[(block, params)]`` or ``[(block, params, stages)]`` instead of :func:`sweep`
        (stages default to OSU 0.18 um, OpenSTA and both simulators).
    full : bool
        The ``--full`` sweep.
    scheduler : str or None
        ``tcp://HOST:PORT`` of a Dask distributed scheduler: every design is evaluated on its
        cluster instead (:class:`l1bn.report.executor.DaskCluster`); ``jobs`` is then unused.
    eps, alpha, guard : float, float, int or None
        Of every unit of the sweep (:func:`sweep`; ``designs`` gives them in its parameters);
        None: the units' defaults. A value a unit refuses raises ``ValueError`` before anything
        is written.
    """
    if designs is None:
        designs = sweep(full, eps=eps, alpha=alpha, guard=guard)
    elif (eps, alpha, guard) != (None, None, None):
        raise ValueError("eps, alpha and guard apply to the sweep; give them in the parameters "
                         "of designs")
    designs = [d if len(d) == 3 else (d[0], d[1], frozenset({ASIC, STA, *SIM_STAGES})) for d in designs]
    ex = executor(jobs, scheduler)     # a scheduler that cannot be reached: nothing written
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = out_dir / ".cache"
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    versions = tool_versions()
    order = sorted(range(len(designs)), key=lambda i: -cost(designs[i][0], designs[i][1]))
    where = ex.where
    print(f"l1bn report: {len(designs)} designs, {where}"
          + (" (--full: this takes much longer than the default sweep)" if full else ""),
          file=sys.stderr, flush=True)
    ordered = ex.run([designs[i] for i in order], cache, versions,
                     lambda n, res: _progress(n, len(designs), time.perf_counter() - t0, res))
    results = [None] * len(designs)
    for i, res in zip(order, ordered):
        results[i] = res
    pruned, freed = prune_stale(cache, designs, versions)
    if pruned:
        print(f"removed {pruned} cached result directories of older versions of these designs "
              f"({freed / 1e6:.0f} MB)", file=sys.stderr, flush=True)
    good = [r for r in results if "error" not in r]
    figs = {r["name"]: unit_figures(r) for r in good if r.get("unit")}
    ratios = unit_ratios(good, figs)
    pair_lines, pair_ratios = pair_tables(good)
    flat = [dict(r, area_um2=figure_value(r, "osu018", "area_um2"),
                 critical_ns=figure_value(r, "sta", "critical_ns"), side=side_of(r)) for r in good]
    paper = {"time": derived.PAPER_TIME_RATIO, "energy": derived.PAPER_ENERGY_RATIO}
    splits = [(f"{r['unit']}, {r['params']['width']}-bit, {r['params']['lanes']} lanes",
               {g: v["area_um2"] for g, v in r["areas"]["groups"].items()})
              for r in good if r.get("unit") and complete(r.get("areas"))]
    figures = plots.write_all(flat, pair_ratios, energy_points(good, figs), WIDTHS, out_dir,
                              ratios=ratios, paper=paper, splits=splits)
    elapsed = time.perf_counter() - t0     # the run up to its report: designs, tables, plots
    meta = {"started": started, "elapsed": elapsed, "jobs": jobs, "where": where, "full": full,
            "load": load,
            "computed": sum(1 for r in good for v in r["seconds"].values() if v > 0)}
    md, trows = markdown(results, versions, meta, pair_lines, pair_ratios, figs, ratios, out_dir)
    pngs = [p for p in figures if p.suffix == ".png"]
    md += "\n## Figures\n\n" + "\n".join(f"![{p.stem}]({p.name})" for p in pngs) + "\n"
    write_csv(out_dir / "designs.csv", design_rows(good))
    write_csv(out_dir / "units.csv", unit_rows(good, figs))
    write_csv(out_dir / "ratios.csv", ratios)
    write_csv(out_dir / "targets.csv", trows)
    write_csv(out_dir / "blocks.csv", pair_ratios)
    write_text(out_dir / "report.md", md)
    write_json(out_dir / "report.json", {
        "generated": started, "seconds": elapsed, "full": full, "jobs": jobs,
        "scheduler": scheduler, "load_average": load,
        "seed": SEED, "nextpnr_seed": fpga.SEED, "period_ns": PERIOD_NS, "versions": versions,
        "stage_seconds": stage_times(good),
        "stage_seconds_computed": stage_times(good, "seconds_computed"), "layers": [dict(vars(lay), m=lay.m) for lay in derived.LAYERS],
        "unit_numerics": unit_numerics(good), "designs": results, "unit_figures": figs,
        "units_l1_over_l2": ratios,
        "pairs_l1_over_l2": pair_ratios, "targets": trows})
    print(f"wrote {out_dir / 'report.md'} and {out_dir / 'report.json'} in {elapsed:.1f} s")
    bad = [r["name"] for r in results for s in SIMULATORS
           if "error" in r or r.get(f"sim_{s}", {}).get("mismatches") not in (0, None)
           or "failed" in r.get(f"sim_{s}", {}).get("not_run", "")]
    if bad:
        print(f"simulation mismatches or failures in: {', '.join(sorted(set(bad)))}", file=sys.stderr)
        return 1
    return 0


def _progress(done, total, seconds, res):
    if sys.stderr.isatty():
        bar = "#" * (30 * done // total)
        print(f"\r[{bar:30}] {done}/{total} designs, {seconds:.0f} s", end="" if done < total else "\n",
              file=sys.stderr, flush=True)
    else:
        spent = sum(res.get("seconds", {}).values())
        print(f"[{done}/{total}] {res['name']}: {spent:.0f} s ({seconds:.0f} s elapsed)",
              file=sys.stderr, flush=True)

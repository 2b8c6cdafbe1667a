"""Figures derived from the stage results: unit latencies per layer, time and energy per
element, L1/L2 ratios and the design targets. Pure arithmetic; nothing here runs a tool."""

import importlib

from . import derived
from .cache import complete
from .sweep import HEADLINE_LAYER, PAIRS, PERIOD_NS, UNIT_DATA, UNIT_PAIRS


def figure_value(res, section, key):
    sec = (res or {}).get(section, {})
    if key == "critical_ns":  # the longer of reg-to-reg and in-to-reg (blocks with unregistered inputs)
        paths = [sec.get(k) for k in ("reg2reg_ns", "in2reg_ns")]
        paths = [p for p in paths if isinstance(p, (int, float))]
        return max(paths) if paths else None
    v = sec.get(key)
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def why_missing(res, *sections):
    """The first ``not_run`` text among ``sections`` of ``res`` (without the log path, which
    ``report.json`` keeps), else "n/a"."""
    for s in sections:
        sec = (res or {}).get(s, {})
        if isinstance(sec, dict) and "not_run" in sec:
            return sec["not_run"].split(" (see ")[0].split(" (seed ")[0]
    return "n/a"


def side_of(res):
    """"l1" or "l2" for a design of one norm (a side of :data:`PAIRS`, or a unit), else None."""
    if res.get("unit"):
        return res["params"]["norm"]
    for _what, *entries in PAIRS:
        for side, entry in zip(("l1", "l2"), entries):
            if entry and entry[0] == res["block"] and all(res["params"].get(k) == v
                                                          for k, v in entry[1].items()):
                return side
    return None


def energy_pj(res):
    """Energy per block result: the power at the report clock times the cycles a result takes
    at full rate (1 for pipelines, the latency for iterative blocks)."""
    power = figure_value(res, "sta", "power_mw")
    if power is None:
        return None
    return power * PERIOD_NS * res.get("cycles_per_result", 1)   # mW * ns = pJ


def _sequence(block):
    """``hdl.<block>.sequence_cycles`` as ``f(channels, m, **params) -> cycles`` (forward unit:
    train mode), or None when the unit has none."""
    fn = getattr(importlib.import_module(f"l1bn.hdl.{block}"), "sequence_cycles", None)
    if fn is None:
        return None

    def cycles(channels, m, **params):
        out = fn(channels, m, "train", **params) if block == "bn_unit" else fn(channels, m, **params)
        return out["total"] if isinstance(out, dict) else out
    return cycles


def unit_figures(res):
    """Derived figures of a unit design: per layer of :data:`l1bn.report.derived.LAYERS` the cycles
    (``sequence_cycles``), cycles per channel and per element, time per element at the OSU Fmax
    and energy per element; and the cycle-count check against the simulation."""
    seq = _sequence(res["block"])
    fmax = figure_value(res, "sta", "fmax_mhz")
    power = figure_value(res, "sta", "power_mw")
    out = {"layers": {}, "fmax_mhz": fmax, "power_mw": power}
    if seq is None:
        out["missing"] = f"n/a: l1bn.hdl.{res['block']}.sequence_cycles not available"
        return out
    for layer in derived.LAYERS:
        cycles, max_batch = derived.layer_cycles(seq, layer, res["params"])
        out["layers"][layer.name] = {
            "m": layer.m, "channels": layer.channels, "cycles": cycles, "max_batch": max_batch,
            "cycles_per_channel": cycles / layer.channels,
            "cycles_per_element": cycles / layer.elements,
            "time_per_element_ns": derived.time_per_element_ns(cycles, layer.elements, fmax),
            "energy_per_element_pj": derived.energy_per_element_pj(power, PERIOD_NS, cycles,
                                                                   layer.elements)}
    sim = res.get("sim_icarus", {})
    if "cycles" in sim:
        m = UNIT_DATA["batch"] * UNIT_DATA["height"] * UNIT_DATA["width"]
        formula = seq(UNIT_DATA["channels"], m, **res["params"])
        out["cycle_check"] = {"channels": UNIT_DATA["channels"], "m": m,
                              "simulated": sim["cycles"], "formula": formula,
                              "difference": sim["cycles"] - formula}
    return out


def units_by_label(results):
    """``{(label, width, lanes): result}`` of the unit designs."""
    return {(r["unit"], r["params"]["width"], r["params"]["lanes"]): r
            for r in results if r.get("unit") and "error" not in r}


def _unit_metric(res, figs, metric):
    """One comparable figure of a unit: area, critical path, latency (headline layer, cycles),
    time or energy per element."""
    if res is None:
        return None
    if metric == "area_um2":
        return figure_value(res, "osu018", "area_um2")
    if metric == "critical_ns":
        return figure_value(res, "sta", "critical_ns")
    lay = figs.get(res["name"], {}).get("layers", {}).get(HEADLINE_LAYER.name)
    return None if lay is None else lay[{"latency": "cycles"}.get(metric, metric)]


UNIT_METRICS = (("area", "area_um2", None), ("critical path", "critical_ns", None),
                ("latency (cycles)", "latency", derived.PAPER_TIME_RATIO),
                ("time per element", "time_per_element_ns", derived.PAPER_TIME_RATIO),
                ("energy per element", "energy_per_element_pj", derived.PAPER_ENERGY_RATIO))


def unit_ratios(results, figs):
    """L1/L2 ratios of :data:`UNIT_METRICS` for every :data:`UNIT_PAIRS` at every width and
    lane count both units were evaluated at."""
    units = units_by_label(results)
    out = []
    for label, l1, l2 in UNIT_PAIRS:
        for (lab, width, lanes), r1 in sorted(units.items(), key=lambda kv: (kv[0][2], kv[0][1])):
            r2 = units.get((l2, width, lanes))
            if lab != l1 or r2 is None:
                continue
            row = {"pair": label, "width": width, "lanes": lanes, "l1": r1["name"], "l2": r2["name"]}
            for _h, metric, _paper in UNIT_METRICS:
                a, b = _unit_metric(r1, figs, metric), _unit_metric(r2, figs, metric)
                row[f"l1_{metric}"], row[f"l2_{metric}"] = a, b
                row[metric] = derived.ratio(a, b)
            out.append(row)
    return out


def ratio_text(v):
    return "n/a" if v is None else f"{v:.2f}"


def ice40_lcs(res):
    dev = res.get("fpga_ice40-hx8k", {}).get("device", {})
    return dev.get("ICESTORM_LC", {}).get("used")


def _target_figures(res):
    ecp5, ice40 = res.get("fpga_ecp5-25k", {}), res.get("fpga_ice40-hx8k", {})
    util = ecp5.get("utilisation", {}) if complete(ecp5) else {}
    area = figure_value(res, "osu018", "area_um2")
    return {"reg2reg_ns": figure_value(res, "sta", "reg2reg_ns"),
            "area_mm2": None if area is None else area / 1e6,
            "ecp5_fmax_mhz": figure_value(res, "fpga_ecp5-25k", "fmax_mhz"),
            "ecp5_dsp": figure_value(res, "fpga_ecp5-25k", "dsp"),
            "ecp5_lut_fraction": util.get("lut"), "ecp5_ff_fraction": util.get("ff"),
            "ice40_fmax_mhz": figure_value(res, "fpga_ice40-hx8k", "fmax_mhz"),
            "ice40_lcs": ice40_lcs(res) if complete(ice40) else None}


def _num(v):
    """A figure with 3-4 significant digits, never in exponent notation."""
    return f"{v:.0f}" if abs(v) >= 1000 else f"{v:.4g}"


def target_rows(selected):
    """Every target of :data:`l1bn.report.derived.TARGETS` checked on the ``(label, result)`` pairs."""
    out = []
    for lab, r in selected:
        figs = _target_figures(r)
        for t in derived.TARGETS:
            if lab not in t.applies:
                continue
            value = figs[t.figure]
            status, margin = derived.check_target(t, value)
            if value is None:
                section = {"reg2reg_ns": "sta", "area_mm2": "osu018"}.get(
                    t.figure, "fpga_ecp5-25k" if t.figure.startswith("ecp5") else "fpga_ice40-hx8k")
                sec = r.get(section, {})
                status = ("miss (does not fit)" if sec.get("fits") is False
                          else why_missing(r, section))
            out.append({"unit": lab, "design": r["name"], "target": t.what, "figure": t.figure,
                        "limit": f"{t.op} {t.limit:g} {t.unit}".strip(),
                        "value": "n/a" if value is None else _num(value), "result": status,
                        "margin": "" if margin is None else ("+" if margin >= 0 else "") + _num(margin)})
    return out


def stage_times(results, key="seconds"):
    """Seconds per stage summed over the designs: this run's (``seconds``; cached stages count
    0) or those of the runs that computed them (``seconds_computed``)."""
    total = {}
    for r in results:
        for k, v in r.get(key, {}).items():
            total[k] = total.get(k, 0.0) + v
    return total


def unit_numerics(results):
    """``{eps|alpha|guard: [{asked, value, format, widths}]}``: each value of the units in
    ``results`` as asked and in effect (their manifests' ``numerics``), with the widths of the
    units holding it."""
    out = {}
    for r in results:
        for k, n in (r.get("numerics") or {}).items():
            rows = out.setdefault(k, [])
            keys = ("asked", "value", "format")
            row = next((x for x in rows if all(x[f] == n[f] for f in keys)), None)
            if row is None:
                row = dict(asked=n["asked"], value=n["value"], format=n["format"], widths=[])
                rows.append(row)
            if r["params"]["width"] not in row["widths"]:
                row["widths"] = sorted(row["widths"] + [r["params"]["width"]])
    return out


def energy_points(results, figs):
    """``[(unit label, lanes, width, pJ per element)]`` of the headline layer, for the plot."""
    out = []
    for r in results:
        lay = figs.get(r["name"], {}).get("layers", {}).get(HEADLINE_LAYER.name)
        if lay and lay["energy_per_element_pj"] is not None:
            out.append((r["unit"], r["params"]["lanes"], r["params"]["width"],
                        lay["energy_per_element_pj"]))
    return out

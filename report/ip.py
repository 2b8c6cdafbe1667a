"""The report's drop-in IP section: the designs of :data:`l1bn.report.sweep.IP` at the targets'
operating point, their figures, accuracy against float64 and targets."""

import numpy as np

from .cache import complete
from .figures import target_rows, why_missing
from .sweep import AREAS, EXAMPLE, IP, TARGET_LANES, TARGET_WIDTH
from .tables import fpga_cell, get_text, md_table, sim_cell

__all__ = ["ip_results", "inference_accuracy", "ip_section"]

#: Channels per norm and shape of the accuracy check (m values each).
ACCURACY_CHANNELS, ACCURACY_M = 4, 256


def ip_results(results):
    """``[(label, result)]`` of the :data:`IP` designs the run evaluated."""
    out = []
    for label, block, extra, _default, _more in IP:
        for r in results:
            if r["block"] == block and "error" not in r and all(
                    r["params"].get(k) == v for k, v in extra.items()):
                out.append((label, r))
    return out


def inference_accuracy(width=TARGET_WIDTH, frac=TARGET_WIDTH // 2, seed=1):
    """Worst ``|y - y_float64|`` in LSB of the inference unit's model (the RTL equals it, see the
    simulations) on every channel shape of :mod:`l1bn.golden.channels` for both norms, with
    running statistics equal to the batch's; outputs whose float64 value lies outside the
    data format must saturate with its sign (their count is returned). Float64 translates by
    the running mean's code first, as ``tests/test_bn_forward.py`` does, so that its own
    rounding does not cancel a large gain."""
    from l1bn.golden import fixed, reference as ref
    from l1bn.golden.bn_forward import batch_stats, forward_infer
    from l1bn.golden.bn_unit import UnitConfig
    from l1bn.golden.channels import KINDS, channel_codes
    rng = np.random.default_rng(seed)
    worst, outside, bad_sign, values = 0.0, 0, 0, 0
    for norm in ("l1", "l2"):
        cfg = UnitConfig(norm=norm, stats="two-pass", width=width, frac=frac)
        d, s = cfg.data, cfg.stat
        for kind in KINDS:
            for _ in range(ACCURACY_CHANNELS):
                x = channel_codes(cfg, rng, ACCURACY_M, kind)
                st = batch_stats(cfg, x)
                g, b = (int(v) for v in rng.integers(d.min_code // 2, d.max_code // 2, 2))
                rm, rs = st["mean"], st["sigma"]
                if norm == "l2" and rs == 0:
                    rs = 1           # the running sigma of L2 holds eps: never 0 in training
                y = forward_infer(cfg, x, g, b, rm, rs)["y"]
                ci = rm >> cfg.guard
                want = ref.forward_infer(fixed.dequantize(x - ci, d)[:, None], [g * d.lsb],
                                         [b * d.lsb], [(rm - (ci << cfg.guard)) * s.lsb],
                                         [rs * s.lsb], norm, cfg.eps_q * s.lsb)[:, 0] / d.lsb
                inside = (want >= d.min_code) & (want <= d.max_code)
                if inside.any():
                    worst = max(worst, float(np.max(np.abs(y[inside] - want[inside]))))
                out = ~inside
                outside += int(out.sum())
                bad_sign += int(np.sum(np.where(want[out] > 0, y[out] != d.max_code,
                                                y[out] != d.min_code)))
                values += x.size
    return {"worst_lsb": worst, "values": values, "outside": outside, "bad_sign": bad_sign,
            "kinds": len(KINDS), "channels": ACCURACY_CHANNELS * len(KINDS) * 2}


def _rows(sel, acc):
    rows = []
    for lab, r in sel:
        rows.append([lab, r["name"], get_text(r, "osu018", "area_um2", "{:.0f}"),
                     get_text(r, "sta", "reg2reg_ns", "{:.2f}"),
                     get_text(r, "sta", "power_mw", "{:.1f}")]
                    + [fpga_cell(r, t, k, "{:.0f}") for t, k in (
                        ("ecp5-25k", "luts"), ("ecp5-25k", "dsp"), ("ecp5-25k", "ram"),
                        ("ecp5-25k", "fmax_mhz"), ("ice40-hx8k", "luts"), ("ice40-hx8k", "ram"),
                        ("ice40-hx8k", "fmax_mhz"))]
                    + [sim_cell(r, "icarus"),
                       f"{acc['worst_lsb']:.3f}" if r["block"] == "bn_infer" else
                       "as its unit"])
    return rows


def _split_rows(sel):
    rows = []
    for lab, r in sel:
        a = r.get(AREAS, {})
        if not complete(a):
            rows.append([lab, why_missing(r, AREAS)])
            continue
        rows.append([lab, f"{a['area_um2']:.0f}", "; ".join(
            f"{g} {v['area_um2']:.0f} ({v['fraction']:.0%})" for g, v in a["groups"].items())])
    return rows


#: Host transfers of each value through a unit in training (every pass) and through a layer.
PASSES = {"bn_layer": 3, "bn_backward_layer": 2}


def _layer_rows(sel):
    """Per layer: its buffer, block RAM, Fmax, and the cycles per element of its full-rate run
    (channels of the buffer's size) beside the unit's (its cycle model, the same channels)."""
    rows = []
    for lab, r in sel:
        if r["block"] not in PASSES:
            continue
        sim = r.get("sim_icarus", {})
        per = (f"{sim['cycles'] / sim['values']:.3f}", f"{sim['unit_cycles'] / sim['values']:.3f}"
               ) if "unit_cycles" in sim else (why_missing(r, "sim_icarus"),) * 2
        rows.append([lab, str(r["params"]["buffer_depth"]),
                     fpga_cell(r, "ecp5-25k", "ram", "{:.0f}"),
                     fpga_cell(r, "ice40-hx8k", "ram", "{:.0f}"),
                     fpga_cell(r, "ecp5-25k", "fmax_mhz", "{:.1f}"),
                     str(sim.get("values", "-")), *per, f"1 / {PASSES[r['block']]}"])
    return rows


def _board_lines(sel):
    """The ECP5 board top level's figures (``examples/ecp5_top.v``)."""
    for lab, r in sel:
        ex = r.get(EXAMPLE)
        if ex is None:
            continue
        if not complete(ex):
            return [f"- ECP5 board top level (`examples/ecp5_top.v` on the {lab} unit): "
                    f"{ex['not_run']}.", ""]
        m = ", ".join(str(v) for v in ex["vectors_m"])
        return [f"**ECP5 board top level** (`examples/ecp5_top.v`, `examples/ecp5_top.lpf`: "
                f"Colorlight 5A-75B v7.0, {ex['device_name']}): the {lab} unit checks itself on "
                f"the board, the vectors of `l1bn vectors --block bn_infer -m {m}` in block RAM, "
                f"every y compared, the LED on while all match. Built by this run: "
                f"{ex['luts']} LUTs, {ex['ffs']} flip-flops, {ex['dsp']} DSP, {ex['ram']} EBR, "
                f"{ex['fmax_mhz']:.1f} MHz (the board's clock: 25 MHz; "
                f"{'met' if ex['timing_met'] else 'not met'}); its simulation on Icarus "
                f"(`examples/ecp5_top_tb.v`): \"{ex['simulation']}\".", ""]
    return []


def ip_section(results):
    """``(markdown lines, target rows)`` of the drop-in IP designs."""
    sel = ip_results(results)
    if not sel:
        return [], []
    acc = inference_accuracy()
    lines = [f"## Drop-in IP at {TARGET_LANES} lanes, {TARGET_WIDTH} bits", "",
             "The inference-only unit (`bn_infer`: per-channel constants loaded at run time "
             "into a memory, the forward unit's centred lanes; both norms) and the single-stream "
             "layers (`bn_layer`, `bn_backward_layer`: the forward or backward unit behind a "
             "two-channel buffer in block RAM that replays its passes) with the report's flow; "
             "by default the inference unit's standard-cell figures and the layers' "
             "simulations, with --full also both FPGAs, the area splits and the ECP5 board "
             "top level. The inference unit's y "
             "error: its bit-accurate model (equal to the RTL in every simulated cycle) "
             f"against float64 on {acc['channels']} channels of m = {ACCURACY_M} "
             f"({acc['kinds']} shapes, both norms, running statistics equal to the batch's): "
             f"worst {acc['worst_lsb']:.3f} LSB where float64 lies inside the format; "
             f"{acc['outside']} of {acc['values']} values lie outside, "
             f"{acc['bad_sign']} of them not saturated to float64's sign.", ""]
    lines += md_table(["design", "module", "OSU area um^2", "reg-to-reg ns", "power mW",
                       "ECP5 LUTs", "ECP5 DSP", "ECP5 EBR", "ECP5 Fmax MHz", "iCE40 LUTs",
                       "iCE40 BRAM", "iCE40 Fmax MHz", "Icarus mismatches / cycles",
                       "y error LSB"], _rows(sel, acc))
    layers = _layer_rows(sel)
    if layers:
        lines += ["", "Single-stream layers: the host streams each channel once (x, or x and dy "
                  "backward) and takes each result once; the unit alone takes each value once "
                  "per pass. Cycles of the layer's full-rate run (Icarus: inputs always valid, "
                  "outputs always ready, channels of the buffer's size) per element, beside "
                  "the unit's cycle model for the same channels:", ""]
        lines += md_table(["layer", "buffer values", "ECP5 EBR", "iCE40 BRAM",
                           "ECP5 Fmax MHz", "values", "layer cycles / element",
                           "unit cycles / element", "host transfers per value, layer / unit"],
                          layers)
    lines += [""] + _board_lines(sel)
    lines += ["Area split (OSU 0.18 um, hierarchical synthesis, um^2):", ""]
    lines += md_table(["design", "total", "parts"], _split_rows(sel))
    trows = target_rows(sel)
    lines += ["", "Targets:", ""]
    lines += md_table(["design", "target", "limit", "value", "result", "margin"],
                      [[t["unit"], t["target"], t["limit"], t["value"], t["result"],
                        t["margin"]] for t in trows]) + [""]
    lines += _misses(sel, trows)
    return lines, trows


def _misses(sel, trows):
    missed = {t["figure"] for t in trows if t["result"].startswith("miss")}
    out = []
    if "area_mm2" in missed:
        parts = []
        for lab, r in sel:
            a = r.get(AREAS, {})
            if complete(a):
                parts.append(lab + ": " + ", ".join(
                    f"{g} {v['area_um2'] / 1e6:.3f} mm^2" for g, v in a["groups"].items()))
        out.append("- Area: " + "; ".join(parts) + ". The OSU 0.18 um library has no RAM "
                   "macro, so every channel's constants (mu_F, mantissa, shift, sign and "
                   "bias) are flip-flops with a read multiplexer; each lane "
                   "is the forward unit's relative-precision lane (an 18 x 17 product as two "
                   "slice products, a barrel shift onto the bias's grid, an adder, rounding), "
                   "which holds y within 1 LSB for every running statistic, a tiny spread "
                   "included. A lane with synthesis-time constants, or a RAM macro, would be "
                   "the next steps.")
    if missed & {"reg2reg_ns", "ice40_fmax_mhz"}:
        out.append("- Clock: the longest paths are the lanes' slice products (a Booth product "
                   "and its final adder in one stage); on the iCE40 they are built from logic "
                   "cells. Narrower slices keep the product's final adder in the stage; a "
                   "carry-save product with its adder a stage later would be the next step.")
    return out + [""] if out else []

"""Plots of the report: the units' L1/L2 ratios against the paper's, the area split of each unit,
area per block (L1 beside L2), area against critical path, energy per value and per element.

Each figure is written as PNG and SVG, atomically (temporary name, then rename). Figures take the
report's result dictionaries (see :func:`l1bn.report.evaluate`) and skip designs whose figures
were not run.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from l1bn.util.files import atomic_open  # noqa: E402

__all__ = ["write_all", "save_figure"]

#: Marker, colour and legend of a design by its norm (see :func:`l1bn.report.figures.side_of`); units are drawn
#: filled, blocks hollow.
_MARKERS = {"l1": ("o", "tab:blue", "L1"), "l2": ("^", "tab:red", "L2"),
            None: ("s", "tab:gray", "both norms")}


def save_figure(fig, out_dir, stem):
    """Write ``fig`` as ``out_dir/stem.png`` and ``.svg`` atomically, close it; the paths."""
    paths = []
    for ext in ("png", "svg"):
        target = Path(out_dir) / f"{stem}.{ext}"
        with atomic_open(target) as f:
            fig.savefig(f, format=ext, dpi=130, bbox_inches="tight")
        paths.append(target)
    plt.close(fig)
    return paths


def _energy_axis(ax, widths, what, title):
    """Legend, labels, log scale and title of an energy-against-width panel."""
    _legend_or_note(ax, ax.get_lines(), fontsize=7, loc="upper center", ncol=2,
                    bbox_to_anchor=(0.5, -0.13))
    ax.set_xlabel("data width (bits)")
    ax.set_xticks(list(widths))
    ax.set_ylabel(f"{what} (pJ, log scale)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.set_title(title)


def _legend_or_note(ax, drawn, **kwargs):
    """A legend when something was drawn, else a note that the figures were not run."""
    if drawn:
        ax.legend(**kwargs)
    else:
        ax.text(0.5, 0.5, "no figures: the tools were not run", ha="center", va="center",
                transform=ax.transAxes)


def area_per_pair(pairs, widths, out_dir):
    """Grouped bars: area of each L1 block beside its L2 counterpart, one panel per width."""
    fig, axes = plt.subplots(1, len(widths), figsize=(4.2 * len(widths), 4.2), sharey=True)
    labels = sorted({p["pair"] for p in pairs}, key=[p["pair"] for p in pairs].index)
    for ax, width in zip(axes, widths):
        rows = {p["pair"]: p for p in pairs if p["width"] == width}
        xs = range(len(labels))
        l1 = [rows.get(lab, {}).get("l1_area_um2") or 0 for lab in labels]
        l2 = [rows.get(lab, {}).get("l2_area_um2") or 0 for lab in labels]
        ax.bar([x - 0.2 for x in xs], l1, 0.4, color="tab:blue", label="L1")
        ax.bar([x + 0.2 for x in xs], l2, 0.4, color="tab:red", label="L2")
        ax.set_xticks(list(xs), [lab.split(":")[0] for lab in labels], rotation=20, ha="right")
        ax.set_title(f"{width}-bit data (Q{width // 2}.{width // 2})")
        ax.set_yscale("symlog", linthresh=1000)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("OSU 0.18 um area (um^2, log scale)")
    axes[0].legend()
    fig.suptitle("Area of each L1 block beside its L2 counterpart (0 = not needed)")
    return save_figure(fig, out_dir, "area_per_block")


#: Marker of a unit by its data width in :func:`area_vs_path`.
_WIDTH_MARKERS = {8: "o", 16: "s", 32: "D"}


def area_vs_path(results, out_dir):
    """Critical path (ns) against area (um^2): blocks (left, one marker per norm) and units
    (right: a colour per unit, a marker per width, filled at the most lanes), with legends
    instead of labels."""
    fig, (ax_b, ax_u) = plt.subplots(1, 2, figsize=(13, 5.5))
    seen, drawn = set(), []
    units = sorted({r["unit"] for r in results if r.get("unit")},
                   key=[r.get("unit") for r in results].index)
    most = max((r["params"]["lanes"] for r in results if r.get("unit")), default=1)
    for r in results:
        area, path = r.get("area_um2"), r.get("critical_ns")
        if area is None or path is None:
            continue
        drawn.append(r)
        if r.get("unit"):
            color = f"C{units.index(r['unit'])}"
            full = r["params"]["lanes"] == most
            ax_u.scatter(path, area, marker=_WIDTH_MARKERS.get(r["params"]["width"], "*"), s=55,
                         facecolors=color if full else "none", edgecolors=color)
            continue
        marker, color, label = _MARKERS[r.get("side")]
        ax_b.scatter(path, area, marker=marker, s=40, facecolors="none", edgecolors=color,
                     label=None if label in seen else label)
        seen.add(label)
    _legend_or_note(ax_b, seen, title="block of")
    handles = [plt.Line2D([], [], color=f"C{i}", marker="o", ls="", label=u)
               for i, u in enumerate(units)]
    handles += [plt.Line2D([], [], color="k", marker=m, ls="", mfc="none", label=f"{w} bits")
                for w, m in _WIDTH_MARKERS.items()]
    handles += [plt.Line2D([], [], color="k", marker="o", ls="", label=f"{most} lanes (filled)"),
                plt.Line2D([], [], color="k", marker="o", ls="", mfc="none", label="1 lane")]
    if any(r.get("unit") for r in drawn):
        ax_u.legend(handles=handles, fontsize=8, loc="upper left", ncol=2)
    else:
        _legend_or_note(ax_u, [])
    for ax, what in ((ax_b, "Blocks"), (ax_u, "Complete units")):
        ax.set_xlabel("critical path (ns, OpenSTA, typical corner)")
        ax.set_ylabel("OSU 0.18 um area (um^2, log scale)")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.set_title(f"{what}: area against critical path")
    return save_figure(fig, out_dir, "area_vs_path")


#: The L1/L2 ratios drawn by :func:`unit_ratios` and the paper's claim for each (None: none).
_RATIOS = (("area_um2", "area", None), ("time_per_element_ns", "time per element", "time"),
           ("energy_per_element_pj", "energy per element", "energy"))


def unit_ratios(ratios, paper, out_dir):
    """L1/L2 ratio of every unit comparison (a panel each) per width and lane count: area, time
    and energy per element, with 1 and the paper's claims (``paper``: ``{"time": 0.80,
    "energy": 0.63}``) as horizontal lines."""
    pairs = sorted({r["pair"] for r in ratios}, key=[r["pair"] for r in ratios].index)
    fig, axes = plt.subplots(1, max(1, len(pairs)), figsize=(5 * max(1, len(pairs)), 4.6),
                             sharey=True, squeeze=False)
    axes = axes[0]
    for ax, pair in zip(axes, pairs):
        rows = [r for r in ratios if r["pair"] == pair]
        xs = range(len(rows))
        for k, (key, label, _claim) in enumerate(_RATIOS):
            ax.bar([x + (k - 1) * 0.27 for x in xs], [r[key] or 0 for r in rows], 0.27,
                   color=f"C{k}", label=label)
        ax.set_xticks(list(xs), [f"{r['width']}-bit\n{r['lanes']} lane{'s' * (r['lanes'] > 1)}"
                                 for r in rows], fontsize=8)
        ax.axhline(1.0, color="k", lw=0.8)
        for k, (_key, _label, claim) in enumerate(_RATIOS):
            if claim in paper:
                ax.axhline(paper[claim], color=f"C{k}", ls="--", lw=1.2,
                           label=f"paper's {claim} ratio {paper[claim]:.2f}")
        ax.set_title(pair)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("L1 / L2 (below 1: L1 cheaper)")
    if pairs:
        fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=5, fontsize=9,
                   bbox_to_anchor=(0.5, -0.08))
    else:
        _legend_or_note(axes[0], [])
    fig.suptitle("L1/L2 ratios of the complete units")
    return save_figure(fig, out_dir, "l1_l2_ratios")


def area_split(units, out_dir):
    """Stacked bars: each unit's OSU 0.18 um area by part (``units``: ``[(label, {part:
    um^2})]``, from the hierarchical synthesis)."""
    fig, ax = plt.subplots(figsize=(9, 0.6 * max(3, len(units)) + 1.2))
    parts = sorted({g for _u, groups in units for g in groups})
    left = [0.0] * len(units)
    for k, part in enumerate(parts):
        vals = [groups.get(part, 0) / 1e6 for _u, groups in units]
        ax.barh(range(len(units)), vals, left=left, color=f"C{k}", label=part)
        left = [a + b for a, b in zip(left, vals)]
    ax.set_yticks(range(len(units)), [u for u, _g in units])
    ax.invert_yaxis()
    ax.set_xlabel("OSU 0.18 um area (mm^2)")
    ax.grid(axis="x", alpha=0.3)
    if units:
        ax.legend(fontsize=8, loc="upper center", ncol=len(parts), bbox_to_anchor=(0.5, -0.12))
    else:
        _legend_or_note(ax, [])
    ax.set_title("Where each unit's area goes (hierarchical synthesis)")
    return save_figure(fig, out_dir, "area_split")


def energy_vs_width(pairs, units, widths, out_dir):
    """Energy against the data width: per value of each L1/L2 block pair (left) and per element
    of each unit (right; ``units`` is ``[(label, lanes, width, pJ)]``)."""
    fig, (ax, ax_u) = plt.subplots(1, 2, figsize=(13, 5))
    labels = sorted({p["pair"] for p in pairs}, key=[p["pair"] for p in pairs].index)
    for i, lab in enumerate(labels):
        for side, style in (("l1", "-"), ("l2", "--")):
            pts = [(p["width"], p.get(f"{side}_energy_pj")) for p in pairs if p["pair"] == lab]
            pts = [(w, e) for w, e in pts if e is not None]
            if pts and any(e > 0 for _w, e in pts):
                ax.plot(*zip(*pts), style, marker="o", color=f"C{i}",
                        label=f"{side.upper()}: {lab.split(':')[0]}")
    _energy_axis(ax, widths, "energy per value", "Blocks: energy per value")
    names = sorted({u[0] for u in units}, key=[u[0] for u in units].index)
    for i, name in enumerate(names):
        for lanes in sorted({u[1] for u in units if u[0] == name}):
            pts = sorted((w, e) for n, p, w, e in units if n == name and p == lanes)
            ax_u.plot(*zip(*pts), "-" if lanes == max(u[1] for u in units) else "--",
                      marker=_MARKERS["l1" if "L1" in name else "l2"][0], color=f"C{i}",
                      label=f"{name}, {lanes} lane{'s' if lanes > 1 else ''}")
    _energy_axis(ax_u, widths, "energy per element", "Units: energy per element of the layer")
    fig.suptitle("Energy (OpenSTA power from measured input activity, propagated vectorlessly)")
    return save_figure(fig, out_dir, "energy_vs_width")


def write_all(results, pairs, units, widths, out_dir, *, ratios=(), paper=None, splits=()):
    """Write every figure under ``out_dir``; returns the paths written.

    ``results``: the report's designs with ``area_um2``, ``critical_ns`` and ``side``;
    ``pairs``: the L1/L2 block pairs; ``units``: ``[(unit label, lanes, width, pJ/element)]``;
    ``ratios``: the unit L1/L2 ratio rows and ``paper`` the paper's ``{"time", "energy"}``
    ratios (:func:`unit_ratios`); ``splits``: ``[(unit label, {part: um^2})]`` (:func:`area_split`).
    """
    return (unit_ratios(list(ratios), paper or {}, out_dir) + area_split(list(splits), out_dir)
            + area_per_pair(pairs, widths, out_dir) + area_vs_path(results, out_dir)
            + energy_vs_width(pairs, units, widths, out_dir))

"""Plots of the report: area per block (L1 beside L2), area against critical path, energy per value
and per element.

Each figure is written as PNG and SVG, atomically (temporary name, then rename). Figures take the
report's result dictionaries (see :func:`l1bn.report.evaluate`) and skip designs whose figures
were not run.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from l1bn.util.files import atomic_open  # noqa: E402

__all__ = ["write_all"]

#: Marker, colour and legend of a design by its norm (see l1bn.report._side); units are drawn
#: filled, blocks hollow.
_MARKERS = {"l1": ("o", "tab:blue", "L1"), "l2": ("^", "tab:red", "L2"),
            None: ("s", "tab:gray", "both norms")}


def _save(fig, out_dir, stem):
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
    _legend_or_note(ax, ax.get_lines(), fontsize=7)
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
    return _save(fig, out_dir, "area_per_block")


def area_vs_path(results, out_dir):
    """Every design: critical path (ns) against area (um^2), one marker shape per norm; units
    filled and labelled, blocks hollow."""
    fig, ax = plt.subplots(figsize=(8, 6))
    seen = set()
    for r in results:
        area, path = r.get("area_um2"), r.get("critical_ns")
        if area is None or path is None:
            continue
        side, unit = r.get("side"), bool(r.get("unit"))
        marker, color, label = _MARKERS[side]
        label = f"{label} {'unit' if unit else 'block'}"
        ax.scatter(path, area, marker=marker, s=40, label=None if label in seen else label,
                   facecolors=color if unit else "none", edgecolors=color)
        seen.add(label)
        if unit:
            ax.annotate(f"{r['unit']} w{r['params']['width']} p{r['params']['lanes']}",
                        (path, area), fontsize=5, xytext=(3, 3), textcoords="offset points")
    _legend_or_note(ax, seen)
    ax.set_xlabel("critical path (ns, OpenSTA, typical corner)")
    ax.set_ylabel("OSU 0.18 um area (um^2, log scale)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.set_title("Area against critical path, every design")
    return _save(fig, out_dir, "area_vs_path")


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
    return _save(fig, out_dir, "energy_vs_width")


def write_all(results, pairs, units, widths, out_dir):
    """Write every figure under ``out_dir``; returns the paths written.

    ``results``: the report's designs with ``area_um2``, ``critical_ns`` and ``side``;
    ``pairs``: the L1/L2 block pairs; ``units``: ``[(unit label, lanes, width, pJ/element)]``.
    """
    return (area_per_pair(pairs, widths, out_dir) + area_vs_path(results, out_dir)
            + energy_vs_width(pairs, units, widths, out_dir))

"""Figures of the experiments, each written as PNG and SVG, atomically (temporary name, rename).

* ``theorem1``: per-layer distributions of the channels' sigma_L2 / sigma_L1 at each checkpoint
  against sqrt(pi/2) and the finite-m Gaussian expectation; histograms of both sigmas on a
  logarithmic axis (paper Fig. 3).
* ``training_curves``: training loss and test error per epoch of the four BN variants, mean over
  seeds with the min-max spread shaded (paper Fig. 1).
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import ticker  # noqa: E402

from l1bn.util.files import write_bytes  # noqa: E402

__all__ = ["theorem1", "training_curves", "STYLE"]

#: Colour and line style per BN variant: L2 blue, L1 red; float solid, fixed point dashed.
STYLE = {"float-l2": ("tab:blue", "-"), "fixed-l2": ("tab:blue", "--"),
         "float-l1": ("tab:red", "-"), "fixed-l1": ("tab:red", "--")}


def _save(fig, out_dir, stem):
    """Write ``fig`` as ``stem.png`` and ``stem.svg`` in ``out_dir``; returns the file names."""
    names = []
    for ext in ("png", "svg"):
        buf = io.BytesIO()
        fig.savefig(buf, format=ext, dpi=130, bbox_inches="tight")
        write_bytes(Path(out_dir) / f"{stem}.{ext}", buf.getvalue())
        names.append(f"{stem}.{ext}")
    plt.close(fig)
    return names


def theorem1(result, out_dir):
    """Fig. 3 analogue from :func:`l1bn.experiments.theorem1.run`'s result; returns file names."""
    points = result["checkpoints"]
    n_layers = len(points[0]["layers"])
    fig, (ax, hx) = plt.subplots(1, 2, figsize=(12, 4.6), gridspec_kw={"width_ratios": [1.3, 1]})
    colours = plt.cm.viridis(np.linspace(0.0, 0.85, len(points)))
    width = 0.8 / len(points)
    for k, (point, colour) in enumerate(zip(points, colours)):
        pos = np.arange(1, n_layers + 1) - 0.4 + width * (k + 0.5)
        box = ax.boxplot([layer["ratio"] for layer in point["layers"]], positions=pos,
                         widths=width * 0.85, patch_artist=True, showfliers=True,
                         flierprops={"markersize": 3})
        for patch in box["boxes"]:
            patch.set(facecolor=colour, alpha=0.75)
        for median in box["medians"]:
            median.set(color="black")
        ax.plot([], [], "s", color=colour, alpha=0.75, label=f"epoch {point['epoch']}")
    ax.axhline(result["sqrt_pi_2"], color="black", lw=1.2,
               label=f"$\\sqrt{{\\pi/2}}$ = {result['sqrt_pi_2']:.4f} (Theorem 1)")
    g = result["gaussian"]
    ax.axhline(g["mean"], color="tab:orange", lw=1.2, ls="--",
               label=f"Gaussian, m = {g['m']}: {g['mean']:.4f} $\\pm$ {g['std']:.3f} (1 std)")
    ax.axhspan(g["mean"] - g["std"], g["mean"] + g["std"], color="tab:orange", alpha=0.12)
    ax.set_xticks(range(1, n_layers + 1), [f"BN {i}" for i in range(1, n_layers + 1)])
    ax.set_xlabel("BN layer (input: output of the preceding linear layer)")
    ax.set_ylabel(r"$\sigma_{L2}/\sigma_{L1}$ per channel (dimensionless)")
    ax.set_title(f"Channel ratios, mean over {result['minibatches']} minibatches of "
                 f"m = {g['m']}", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3)
    ax.grid(axis="y", alpha=0.3)

    l2 = np.concatenate([s["sigma_l2"] for s in result["final_sigmas"]])
    l1 = np.concatenate([s["sigma_l1"] for s in result["final_sigmas"]])
    bins = np.geomspace(min(l1.min(), l2.min()), max(l1.max(), l2.max()), 50)
    for values, name, colour in ((l2, r"$\sigma_{L2}$ (standard deviation)", "tab:blue"),
                                 (l1, r"$\sigma_{L1}$ (mean absolute deviation)", "tab:red")):
        hx.hist(values, bins=bins, weights=np.full(values.size, 1.0 / values.size), alpha=0.55,
                color=colour, label=f"{name}, median {np.median(values):.3g}")
    hx.set_xscale("log")
    plain = ticker.FuncFormatter(lambda v, _: f"{v:g}")
    hx.xaxis.set_major_formatter(plain)
    hx.xaxis.set_minor_formatter(plain)
    hx.tick_params(axis="x", which="minor", labelsize=7)
    hx.set_ylim(0, hx.get_ylim()[1] * 1.25)
    hx.set_xlabel(r"$\sigma$ of a BN layer's input per (minibatch, channel)" "\n"
                  "(activation units, logarithmic axis)")
    hx.set_ylabel("probability (share of samples per bin)")
    hx.set_title(f"All BN layers after epoch {points[-1]['epoch']}: "
                 f"median ratio {np.median(l2 / l1):.4f}", fontsize=10)
    hx.legend(fontsize=8)
    fig.suptitle("Theorem 1 on the digits MLP trained with float L2BN", fontsize=11)
    fig.tight_layout()
    return _save(fig, out_dir, "theorem1")


def training_curves(summary, out_dir):
    """Fig. 1 analogue from :func:`l1bn.experiments.train.summarize`'s output; returns file names."""
    fig, (lx, ex) = plt.subplots(1, 2, figsize=(12, 4.4))
    for variant in (v for v in STYLE if v in summary):
        s = summary[variant]
        colour, ls = STYLE[variant]
        epochs = np.arange(1, len(s["train_loss_mean"]) + 1)
        n = len(s["seeds"])
        lx.plot(epochs, s["train_loss_mean"], color=colour, ls=ls, label=f"{variant} ({n} seeds)")
        lx.fill_between(epochs, s["train_loss_min"], s["train_loss_max"], color=colour,
                        alpha=0.12)
        ex.plot(epochs, s["test_error_curve_mean_pct"], color=colour, ls=ls,
                label=f"{variant}: final {s['test_error_mean_pct']:.2f} $\\pm$ "
                      f"{s['test_error_std_pct']:.2f} % (mean $\\pm$ std)")
    lx.set_yscale("log")
    lx.set_xlabel("epoch")
    lx.set_ylabel("training loss: cross-entropy (nats, log axis)")
    lx.set_title("Training loss, mean over seeds (shaded: min-max)", fontsize=10)
    ex.set_xlabel("epoch")
    ex.set_ylabel("test error (%, log axis)")
    ex.set_yscale("log")
    ex.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ex.yaxis.set_minor_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ex.set_title("Test error (inference mode, running statistics), mean over seeds", fontsize=10)
    for a in (lx, ex):
        a.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, out_dir, "training_curves")

"""``experiments.json`` and ``experiments.md``: the results of every stage, merged.

Each stage (``theorem1``, ``train``, ``rtl_check``) is one section of ``experiments.json``;
running a stage replaces its section and keeps the others, then ``experiments.md`` is rendered
again from the whole file. Both are written atomically.
"""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .bn_layers import VARIANTS
from l1bn.util.files import write_text

__all__ = ["JSON_NAME", "MD_NAME", "load", "update", "render"]

JSON_NAME = "experiments.json"
MD_NAME = "experiments.md"


def load(out_dir):
    """The merged results of ``out_dir`` ({} when there are none yet).

    Raises
    ------
    ValueError
        ``experiments.json`` exists but is not a JSON object.
    """
    path = Path(out_dir) / JSON_NAME
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read {path} to merge into it: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return data


def update(out_dir, **sections):
    """Merge ``sections`` into ``out_dir/experiments.json`` and rewrite ``experiments.md``.

    Each section gets ``date`` (UTC, ISO 8601). Returns the merged dict.
    """
    data = load(out_dir)
    date = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for name, section in sections.items():
        data[name] = {**section, "date": date}
    data["environment"] = {"python": platform.python_version(), "numpy": np.__version__,
                           "machine": platform.machine()}
    write_text(Path(out_dir) / JSON_NAME, json.dumps(data, indent=1) + "\n")
    write_text(Path(out_dir) / MD_NAME, render(data))
    return data


def _fmt(v):
    return f"{v:.4f}"


def _config_line(section):
    cfg = section["config"]
    epochs = f"{cfg['epochs']} epoch{'s' * (cfg['epochs'] != 1)}"
    return (f"Run {section['date']}. MLP 64-{'-'.join(map(str, cfg['hidden']))}-10, BN after "
            f"each hidden linear layer, ReLU; batch {cfg['batch']}, {epochs}, SGD momentum "
            f"{cfg['momentum']}, cosine learning rate from {cfg['lr']}; fixed point "
            f"Q{cfg['width']}.{cfg['frac']} (l1bn.golden.bn_unit, guard 8), gradient scale "
            f"{cfg['grad_scale']}; split seed {cfg['split_seed']}.")


def _theorem1(t):
    g = t["gaussian"]
    lines = ["## Theorem 1: sigma_L2 / sigma_L1 of the BN layers' inputs (paper Fig. 3)", "",
             _config_line(t) + f" Network trained with float L2BN, seed {t['seed']} "
             f"(test error {100 * t['test_error']:.2f} %).", "",
             f"Per channel: the mean over {t['minibatches']} minibatches (m = {g['m']}) of the "
             "minibatch's sigma_L2 / sigma_L1 (both without eps, from l1bn.golden.reference). "
             f"Theorem 1 (Gaussian, m -> inf): sqrt(pi/2) = {t['sqrt_pi_2']:.4f}; Gaussian "
             f"samples of m = {g['m']}: {g['mean']:.4f} +- {g['std']:.4f} "
             f"(Monte Carlo, {g['trials']} trials).", "",
             "| epoch | layer | channels | mean | std | median | min | max |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for p in t["checkpoints"]:
        for layer in p["layers"]:
            s = layer["ratio_summary"]
            lines.append(f"| {p['epoch']} | {layer['layer']} | {layer['channels']} | "
                         f"{_fmt(s['mean'])} | {_fmt(s['std'])} | {_fmt(s['median'])} | "
                         f"{_fmt(s['min'])} | {_fmt(s['max'])} |")
    lines += ["", "![Theorem 1](theorem1.png) ([SVG](theorem1.svg))", ""]
    return lines


def _train(t):
    lines = ["## Training equivalence: test error of the four BN variants (paper Table II, "
             "Fig. 1)", "", _config_line(t), "",
             "Test error after the last epoch (inference mode with the running statistics), "
             f"mean +- sample std (ddof 1) over seeds {t['seeds']}. The seed sets the weight "
             "initialization and the minibatch order; the split is fixed. Only the BN layers "
             "are fixed point (forward, running statistics, backward and inference through "
             "l1bn.golden.bn_unit); linear layers, ReLU and loss are float64.", "",
             "| variant | test error (%) | per seed (%) | final training loss (nats) | "
             "s per run |", "|---|---:|---|---:|---:|"]
    summary = {v: t["summary"][v] for v in VARIANTS if v in t["summary"]}
    for variant, s in summary.items():
        per_seed = ", ".join(f"{e:.2f}" for e in s["test_error_pct"])
        lines.append(f"| {variant} | {s['test_error_mean_pct']:.2f} +- "
                     f"{s['test_error_std_pct']:.2f} | {per_seed} | "
                     f"{s['train_loss_mean'][-1]:.4f} | {s['seconds_mean']:.1f} |")
    if t["paired"]:
        lines += ["", "Paired by seed (same initial weights and minibatch order), difference "
                  "of test error in percentage points, mean +- sample std:", "",
                  "| difference | mean +- std (pp) | per seed (pp) |", "|---|---:|---|"]
        for name, d in t["paired"].items():
            per_seed = ", ".join(f"{v:+.2f}" for v in d["per_seed_pp"])
            lines.append(f"| {name} | {d['mean_pp']:+.2f} +- {d['std_pp']:.2f} | {per_seed} |")
    lines += ["", "Saturation in the fixed-point units, summed over layers, seeds and the "
              "whole training (mode.stage: count; input_<array> counts the quantization of "
              "the inputs):", ""]
    for variant, s in summary.items():
        if "saturation" not in s:
            continue
        nonzero = {k: v for k, v in s["saturation"].items() if v}
        values = ", ".join(f"{k} {v}" for k, v in s["values"].items())
        text = ", ".join(f"{k} {v}" for k, v in nonzero.items()) or "none"
        lines.append(f"- {variant}: {text} (values per mode: {values})")
    lines += ["", "![Training curves](training_curves.png) ([SVG](training_curves.svg))", ""]
    return lines


def _rtl(t):
    lines = ["## RTL check: one batch per BN layer through the RTL", "", _config_line(t), "",
             f"Fixed-point networks (seed {t['seed']}), one training step on the first "
             f"{t['rows']} training images; the first {t['channels']} channels of every BN "
             f"layer through l1bn.sim.simulate ({t['simulator']}, 1 lane) in train and backward "
             "modes, compared code by code with l1bn.golden.bn_unit. 'network' says whether the "
             "golden codes equal the layer output (y, or dx times the gradient scale) that "
             "the network itself computed.", "",
             "| norm | layer | mode | design | mismatches | cycles | saturated | network |",
             "|---|---:|---|---|---:|---:|---:|---|"]
    for e in t["runs"]:
        if e["error"]:
            lines.append(f"| {e['norm']} | {e['layer']} | {e['mode']} | not run: "
                         f"{e['error'].splitlines()[0][:160]} | - | - | - | - |")
        else:
            agrees = "equal" if e["network_agrees"] else "DIFFERENT"
            lines.append(f"| {e['norm']} | {e['layer']} | {e['mode']} | {e['design']} | "
                         f"{e['mismatches']} | {e['cycles']} | {e['saturated']} | {agrees} |")
    total = t["total_mismatches"]
    lines += ["", f"Total mismatches: {'not all runs ran' if total is None else total}.", ""]
    return lines


def render(data):
    """The markdown text of a merged results dict."""
    lines = ["# L1BN vs L2BN in training: experiments", "",
             "Written by `l1bn experiment` (`make experiments`); every number is also in "
             f"[{JSON_NAME}]({JSON_NAME}).", ""]
    if "timing" in data:
        t = data["timing"]
        stages = ", ".join(f"{k} {v:.0f} s" for k, v in t["stages"].items())
        lines += [f"Last run: `{t['command']}`, {t['wall_seconds']:.0f} s wall ({stages}), "
                  f"{t['jobs']} jobs.", ""]
    for key, fn in (("theorem1", _theorem1), ("train", _train), ("rtl_check", _rtl)):
        if key in data:
            lines += fn(data[key])
    return "\n".join(lines)

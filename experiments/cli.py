"""``l1bn experiment {theorem1,train,rtl-check,all}``: run the experiments, write the report.

Writes only into the output directory (default ``reports/experiments``): ``experiments.json``,
``experiments.md``, ``theorem1.{png,svg}`` and ``training_curves.{png,svg}``. Exit code 0, 1
when the RTL check found a mismatch, or 3 when a simulation of the RTL check could not run;
bad arguments (including the output directory and the files it would replace) raise
:class:`ArgumentError` before anything is written (the ``l1bn`` command prints it on one line
and exits with 2).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from l1bn.util.argtypes import integer, real
from l1bn.util.files import PathError, check_output_dir, check_output_file

from . import bn_layers, data, plots, report, rtl_check, theorem1, train

__all__ = ["STAGES", "ArgumentError", "add_arguments", "execute", "run"]

STAGES = ("theorem1", "train", "rtl-check", "all")


class ArgumentError(ValueError):
    """A bad argument of ``l1bn experiment``."""


#: Files the command writes into its output directory.
OUTPUTS = (report.JSON_NAME, report.MD_NAME, "theorem1.png", "theorem1.svg",
           "training_curves.png", "training_curves.svg")


def _count(text):
    """An integer in [1, 10000] (argparse type)."""
    return integer(text, 1, 10000)


def _bits(text):
    """An integer in [0, 64] (argparse type): widths, fraction and guard bits."""
    return integer(text, 0, 64)


def add_arguments(parser):
    """Add the command's arguments to ``parser`` (an ``argparse`` subparser)."""
    d = train.TrainConfig()
    parser.add_argument("stage", choices=STAGES,
                        help="theorem1: sigma ratios (Fig. 3); train: the four BN variants over "
                             "seeds (Table II, Fig. 1); rtl-check: one batch per BN layer "
                             "through the RTL; all: the three")
    parser.add_argument("-o", "--output", default="reports/experiments",
                        help="output directory (default %(default)s)")
    parser.add_argument("--seeds", type=_count, default=5,
                        help="training seeds 0..N-1 per variant (default %(default)s)")
    parser.add_argument("--epochs", type=_count, default=d.epochs,
                        help="epochs per run (default %(default)s)")
    parser.add_argument("--jobs", type=_count, default=2,
                        help="training processes in parallel (default %(default)s)")
    parser.add_argument("--width", type=_bits, default=d.width,
                        help="fixed-point data width (default %(default)s)")
    parser.add_argument("--frac", type=_bits, default=d.frac,
                        help="fixed-point fraction bits (default %(default)s)")
    parser.add_argument("--eps", type=real, default=d.eps,
                        help="eps of every BN layer, float and fixed point (default %(default)s)")
    parser.add_argument("--alpha", type=real, default=d.alpha,
                        help="weight of the old running statistics, in [0, 1] (default "
                             "%(default)s)")
    parser.add_argument("--guard", type=_bits, default=d.guard,
                        help="guard bits of the fixed-point units (default %(default)s)")
    parser.add_argument("--simulator", choices=("icarus", "verilator"), default="icarus",
                        help="RTL simulator of rtl-check (default %(default)s)")


def _config(args):
    """The :class:`~l1bn.experiments.train.TrainConfig` of ``args``; :class:`ArgumentError` if the
    fixed-point units reject its format, eps, alpha or guard."""
    cfg = replace(train.TrainConfig(), epochs=args.epochs, width=args.width, frac=args.frac,
                  eps=args.eps, alpha=args.alpha, guard=args.guard)
    try:
        cfg.make_bn("fixed-l1")(1)
    except ValueError as exc:
        raise ArgumentError(str(exc)) from None
    return cfg


def _output(path):
    """The checked output directory; :class:`ArgumentError` if it, or a file the command
    would replace there, cannot be written."""
    try:
        out = check_output_dir(path)
        for name in OUTPUTS:
            check_output_file(out / name, create_parents=True)
    except PathError as exc:
        raise ArgumentError(f"--output: {exc}") from None
    return out


def _log(text):
    print(text, flush=True)


def run(args):
    """Check ``args`` (parsed with :func:`add_arguments`), then :func:`execute` them; returns
    the exit code. :class:`ArgumentError` before anything is written."""
    out = _output(args.output)
    cfg = _config(args)
    try:
        report.load(out)
    except ValueError as exc:
        raise ArgumentError(f"{exc}; remove it or choose another -o") from None
    return execute(args, out, cfg)


def execute(args, out, cfg):
    """Run the stage(s) of ``args`` into the checked directory ``out`` with the checked
    :class:`~l1bn.experiments.train.TrainConfig` ``cfg``; returns the exit code."""
    stages = ("theorem1", "train", "rtl-check") if args.stage == "all" else (args.stage,)
    out.mkdir(parents=True, exist_ok=True)
    dataset = data.load(split_seed=cfg.split_seed)
    t_start = time.perf_counter()
    seconds = {}
    nets = {}
    status = 0
    for stage in stages:
        t0 = time.perf_counter()
        if stage == "theorem1":
            result = theorem1.run(cfg, dataset)
            plots.theorem1(result, out)
            report.update(out, theorem1=result)
            for layer in result["checkpoints"][-1]["layers"]:
                s = layer["ratio_summary"]
                _log(f"theorem1: layer {layer['layer']}: sigma_L2/sigma_L1 mean {s['mean']:.4f}"
                     f" std {s['std']:.4f} (sqrt(pi/2) = {theorem1.SQRT_PI_2:.4f})")
        elif stage == "train":
            results, trained = train.run(cfg, range(args.seeds), args.jobs)
            summary = train.summarize(results)
            plots.training_curves(summary, out)
            report.update(out, train={"config": cfg.as_dict(), "seeds": list(range(args.seeds)),
                                      "summary": summary, "paired": train.paired(summary),
                                      "runs": results})
            nets = {v.split("-")[1]: net for (v, s), net in trained.items()
                    if v.startswith("fixed") and s == 0}
            for variant, s in summary.items():
                _log(f"train: {variant}: test error {s['test_error_mean_pct']:.2f} +- "
                     f"{s['test_error_std_pct']:.2f} %")
        else:
            result = rtl_check.run(cfg, dataset, nets=nets, simulator=args.simulator)
            report.update(out, rtl_check=result)
            bad = [e for e in result["runs"] if e["error"] or e["mismatches"]
                   or not e["network_agrees"]]
            for e in bad:
                why = e["error"] or (f"{e['mismatches']} mismatches" if e["mismatches"] else
                                     "the golden codes differ from the network's own output")
                _log(f"rtl-check: {e['norm']} layer {e['layer']} {e['mode']}: {why}")
            _log(f"rtl-check: total mismatches {result['total_mismatches']}, "
                 f"cycles {sum(e['cycles'] or 0 for e in result['runs'])}")
            failed = any(e["error"] for e in result["runs"])
            status = 3 if failed else 1 if bad else status
        seconds[stage] = time.perf_counter() - t0
        _log(f"{stage}: {seconds[stage]:.0f} s")
    command = (f"l1bn experiment {args.stage} -o {args.output} --seeds {args.seeds} "
               f"--epochs {args.epochs} --jobs {args.jobs} --width {args.width} "
               f"--frac {args.frac} --eps {args.eps} --alpha {args.alpha} --guard {args.guard} "
               f"--simulator {args.simulator}")
    report.update(out, timing={"command": command, "jobs": args.jobs, "stages": seconds,
                               "wall_seconds": time.perf_counter() - t_start})
    _log(f"wrote {out / report.MD_NAME} and {out / report.JSON_NAME}")
    return status

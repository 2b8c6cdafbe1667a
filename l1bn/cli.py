"""The ``l1bn`` command: generate Verilog, check the toolchain, write the report.

Exit codes: 0 success, 1 a check failed (e.g. a simulation mismatch), 2 bad usage or input
(one line on stderr, nothing written).
"""

import argparse
import sys
from pathlib import Path

__all__ = ["main"]


class UsageError(Exception):
    """Bad user input: reported on one line, exit code 2."""


def _positive(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    return v


def _cmd_generate(args):
    from hdl.registry import BLOCKS
    spec = BLOCKS.get(args.block)
    # --max-batch is a block's max_count (values per sum) or, for the units, max_batch.
    batch_param = "max_batch" if spec is not None and "max_batch" in spec.params else "max_count"
    params = {"norm": args.norm, "width": args.width, "frac": args.frac,
              batch_param: args.max_batch, "lanes": args.lanes}
    for item in args.set or ():
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier():
            raise UsageError(f"--set takes NAME=VALUE, got {item!r}")
        try:
            params[name] = int(value)
        except ValueError:
            params[name] = value
    from synth.generate import generate
    try:
        verilog, manifest = generate(args.block, args.output, **params)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(verilog)
    print(manifest)
    return 0


def _cmd_doctor(args):
    from . import toolchain
    missing = []
    for name, version, path, source in toolchain.survey():
        if path is None:
            missing.append(name)
            print(f"{name:22} MISSING   ({source})")
        else:
            print(f"{name:22} {version or '?':48} {path}")
    if missing:
        print(f"missing: {', '.join(missing)} (run `make tools` as root, or install them)")
        return 1
    print("all tools present")
    return 0


def _cmd_report(args):
    from synth.report import build_report
    return build_report(Path(args.output), jobs=args.jobs, full=args.full)


def _cmd_simulate(args):
    """Thin wrapper of :func:`synth.simulate.simulate`: load IN, run, write OUT, report."""
    from sim.runner import SimulationFailed
    from synth import simulate as sm
    out = Path(args.output)
    if not out.parent.is_dir():
        raise UsageError(f"output directory {out.parent} does not exist")
    try:
        arrays = sm.load_inputs(args.input)
        result = sm.simulate(args.norm, args.mode, arrays, stats=args.stats,
                             simulator=args.simulator, width=args.width, frac=args.frac,
                             lanes=args.lanes, max_batch=args.max_batch,
                             build_dir=args.build_dir)
    except sm.InputError as exc:
        raise UsageError(str(exc)) from None
    except SimulationFailed as exc:
        print(f"l1bn simulate: simulation failed: {exc}", file=sys.stderr)
        return 1
    sm.save(out, result)
    sat = result["saturated"]
    nonzero = ", ".join(f"{k} {v}" for k, v in sat.items() if v) or "none"
    print(f"{result['design']} on {result['simulator']}: {result['mismatches']} mismatches, "
          f"{result['cycles']} cycles, {result['saturated_total']} saturated ({nonzero})")
    print(out)
    if result["mismatches"]:
        for line in sm.mismatch_lines(result):
            print(line)
        return 1
    return 0


class _Parser(argparse.ArgumentParser):
    """Reports a usage error on one line (exit 2), as the module docstring promises; the
    subcommands' parsers inherit the class."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _cmd_experiment(args):
    from experiments import cli as experiments_cli
    try:
        return experiments_cli.run(args)
    except experiments_cli.ArgumentError as exc:
        raise UsageError(str(exc)) from None


def _parser():
    p = _Parser(prog="l1bn", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    from hdl.registry import BLOCKS
    blocks = "; ".join(f"{name}: {spec.summary} [{', '.join(spec.params)}]"
                       for name, spec in BLOCKS.items())
    g = sub.add_parser("generate", help="write a block's Verilog and JSON manifest",
                       epilog=f"blocks and their parameters: {blocks}. A parameter a block "
                              "does not take is an error; one not given takes the block's default.")
    g.add_argument("--block", default="stats_accumulator", help="block name (default %(default)s)")
    g.add_argument("--norm", help="l1 or l2")
    g.add_argument("--width", type=_positive, help="data width in bits (default 16)")
    g.add_argument("--frac", type=_positive, help="fraction bits (default 8)")
    g.add_argument("--max-batch", type=_positive,
                   help="largest number of values per channel (default 65536)")
    g.add_argument("--lanes", type=_positive, help="values per cycle (default 1)")
    g.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="any other block parameter (repeatable)")
    g.add_argument("-o", "--output", required=True, help="output directory")
    g.set_defaults(func=_cmd_generate)

    d = sub.add_parser("doctor", help="list every tool with its version and path")
    d.set_defaults(func=_cmd_doctor)

    r = sub.add_parser("report", help="generate, simulate and synthesize; write the L1-vs-L2 report")
    r.add_argument("-o", "--output", default="reports", help="output directory (default reports)")
    r.add_argument("--jobs", type=_positive, default=2, help="parallel jobs (default 2)")
    r.add_argument("--full", action="store_true",
                   help="also 2 and 8 lanes, Verilator, and the FPGA flows and the area split "
                        "of every design (takes much longer than the default)")
    r.set_defaults(func=_cmd_report)

    s = sub.add_parser("simulate", help="run the BN unit RTL under cocotb on your own arrays "
                                        "and compare it with the golden model")
    s.add_argument("--norm", required=True, choices=("l1", "l2"))
    s.add_argument("--stats", default="two-pass", choices=("two-pass", "one-pass"),
                   help="l2 statistics schedule (default %(default)s)")
    s.add_argument("--mode", required=True, choices=("train", "infer", "backward"))
    s.add_argument("--input", required=True, help="IN.npz: x, gamma, beta, ... (floats)")
    s.add_argument("--output", required=True, help="OUT.npz (written atomically)")
    s.add_argument("--simulator", default="verilator", choices=("icarus", "verilator"))
    s.add_argument("--width", type=_positive, default=16, help="data width (default 16)")
    s.add_argument("--frac", type=_positive, default=8, help="fraction bits (default 8)")
    s.add_argument("--lanes", type=_positive, default=1, help="values per cycle (default 1)")
    s.add_argument("--max-batch", type=_positive, default=65536,
                   help="largest m = N*H*W per channel (default 65536)")
    s.add_argument("--build-dir", help="keep the design and simulator build here (reused)")
    s.set_defaults(func=_cmd_simulate)

    from experiments.cli import add_arguments as experiment_arguments
    x = sub.add_parser("experiment", help="train the digits MLP with float and fixed-point "
                                          "L1BN/L2BN; write reports/experiments")
    experiment_arguments(x)
    x.set_defaults(func=_cmd_experiment)
    return p


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"l1bn {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

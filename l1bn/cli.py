"""The ``l1bn`` command: generate Verilog, simulate the units, check the tools, write the reports.

Every subcommand checks all its arguments, its input files and its output and build paths
before it elaborates, simulates or writes anything. Exit codes, the same for every subcommand:

0
    success;
1
    the RTL differs from the golden model (``simulate``, ``report``, ``experiment``);
2
    bad input or usage: one line on stderr naming the argument and the reason, nothing written;
3
    a tool or simulator failed or is missing: one line naming it and the log it kept (an
    unexpected error is reported the same way, as an internal error);
130
    interrupted (Ctrl-C): one line, nothing half-written left behind.
"""

import argparse
import errno
import logging
import os
import stat
import sys
from pathlib import Path

from .util.argtypes import integer, real, short

__all__ = ["main", "EXIT_OK", "EXIT_MISMATCH", "EXIT_USAGE", "EXIT_TOOL", "EXIT_INTERRUPTED"]

EXIT_OK, EXIT_MISMATCH, EXIT_USAGE, EXIT_TOOL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

#: Largest integer any count or size argument takes (the units' max_batch bound).
INT_LIMIT = 1 << 32


class UsageError(Exception):
    """Bad user input: reported on one line, exit code 2."""


class ToolError(Exception):
    """A tool or simulator is missing or failed: reported on one line, exit code 3."""


def _positive(text):
    """An integer in [1, :data:`INT_LIMIT`] (argparse type)."""
    return integer(text, 1, INT_LIMIT)


def _natural(text):
    """An integer in [0, :data:`INT_LIMIT`] (argparse type)."""
    return integer(text, 0, INT_LIMIT)


def _jobs(text):
    """Parallel jobs: an integer in [1, 256] (argparse type)."""
    return integer(text, 1, 256)


def _checked(check, path, argument, **kw):
    """``check(path, **kw)`` (:mod:`l1bn.util.files`), its :class:`PathError` as a usage error
    naming ``argument``."""
    from .util.files import PathError
    try:
        return check(path, **kw)
    except PathError as exc:
        raise UsageError(f"{argument}: {exc}") from None


def _input_file(path, argument):
    """``path`` as an absolute path to an existing, readable regular file."""
    if not path:
        raise UsageError(f"{argument}: empty path")
    p = Path(os.path.abspath(path))
    try:
        mode = os.stat(p).st_mode
    except OSError as exc:
        why = "does not exist" if exc.errno == errno.ENOENT else exc.strerror
        raise UsageError(f"{argument}: {short(str(p), 200)}: {why}") from None
    if not stat.S_ISREG(mode):
        raise UsageError(f"{argument}: {p} is not a regular file")
    if not os.access(p, os.R_OK):
        raise UsageError(f"{argument}: {p} is not readable")
    return p


def _set_value(text):
    """A ``--set`` value: an integer, else a real number, else the text."""
    for parse in (int, float):
        try:
            return parse(text)
        except ValueError:
            pass
    return text


def _generate_params(args, spec):
    """The parameters the flags and ``--set`` of ``l1bn generate`` give (None: not given)."""
    # --max-batch is a block's max_count (values per sum) or, for the units, max_batch.
    batch = "max_batch" if spec is not None and "max_batch" in spec.params else "max_count"
    norm = args.norm or ("l1" if spec is not None and "norm" in spec.params else None)
    params = {"norm": norm, "width": args.width, "frac": args.frac, batch: args.max_batch,
              "lanes": args.lanes, "eps": args.eps, "alpha": args.alpha, "guard": args.guard,
              "interface": args.interface, "buffer_depth": args.buffer_depth}
    for item in args.set or ():
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier():
            raise UsageError(f"--set: expected NAME=VALUE, got {short(item)!r}")
        params[name] = _set_value(value)
    return params


def _checked_design(args):
    """``(params, out)`` of ``l1bn generate``'s flags, checked (usage errors)."""
    from l1bn.hdl.registry import BLOCKS
    from l1bn.hdl import generate as gen
    from .util.files import PathError

    try:
        return gen.check(args.block, args.output,
                         **_generate_params(args, BLOCKS.get(args.block)))
    except PathError as exc:
        raise UsageError(f"--output: {exc}") from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _generate_checked(args, params, out):
    from l1bn.hdl import generate as gen
    try:
        return gen.generate(args.block, out, **params)
    except ValueError as exc:   # a combination the block's constructor refuses
        raise UsageError(str(exc)) from None


def _cmd_generate(args):
    params, out = _checked_design(args)
    verilog, manifest = _generate_checked(args, params, out)
    print(verilog)
    print(manifest)
    return EXIT_OK


def _cmd_vectors(args):
    import json
    from l1bn.sim import vectors as vec
    if args.block not in vec.BLOCKS:
        raise UsageError(f"--block: vectors are written for {', '.join(vec.BLOCKS)}, "
                         f"got {short(args.block)!r}")
    modes = vec.MODES[args.block]
    mode = args.mode or modes[0]
    if mode not in modes:
        raise UsageError(f"--mode: {args.block} takes {', '.join(modes)}, got {short(mode)!r}")
    params, out = _checked_design(args)
    if params.get("interface", "stream") != "stream":
        raise UsageError("--interface: vectors are written for the stream interface")
    ms = args.m * args.channels if len(args.m) == 1 else args.m
    name = "max_batch" if "max_batch" in params else "buffer_depth"
    limit = params.get(name)
    if limit is not None and max(ms) > limit:
        raise UsageError(f"-m: {max(ms)} values in a channel, more than {name} = {limit}")
    verilog, manifest = _generate_checked(args, params, out)
    for path in [verilog, manifest] + vec.write(out, json.loads(manifest.read_text()), mode,
                                                ms, args.seed):
        print(path)
    return EXIT_OK


def _cmd_doctor(args):
    from .util import toolchain
    missing = []
    for name, version, path, source in toolchain.survey():
        if path is None:
            missing.append(name)
            print(f"{name:22} MISSING   ({source})")
        else:
            print(f"{name:22} {version or '?':48} {path}")
    if missing:
        raise ToolError(f"missing: {', '.join(missing)} (run `make tools` as root, or install "
                        "them)")
    print("all tools present")
    return EXIT_OK


def _cmd_report(args):
    from .util.files import check_output_dir
    out = _checked(check_output_dir, args.output, "--output")
    from l1bn.report import build_report, sweep
    try:   # every unit design checked with these values before anything is written
        designs = sweep(args.full, eps=args.eps, alpha=args.alpha, guard=args.guard)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    from l1bn.report.executor import SchedulerError
    try:
        return build_report(out, jobs=args.jobs, designs=designs, full=args.full,
                            scheduler=args.scheduler)
    except SchedulerError as exc:     # raised before anything is written
        raise UsageError(f"--scheduler: {exc}") from None


def _cmd_explore(args):
    from .util.files import check_output_dir
    spec_path = _input_file(args.spec, "SPEC")
    out = _checked(check_output_dir, args.output, "--output")
    from l1bn.report.executor import SchedulerError
    from l1bn.report.explore import SpecError, explore, load_spec, points
    try:
        text = spec_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"SPEC: {spec_path}: {exc}") from None
    try:
        spec = load_spec(text)
        points(spec)          # every point checked before anything is written
    except SpecError as exc:
        raise UsageError(f"SPEC: {exc}") from None
    from l1bn.experiments.activations import captured
    try:
        return explore(spec, out, jobs=args.jobs, scheduler=args.scheduler, real=captured())
    except SchedulerError as exc:     # raised before anything is written
        raise UsageError(f"--scheduler: {exc}") from None


def _simulate_paths(args):
    """The checked ``(input, output)`` paths of ``l1bn simulate`` (and its build directory)."""
    from .util.files import check_output_dir, check_output_file
    inp = _input_file(args.input, "--input")
    out = _checked(check_output_file, args.output, "--output")
    if out.exists() and out.samefile(inp):
        raise UsageError(f"--output: {out} is the input file")
    if args.build_dir is not None:
        _checked(check_output_dir, args.build_dir, "--build-dir")
    return inp, out


def _cmd_simulate(args):
    """Thin wrapper of :func:`l1bn.sim.simulate.simulate`: check, load IN, run, write OUT, report."""
    from l1bn.sim import runner
    from l1bn.sim import simulate as sm
    inp, out = _simulate_paths(args)
    unit = dict(stats=args.stats, width=args.width, frac=args.frac, lanes=args.lanes,
                max_batch=args.max_batch, eps=args.eps, alpha=args.alpha, guard=args.guard)
    try:
        sm.config(args.norm, **unit)
        arrays = sm.load_inputs(inp, args.mode, max_elements=args.max_elements)
        sm.check_arrays(args.mode, arrays, args.max_batch)
    except sm.InputError as exc:
        raise UsageError(str(exc)) from None
    why = runner.available(args.simulator)
    if why:
        raise ToolError(f"simulator {args.simulator} cannot run here: {why} (run `make tools`)")
    result = sm.simulate(args.norm, args.mode, arrays, simulator=args.simulator,
                         build_dir=args.build_dir, **unit)
    sm.save(out, result)
    sat = result["saturated"]
    nonzero = ", ".join(f"{k} {v}" for k, v in sat.items() if v) or "none"
    print(f"{result['design']} on {result['simulator']}: {result['mismatches']} mismatches, "
          f"{result['cycles']} cycles, {result['saturated_total']} saturated ({nonzero})")
    print(out)
    if result["mismatches"]:
        for line in sm.mismatch_lines(result):
            print(line)
        return EXIT_MISMATCH
    return EXIT_OK


def _cmd_experiment(args):
    from l1bn.experiments import cli as experiments_cli
    try:
        return experiments_cli.run(args)
    except experiments_cli.ArgumentError as exc:
        raise UsageError(str(exc)) from None


class _Parser(argparse.ArgumentParser):
    """Reports a usage error on one line (exit 2), as the module docstring promises; the
    subcommands' parsers inherit the class."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {' '.join(message.split())}\n")


def _unit_flags(p, what):
    """``--eps``, ``--alpha`` and ``--guard`` of the BN units."""
    p.add_argument("--eps", type=real, help=f"{what}eps added to sigma, >= 0 and within the "
                                             "statistics format (default 1e-5)")
    p.add_argument("--alpha", type=real, help=f"{what}weight of the old running statistics, "
                                               "in [0, 1] (default 0.9)")
    p.add_argument("--guard", type=_natural, help=f"{what}guard bits of the statistics, 3 to 32 "
                                                  "(default 8)")


def _blocks_epilog():
    from l1bn.hdl.registry import BLOCKS
    lines = [f"  {name}: {spec.summary}\n    "
             + ", ".join(f"{p}={spec.bound(p).describe()}" for p in spec.params)
             for name, spec in BLOCKS.items()]
    return ("blocks, their parameters and the values each takes:\n" + "\n".join(lines)
            + "\nA parameter a block does not take is an error; one not given takes the block's "
              "default.")


def _sizes(text):
    """Channel sizes: ``M`` or ``M1,M2,...``, each in [1, 2**20] (argparse type)."""
    return [integer(t, 1, 1 << 20) for t in text.split(",")]


def _add_vectors(sub):
    v = sub.add_parser("vectors", help="write a design with stimulus and expected transfers "
                                       "($readmemh files, a Verilog header, JSON) for your own "
                                       "testbench")
    _design_flags(v)
    v.add_argument("--mode", help="bn_unit, bn_layer: train (default) or infer; bn_infer: infer; "
                                  "bn_backward, bn_backward_layer: backward")
    v.add_argument("--channels", type=_positive, default=3,
                   help="channels when -m gives one size (default 3)")
    v.add_argument("-m", type=_sizes, default=[20],
                   help="values per channel: M, or M1,M2,... one per channel (default 20)")
    v.add_argument("--seed", type=_natural, default=1, help="data seed (default 1)")
    v.set_defaults(func=_cmd_vectors)


def _add_generate(sub):
    g = sub.add_parser("generate", help="write a block's Verilog and JSON manifest",
                       epilog=_blocks_epilog(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _design_flags(g)
    g.set_defaults(func=_cmd_generate)


def _design_flags(g):
    g.add_argument("--block", default="bn_unit",
                   help="block name (default %(default)s, the forward BN unit)")
    g.add_argument("--norm", help="l1 or l2 (default l1, for blocks that take a norm)")
    g.add_argument("--width", type=_positive, help="data width in bits (default 16)")
    g.add_argument("--frac", type=_natural, help="fraction bits (default 8)")
    g.add_argument("--max-batch", type=_positive,
                   help="largest number of values per channel (default 65536)")
    g.add_argument("--lanes", type=_positive, help="values per cycle (default 1)")
    g.add_argument("--buffer-depth", type=_positive,
                   help="bn_layer, bn_backward_layer: the largest channel, in values "
                        "(default 1024)")
    _unit_flags(g, "bn_unit, bn_backward (alpha: bn_unit): ")
    g.add_argument("--interface", help="stream (default: valid/ready/payload ports, clk, rst) "
                   "or axis (AXI4-Stream: s_axis_<name>_tdata/tuser/tlast/tvalid/tready, "
                   "m_axis_<name>_..., aclk, aresetn active low)")
    g.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="any other block parameter (repeatable)")
    g.add_argument("-o", "--output", required=True, help="output directory")


def _add_simulate(sub):
    from l1bn.sim.simulate import MAX_ELEMENTS
    s = sub.add_parser("simulate", help="run the BN unit RTL under cocotb on your own arrays "
                                        "and compare it with the golden model")
    s.add_argument("--norm", required=True, choices=("l1", "l2"))
    s.add_argument("--stats", default="two-pass", choices=("two-pass", "one-pass"),
                   help="l2 statistics schedule (default %(default)s)")
    s.add_argument("--mode", required=True, choices=("train", "infer", "backward"))
    s.add_argument("--input", required=True, help="IN.npz: x, gamma, beta, ... (floats)")
    s.add_argument("--output", required=True,
                   help="OUT.npz (written atomically; a symbolic link or an existing path that "
                        "is not a regular file is refused)")
    s.add_argument("--simulator", default="verilator", choices=("icarus", "verilator"))
    s.add_argument("--width", type=_positive, default=16, help="data width (default 16)")
    s.add_argument("--frac", type=_natural, default=8, help="fraction bits (default 8)")
    s.add_argument("--lanes", type=_positive, default=1, help="values per cycle (default 1)")
    s.add_argument("--max-batch", type=_positive, default=65536,
                   help="largest m = N*H*W per channel (default 65536)")
    _unit_flags(s, "")
    s.add_argument("--max-elements", type=_positive, default=MAX_ELEMENTS,
                   help="most values IN.npz may hold in all its arrays (default %(default)s)")
    s.add_argument("--build-dir", help="keep the design and simulator build here (reused, "
                                       "and shared safely by concurrent runs)")
    s.set_defaults(func=_cmd_simulate)


def _parser():
    p = _Parser(prog="l1bn", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    _add_generate(sub)
    _add_vectors(sub)
    d = sub.add_parser("doctor", help="list every tool with its version and path")
    d.set_defaults(func=_cmd_doctor)
    r = sub.add_parser("report",
                       help="generate, simulate and synthesize; write the L1-vs-L2 report")
    r.add_argument("-o", "--output", default="reports", help="output directory (default reports)")
    r.add_argument("--jobs", type=_jobs, default=2,
                   help="designs evaluated at once by local processes, 1 to 256 (default 2)")
    r.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="evaluate every design on this Dask distributed cluster instead "
                        "(workers need the same tools, no shared disk)")
    r.add_argument("--full", action="store_true",
                   help="also 2 and 8 lanes, Verilator, and the FPGA flows and the area split "
                        "of every design (takes much longer than the default)")
    _unit_flags(r, "every unit design (alpha: the forward units): ")
    r.set_defaults(func=_cmd_report)
    e = sub.add_parser("explore", help="a design-space sweep of the BN units (a TOML spec): "
                                       "accuracy against cost, L1 and L2 Pareto fronts")
    e.add_argument("spec", metavar="SPEC", help="the sweep's TOML spec (see the README)")
    e.add_argument("-o", "--output", required=True, help="output directory")
    e.add_argument("--jobs", type=_jobs, default=2,
                   help="points evaluated at once by local processes, 1 to 256 (default 2)")
    e.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="evaluate every point on this Dask distributed cluster instead")
    e.set_defaults(func=_cmd_explore)
    _add_simulate(sub)
    from l1bn.experiments.cli import add_arguments as experiment_arguments
    x = sub.add_parser("experiment", help="train the digits MLP with float and fixed-point "
                                          "L1BN/L2BN; write reports/experiments")
    experiment_arguments(x)
    x.set_defaults(func=_cmd_experiment)
    return p


def _say(command, text):
    print(f"{command}: {' '.join(str(text).split())}", file=sys.stderr)


def _run(args):
    """``args.func(args)`` with the failures of tools mapped to :class:`ToolError`."""
    from l1bn.sim.runner import SimulationFailed
    from l1bn.util.tools import ToolFailed, ToolMissing
    try:
        return args.func(args)
    except (SimulationFailed, ToolFailed) as exc:
        raise ToolError(f"failed: {exc}") from None
    except ToolMissing as exc:
        raise ToolError(f"{exc.tool} is missing (run `make tools`, or `l1bn doctor` to see what "
                        "is there)") from None


def main(argv=None):
    """Run ``l1bn`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    from l1bn.sim.simulate import InputError
    from .util.files import PathError
    command = "l1bn"
    logging.getLogger("Icarus").setLevel(logging.ERROR)   # cocotb's "Skipping compilation"
    try:
        args = _parser().parse_args(argv)
        command = f"l1bn {args.command}"
        return _run(args)
    except SystemExit as exc:   # argparse: --help (0) or a usage error (2, already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except (UsageError, PathError, InputError) as exc:
        _say(command, f"error: {exc}")
        return EXIT_USAGE
    except ToolError as exc:
        _say(command, exc)
        return EXIT_TOOL
    except KeyboardInterrupt:
        _say(command, "interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:   # a bug: one line all the same, never a traceback
        _say(command, f"internal error: {type(exc).__name__}: {exc}")
        return EXIT_TOOL


if __name__ == "__main__":
    sys.exit(main())

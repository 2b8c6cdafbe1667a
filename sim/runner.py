"""cocotb runner glue: build a generated design once per (simulator, parameters), run a testbench.

Tests call :func:`run`; it returns the per-testcase outcome and the testbench's own summary
(checked cycles, mismatches, seed), and raises :class:`SimulationFailed` on any failure so that
pytest shows which cocotb test failed and why.
"""

import contextlib
import contextvars
import fcntl
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
import xml.etree.ElementTree as ET

from l1bn.util import toolchain
from l1bn.util.files import write_text

__all__ = ["SIMULATORS", "EXECUTABLES", "SimulationFailed", "available", "run", "ENV_CONFIG", "dump_input_ports",
           "port_dump_verilog"]

#: The simulators and the executable each one needs.
EXECUTABLES = {"icarus": "iverilog", "verilator": "verilator"}
SIMULATORS = tuple(EXECUTABLES)

#: Environment variable through which the testbench receives its configuration (a JSON path).
ENV_CONFIG = "L1BN_TB_CONFIG"

#: cocotb applies testbench writes through a ReadWrite callback per time step unless this is 1;
#: :func:`run` sets it to 1 (cocotb's own default for Verilator) for Icarus too, which makes
#: Icarus runs about 1.6x faster (``make bench``). The harness never drives in the time step
#: of a rising edge, where Icarus's inertial writes could race the flops. A value in the
#: caller's environment (``COCOTB_TRUST_INERTIAL_WRITES=0``) wins.
ENV_TRUST_WRITES = "COCOTB_TRUST_INERTIAL_WRITES"


#: VCD path requested by :func:`dump_input_ports` for the runs of the current context, or None.
_PORT_DUMP = contextvars.ContextVar("l1bn_port_dump", default=None)
#: Module name of the port-dump root (a second top-level module of the Icarus build).
DUMP_MODULE = "l1bn_port_dump"


@contextlib.contextmanager
def dump_input_ports(vcd_path):
    """Within this block, every Icarus :func:`run` also writes a VCD of the design's input ports.

    The VCD (``clk`` and every input port of the manifest, value changes only) is written to
    ``vcd_path`` by a second root module (:func:`port_dump_verilog`) compiled with the design, so
    any testbench, including those reached through :func:`l1bn.sim.simulate.simulate`, can measure
    input toggle rates without changes. The context is per thread (a :mod:`contextvars` variable).
    Verilator runs are not affected.
    """
    token = _PORT_DUMP.set(Path(vcd_path).resolve())
    try:
        yield
    finally:
        _PORT_DUMP.reset(token)


def port_dump_verilog(toplevel, ports, vcd_path):
    """Verilog of :data:`DUMP_MODULE`: a VCD of ``toplevel``'s input ports written to ``vcd_path``.

    Parameters
    ----------
    toplevel : str
        The design's module (a root of the same simulation, referenced hierarchically).
    ports : list of dict
        The manifest's ``ports`` (``name``, ``dir``, ``width``); inputs are dumped.
    vcd_path : pathlib.Path
        Absolute path of the VCD.

    Returns
    -------
    str
        The module: a VCD header declaring each input as a ``wire`` in scope ``toplevel``, the
        initial values at time 0, and one ``always`` block per port writing each change (times
        in the simulation's time unit, 1 ns as :func:`run` builds).
    """
    text = str(vcd_path)
    if any(c in text for c in '"\\\n'):
        raise ValueError(f"VCD path unusable in a Verilog string: {text!r}")
    ins = [p for p in ports if p["dir"] == "in"]
    ident = {p["name"]: f"v{i}" for i, p in enumerate(ins)}
    head = "".join(f"$var wire {p['width']} {ident[p['name']]} {p['name']} $end\\n" for p in ins)
    lines = [f"module {DUMP_MODULE};",
             "  integer fd = 0;",
             "  time last = 0;",
             "  initial begin",
             f'    fd = $fopen("{text}", "w");',
             '    $fwrite(fd, "$timescale 1ns $end\\n");',
             f'    $fwrite(fd, "$scope module {toplevel} $end\\n{head}$upscope $end\\n");',
             '    $fwrite(fd, "$enddefinitions $end\\n#0\\n$dumpvars\\n");']
    for p in ins:
        lines.append(f'    $fwrite(fd, "b%b {ident[p["name"]]}\\n", {toplevel}.{p["name"]});')
    lines += ['    $fwrite(fd, "$end\\n");', "  end"]
    for p in ins:
        lines += [f"  always @({toplevel}.{p['name']}) if (fd != 0) begin",
                  '    if ($time != last) $fwrite(fd, "#%0d\\n", $time);',
                  "    last = $time;",
                  f'    $fwrite(fd, "b%b {ident[p["name"]]}\\n", {toplevel}.{p["name"]});',
                  "  end"]
    lines += ["  final $fclose(fd);", "endmodule", ""]
    return "\n".join(lines)


class SimulationFailed(AssertionError):
    """A cocotb test failed, or the simulator did not build or run.

    ``log`` (a :class:`pathlib.Path` or None) is the log that says why; it is kept.
    """

    def __init__(self, message, log=None):
        super().__init__(message)
        self.log = log


def available(simulator):
    """None when ``simulator`` can run here, else the reason it cannot."""
    exe = EXECUTABLES[simulator]
    if toolchain.find(exe) is None:
        return f"{exe} missing"
    return None


@dataclass
class Outcome:
    testcases: dict          # name -> None (passed) or failure message
    summary: dict            # what the testbench wrote (checked cycles, mismatches, seed, ...)
    build_dir: Path


def _testcases(xml_path):
    result = {}
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        result[case.get("name")] = None if failure is None else (
            failure.get("message") or failure.text or "failed")
    return result


def run(*, verilog, toplevel, test_module, simulator, build_dir, config, testcase=None,
        run_dir=None, edge_writes=False):
    """Build ``verilog`` for ``simulator`` in ``build_dir`` (reused when up to date) and run tests.

    Parameters
    ----------
    verilog : Path
        The design, as emitted by ``l1bn generate``.
    toplevel : str
        Module name.
    test_module : str
        Python module holding the cocotb tests (e.g. ``"l1bn.sim.tb_stats_accumulator"``).
    simulator : ``"icarus"`` or ``"verilator"``
    build_dir : Path
        The compiled simulator of this (simulator, design). Processes may share it: the build
        runs under an exclusive lock (``fcntl.flock`` of ``build_dir/.lock``) and is reused only
        if its stamp (a hash of the sources, the options and the built files) still matches, so
        a stale or damaged build is rebuilt. A rebuild removes the old files first: a simulation
        already running keeps the file it started from.
    config : dict
        JSON-serializable testbench configuration (manifest, seed, cycle budget, ...).
    testcase : str or None
        Run only this cocotb test.
    run_dir : Path or None
        Where this run's configuration, results and log go (an existing directory private to
        the run); default ``build_dir / (testcase or "all")``.
    edge_writes : bool
        The testbench writes in the time step of a rising edge (cocotbext-axi's drivers do):
        its writes then go through cocotb's ReadWrite scheduling (:data:`ENV_TRUST_WRITES` 0),
        so that no flop of that edge sees them.
    """
    toolchain.prepare_environment()
    if simulator not in SIMULATORS:
        raise ValueError(f"simulator must be one of {', '.join(SIMULATORS)}, got {simulator!r}")
    build_dir = Path(build_dir).resolve()
    dump = _PORT_DUMP.get() if simulator == "icarus" else None
    extra = []
    if dump is not None:   # a build of its own: the dump module is part of it
        build_dir = build_dir / "port-dump"
        extra = [build_dir / f"{DUMP_MODULE}.v"]
    build_dir.mkdir(parents=True, exist_ok=True)
    with open(build_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if extra:
            text = port_dump_verilog(toplevel, config["manifest"]["ports"], dump)
            if not (extra[0].is_file() and extra[0].read_text() == text):
                extra[0].write_text(text)
        sim = _build(simulator, verilog, toplevel, build_dir, extra)
    test_dir = Path(run_dir) if run_dir is not None else build_dir / (testcase or "all")
    test_dir.mkdir(exist_ok=True)
    return _test(sim, simulator, toplevel, test_module, build_dir, test_dir, config, testcase,
                 "0" if edge_writes else "1")


def _test(sim, simulator, toplevel, test_module, build_dir, test_dir, config, testcase,
          trust_writes):
    """Run the cocotb tests of a built ``sim`` in ``test_dir``; :class:`Outcome` or raise."""
    config_path = test_dir / "tb_config.json"
    summary_path = test_dir / "tb_summary.json"
    config = dict(config, summary_path=str(summary_path))
    config_path.write_text(json.dumps(config))
    summary_path.unlink(missing_ok=True)
    xml = test_dir / "results.xml"
    xml.unlink(missing_ok=True)
    log = test_dir / "sim.log"
    try:
        sim.test(
            hdl_toplevel=toplevel, test_module=test_module, build_dir=build_dir,
            test_dir=test_dir, results_xml=str(xml), testcase=testcase,
            extra_env={ENV_CONFIG: str(config_path), "PYTHONPATH": _pythonpath(),
                       ENV_TRUST_WRITES: os.environ.get(ENV_TRUST_WRITES, trust_writes)}, log_file=log)
    except (SystemExit, RuntimeError):  # failing tests or simulator: the results file says
        pass
    if not xml.exists():
        raise SimulationFailed(f"{simulator} failed and wrote no results; see {log}", log=log)
    cases = _testcases(xml)
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    failed = {k: v for k, v in cases.items() if v is not None}
    if not cases or failed:
        lines = "; ".join(f"{k}: {v}" for k, v in failed.items()) or "no test ran"
        raise SimulationFailed(f"{simulator}: {lines} (seed {config.get('seed')}; log {log})",
                               log=log)
    return Outcome(testcases=cases, summary=summary, build_dir=build_dir)


#: Files a build leaves that the tests run (besides Verilator's object directory).
_PRODUCTS = {"icarus": lambda toplevel: ["sim.vvp"], "verilator": lambda toplevel: [toplevel]}
_STAMP = ".l1bn-build.json"


def _stamp(simulator, sources, build_args, build_dir, toplevel):
    """Hash of what a build is made from and of what it made (None if a product is missing)."""
    h = hashlib.sha256(json.dumps([simulator, toplevel, build_args]).encode())
    for source in sources:
        h.update(Path(source).read_bytes() + b"\0")
    for name in _PRODUCTS[simulator](toplevel):
        product = build_dir / name
        if not product.is_file():
            return None
        with open(product, "rb") as f:
            h.update(hashlib.file_digest(f, "sha256").digest())
    return h.hexdigest()


def _build(simulator, verilog, toplevel, build_dir, extra=()):
    """Build (or reuse) and return the cocotb runner, which ``test`` needs afterwards.

    ``extra``: Icarus sources compiled as further root modules (the port dump). A previous
    build is reused only if its stamp (:func:`_stamp`) matches; else its products are removed
    and everything is built again. Called with the build directory's lock held.
    """
    from cocotb_tools.runner import get_runner

    sim = get_runner(simulator)
    build_args = ["-Wno-fatal", "-O2"] if simulator == "verilator" else []
    for source in extra:
        build_args += ["-s", Path(source).stem]
    sources = [Path(verilog).resolve(), *extra]
    stamp_path = build_dir / _STAMP
    old = stamp_path.read_text() if stamp_path.is_file() else None
    fresh = old is not None and old == _stamp(simulator, sources, build_args, build_dir, toplevel)
    if not fresh:
        stamp_path.unlink(missing_ok=True)
        for name in _PRODUCTS[simulator](toplevel):
            (build_dir / name).unlink(missing_ok=True)
        if simulator == "verilator":
            for obj in build_dir.glob("Vtop*"):
                obj.unlink()
    try:
        sim.build(
            sources=sources, hdl_toplevel=toplevel, build_dir=build_dir,
            timescale=("1ns", "1ps"), build_args=build_args, always=not fresh,
            log_file=build_dir / "build.log")
    except (SystemExit, RuntimeError) as exc:  # cocotb reports build failures these ways
        log = build_dir / "build.log"
        raise SimulationFailed(f"{simulator} build failed ({exc}); see {log}", log=log) from None
    if not fresh:
        write_text(stamp_path, _stamp(simulator, sources, build_args, build_dir, toplevel))
    return sim


def _pythonpath():
    """PYTHONPATH of the simulator's Python: the caller's, without the working directory. The
    simulator runs this interpreter's environment, so it imports ``l1bn`` as installed."""
    return os.pathsep.join(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                           if p and Path(p).resolve() != Path.cwd().resolve())

"""cocotb runner glue: build a generated design once per (simulator, parameters), run a testbench.

Tests call :func:`run`; it returns the per-testcase outcome and the testbench's own summary
(checked cycles, mismatches, seed), and raises :class:`SimulationFailed` on any failure so that
pytest shows which cocotb test failed and why.
"""

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
import xml.etree.ElementTree as ET

from l1bn import toolchain

__all__ = ["SIMULATORS", "SimulationFailed", "available", "run", "ENV_CONFIG"]

SIMULATORS = ("icarus", "verilator")

#: Environment variable through which the testbench receives its configuration (a JSON path).
ENV_CONFIG = "L1BN_TB_CONFIG"


class SimulationFailed(AssertionError):
    """A cocotb test failed, or the simulator did not build or run."""


def available(simulator):
    """None when ``simulator`` can run here, else the reason it cannot."""
    exe = {"icarus": "iverilog", "verilator": "verilator"}[simulator]
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


def run(*, verilog, toplevel, test_module, simulator, build_dir, config, testcase=None):
    """Build ``verilog`` for ``simulator`` in ``build_dir`` (reused when up to date) and run tests.

    Parameters
    ----------
    verilog : Path
        The design, as emitted by ``l1bn generate``.
    toplevel : str
        Module name.
    test_module : str
        Python module holding the cocotb tests (e.g. ``"sim.tb_stats_accumulator"``).
    simulator : ``"icarus"`` or ``"verilator"``
    build_dir : Path
        Private to this (simulator, design); pytest-xdist workers must not share one.
    config : dict
        JSON-serializable testbench configuration (manifest, seed, cycle budget, ...).
    testcase : str or None
        Run only this cocotb test.
    """
    toolchain.prepare_environment()
    if simulator not in SIMULATORS:
        raise ValueError(f"simulator must be one of {', '.join(SIMULATORS)}, got {simulator!r}")
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    # pytest-xdist workers may run several testcases of one design at once: one builds, the
    # others wait for it; each testcase then runs in its own directory.
    with open(build_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        sim = _build(simulator, verilog, toplevel, build_dir)
    test_dir = build_dir / (testcase or "all")
    test_dir.mkdir(exist_ok=True)
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
            extra_env={ENV_CONFIG: str(config_path), "PYTHONPATH": _pythonpath()}, log_file=log)
    except SystemExit:  # failing tests: the results file says which
        pass
    if not xml.exists():
        raise SimulationFailed(f"{simulator} wrote no results; see {log}")
    cases = _testcases(xml)
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    failed = {k: v for k, v in cases.items() if v is not None}
    if not cases or failed:
        lines = "; ".join(f"{k}: {v}" for k, v in failed.items()) or "no test ran"
        raise SimulationFailed(f"{simulator}: {lines} (seed {config.get('seed')}; log {log})")
    return Outcome(testcases=cases, summary=summary, build_dir=build_dir)


def _build(simulator, verilog, toplevel, build_dir):
    from cocotb_tools.runner import get_runner

    """Build (or bring up to date) and return the cocotb runner, which ``test`` needs afterwards."""
    sim = get_runner(simulator)
    build_args = ["-Wno-fatal", "-O2"] if simulator == "verilator" else []
    try:
        sim.build(
            sources=[Path(verilog).resolve()], hdl_toplevel=toplevel, build_dir=build_dir,
            timescale=("1ns", "1ps"), build_args=build_args, always=False,
            log_file=build_dir / "build.log")
    except SystemExit as exc:  # cocotb reports build failures this way
        raise SimulationFailed(f"{simulator} build failed ({exc}); see {build_dir / 'build.log'}")
    return sim


def _pythonpath():
    root = str(Path(__file__).resolve().parent.parent)
    rest = os.environ.get("PYTHONPATH")
    return root if not rest else os.pathsep.join([root, rest])

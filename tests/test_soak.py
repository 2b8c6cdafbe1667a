"""``make soak``: long runs that ``make test`` leaves out (skipped unless ``L1BN_SOAK_CYCLES`` is
set). Every unit configuration (both norms, forward and backward, P = 1 and 4) streams at least
that many checked cycles of random channels of every family with random gaps and
backpressure, on both simulators, against the golden model; the forward numerics' property
search runs with ``L1BN_HYPOTHESIS_EXAMPLES`` examples (tests/test_bn_forward.py)."""

import os

import pytest

from l1bn.sim.unitbench import SOAK_ENV

from .blocksim import simulate
from l1bn.sim import runner

DESIGNS = (
    ("bn_unit", dict(norm="l1", lanes=1)), ("bn_unit", dict(norm="l1", lanes=4)),
    ("bn_unit", dict(norm="l2", lanes=1)), ("bn_unit", dict(norm="l2", lanes=4)),
    ("bn_unit", dict(norm="l2", stats="one-pass", lanes=4)),
    ("bn_backward", dict(norm="l1", lanes=1)), ("bn_backward", dict(norm="l1", lanes=4)),
    ("bn_backward", dict(norm="l2", lanes=1)), ("bn_backward", dict(norm="l2", lanes=4)),
)


def _id(d):
    block, p = d
    return f"{block}-{p['norm']}-{p.get('stats', 'two-pass')}-p{p['lanes']}"


@pytest.mark.sim
@pytest.mark.skipif(SOAK_ENV not in os.environ, reason=f"soak run: set {SOAK_ENV} (make soak)")
@pytest.mark.parametrize("simulator", runner.SIMULATORS)
@pytest.mark.parametrize("design", DESIGNS, ids=[_id(d) for d in DESIGNS])
def test_soak(build_root, simulator, design):
    block, params = design
    summary = simulate(build_root, block, dict(params, width=16, frac=8, max_batch=1000),
                       simulator, "soak")
    print(f"soak {_id(design)} {simulator}: {summary['cycles']} checked cycles, "
          f"{summary['mismatches']} mismatches (seed {summary['seed']})")
    assert summary["cycles"] >= int(os.environ[SOAK_ENV])

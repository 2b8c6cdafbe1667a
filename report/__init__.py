"""The L1-vs-L2 hardware cost report (``make report`` / ``l1bn report [--full]``).

For every design of the sweep (:func:`~l1bn.report.sweep.sweep`: the library's blocks and the complete forward and
backward units), :func:`~l1bn.report.stages.evaluate` runs the stages the sweep asks for:

``asic``
    One Yosys run: generic-gate figures (cells, ``stat -tech cmos`` transistors, ``ltp`` depth)
    and the flat OSU 0.18 um mapping (:func:`l1bn.synth.yosys.osu018` with ``fast=True``).
``sim_icarus`` / ``sim_verilator``
    Blocks: the testbench's ``SMOKE_TEST``; units: :func:`l1bn.sim.simulate.simulate` on Gaussian
    activations (:data:`UNIT_DATA`), RTL against the golden model, with the cycle count. On
    Icarus, a VCD of the input ports (:func:`l1bn.sim.runner.dump_input_ports`) gives every input
    bit's toggle rate and duty (:mod:`l1bn.synth.activity`).
``sta``
    OpenSTA on the flat netlist: paths, Fmax, and power with the measured input activities
    (propagated vectorlessly inside), or a global activity when none was measured.
``fpga_ice40-hx8k`` / ``fpga_ecp5-25k``
    Yosys + nextpnr (:func:`l1bn.synth.fpga.place_and_route`).
``areas``
    Units: the hierarchical OSU 0.18 um run splitting the area by the unit's ``AREA_GROUPS``.

Every stage's result is cached under ``<output>/.cache/<module>-<key>/stages/``: the key hashes
the Verilog, the tool versions and the report's settings, and each stage file name hashes the
source of the code that computes it, so a re-run redoes only what changed; an index keyed by
the design's parameters and the source of ``hdl/`` and ``golden/`` finds the result without
elaborating the design. A missing tool marks its columns ``not run: <tool> missing``. The
figures derived from these (layer latencies, time and energy per element, L1/L2 ratios, targets)
are computed by :mod:`l1bn.report.derived` every time.
"""

from .build import build_report
from .cache import prune_stale
from .stages import evaluate
from .sweep import PAIRS, PERIOD_NS, SEED, SHARED, UNITS, sweep

__all__ = ["PAIRS", "SHARED", "UNITS", "sweep", "PERIOD_NS", "SEED", "evaluate", "prune_stale",
           "build_report"]

"""l1bn: fixed-point L1-norm / L2-norm batch-normalization hardware.

One namespace; its floors keep the folders of the source tree, each importing only from the
floors below it:

* :mod:`l1bn.util` (``l1bn/util/``): tool discovery and running, atomic files, argument types;
* :mod:`l1bn.golden` (``golden/``): formats, float64 reference, bit-accurate models;
* :mod:`l1bn.hdl` (``hdl/``): Amaranth generators, the block registry, Verilog emission;
* :mod:`l1bn.sim` (``sim/``): cocotb runner, testbenches, the user simulation API;
* :mod:`l1bn.synth` (``synth/``): Yosys, OpenSTA and nextpnr runs and their figures;
* :mod:`l1bn.report`, :mod:`l1bn.experiments`, :mod:`l1bn.bench`: the report, the training
  experiments and the benchmarks;
* :mod:`l1bn.cli`: the ``l1bn`` command on top.
"""

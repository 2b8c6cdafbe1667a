"""l1bn: fixed-point L1-norm / L2-norm batch-normalization hardware.

The entry-point floor: the ``l1bn`` command (:mod:`l1bn.cli`) and the toolchain bootstrap
(:mod:`l1bn.toolchain`). The work is done by the packages ``golden`` (numerics), ``hdl``
(Amaranth generators), ``sim`` (cocotb verification) and ``synth`` (Yosys/OpenSTA reports).
"""

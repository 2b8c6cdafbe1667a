"""Synthesis floor: Yosys area/depth figures, OSU 0.18 um mapping and OpenSTA timing/power.

:mod:`l1bn.synth.yosys` runs every Yosys step (:func:`~l1bn.synth.yosys.generic`,
:func:`~l1bn.synth.yosys.osu018`); :mod:`l1bn.synth.opensta` runs OpenSTA
(:func:`~l1bn.synth.opensta.timing_power`). Tools are located through :func:`l1bn.util.toolchain.find`;
a missing one raises :class:`ToolMissing`, a failing one :class:`ToolFailed`.
"""

from l1bn.util.tools import ToolFailed, ToolMissing

__all__ = ["ToolFailed", "ToolMissing"]

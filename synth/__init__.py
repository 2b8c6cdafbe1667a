"""Synthesis floor: Yosys area/depth figures, OSU 0.18 um mapping and OpenSTA timing/power.

:mod:`synth.yosys` runs every Yosys step (:func:`~synth.yosys.generic`,
:func:`~synth.yosys.osu018`); :mod:`synth.opensta` runs OpenSTA
(:func:`~synth.opensta.timing_power`). Tools are located through :func:`l1bn.toolchain.find`;
a missing one raises :class:`ToolMissing`, a failing one :class:`ToolFailed`.
"""

from .tools import ToolFailed, ToolMissing

__all__ = ["ToolFailed", "ToolMissing"]

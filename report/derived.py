"""Figures the report derives from measured ones: layer latencies, time and energy per element,
L1/L2 ratios, and the design targets of the units.

Pure arithmetic on the results of :func:`l1bn.report.evaluate`; nothing here runs a tool.
"""

from dataclasses import dataclass

__all__ = ["Layer", "LAYERS", "PAPER_SPEEDUP", "PAPER_ENERGY_SAVING", "PAPER_TIME_RATIO",
           "PAPER_ENERGY_RATIO", "ratio", "time_per_element_ns", "energy_per_element_pj",
           "layer_cycles", "Target", "TARGETS", "check_target", "verdict"]

#: The paper's ASIC figures (Wu et al., TNNLS 2019, Sec. V-E): L1BN against L2BN.
PAPER_SPEEDUP, PAPER_ENERGY_SAVING = 0.25, 0.37
#: The same as L1/L2 ratios: 25 % speedup read as 1.25x throughput, 37 % less energy.
PAPER_TIME_RATIO = 1 / (1 + PAPER_SPEEDUP)
PAPER_ENERGY_RATIO = 1 - PAPER_ENERGY_SAVING


@dataclass(frozen=True)
class Layer:
    """A batch-normalization layer: ``channels`` channels of ``m = batch * height * width``."""
    name: str
    batch: int
    channels: int
    height: int
    width: int

    @property
    def m(self):
        return self.batch * self.height * self.width

    @property
    def elements(self):
        return self.channels * self.m


#: Layer sizes of the paper's networks the report evaluates the units' latency formulas on.
LAYERS = (
    Layer("ResNet-110 (CIFAR-10) stage 1", 128, 16, 32, 32),
    Layer("ResNet-110 (CIFAR-10) stage 3", 128, 64, 8, 8),
    Layer("AlexNet (ImageNet) conv1", 256, 96, 55, 55),
)


def ratio(a, b):
    """``a / b``, or None when either is missing or ``b`` is 0."""
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or not b:
        return None
    return a / b


def time_per_element_ns(cycles, elements, fmax_mhz):
    """Wall time per element at ``fmax_mhz``: ``cycles / elements * 1000 / fmax`` (ns)."""
    if None in (cycles, elements, fmax_mhz) or not elements or not fmax_mhz:
        return None
    return cycles / elements * 1000.0 / fmax_mhz


def energy_per_element_pj(power_mw, period_ns, cycles, elements):
    """Energy per element: the power at clock period ``period_ns`` times the period (the
    energy of one cycle; OpenSTA's activities are per cycle, so it does not depend on the
    clock) times the cycles per element. mW * ns = pJ."""
    if None in (power_mw, period_ns, cycles, elements) or not elements:
        return None
    return power_mw * period_ns * cycles / elements


def layer_cycles(sequence_cycles, layer, params):
    """Cycles of a unit on one layer: ``sequence_cycles(channels, m, **params)``.

    ``max_batch`` is raised to the next power of two >= m when the synthesized unit's is
    smaller (a unit for that layer needs wider counters); returns ``(cycles, max_batch)``.
    """
    p = dict(params)
    if p.get("max_batch", 0) < layer.m:
        p["max_batch"] = 1 << (layer.m - 1).bit_length()
    return sequence_cycles(layer.channels, layer.m, **p), p["max_batch"]


#: The units' labels in the report (:data:`l1bn.report.UNITS`).
FORWARD = ("forward L1", "forward L2 two-pass", "forward L2 one-pass")
BACKWARD = ("backward L1", "backward L2")
#: The drop-in IP's labels (:data:`l1bn.report.sweep.IP`).
INFERENCE = ("inference-only",)


@dataclass(frozen=True)
class Target:
    """A design target: ``figure`` (a key of a unit's figures) ``op`` ``limit``, for the units
    labelled in ``applies``."""
    what: str
    figure: str
    op: str          # "<=" or ">="
    limit: float
    unit: str
    applies: tuple = FORWARD + BACKWARD


TARGETS = (
    Target("OSU018 reg-to-reg path", "reg2reg_ns", "<=", 5.2, "ns", FORWARD),
    Target("OSU018 reg-to-reg path", "reg2reg_ns", "<=", 5.8, "ns", BACKWARD),
    Target("OSU018 area", "area_mm2", "<=", 0.6, "mm^2", ("forward L1",)),
    Target("OSU018 area", "area_mm2", "<=", 1.0, "mm^2", FORWARD[1:]),
    Target("OSU018 area", "area_mm2", "<=", 0.9, "mm^2", ("backward L1",)),
    Target("OSU018 area", "area_mm2", "<=", 1.3, "mm^2", ("backward L2",)),
    Target("ECP5-25k Fmax", "ecp5_fmax_mhz", ">=", 100.0, "MHz"),
    Target("ECP5-25k DSP blocks", "ecp5_dsp", "<=", 5, "", ("forward L1",)),
    Target("ECP5-25k DSP blocks", "ecp5_dsp", "<=", 10, "", FORWARD[1:]),
    Target("ECP5-25k DSP blocks", "ecp5_dsp", "<=", 28, "", BACKWARD),
    Target("ECP5-25k LUT use", "ecp5_lut_fraction", "<=", 1.0, "of device"),
    Target("ECP5-25k FF use", "ecp5_ff_fraction", "<=", 1.0, "of device"),
    Target("iCE40 HX8K Fmax", "ice40_fmax_mhz", ">=", 50.0, "MHz", ("forward L1",
                                                                    "forward L2 one-pass")),
    Target("iCE40 HX8K logic cells", "ice40_lcs", "<=", 7680, "LCs",
           ("forward L1", "forward L2 one-pass")),
    Target("OSU018 area", "area_mm2", "<=", 0.25, "mm^2", INFERENCE),
    Target("OSU018 reg-to-reg path", "reg2reg_ns", "<=", 4.4, "ns", INFERENCE),
    Target("ECP5-25k Fmax", "ecp5_fmax_mhz", ">=", 120.0, "MHz", INFERENCE),
    Target("iCE40 HX8K Fmax", "ice40_fmax_mhz", ">=", 75.0, "MHz", INFERENCE),
    Target("iCE40 HX8K logic cells", "ice40_lcs", "<=", 7680, "LCs", INFERENCE),
)


def check_target(target, value):
    """``(status, margin)``: "pass"/"miss" and the margin (positive: inside the limit, in the
    figure's unit), or ("n/a", None) when the value is missing."""
    if value is None:
        return "n/a", None
    margin = target.limit - value if target.op == "<=" else value - target.limit
    return ("pass" if margin >= 0 else "miss"), margin


def verdict(measured, paper, tolerance=0.05):
    """How a measured L1/L2 ratio compares with the paper's: "agrees" within ``tolerance``,
    else "L1 better than the paper says" (lower ratio) or "L1 worse than the paper says"."""
    if measured is None:
        return "not measured"
    if abs(measured - paper) <= tolerance:
        return "agrees"
    return "L1 better than the paper says" if measured < paper else "L1 worse than the paper says"

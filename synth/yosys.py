"""Yosys synthesis: technology-independent figures and OSU 0.18 um standard-cell mapping.

Every script runs through :func:`l1bn.util.yosys.run_script` (the sandboxed WebAssembly Yosys:
paths relative to the work directory, figures read from logs); the Verilog the designs are
emitted as comes from :mod:`l1bn.hdl.emit`.
"""

import functools
import re
from pathlib import Path

from l1bn.util.files import write_json, write_text
from l1bn.util.tools import ToolFailed, number, require
from l1bn.util.yosys import TOOL, run_script, yosys_path

__all__ = ["generic", "osu018", "osu018_areas", "liberty_cells", "parse_generic",
           "parse_liberty_stat", "parse_hier_stat"]

# ABC buffering/sizing constraints; ABC reads set_load in femtofarads whatever the Liberty's unit.
ABC_CONSTR = "set_driving_cell INVX1\nset_load 10\n"


def _section(text, top, tool, log):
    """The part of a ``stat`` report about module ``top``."""
    m = re.search(rf"^=== \\?{re.escape(top)} ===$(.*?)(?=^=== |\Z)", text, re.M | re.S)
    if m is None:
        raise ToolFailed(tool, log, f"no stat section for module {top!r}")
    return m.group(1)


def parse_generic(stat_text, ltp_text, top, log="<text>"):
    """Figures from ``stat -tech cmos`` and ``ltp -noff`` output.

    Returns
    -------
    dict
        ``cells``, ``transistors`` (a lower bound: Yosys prints ``N+`` and counts no
        flip-flops) and ``depth`` (longest path in generic gates, between flops/ports).
    """
    sec = _section(stat_text, top, TOOL, log)
    return {
        "cells": number(r"^\s*(\d+)\s+cells\s*$", sec, TOOL, log, int, re.M),
        "transistors": number(r"Estimated number of transistors:\s*(\d+)", sec, TOOL, log, int),
        "depth": number(r"Longest topological path in \S+ \(length=(\d+)\)", ltp_text, TOOL, log, int),
    }


@functools.lru_cache(maxsize=None)
def liberty_cells(liberty):
    """``{cell: (area, sequential)}`` from a Liberty file; sequential = has an ``ff``/``latch`` group.

    Parameters
    ----------
    liberty : pathlib.Path
        The Liberty file (read once per process).
    """
    text = Path(liberty).read_text()
    starts = list(re.finditer(r"^\s*cell\s*\(\s*\"?([\w$]+)\"?\s*\)\s*\{", text, re.M))
    cells = {}
    for m, nxt in zip(starts, starts[1:] + [None]):
        body = text[m.end():nxt.start() if nxt else len(text)]
        area = re.search(r"^\s*area\s*:\s*([\d.eE+-]+)\s*;", body, re.M)
        if area is None:
            raise ToolFailed("liberty", liberty, f"cell {m.group(1)} has no area")
        cells[m.group(1)] = (float(area.group(1)), re.search(r"^\s*(ff|latch)\s*\(", body, re.M) is not None)
    if not cells:
        raise ToolFailed("liberty", liberty, "no cells")
    return cells


def parse_liberty_stat(stat_text, top, cells, log="<text>"):
    """Figures from ``stat -liberty`` output, classifying cells with :func:`liberty_cells`.

    Returns
    -------
    dict
        ``cells``, ``area_um2``, ``flop_area_um2`` and ``logic_area_um2``.

    Raises
    ------
    ToolFailed
        If a cell is not in the Liberty (unmapped) or the per-cell areas do not add up.
    """
    sec = _section(stat_text, top, TOOL, log)
    count = number(r"^\s*(\d+)\s+[\d.eE+-]+\s+cells\s*$", sec, TOOL, log, int, re.M)
    area = number(r"^\s*Chip area for (?:top )?module '\S+':\s*([\d.eE+-]+)", sec, TOOL, log, float, re.M)
    body = sec[re.search(r"^\s*\d+\s+[\d.eE+-]+\s+cells\s*$", sec, re.M).end():]
    total = flops = 0.0
    n = 0
    for m in re.finditer(r"^\s*(\d+)\s+(?:[\d.eE+-]+\s+)?(\S+)\s*$", body, re.M):
        k, name = int(m.group(1)), m.group(2)
        if name not in cells:
            raise ToolFailed(TOOL, log, f"cell {name} is not a Liberty cell (unmapped?)")
        n += k
        total += k * cells[name][0]
        flops += k * cells[name][0] * cells[name][1]
    if n != count or abs(total - area) > 1e-6 * max(area, 1.0):
        raise ToolFailed(TOOL, log, f"cell list ({n} cells, {total} um2) != totals ({count}, {area})")
    return {"cells": count, "area_um2": area, "flop_area_um2": flops, "logic_area_um2": area - flops}


def generic(verilog, top, workdir):
    """Technology-independent cost of a design: ``synth -flatten; abc; stat -tech cmos; ltp -noff``.

    Parameters
    ----------
    verilog : pathlib.Path
        Verilog source.
    top : str
        Top module.
    workdir : pathlib.Path
        Directory for scripts, logs and ``generic.json`` (created if needed).

    Returns
    -------
    dict
        ``cells``, ``transistors``, ``depth`` (see :func:`parse_generic`) and ``seconds`` (wall time).
    """
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    seconds = run_script(workdir, "generic", [
        f"read_verilog {yosys_path(verilog, workdir)}",
        f"synth -top {top} -flatten",
        "abc",
        "tee -o generic_stat.txt stat -tech cmos",
        "tee -o generic_ltp.txt ltp -noff",
    ], ["generic_stat.txt", "generic_ltp.txt"])
    res = parse_generic((workdir / "generic_stat.txt").read_text(),
                        (workdir / "generic_ltp.txt").read_text(), top, workdir / "generic.log")
    res["seconds"] = seconds
    write_json(workdir / "generic.json", res)
    return res


#: Carry architectures of ``$lcu`` (every adder and comparator) the standard-cell flow can
#: choose: the techmap file given to ``synth -extra-map``, None for Yosys' own (Brent-Kung).
ADDERS = {"ripple": "ripple_lcu.v", "brent-kung": None, "kogge-stone": "+/choices/kogge-stone.v"}


def synth_options(adder="kogge-stone", booth=True):
    """``synth`` options of an adder architecture (:data:`ADDERS`) with or without radix-4
    Booth multipliers; the defaults give :data:`ASIC_SYNTH_OPTIONS`."""
    if adder not in ADDERS:
        raise ValueError(f"adder must be one of {', '.join(ADDERS)}, got {adder!r}")
    opts = (["-booth"] if booth else []) + ([f"-extra-map {ADDERS[adder]}"] if ADDERS[adder]
                                            else [])
    return " ".join(opts)


#: ``synth`` options of the standard-cell flows: radix-4 Booth multipliers (a carry-save tree of
#: Booth partial products) and Kogge-Stone carry lookahead for every adder and comparator
#: (``$lcu``), in place of Yosys' array multipliers and its Brent-Kung carries. A synthesis tool
#: picks such architectures by itself when it meets a clock; the same options serve L1 and L2.
#: Measured on the 16-bit, 4-lane units: reg-to-reg 5.5 to 6.3 ns instead of 6.8 to 11 ns, area
#: -4 to +1 % (Booth saves about as much as the prefix adders cost).
#: ``-booth -extra-map +/choices/kogge-stone.v``.
ASIC_SYNTH_OPTIONS = synth_options()

#: The ABC script of ``fast`` mappings: Yosys' default Liberty script with ``-constr`` minus its
#: SAT-based and choice-based AIG optimisations (``&fraig -x``, ``scorr``, ``&dch -f``), which
#: take minutes on wide multipliers. ``{D}`` is the delay target in ps.
FAST_ABC_SCRIPT = ("strash; dc2; dretime; strash; &get -n; &nf -D {D}; &put; buffer; "
                   "upsize -D {D}; dnsize -D {D}; stime -p")


def _osu018_map(lib, period_ns, fast):
    """Yosys commands mapping a synthesized design onto the OSU 0.18 um cells (flops, then ABC)."""
    d = round(period_ns * 1000)
    script = (" -script +" + FAST_ABC_SCRIPT.format(D=d).replace("; ", ";").replace(" ", ",")
              if fast else "")
    return [f"dfflibmap -liberty {lib}",
            f"abc -liberty {lib} -D {d} -constr abc.constr{script}",
            "opt_clean -purge",
            "setundef -zero"]


def osu018(verilog, top, workdir, period_ns, generic=False, fast=False, adder="kogge-stone",
           booth=True):
    """Map a design onto the OSU 0.18 um cells (flops by ``dfflibmap``, logic by ``abc -constr``).

    Parameters
    ----------
    verilog : pathlib.Path
        Verilog source.
    top : str
        Top module.
    workdir : pathlib.Path
        Directory for scripts, logs, ``netlist.v`` and ``osu018.json`` (created if needed).
    period_ns : float
        Clock period given to ABC as its delay target.
    generic : bool
        Also record the technology-independent figures of the same run: ``stat -tech cmos`` and
        ``ltp -noff`` of the generic gates ``synth -flatten`` (which runs ABC) leaves before the
        Liberty mapping. One Yosys run then gives both, where :func:`generic` and this function
        run ``synth`` twice (and :func:`generic` a second ABC on the generic gates).
    fast : bool
        Skip ABC in ``synth`` (``-noabc``: the generic figures are then of the gates Yosys'
        techmap produces) and map with :data:`FAST_ABC_SCRIPT`. Measured on a 16-bit 4-lane L2
        unit: 8 s instead of 32 s, 3 % more area; on a 32-bit multiplier 1 % more area; a
        32-bit 4-lane unit, 30 s instead of more than 5 minutes.
    adder, booth : str, bool
        The carry architecture (:data:`ADDERS`) and Booth multipliers (:func:`synth_options`);
        the defaults are the report's (:data:`ASIC_SYNTH_OPTIONS`).

    Returns
    -------
    dict
        ``cells``, ``area_um2``, ``flop_area_um2`` (cells with an ``ff``/``latch`` group),
        ``logic_area_um2``, ``netlist`` (path of the mapped Verilog) and ``seconds``; with
        ``generic``, also ``generic`` (see :func:`parse_generic`).
    """
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    liberty = require("osu018-liberty")
    lib = yosys_path(liberty, workdir)
    write_text(workdir / "abc.constr", ABC_CONSTR)
    options = synth_options(adder, booth)
    if ADDERS[adder] and not ADDERS[adder].startswith("+/"):
        write_text(workdir / ADDERS[adder], (Path(__file__).parent / ADDERS[adder]).read_text())
    tech = (["tee -o generic_stat.txt stat -tech cmos", "tee -o generic_ltp.txt ltp -noff"]
            if generic else [])
    seconds = run_script(workdir, "osu018", [
        f"read_liberty -lib {lib}",
        f"read_verilog {yosys_path(verilog, workdir)}",
        f"synth -top {top} -flatten {options}" + (" -noabc" if fast else ""),
        *tech,
        *_osu018_map(lib, period_ns, fast),
        "splitnets -ports",
        "opt_clean",
        f"tee -o osu018_stat.txt stat -liberty {lib}",
        "write_verilog -noattr -noexpr netlist.v",
    ], ["osu018_stat.txt", "netlist.v"] + [c.split()[2] for c in tech])
    log = workdir / "osu018.log"
    res = parse_liberty_stat((workdir / "osu018_stat.txt").read_text(), top,
                             liberty_cells(liberty), log)
    res["netlist"] = workdir / "netlist.v"
    if not res["netlist"].is_file():
        raise ToolFailed(TOOL, log, "no netlist.v written")
    if generic:
        res["generic"] = parse_generic((workdir / "generic_stat.txt").read_text(),
                                       (workdir / "generic_ltp.txt").read_text(), top, log)
    res["seconds"] = seconds
    write_json(workdir / "osu018.json", res)
    return res


def parse_hier_stat(stat_text, top, cells, log="<text>"):
    """Area of every top-level instance of a hierarchical ``stat -liberty`` report.

    Parameters
    ----------
    stat_text : str
        ``stat -liberty`` of an unflattened design: one section per module, listing its Liberty
        cells and its submodule instances (by module name).
    top : str
        The top module.
    cells : dict
        :func:`liberty_cells`.

    Returns
    -------
    dict
        ``{"instances": {module: {"area_um2", "flop_area_um2"}}`` for each submodule instantiated
        by ``top`` (area including its own submodules), ``"top": {...}`` for the top module's
        own cells, ``"area_um2"`` (the total)}.

    Raises
    ------
    ToolFailed
        When a module's section is missing, or a cell is neither a Liberty cell nor a module.
    """
    modules = dict(re.findall(r"^=== \\?(\S+) ===$(.*?)(?=^=== |\Z)", stat_text,
                              re.M | re.S))
    if top not in modules:
        raise ToolFailed(TOOL, log, f"no stat section for module {top!r}")

    def own(name):
        sec = modules[name]
        # The cell list follows the "N cells" line; a module without cells of its own has none
        # and lists only its submodules.
        head = (re.search(r"^\s*\d+\s+(?:[\d.eE+-]+|-)?\s*cells\s*$", sec, re.M)
                or re.search(r"^(?=\s*\d+\s+-\s+submodules\s*$)", sec, re.M))
        area = flops = 0.0
        subs = {}
        cell_lines = sec[head.end():] if head else ""
        for m in re.finditer(r"^\s*(\d+)\s+(?:[\d.eE+-]+\s+|-\s+)?\\?(\S+)\s*$", cell_lines, re.M):
            k, cell = int(m.group(1)), m.group(2)
            if cell == "submodules":   # the count of the instances listed below it
                continue
            if cell in cells:
                area += k * cells[cell][0]
                flops += k * cells[cell][0] * cells[cell][1]
            elif cell in modules:
                subs[cell] = subs.get(cell, 0) + k
            else:
                raise ToolFailed(TOOL, log, f"module {name}: cell {cell} is neither a Liberty "
                                 "cell nor a module")
        return area, flops, subs

    def total(name):
        area, flops, subs = own(name)
        for sub, k in subs.items():
            a, f = total(sub)
            area, flops = area + k * a, flops + k * f
        return area, flops

    area, flops, subs = own(top)
    res = {"top": {"area_um2": area, "flop_area_um2": flops}, "instances": {}}
    for sub, k in subs.items():
        a, f = total(sub)
        res["instances"][sub] = {"area_um2": k * a, "flop_area_um2": k * f}
    res["area_um2"] = area + sum(v["area_um2"] for v in res["instances"].values())
    return res


def osu018_areas(rtlil_text, top, workdir, period_ns, groups, fast=False):
    """OSU 0.18 um area of a design split by groups of its top-level submodule instances.

    The design is synthesized and mapped like :func:`osu018` but without flattening, so every
    Amaranth submodule stays a module of its own (each instance is a module named
    ``<top>.<instance>``) and ``stat -liberty`` gives each one's cells. Logic is not optimised
    across module boundaries here, so the total is a little above the flat flow's area: the
    split is reported as fractions of this run, the timing and the totals come from the flat run.

    Parameters
    ----------
    rtlil_text : str
        The design's RTLIL (``l1bn.hdl.registry.design(...).rtlil``; the emitted Verilog is flat).
    top : str
        Top module.
    workdir : pathlib.Path
        Directory for scripts, logs and ``areas.json``.
    period_ns : float
        ABC's delay target.
    groups : dict
        ``{group: (instance-name prefixes, ...)}``; a top-level instance whose name starts with
        none of them, and the top module's own cells, form the group ``"control/registers"``.
    fast : bool
        As for :func:`osu018`.

    Returns
    -------
    dict
        ``groups``: ``{group: {"area_um2", "flop_area_um2", "fraction"}}`` (fraction of the
        hierarchical total), ``instances``: ``{instance: group}``, ``area_um2`` (hierarchical
        total) and ``seconds``.
    """
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    liberty = require("osu018-liberty")
    lib = yosys_path(liberty, workdir)
    write_text(workdir / "abc.constr", ABC_CONSTR)
    write_text(workdir / "design.il", rtlil_text)
    seconds = run_script(workdir, "areas", [
        f"read_liberty -lib {lib}",
        "read_rtlil design.il",
        f"synth -top {top} {ASIC_SYNTH_OPTIONS}" + (" -noabc" if fast else ""),
        *_osu018_map(lib, period_ns, fast),
        f"tee -o areas_stat.txt stat -liberty {lib}",
    ], ["areas_stat.txt"])
    hier = parse_hier_stat((workdir / "areas_stat.txt").read_text(), top, liberty_cells(liberty),
                           workdir / "areas.log")
    rest = "control/registers"
    split = {g: {"area_um2": 0.0, "flop_area_um2": 0.0} for g in [*groups, rest]}
    where = {}
    for module, fig in [(top, hier["top"])] + list(hier["instances"].items()):
        inst = module[len(top) + 1:] if module.startswith(top + ".") else module
        group = next((g for g, prefixes in groups.items()
                      if module != top and inst.startswith(tuple(prefixes))), rest)
        where[inst] = group
        for k in ("area_um2", "flop_area_um2"):
            split[group][k] += fig[k]
    for fig in split.values():
        fig["fraction"] = fig["area_um2"] / hier["area_um2"] if hier["area_um2"] else None
    res = {"groups": split, "instances": where, "area_um2": hier["area_um2"], "seconds": seconds}
    write_json(workdir / "areas.json", res)
    return res

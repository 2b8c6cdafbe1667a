"""Static timing and power of a mapped netlist with OpenSTA (Debian's 2019 snapshot).

That OpenSTA has no VCD/SAIF reader. Power is estimated from switching activities given either
per input port (``set_power_activity -input_ports``, e.g. measured in simulation by
:mod:`l1bn.synth.activity`), from which OpenSTA propagates activities through the logic (vectorless
propagation: internal nets are never measured), or as one global activity for every net
(``set_power_activity -global``). Clocks are ideal and there are no wire loads, so delays are
optimistic (cell delays with pin loads only).
"""

import re
from pathlib import Path

from l1bn.util.files import write_json, write_text
from l1bn.util.tools import ToolFailed, require, run

__all__ = ["timing_power", "parse_sta"]

TOOL = "sta"
SECTIONS = ("reg2reg", "in2reg", "power")


def _script(liberty, netlist, top, period_ns, activity_lines):
    return f"""\
read_liberty {{{liberty}}}
read_verilog {{{netlist}}}
link_design {top}
set clk_port [get_ports -quiet clk]
if {{[llength $clk_port] == 0}} {{
  create_clock -name clk -period {period_ns}
}} else {{
  create_clock -name clk -period {period_ns} $clk_port
}}
set data_in [delete_from_list [all_inputs] $clk_port]
set_input_delay 0 -clock clk $data_in
set_output_delay 0 -clock clk [all_outputs]
puts "@@ reg2reg"
report_checks -path_delay max -digits 4 -from [all_registers -clock_pins] -to [all_registers -data_pins]
puts "@@ in2reg"
report_checks -path_delay max -digits 4 -from $data_in -to [all_registers -data_pins]
{activity_lines}
puts "@@ power"
report_power -digits 6
puts "@@ end"
"""


def parse_sta(text, period_ns, log="<text>"):
    """Figures from the log of the script :func:`timing_power` writes.

    Parameters
    ----------
    text : str
        The log, sections introduced by ``@@ name`` lines.
    period_ns : float
        The clock period the checks ran with.
    log : pathlib.Path or str
        Cited in errors.

    Returns
    -------
    dict
        ``reg2reg_ns`` and ``in2reg_ns`` (data arrival time of the worst path, None when no such
        path exists), ``fmax_mhz`` (``1000 / (period - slack)`` of the worst reg-to-reg path, which
        includes the setup time; None without one) and ``power_mw`` (total, vectorless).
    """
    if re.search(r"^Error", text, re.M):
        raise ToolFailed(TOOL, log, "Error in log")
    parts = dict(re.findall(r"^@@ (\w+)\n(.*?)(?=^@@ )", text, re.M | re.S))
    missing = [s for s in SECTIONS if s not in parts]
    if missing:
        raise ToolFailed(TOOL, log, f"sections missing: {missing}")
    res = {}
    for name in ("reg2reg", "in2reg"):
        sec = parts[name]
        if re.search(r"^No paths found\.", sec, re.M):
            res[f"{name}_ns"] = slack = None
        else:
            arrival = re.search(r"^\s*(-?[\d.]+)\s+data arrival time", sec, re.M)
            slack = re.search(r"^\s*(-?[\d.]+)\s+slack \((?:MET|VIOLATED)\)", sec, re.M)
            if arrival is None or slack is None:
                raise ToolFailed(TOOL, log, f"{name}: no arrival time / slack")
            res[f"{name}_ns"] = float(arrival.group(1))
            slack = float(slack.group(1))
        if name == "reg2reg":
            res["fmax_mhz"] = None if slack is None else 1000.0 / (period_ns - slack)
    total = re.search(r"^Total\s+\S+\s+\S+\s+\S+\s+([\d.eE+-]+)", parts["power"], re.M)
    if total is None:
        raise ToolFailed(TOOL, log, "no Total line in report_power")
    res["power_mw"] = float(total.group(1)) * 1e3  # report_power prints watts
    return res


def timing_power(netlist, top, workdir, period_ns, activity=0.1, input_activity=None):
    """Run OpenSTA on a netlist mapped by :func:`l1bn.synth.yosys.osu018`.

    Parameters
    ----------
    netlist : pathlib.Path
        Gate-level Verilog over the OSU 0.18 um cells.
    top : str
        Top module.
    workdir : pathlib.Path
        Directory for ``sta.tcl``, ``sta.log`` and ``sta.json`` (created if needed).
    period_ns : float
        Clock period on port ``clk`` (a virtual clock when there is no such port).
    activity : float
        Global switching activity for every net (duty 0.5), used when ``input_activity`` is None.
    input_activity : list of str or None
        ``set_power_activity -input_ports ...`` lines (:func:`l1bn.synth.activity.sta_lines`); the
        activities of all other nets are then propagated from them by OpenSTA.

    Returns
    -------
    dict
        ``reg2reg_ns``, ``in2reg_ns``, ``fmax_mhz``, ``power_mw`` (see :func:`parse_sta`) and
        ``seconds`` (wall time).
    """
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    exe = require(TOOL)
    liberty = require("osu018-liberty")
    for p in (liberty, Path(netlist).resolve()):
        if re.search(r"[\s{}\\]", str(p)):
            raise ValueError(f"path unusable in Tcl: {p}")
    lines = (input_activity if input_activity is not None
             else [f"set_power_activity -global -activity {activity} -duty 0.5"])
    script = write_text(workdir / "sta.tcl", _script(liberty, Path(netlist).resolve(), top,
                                                       period_ns, "\n".join(lines)))
    log = workdir / "sta.log"
    seconds = run(TOOL, [exe, "-no_splash", "-exit", script.name], workdir, log)
    res = parse_sta(log.read_text(), period_ns, log)
    res["seconds"] = seconds
    write_json(workdir / "sta.json", res)
    return res

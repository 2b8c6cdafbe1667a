"""Input switching activity measured in simulation, for OpenSTA's power estimate.

The Debian OpenSTA (2.0.17) reads no VCD or SAIF. What it takes is an activity per input port
(``set_power_activity -input_ports P -activity A -duty D``: ``A`` transitions per clock period,
``D`` the fraction of time high), from which it propagates activities through the logic by
itself (vectorless propagation; internal nets are never measured). This module measures ``A``
and ``D`` for every input bit from a VCD of the design's input ports
(:func:`l1bn.sim.runner.dump_input_ports` writes one during any Icarus run) and writes those lines.
"""

import re
from dataclasses import dataclass

__all__ = ["BitActivity", "Activity", "parse_vcd", "measure", "sta_lines"]


@dataclass(frozen=True)
class BitActivity:
    """One input bit: its netlist name (``port`` or ``port[i]``), toggle rate and duty."""
    name: str
    toggles_per_cycle: float
    duty: float


@dataclass(frozen=True)
class Activity:
    """Every input bit's activity over a measured window of ``cycles`` clock cycles."""
    cycles: int
    bits: tuple

    def mean(self, ports=None):
        """Mean toggles per cycle over the bits (of ``ports``, a set of port names, if given)."""
        sel = [b.toggles_per_cycle for b in self.bits
               if ports is None or b.name.split("[")[0] in ports]
        return sum(sel) / len(sel) if sel else None


def parse_vcd(text):
    """Signals and value changes of a VCD (scalars and vectors; reals are ignored).

    Parameters
    ----------
    text : str
        The VCD. Signals of every scope are read; a name seen twice keeps its first identifier.

    Returns
    -------
    (dict, dict, int)
        ``{name: width}``, ``{name: [(time, bits), ...]}`` with ``bits`` MSB first, left-extended
        to the width as the VCD standard says (``0``/``1`` with ``0``, ``x``/``z`` with
        themselves), and the last time stamp.

    Raises
    ------
    ValueError
        On a value change for an undeclared identifier or a malformed line.
    """
    widths, ident = {}, {}
    changes = {}
    head, _sep, body = text.partition("$enddefinitions")
    if not _sep:
        raise ValueError("VCD has no $enddefinitions")
    for m in re.finditer(r"\$var\s+\S+\s+(\d+)\s+(\S+)\s+(\S+)(?:\s+\[[^\]]*\])?\s+\$end", head):
        width, code, name = int(m.group(1)), m.group(2), m.group(3)
        if name not in widths:
            widths[name] = width
            ident[code] = name
            changes[name] = []
    time = 0
    body = body.split("$end", 1)[1] if body.lstrip().startswith("$end") else body
    for token in body.split("\n"):
        token = token.strip()
        if not token or token.startswith("$"):
            continue
        if token[0] == "#":
            time = int(token[1:])
            continue
        if token[0] in "bB":
            bits, _s, code = token[1:].partition(" ")
            code = code.strip()
        elif token[0] in "rR":
            continue
        elif token[0] in "01xXzZ":
            bits, code = token[0], token[1:]
        else:
            raise ValueError(f"VCD: cannot read {token!r}")
        if code not in ident:
            raise ValueError(f"VCD: value change for undeclared identifier {code!r}")
        name = ident[code]
        w = widths[name]
        bits = bits.lower()
        if len(bits) < w:
            bits = bits.rjust(w, bits[0] if bits[0] in "xz" else "0")
        changes[name].append((time, bits[-w:]))
    return widths, changes, time


def _edges(values, start, end, rising):
    """Number of 0->1 (or 1->0) changes of a one-bit signal in the window (start, end]."""
    n, prev = 0, None
    for t, v in values:
        if t > end:
            break
        if prev is not None and t > start and (prev, v) == (("0", "1") if rising else ("1", "0")):
            n += 1
        prev = v
    return n


def measure(vcd_text, clock="clk", reset="rst"):
    """Toggle rate and duty of every input bit, after reset, from a VCD of the input ports.

    The window runs from the last falling edge of ``reset`` (time 0 when the VCD has no such
    signal or it never falls) to the last time stamp. ``toggles_per_cycle`` is the number of 0/1
    changes of the bit in the window divided by the rising edges of ``clock`` in it; ``duty`` is
    the fraction of the window's time the bit is 1 (x and z count as 0). ``clock`` itself is
    left out (OpenSTA derives the clock's activity from the clock).

    Returns
    -------
    Activity

    Raises
    ------
    ValueError
        When the VCD has no ``clock`` or no rising clock edge in the window.
    """
    widths, changes, end = parse_vcd(vcd_text)
    if clock not in widths:
        raise ValueError(f"VCD has no clock signal {clock!r}")
    start = 0
    if reset in changes:
        falls = [t for (t, v), (_t0, p) in zip(changes[reset][1:], changes[reset]) if (p, v) == ("1", "0")]
        start = falls[-1] if falls else 0
    cycles = _edges(changes[clock], start, end, rising=True)
    if cycles == 0 or end <= start:
        raise ValueError(f"VCD: no rising edge of {clock!r} after reset (window {start}..{end})")
    bits = []
    for name, w in widths.items():
        if name == clock:
            continue
        for i in range(w):
            toggles, high, prev, since = 0, 0, None, start
            for t, v in changes[name]:
                b = v[w - 1 - i]
                if t > start:
                    if t > end:
                        break
                    if prev == "1":
                        high += t - since
                    since = t
                    if prev in ("0", "1") and b in ("0", "1") and b != prev:
                        toggles += 1
                prev = b
            if prev == "1":
                high += end - since
            bits.append(BitActivity(name if w == 1 else f"{name}[{i}]", toggles / cycles,
                                    high / (end - start)))
    return Activity(cycles=cycles, bits=tuple(bits))


def sta_lines(activity, digits=4):
    """``set_power_activity -input_ports ... -activity A -duty D`` lines, bits of equal (A, D)
    on one line, every value rounded to ``digits`` decimals.

    Parameters
    ----------
    activity : Activity
        From :func:`measure`.
    digits : int
        Decimals of A and D.

    Returns
    -------
    list of str
        Tcl lines for OpenSTA 2.0.17 (ports in braces: names such as ``x__payload[3]`` are
        netlist port names, as ``splitnets -ports`` writes them).
    """
    groups = {}
    for b in activity.bits:
        key = (round(b.toggles_per_cycle, digits), round(b.duty, digits))
        groups.setdefault(key, []).append(b.name)
    lines = []
    for (a, d), names in sorted(groups.items()):
        ports = " ".join(f"{{{n}}}" for n in names)
        lines.append(f"set_power_activity -input_ports [get_ports {{{ports}}}] "
                     f"-activity {a:.{digits}f} -duty {d:.{digits}f}")
    return lines

"""Statistics and formatting of benchmark results: no timing and no simulator in here.

Every figure is a list of samples, one per repeat; :func:`summary` reduces it to its median
with the smallest and largest sample and the spread between them. Ratios are taken run by run
(:func:`paired_ratio`): the repeats interleave every configuration, so the ``i``-th samples of
two configurations were measured back to back, under the same machine load.
"""

import statistics

__all__ = ["summary", "rate", "paired_ratio", "fmt_figure", "table", "markdown"]


def summary(samples):
    """Median, extremes and relative spread of ``samples``.

    Parameters
    ----------
    samples : sequence of float
        One value per repeat; at least one.

    Returns
    -------
    dict
        ``median``, ``min``, ``max``, ``n`` and ``spread`` (``(max - min) / median``, 0 when
        the median is 0), and ``samples`` (the values, in run order).

    Raises
    ------
    ValueError
        ``samples`` is empty.
    """
    values = [float(v) for v in samples]
    if not values:
        raise ValueError("no samples")
    med = statistics.median(values)
    lo, hi = min(values), max(values)
    return {"median": med, "min": lo, "max": hi, "n": len(values),
            "spread": (hi - lo) / med if med else 0.0, "samples": values}


def rate(counts, seconds):
    """Per-run rates ``counts[i] / seconds[i]`` (e.g. cycles per second), as a :func:`summary`.

    ``counts`` may be one number for every run.
    """
    if not isinstance(counts, (list, tuple)):
        counts = [counts] * len(seconds)
    if len(counts) != len(seconds):
        raise ValueError(f"{len(counts)} counts for {len(seconds)} timings")
    if any(s <= 0 for s in seconds):
        raise ValueError(f"timings must be positive, got {list(seconds)}")
    return summary([c / s for c, s in zip(counts, seconds)])


def paired_ratio(a, b):
    """Run-by-run ratios ``a[i] / b[i]`` of two sample lists measured in the same run.

    Parameters
    ----------
    a, b : sequence of float
        Same length; ``b`` non-zero.

    Returns
    -------
    dict
        :func:`summary` of the ratios.
    """
    if len(a) != len(b):
        raise ValueError(f"cannot pair {len(a)} samples with {len(b)}")
    if any(v == 0 for v in b):
        raise ValueError("ratio with a zero denominator")
    return summary([x / y for x, y in zip(a, b)])


def fmt_figure(s, digits=3, unit=""):
    """``"median (min-max)"`` of a :func:`summary`, ``digits`` significant digits."""
    def g(v):
        return f"{v:.{digits}g}" if abs(v) < 10 ** digits else f"{v:,.0f}"
    return f"{g(s['median'])}{unit} ({g(s['min'])}-{g(s['max'])})"


def table(header, rows):
    """A Markdown table: ``header`` is a list of column titles, ``rows`` lists of cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _load(loads):
    return f"{min(loads):.2f}-{max(loads):.2f}" if loads else "-"


def markdown(results):
    """The Markdown report of a :func:`l1bn.bench.run.run_all` result dictionary."""
    m = results["machine"]
    out = [f"# Benchmarks ({results['date']})", "",
           f"Measured with `{results['command']}` on {m['cpu']} ({m['cores']} cores), "
           f"{m['ram_gib']:.1f} GiB RAM, {m['os']}, Python {m['python']}. Every figure is the "
           f"median of {results['repeats']} runs with (min-max); ratios are taken run by run "
           "(the repeats interleave the configurations). `load` is the 1-minute load average "
           "at the runs (the machine is shared).", "",
           "Tools: " + ", ".join(f"{k} {v}" for k, v in m["tools"].items()), ""]
    tp = results.get("throughput", [])
    if tp:
        out += ["## Simulation throughput (checked cycles per second)", "",
                "`gross` = checked cycles / wall time of a warm run (build reused; includes the "
                "simulator start and, for units, generation, golden model and file I/O); `loop` = "
                "cycles / time of the testbench's cycle loop alone (`l1bn.sim.harness.Bench`); "
                "`outside` = the run's time outside that loop (start-up, imports, stimulus, "
                "teardown); `build` = the first call's extra time (fresh build directory; "
                "Verilator compiles through ccache).", ""]
        rows = []
        for t in tp:
            if "error" in t:
                rows.append([t["design"], t["simulator"], "not measured: " + t["error"], "", "",
                             "", "", ""])
                continue
            rows.append([t["design"], t["simulator"], t["cycles"], fmt_figure(t["gross"]),
                         fmt_figure(t["loop"]) if t.get("loop") else "-",
                         fmt_figure(t["outside"], unit=" s") if t.get("outside") else "-",
                         f"{t['build_seconds']:.2f} s", _load(t["load"])])
        out += [table(["design", "simulator", "cycles", "gross", "loop", "outside", "build",
                       "load"], rows), ""]
    ratios = results.get("ratios", [])
    if ratios:
        out += ["## Ratios (same run, run by run)", ""]
        out += [table(["ratio", "value"], [[r["what"], fmt_figure(r["value"])]
                                           for r in ratios]), ""]
    sm = results.get("scaling_m", [])
    if sm:
        out += ["## Regression time vs m", "",
                "Wall time of one warm testbench run streaming m values (random gaps and "
                "backpressure), and the marginal cost between consecutive sizes.", ""]
        rows = [[s["design"], s["simulator"], s["m"], s["cycles"], fmt_figure(s["seconds"],
                 unit=" s"), fmt_figure(s["gross"]),
                 f"{s['marginal']:,.0f}" if s.get("marginal") else "-", _load(s["load"])]
                for s in sm]
        out += [table(["design", "simulator", "m", "cycles", "time", "cycles/s",
                       "marginal cycles/s", "load"], rows), ""]
    sw = results.get("scaling_width", [])
    if sw:
        out += ["## Generation and synthesis time vs width", ""]
        rows = [[s["design"], s["width"], s["step"], fmt_figure(s["seconds"], unit=" s"),
                 _load(s["load"])] for s in sw]
        out += [table(["design", "width", "step", "time", "load"], rows), ""]
    ab = results.get("write_modes", [])
    if ab:
        out += ["## Write mode (same run)", "",
                "`COCOTB_TRUST_INERTIAL_WRITES=1` (the runner's default now) against cocotb's "
                "default of applying writes in a ReadWrite callback each cycle.", ""]
        rows = [[a["design"], a["simulator"], fmt_figure(a["trusted"]),
                 fmt_figure(a["scheduled"]), fmt_figure(a["speedup"])] for a in ab]
        out += [table(["design", "simulator", "trusted (cycles/s)", "scheduled (cycles/s)",
                       "speed-up"], rows), ""]
    cmp = results.get("baseline")
    if cmp:
        out += ["## Before / after", "", f"Before: {cmp['source']} ({cmp['date']}). "
                "Medians of each run's own repeats; the two runs were made at different times.",
                ""]
        rows = [[c["design"], c["simulator"], c["figure"], f"{c['before']:,.0f}",
                 f"{c['after']:,.0f}", f"{c['after'] / c['before']:.2f}x"]
                for c in cmp["rows"]]
        out += [table(["design", "simulator", "figure", "before", "after", "after/before"],
                      rows), ""]
    for note in results.get("notes", []):
        out.append(f"- {note}")
    return "\n".join(out).rstrip() + "\n"

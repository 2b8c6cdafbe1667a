"""Testbench helpers for clock-enabled datapath cores checked against a golden model.

A core here has an ``en`` input, data inputs and outputs, and a fixed ``LATENCY`` in enabled
cycles (multiplier, square, scale_shift, sign_select). A testbench builds columns of input codes,
names a golden model, and :func:`check_core` does the rest with :class:`l1bn.sim.harness.EnabledPipeline`
(random ``en`` gaps, junk inputs while ``en`` is low, every output checked every cycle).
"""

import random

import numpy as np

from l1bn.golden.fixed import Fmt

from .harness import Bench, EnabledPipeline, load_config

__all__ = ["formats", "parameters", "value_rng", "random_codes", "random_columns", "repeat",
           "as_columns", "check_core"]

_CONTROL = ("clk", "rst", "en")


def formats():
    """The block's formats from its manifest, as :class:`~l1bn.golden.fixed.Fmt`."""
    return {k: Fmt(f["width"], f["frac"], f["signed"])
            for k, f in load_config()["manifest"]["formats"].items()}


def parameters():
    """The block's parameters from its manifest."""
    return load_config()["manifest"]["parameters"]


def value_rng(name):
    """A ``random.Random`` for a test's values, seeded from the run's seed and the test name."""
    return random.Random(f"{load_config()['seed']}:{name}:values")


def random_codes(rng, fmt, n):
    """``n`` codes of ``fmt``: half uniform over the range, half with magnitudes spread over every
    bit length (so that small values, sign changes and the non-saturating range are exercised)."""
    out = []
    for _ in range(n):
        if rng.random() < 0.5:
            out.append(rng.randint(fmt.min_code, fmt.max_code))
        else:
            bits = rng.randint(0, fmt.width - 1)
            low, high = max(fmt.min_code, -(1 << bits)), min(fmt.max_code, (1 << bits) - 1)
            out.append(rng.randint(low, high))
    return out


def random_columns(name, ports):
    """``(columns, rng)``: :func:`random_codes` for each of ``ports`` (in its manifest format),
    as many as the configuration's ``random_values`` (default 4000), and the generator used."""
    f, rng = formats(), value_rng(name)
    n = load_config().get("random_values", 4000)
    return {p: random_codes(rng, f[p], n) for p in ports}, rng


def repeat(rows, times):
    """Every item of ``rows`` repeated ``times`` in a row: all-equal runs."""
    return [r for r in rows for _ in range(times)]


def as_columns(names, rows):
    """Rows of input tuples -> ``{name: [code, ...]}`` in the order of ``names``."""
    return {name: [r[i] for r in rows] for i, name in enumerate(names)}


def _junk(ports):
    def junk(rng):
        return {p["name"]: rng.randint(-(1 << (p["width"] - 1)), (1 << (p["width"] - 1)) - 1)
                if p["signed"] else rng.randint(0, (1 << p["width"]) - 1) for p in ports}
    return junk


async def check_core(dut, name, columns, model, p_en=0.75):
    """Drive ``columns`` (``{input port: [code, ...]}``, one vector per enabled cycle) and check
    every output port against ``model(**columns)`` (``{output port: array}``) on every cycle."""
    config = load_config()
    bench = Bench(dut, config, name)
    ports = [p for p in config["manifest"]["ports"]
             if p["dir"] == "in" and p["name"] not in _CONTROL]
    if sorted(p["name"] for p in ports) != sorted(columns):
        raise ValueError(f"columns {sorted(columns)} do not match the inputs "
                         f"{sorted(p['name'] for p in ports)}")
    await bench.reset(dict({"en": 0}, **{p["name"]: 0 for p in ports}))
    n = len(next(iter(columns.values())))
    outputs = model(**{k: np.asarray(v) for k, v in columns.items()})
    vectors = [{k: int(v[i]) for k, v in columns.items()} for i in range(n)]
    expected = [{k: int(v[i]) for k, v in outputs.items()} for i in range(n)]
    await EnabledPipeline(bench, vectors, expected, config["manifest"]["latency"], _junk(ports),
                          p_en).run()

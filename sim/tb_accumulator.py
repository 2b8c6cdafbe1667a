"""cocotb testbench of :class:`l1bn.hdl.accumulator.Accumulator` against :func:`l1bn.golden.accumulator.running_sums`."""

import random

import cocotb

from l1bn.golden.accumulator import running_sums
from l1bn.golden.fixed import Fmt

from .harness import Bench, EnabledPipeline, load_config

#: The random test the report runs as its quick check of this block.
SMOKE_TEST = "random_sums"


def _setup():
    config = load_config()
    p = config["manifest"]["parameters"]
    return config, Fmt(p["width"], 0), p["lanes"], p["max_count"], random.Random(config["seed"])


async def _check(dut, name, rows, firsts, p_en=0.75):
    """Drive ``rows`` (lists of lane values) with ``firsts`` flags; check every cycle's sum."""
    config, fmt, lanes, _, _ = _setup()
    bench = Bench(dut, config, name)
    await bench.reset({"en": 0, "first": 0, "values": 0})
    pack = lambda row: bench.ports.pack("values", **{str(i): v for i, v in enumerate(row)})  # noqa: E731
    vectors = [{"first": int(f), "values": pack(r)} for r, f in zip(rows, firsts)]
    expected = [{"sum": s} for s in running_sums(rows, firsts)]

    def junk(rng):
        return {"first": rng.randint(0, 1),
                "values": pack([rng.randint(fmt.min_code, fmt.max_code) for _ in range(lanes)])}

    await EnabledPipeline(bench, vectors, expected, config["manifest"]["latency"], junk, p_en).run()


def _random_rows(rng, fmt, lanes, n):
    return [[rng.randint(fmt.min_code, fmt.max_code) for _ in range(lanes)] for _ in range(n)]


@cocotb.test()
async def random_sums(dut):
    """Random terms, sums restarting at random (first), random enable gaps."""
    config, fmt, lanes, max_count, rng = _setup()
    n = config.get("random_values", 4000) // lanes
    rows, firsts, length = [], [], 0
    for _ in range(n):
        f = length == 0 or length + lanes > max_count or rng.random() < 0.05
        length = lanes if f else length + lanes
        rows.append([rng.randint(fmt.min_code, fmt.max_code) for _ in range(lanes)])
        firsts.append(f)
    await _check(dut, "random_sums", rows, firsts)


@cocotb.test()
async def extremes_at_max_count(dut):
    """max_count most negative terms, then max_count maximum terms: both ends of the sum format."""
    config, fmt, lanes, max_count, rng = _setup()
    beats = max_count // lanes
    rows = [[fmt.min_code] * lanes] * beats + [[fmt.max_code] * lanes] * beats
    firsts = [i % beats == 0 for i in range(2 * beats)]
    await _check(dut, "extremes_at_max_count", rows, firsts, p_en=1.0)


@cocotb.test()
async def single_terms(dut):
    """Every cycle starts a new sum (batch of one), zeros and all-equal runs included."""
    config, fmt, lanes, _, rng = _setup()
    rows = _random_rows(rng, fmt, lanes, 50) + [[0] * lanes] * 5 + [[fmt.min_code] * lanes] * 5
    await _check(dut, "single_terms", rows, [True] * len(rows))

"""cocotb testbench of the statistics accumulator (:class:`l1bn.hdl.stats_accumulator.StatsAccumulator`).

Each test streams channels on ``x`` (with their ``mu``), checks every cycle of ``sum`` against
:func:`l1bn.golden.stats_accumulator.channel_sum` with :class:`l1bn.sim.harness.StallPipelineScoreboard`, and
records its checked cycles and mismatches. Configuration (manifest, seed, cycle budget) comes from
:func:`l1bn.sim.harness.load_config`.
"""

import cocotb

from l1bn.golden.stats_accumulator import channel_sum
from l1bn.golden.fixed import Fmt

from .harness import Bench, StallPipelineScoreboard, StreamSink, StreamSource, load_config

#: The random test the report runs as its quick check of this block.
SMOKE_TEST = "random_stream"


async def _stream(dut, name, channels, *, p_valid=1.0, p_ready=1.0):
    """Stream ``channels`` ([(mu, [x, ...]), ...]) and check every output cycle."""
    config = load_config()
    bench = Bench(dut, config, name)
    man = config["manifest"]
    norm = man["parameters"]["norm"]
    src = StreamSource(bench.ports, "x", bench.rng, p_valid)
    sink = StreamSink(bench.ports, "sum", bench.rng, p_ready)
    board = StallPipelineScoreboard(man["latency"], bench.log)
    for mu, xs in channels:
        for i, x in enumerate(xs):
            src.push({"data": x, "last": i == len(xs) - 1}, {"mu": mu} if i == 0 else None)
    await bench.reset({"x__valid": 0, "x__payload": 0, "mu": 0, "sum__ready": 0})
    current = []
    expected_results = len(channels)

    def on_sample(cycle):
        valid, payload, taken = sink.sample()
        board.check(cycle, valid, payload)
        item, ready = src.sample()
        if item is not None:
            fields, side = item
            if side:
                current.append(side["mu"])
            current.append(fields["data"])
            if fields["last"]:
                mu, xs = current[0], current[1:]
                board.expect(channel_sum(xs, mu, norm), f"channel of {len(xs)}")
                current.clear()
        board.step(ready, taken)

    def done():
        return src.idle and not board.pending and board.results == expected_results

    total = sum(len(xs) for _, xs in channels)
    budget = int((total + 10 * len(channels)) / min(p_valid, p_ready) * 4) + 100
    await bench.run([src, sink], on_sample, done, budget)
    bench.record(cycles=board.checked, mismatches=board.mismatches, results=board.results,
                 values=total)
    assert board.mismatches == 0, f"{board.mismatches} mismatches (seed {bench.seed})"
    assert board.results == expected_results
    return bench.cycle


def _fmt():
    p = load_config()["manifest"]["parameters"]
    return Fmt(p["width"], p["frac"]), p["max_count"]


def _rng():
    import random
    return random.Random(load_config()["seed"])


@cocotb.test()
async def random_stream(dut):
    """Random channels (random lengths up to max_count, random data and mu), gaps, backpressure."""
    fmt, max_count = _fmt()
    rng = _rng()
    budget = load_config()["random_values"]
    channels, n = [], 0
    while n < budget:
        m = rng.choice([1, 2, 3, rng.randint(1, min(max_count, 64)), rng.randint(1, max_count)])
        m = min(m, budget - n) or 1
        mu = rng.randint(fmt.min_code, fmt.max_code)
        channels.append((mu, [rng.randint(fmt.min_code, fmt.max_code) for _ in range(m)]))
        n += m
    await _stream(dut, "random_stream", channels, p_valid=0.8, p_ready=0.7)


@cocotb.test()
async def back_to_back_full_rate(dut):
    """No gaps, no backpressure: one value per cycle, channels back to back, no bubble."""
    fmt, max_count = _fmt()
    rng = _rng()
    channels = [(rng.randint(fmt.min_code, fmt.max_code),
                 [rng.randint(fmt.min_code, fmt.max_code) for _ in range(rng.randint(1, 9))])
                for _ in range(20)]
    cycles = await _stream(dut, "back_to_back_full_rate", channels)
    total = sum(len(xs) for _, xs in channels)
    latency = load_config()["manifest"]["latency"]
    # Samples 0 .. total-1 transfer one value each; the last sum is seen `latency` edges later.
    assert cycles == total + latency, f"{cycles} cycles for {total} values, latency {latency}"


@cocotb.test()
async def most_negative(dut):
    """x at the most negative code with mu at the most positive one, and the reverse: |d| maximal."""
    fmt, _ = _fmt()
    channels = [(fmt.max_code, [fmt.min_code] * 5), (fmt.min_code, [fmt.max_code] * 5),
                (fmt.min_code, [fmt.min_code, fmt.max_code, fmt.min_code])]
    await _stream(dut, "most_negative", channels, p_valid=0.7, p_ready=0.6)


@cocotb.test()
async def all_equal(dut):
    """Every value equal to mu: the deviation sum is exactly zero (the eps path downstream)."""
    fmt, _ = _fmt()
    channels = [(v, [v] * 7) for v in (0, fmt.min_code, fmt.max_code, 1, -1)]
    await _stream(dut, "all_equal", channels, p_valid=0.6, p_ready=0.5)


@cocotb.test()
async def single_element(dut):
    """Channels of one value each (batch of one), back to back and with gaps."""
    fmt, _ = _fmt()
    rng = _rng()
    channels = [(rng.randint(fmt.min_code, fmt.max_code), [rng.randint(fmt.min_code, fmt.max_code)])
                for _ in range(30)]
    await _stream(dut, "single_element", channels, p_valid=0.9, p_ready=0.5)


@cocotb.test()
async def max_batch(dut):
    """A channel of exactly max_count values at the largest deviation: the widest possible sum."""
    fmt, max_count = _fmt()
    channels = [(fmt.max_code, [fmt.min_code] * max_count)]
    await _stream(dut, "max_batch", channels, p_ready=0.5)


@cocotb.test()
async def backpressure_hold(dut):
    """Long stretches with the sum not taken: the result must be held and the input stalled."""
    fmt, _ = _fmt()
    rng = _rng()
    channels = [(rng.randint(fmt.min_code, fmt.max_code),
                 [rng.randint(fmt.min_code, fmt.max_code) for _ in range(rng.randint(1, 4))])
                for _ in range(25)]
    await _stream(dut, "backpressure_hold", channels, p_valid=1.0, p_ready=0.1)

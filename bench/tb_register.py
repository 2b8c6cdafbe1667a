"""cocotb testbench of the trivial stream register (``bench/bench_register.v``).

The register does nothing but hold one item, so the time this testbench takes per cycle is the
per-cycle cost of the shared harness itself: :class:`l1bn.sim.harness.StreamSource` with random gaps,
:class:`l1bn.sim.harness.StreamSink` with random backpressure,
:class:`l1bn.sim.harness.StallPipelineScoreboard` checking every cycle, and the
:meth:`l1bn.sim.harness.Bench.run` loop, exactly as the block testbenches use them. The configuration
gives ``values`` (items to send), ``p_valid`` and ``p_ready``; the summary holds the checked
cycles, the mismatches and (from :meth:`l1bn.sim.harness.Bench.record`) ``loop_seconds``, the wall
time of the cycle loop alone.
"""

import cocotb

from l1bn.sim.harness import Bench, StallPipelineScoreboard, StreamSink, StreamSource, load_config


@cocotb.test()
async def stream(dut):
    """Send ``values`` random items through the register and check every output cycle."""
    config = load_config()
    bench = Bench(dut, config, "stream")
    n, p_valid, p_ready = config["values"], config["p_valid"], config["p_ready"]
    src = StreamSource(bench.ports, "x", bench.rng, p_valid)
    sink = StreamSink(bench.ports, "y", bench.rng, p_ready)
    board = StallPipelineScoreboard(config["manifest"]["latency"], bench.log)
    for i in range(n):
        src.push({"data": bench.rng.randint(-(1 << 15), (1 << 15) - 1), "last": i == n - 1})
    await bench.reset({"x__valid": 0, "x__payload": 0, "y__ready": 0})

    def on_sample(cycle):
        valid, payload, taken = sink.sample()
        board.check(cycle, valid, payload)
        item, ready = src.sample()
        if item is not None:
            board.expect(bench.ports.pack("x__payload", **item[0]))
        board.step(ready, taken)

    def done():
        return src.idle and not board.pending

    await bench.run([src, sink], on_sample, done, int(n / min(p_valid, p_ready) * 4) + 100)
    bench.record(cycles=board.checked, mismatches=board.mismatches, results=board.results,
                 values=n)
    assert board.mismatches == 0, f"{board.mismatches} mismatches (seed {bench.seed})"
    assert board.results == n

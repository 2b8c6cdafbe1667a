"""Drive and check a multi-cycle stream unit (input stream ``i``, output stream ``o``).

Shared by the testbenches of :class:`l1bn.hdl.isqrt.Isqrt` and :class:`l1bn.hdl.divider.Divider`: the
inputs go in on ``i``, the results are taken from ``o``, and
:class:`l1bn.sim.harness.SequentialScoreboard` checks every cycle of ``o`` (each result exactly
``LATENCY`` cycles after its input was taken, held until taken, ``valid`` low at any other time).

Two ways to run, same checks:

* with random valid gaps and backpressure, :class:`l1bn.sim.harness.StreamSource` /
  :class:`~l1bn.sim.harness.StreamSink` and a Python wake-up every cycle;
* at full rate (``i.valid`` and ``o.ready`` held high: the exhaustive tests), a wake-up only at
  the samples where an input must be taken and a result shown, every ``LATENCY`` cycles. The
  cycles in between are checked all the same: ``o.valid`` and ``i.ready`` change only at clock
  edges, every change is recorded (``value_change``), and the scoreboard is fed each cycle's
  values rebuilt from those records. An input taken or a result shown at any other cycle is a
  mismatch, so this also checks the stated throughput (one result every ``LATENCY`` cycles).
"""

import random
from collections import deque

import cocotb
from cocotb.simtime import get_sim_time
from cocotb.triggers import FallingEdge, ReadOnly, Timer

from .harness import Bench, SequentialScoreboard, StreamSink, StreamSource, load_config

__all__ = ["setup", "check_unit"]


def setup():
    """``(formats, cfg, rng)``: the design's formats (manifest), the configuration, a seeded rng."""
    cfg = load_config()
    return cfg["manifest"]["formats"], cfg, random.Random(cfg["seed"])


async def check_unit(dut, name, inputs, expected, *, p_valid=1.0, p_ready=1.0):
    """Send ``inputs`` (payload field dicts of ``i``) and check ``o`` against ``expected``.

    ``p_valid`` / ``p_ready``: probability of ``i.valid`` / ``o.ready`` each cycle; both 1 selects
    the full-rate run, which also requires input ``k`` to be taken at sample ``k * LATENCY``.
    """
    if len(inputs) != len(expected):
        raise ValueError("inputs and expected must have the same length")
    cfg = load_config()
    bench = Bench(dut, cfg, name)
    latency = cfg["manifest"]["latency"]
    board = SequentialScoreboard(latency, bench.log)
    results = deque(bench.ports.pack("o__payload", **e) for e in expected)
    await bench.reset({"i__valid": 0, "i__payload": 0, "o__ready": 0})
    if p_valid == 1.0 and p_ready == 1.0:
        await _full_rate(bench, board, inputs, results, latency)
    else:
        await _random_rate(bench, board, inputs, results, latency, p_valid, p_ready)
    bench.record(cycles=board.checked, mismatches=board.mismatches, results=board.results,
                 values=len(inputs))
    assert board.mismatches == 0, f"{board.mismatches} mismatches (seed {bench.seed})"
    assert board.results == len(inputs) and not board.pending


async def _random_rate(bench, board, inputs, results, latency, p_valid, p_ready):
    src = StreamSource(bench.ports, "i", bench.rng, p_valid)
    sink = StreamSink(bench.ports, "o", bench.rng, p_ready)
    for fields in inputs:
        src.push(fields)

    def on_sample(cycle):
        valid, payload, taken = sink.sample()
        board.check(cycle, valid, payload, taken)
        item, _ready = src.sample()
        if item is not None:
            board.expect(cycle, results.popleft(), f"input {item[0]}")

    budget = int(len(inputs) * (latency + 2) / min(p_valid, p_ready) * 3) + 100
    await bench.run([src, sink], on_sample, lambda: src.idle and not board.pending, budget)


async def _changes(handle, log):
    while True:
        await handle.value_change
        log.append((get_sim_time(), int(handle.value)))


async def _full_rate(bench, board, inputs, results, latency):
    dut, ports = bench.dut, bench.ports
    # Reset left us just after a falling edge: sample 0. One more cycle gives the period.
    await FallingEdge(dut.clk)
    t0 = get_sim_time()
    await FallingEdge(dut.clk)
    period = get_sim_time() - t0
    t0 += period
    ports.write("i__valid", 1)
    ports.write("o__ready", 1)
    ports.write("i__payload", **inputs[0])
    await ReadOnly()
    start = {"o__valid": ports.read("o__valid"), "i__ready": ports.read("i__ready")}
    logs = {name: [] for name in start}
    monitors = [cocotb.start_soon(_changes(getattr(dut, name), logs[name])) for name in logs]
    shown = {}                  # sample -> o.payload read there
    n = len(inputs)
    for k in range(n):
        if k:
            shown[k * latency] = ports.read("o__payload")
        # Input k is taken at the coming rising edge; the next one is driven from the falling
        # edge after it (as the harness drives: never in the time step of a rising edge).
        await Timer(period, "step")
        if k + 1 < n:
            ports.write("i__payload", **inputs[k + 1])
        else:
            ports.write("i__valid", 0)
        if latency > 1:
            await Timer((latency - 1) * period, "step")
        await ReadOnly()                    # sample (k + 1) * latency
    shown[n * latency] = ports.read("o__payload")
    for task in monitors:
        task.cancel()
    last = n * latency
    wave = {name: _per_sample(start[name], logs[name], t0, period, last) for name in logs}
    for s in range(last + 1):
        valid = bool(wave["o__valid"][s])
        board.check(s, valid, shown.get(s) if valid else None, valid)
        if wave["i__ready"][s] and s <= (n - 1) * latency:   # i.valid is high until then
            board.expect(s, results.popleft() if results else None, f"input at sample {s}")
    bench.cycle = last + 1


def _per_sample(value, log, t0, period, last):
    """Values at samples 0 .. last (sample s at time t0 + s*period) of a signal whose changes are
    ``log`` [(time, value)] and whose value at sample 0 is ``value``; the last change of a time
    step counts (combinational glitches within one step are ignored)."""
    out, i = [], 0
    for s in range(last + 1):
        t = t0 + s * period
        while i < len(log) and log[i][0] <= t:
            value = log[i][1]
            i += 1
        out.append(value)
    return out

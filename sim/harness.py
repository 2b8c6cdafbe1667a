"""Shared cocotb driver, monitor and scoreboard for every block and unit testbench.

Timing convention (one per testbench, identical on Icarus and Verilator): inputs are driven on
the falling clock edge; in the ``ReadOnly`` phase that follows, every port is sampled, so the
sample shows exactly what the next rising edge will see. A transfer happens at a rising edge when
``valid & ready`` in the sample before it.

* :class:`Ports` packs and unpacks port values through the block's manifest (payload fields).
* :class:`StreamSource` drives a ``valid/ready/payload`` input with random gaps (fixed seed) and
  keeps ``valid`` and the payload steady until the transfer, as a stream requires.
* :class:`StreamSink` applies random backpressure on an output stream and records transfers.
* :class:`StallPipelineScoreboard` checks, every cycle, both the value and the cycle of each output
  of a pipeline that advances exactly on the cycles its input is ready (the global-stall pipelines
  of this project): a result is due after ``latency`` advancing edges.
* :class:`EnabledPipeline` drives and checks a clock-enabled datapath core (``en`` port, fixed
  ``LATENCY`` counted in enabled cycles, no handshake): random ``en`` gaps with junk on the inputs
  while ``en`` is low, and every output compared on every cycle.
* :class:`SequentialScoreboard` checks a multi-cycle unit with stream ports: each result must
  appear exactly ``latency`` cycles after its input was taken, and stay until it is taken.
* :class:`Bench` runs the cycle loop and writes the summary (checked cycles, mismatches, seed).
"""

import json
import os
import random
import time
from collections import deque

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from .runner import ENV_CONFIG

__all__ = ["load_config", "payload_fields", "field_value", "lane_values", "Ports", "StreamSource",
           "StreamSink", "StallPipelineScoreboard",
           "SequentialScoreboard", "EnabledPipeline", "Bench"]


def load_config():
    """The configuration the runner wrote for this simulation (see :func:`l1bn.sim.runner.run`)."""
    with open(os.environ[ENV_CONFIG]) as f:
        return json.load(f)


def _reader(handle):
    """A function returning ``int(handle.value)``, without building a ``LogicArray`` per read.

    cocotb 2 turns the simulator's binary string into a ``LogicArray`` on every ``.value`` and
    parses it again for ``int()``; parsing the string directly gives the same integer and the
    same ``ValueError`` on X or Z. Handles without the simulator object fall back to ``.value``.
    """
    binstr = getattr(getattr(handle, "_handle", None), "get_signal_val_binstr", None)
    if binstr is None:
        return lambda: int(handle.value)
    return lambda: int(binstr(), 2)


def payload_fields(manifest, port):
    """``{field: (offset, width)}`` of a stream payload port, from the manifest."""
    for q in manifest["ports"]:
        if q["name"] == port:
            return {f["name"]: (f["offset"], f["width"]) for f in q["fields"]}
    raise KeyError(port)


def field_value(value, field, signed=False):
    """The bits ``field = (offset, width)`` of an integer, as two's complement if ``signed``."""
    off, w = field
    v = (value >> off) & ((1 << w) - 1)
    return v - (1 << w) if signed and v >> (w - 1) else v


def lane_values(value, data_field, width, lanes):
    """The ``lanes`` signed ``width``-bit values of an array field starting at ``data_field``."""
    return [field_value(value, (data_field[0] + i * width, width), True) for i in range(lanes)]


def _field_spec(f):
    """``(name, offset, width, lowest, highest)`` of a manifest payload field."""
    w, signed = f["width"], f["signed"]
    return f["name"], f["offset"], w, -(1 << (w - 1)) if signed else 0, \
        (1 << (w - (1 if signed else 0))) - 1


def _subfields(port):
    """A port's manifest fields; an array port's elements as fields named "0", "1", ..."""
    if "fields" in port:
        return port["fields"]
    e = port["elements"]
    return [{"name": str(i), "offset": i * e["width"], "width": e["width"], "signed": e["signed"]}
            for i in range(e["count"])]


class Ports:
    """Port access by manifest: ``ports.write("x__payload", data=3, last=1)``, ``ports.read("sum__payload")``.

    A write of the value this object last wrote to a port is skipped (the simulator already
    holds it): drive ports through :meth:`write` only, not through their handles.
    """

    def __init__(self, dut, manifest):
        self.dut = dut
        self.info = {p["name"]: p for p in manifest["ports"]}
        self.handles = {name: getattr(dut, name) for name in self.info}
        self._masks = {name: (1 << p["width"]) - 1 for name, p in self.info.items()}
        self._readers = {name: _reader(h) for name, h in self.handles.items()}
        self._sign_widths = {name: p["width"] for name, p in self.info.items() if p["signed"]}
        self._fields = {name: [_field_spec(f) for f in _subfields(p)]
                        for name, p in self.info.items() if "fields" in p or "elements" in p}
        self._written = {}

    def pack(self, name, **fields):
        value = 0
        for field, offset, width, lo, hi in self._fields[name]:
            v = int(fields[field])
            if not lo <= v <= hi:
                raise ValueError(f"{name}.{field} = {v} does not fit {width} bits")
            value |= (v & ((1 << width) - 1)) << offset
        return value

    def write(self, name, value=None, **fields):
        if fields:
            value = self.pack(name, **fields)
        value = int(value) & self._masks[name]
        if self._written.get(name) != value:
            self._written[name] = value
            self.handles[name].value = value

    def read(self, name):
        v = self._readers[name]()
        width = self._sign_widths.get(name)
        return v - (1 << width) if width and v >> (width - 1) else v


class StreamSource:
    """Drives stream ``prefix`` (``prefix__valid/ready/payload``) from a queue of items.

    An item is ``(fields, side)``: ``fields`` are the payload fields, ``side`` maps other input
    ports to values applied when the item is first presented (e.g. a channel's ``mu``).
    ``after``: a source whose every item must have been taken before this one offers any.
    """

    def __init__(self, ports, prefix, rng, p_valid=1.0, after=None):
        self.ports, self.prefix, self.rng, self.p_valid = ports, prefix, rng, p_valid
        #: Another source that must be idle before this one presents anything (or None).
        self.after = after
        self.queue = deque()
        self.current = None
        self._payload, self._valid, self._ready = (f"{prefix}__{s}" for s in
                                                   ("payload", "valid", "ready"))

    def push(self, fields, side=None):
        self.queue.append((fields, side or {}))

    @property
    def idle(self):
        return self.current is None and not self.queue

    def drive(self):
        if self.after is not None and not self.after.idle:
            self.ports.write(self._valid, 0)
            return
        if self.current is None and self.queue and self.rng.random() < self.p_valid:
            self.current = self.queue.popleft()
            fields, side = self.current
            for port, value in side.items():
                self.ports.write(port, value)
            self.ports.write(self._payload, **fields)
        self.ports.write(self._valid, self.current is not None)

    def sample(self):
        """The item transferred at the coming edge, or None; also whether ready was high."""
        ready = self.ports.read(self._ready)
        item = None
        if self.current is not None and ready:
            item, self.current = self.current, None
        return item, bool(ready)


class StreamSink:
    """Random backpressure on output stream ``prefix``; samples what the next edge transfers."""

    def __init__(self, ports, prefix, rng, p_ready=1.0):
        self.ports, self.prefix, self.rng, self.p_ready = ports, prefix, rng, p_ready
        self.ready = False
        self._payload, self._valid, self._ready = (f"{prefix}__{s}" for s in
                                                   ("payload", "valid", "ready"))

    def drive(self):
        self.ready = self.rng.random() < self.p_ready
        self.ports.write(self._ready, self.ready)

    def sample(self):
        """``(valid, payload, taken)`` of the output as the coming edge sees it."""
        valid = bool(self.ports.read(self._valid))
        payload = self.ports.read(self._payload) if valid else None
        return valid, payload, valid and self.ready


class StallPipelineScoreboard:
    """Value and cycle of each output of a global-stall pipeline.

    The pipeline advances on exactly the edges at which its input stream is ready. A result
    expected from an input transferred at edge ``e`` must be presented (``valid`` high, payload
    equal) from the sample after the ``latency``-th advancing edge counted from ``e``, and held
    until taken. Any other ``valid`` is a mismatch too.
    """

    def __init__(self, latency, log):
        self.latency, self.log = latency, log
        self.due = deque()          # [advancing edges left, expected value, label]
        self.presented = None       # (expected value, label) the DUT must show now
        self.mismatches = 0
        self.checked = 0
        self.results = 0

    def expect(self, value, label=""):
        """Register the result of the input transferred at the coming edge."""
        self.due.append([self.latency, value, label])

    def check(self, cycle, valid, payload):
        """Compare the sampled output with what is due; call once per cycle before :meth:`step`."""
        self.checked += 1
        want = self.presented
        if valid != (want is not None) or (valid and payload != want[0]):
            self.mismatches += 1
            if self.mismatches <= 10:
                self.log.error("cycle %d: output valid=%s payload=%s, expected %s", cycle, valid,
                               payload, "nothing" if want is None else f"{want[0]} ({want[1]})")

    def step(self, advancing, taken):
        """Account for the coming edge: ``advancing`` = input ready, ``taken`` = output transfer."""
        if taken:
            self.results += 1
            self.presented = None
        if advancing:
            for d in self.due:
                d[0] -= 1
            if self.due and self.due[0][0] == 0:
                _, value, label = self.due.popleft()
                if self.presented is not None:
                    self.mismatches += 1
                    self.log.error("scoreboard: result %s due while %s not taken", label,
                                   self.presented[1])
                self.presented = (value, label)

    @property
    def pending(self):
        return bool(self.due) or self.presented is not None


class SequentialScoreboard:
    """In-order results of a multi-cycle unit (e.g. a radix-2 divider) with stream ports.

    The result of an input taken at the edge after sample ``c`` must be valid from sample
    ``c + latency`` on, with the expected payload, until the sink takes it; ``valid`` at any other
    time is a mismatch.
    """

    def __init__(self, latency, log):
        self.latency, self.log = latency, log
        self.queue = deque()        # [first sample it is due, expected payload, label]
        self.mismatches = self.checked = self.results = 0

    def expect(self, cycle, value, label=""):
        self.queue.append((cycle + self.latency, value, label))

    def check(self, cycle, valid, payload, taken):
        self.checked += 1
        head = self.queue[0] if self.queue else None
        due = head is not None and cycle >= head[0]
        ok = valid == due and (not valid or payload == head[1])
        if not ok:
            self.mismatches += 1
            if self.mismatches <= 10:
                self.log.error("cycle %d: valid=%s payload=%s, expected %s", cycle, valid, payload,
                               "nothing" if not due else f"{head[1]} ({head[2]}, due {head[0]})")
        if taken and self.queue:
            self.queue.popleft()
            self.results += 1

    @property
    def pending(self):
        return bool(self.queue)


class EnabledPipeline:
    """Drive and check a clock-enabled core whose registers all load on ``en``.

    Parameters
    ----------
    bench : Bench
    vectors : list of dict
        Input port values, one dict per enabled cycle.
    expected : list of dict
        Output port values produced by each vector (from the golden model).
    latency : int
        Enabled cycles from a vector to its outputs (``LATENCY`` of the core).
    junk : callable
        ``junk(rng) -> dict`` of random input values driven while ``en`` is low (they must have no
        effect) and while flushing.
    p_en : float
        Probability of ``en`` each cycle.

    After the ``k``-th enabled edge the outputs must equal ``expected[k - latency]`` on every
    cycle until the next enabled edge; all outputs are checked every cycle once the pipeline has
    filled.
    """

    def __init__(self, bench, vectors, expected, latency, junk, p_en=0.75):
        if len(vectors) != len(expected):
            raise ValueError("vectors and expected must have the same length")
        self.bench, self.vectors, self.expected = bench, vectors, expected
        self.latency, self.junk, self.p_en = latency, junk, p_en
        self.mismatches = self.checked = 0

    async def run(self):
        bench, ports, rng = self.bench, self.bench.ports, self.bench.rng
        total = len(self.vectors) + self.latency - 1   # enabled edges, flush included
        edges, current, max_cycles = 0, None, int(total / self.p_en * 3) + 100
        read_only, falling = ReadOnly(), FallingEdge(bench.dut.clk)
        start = time.perf_counter()
        for cycle in range(max_cycles):
            if edges >= total and edges > 0:
                break
            en = rng.random() < self.p_en
            vec = self.vectors[edges] if en and edges < len(self.vectors) else self.junk(rng)
            for name, value in vec.items():
                ports.write(name, value)
            ports.write("en", en)
            await read_only
            if current is not None:
                self.checked += 1
                got = {name: ports.read(name) for name in current}
                if got != current:
                    self.mismatches += 1
                    if self.mismatches <= 10:
                        bench.log.error("cycle %d: outputs %s, expected %s", cycle, got, current)
            if en:
                edges += 1
                k = edges - self.latency
                current = self.expected[k] if 0 <= k < len(self.expected) else None
            bench.cycle += 1
            await falling
        else:
            raise AssertionError(f"{bench.name}: not finished (seed {bench.seed})")
        # The last expected vector is visible after the final enabled edge.
        await read_only
        if current is not None:
            self.checked += 1
            if {n: ports.read(n) for n in current} != current:
                self.mismatches += 1
        bench.loop_seconds += time.perf_counter() - start
        bench.record(cycles=self.checked, mismatches=self.mismatches, values=len(self.vectors))
        assert self.mismatches == 0, f"{self.mismatches} mismatches (seed {bench.seed})"


class Bench:
    """Clock, reset and the per-cycle loop shared by every testbench.

    ``loop_seconds`` accumulates the wall time of the cycle loops (:meth:`run` and
    :meth:`EnabledPipeline.run`); :meth:`record` adds it to the summary, so that every testbench
    reports its checked cycles per second.
    """

    def __init__(self, dut, config, name):
        self.dut, self.config, self.name = dut, config, name
        self.seed = int(config["seed"])
        self.rng = random.Random(f"{self.seed}:{name}")
        self.ports = Ports(dut, config["manifest"])
        self.cycle = 0
        self.loop_seconds = 0.0
        self.log = dut._log

    async def reset(self, idle_inputs):
        cocotb.start_soon(Clock(self.dut.clk, 10, unit="ns").start())
        for name, value in idle_inputs.items():
            self.ports.write(name, value)
        self.dut.rst.value = 1
        for _ in range(2):
            await RisingEdge(self.dut.clk)
        await FallingEdge(self.dut.clk)
        self.dut.rst.value = 0

    async def run(self, drivers, on_sample, done, max_cycles):
        """Each cycle: ``d.drive()`` for every driver, then ``on_sample(cycle)`` in ReadOnly.

        Stops when ``done()`` is true after a sample, or fails after ``max_cycles``.
        """
        read_only, falling = ReadOnly(), FallingEdge(self.dut.clk)
        start = time.perf_counter()
        try:
            for _ in range(max_cycles):
                for d in drivers:
                    d.drive()
                await read_only
                on_sample(self.cycle)
                self.cycle += 1
                if done():
                    return
                await falling
        finally:
            self.loop_seconds += time.perf_counter() - start
        raise AssertionError(f"{self.name}: not finished after {max_cycles} cycles (seed {self.seed})")

    def record(self, **figures):
        """Add this test's figures to the summary file (one JSON object per test name)."""
        path = self.config["summary_path"]
        summary = {}
        if os.path.exists(path):
            with open(path) as f:
                summary = json.load(f)
        summary[self.name] = dict(figures, seed=self.seed)
        if self.loop_seconds:
            summary[self.name].setdefault("loop_seconds", self.loop_seconds)
        tmp = f"{path}.tmp"
        with open(tmp, "w") as f:
            json.dump(summary, f)
        os.replace(tmp, path)

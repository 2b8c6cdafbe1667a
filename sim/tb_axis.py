"""cocotb testbench of a design generated with ``--interface axis``, driven only through
cocotbext-axi's ``AxiStreamSource`` / ``AxiStreamSink`` (as an integrator's AXI4-Stream IP
would), with random ``tvalid`` gaps and ``tready`` backpressure.

The inference-only unit (:class:`l1bn.hdl.bn_infer.BNInfer`): every channel's constants as one
transfer on ``s_axis_coef``, then frames of beats of random channels on ``s_axis_x`` (``tuser``
the channel, ``tlast`` on each frame's final beat); every ``m_axis_y`` frame is compared with
the golden model, lane by lane (``tdata``), flag by flag (``tuser``) and frame by frame
(``tlast``). Byte offsets and fields come from the manifest only.
"""

import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource

from .core_tb import formats, random_codes
from .harness import Bench, load_config
from .tb_bn_infer import constants, expected_y
from .vectors import pack

#: The random test the report runs as its quick check of this block.
SMOKE_TEST = "frames"


def _port(name):
    return next(p for p in load_config()["manifest"]["ports"] if p["name"] == name)


def _lanes(value, port):
    e = port["elements"]
    w = e["width"]
    out = []
    for i in range(e["count"]):
        v = (value >> (i * w)) & ((1 << w) - 1)
        out.append(v - (1 << w) if e["signed"] and v >> (w - 1) else v)
    return out


def _pauses(rng, p_busy):
    while True:
        yield rng.random() < p_busy


def _unpack(data, per_beat):
    """Integers of ``per_beat`` bytes each (little-endian) of a frame's ``tdata`` bytes."""
    return [int.from_bytes(bytes(data[i:i + per_beat]), "little")
            for i in range(0, len(data), per_beat)]


@cocotb.test()
async def frames(dut):
    """Constants of every channel, then random frames of random channels; tvalid gaps on both
    sources, tready backpressure on the sink; every output frame checked."""
    cfg = load_config()
    p = dict(cfg["manifest"]["parameters"])
    rng = random.Random(f"{cfg['seed']}:frames")
    cocotb.start_soon(Clock(dut.aclk, 10, unit="ns").start())
    # Every input low through reset; the AXI ends start after it (outputs are defined then).
    for port in cfg["manifest"]["ports"]:
        if port["dir"] == "in" and port["name"] != "aclk":
            getattr(dut, port["name"]).value = 0
    await ClockCycles(dut.aclk, 3)
    dut.aresetn.value = 1
    await RisingEdge(dut.aclk)
    kw = {"reset_active_level": False}
    coef = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis_coef"), dut.aclk, dut.aresetn,
                           **kw)
    x = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis_x"), dut.aclk, dut.aresetn, **kw)
    y = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis_y"), dut.aclk, dut.aresetn, **kw)
    for end, busy in ((coef, 0.3), (x, 0.3), (y, 0.4)):
        end.set_pause_generator(_pauses(rng, busy))

    cport, xport, yport = (_port(n) for n in ("s_axis_coef_tdata", "s_axis_x_tdata",
                                              "m_axis_y_tdata"))
    table = {}
    for ch in range(p["channels"]):
        k = table[ch] = constants(rng, p)
        raw = pack(cport, dict(k, channel=ch))
        await coef.send(AxiStreamFrame(raw.to_bytes(cport["width"] // 8, "little"),
                                       tuser=k["neg"]))
    await coef.wait()
    await ClockCycles(dut.aclk, 2)      # the last load is in before the first beat

    xb, yb = xport["width"] // 8, yport["width"] // 8
    n_frames = max(4, cfg.get("random_values", 4000) // (p["lanes"] * 16))
    sent = []
    for _ in range(n_frames):
        beats = [(rng.randrange(p["channels"]), random_codes(rng, formats()["x"], p["lanes"]))
                 for _ in range(rng.randint(1, 8))]
        raw = b"".join(_pack_lanes(v, xport).to_bytes(xb, "little") for _c, v in beats)
        await x.send(AxiStreamFrame(raw, tuser=[c for c, _v in beats for _ in range(xb)]))
        sent.append(beats)
    mismatches = 0
    for i, beats in enumerate(sent):
        frame = await y.recv()
        got = _unpack(frame.tdata, yb)
        user = frame.tuser if isinstance(frame.tuser, list) else [frame.tuser] * len(frame.tdata)
        sat = user[yb - 1::yb]
        want = [expected_y(p, table, v, c) for c, v in beats]
        lanes = {"count": p["lanes"], "width": p["width"], "signed": True}
        ok = len(got) == len(want) and all(
            g == _pack_lanes(_lanes(w["data"], {"elements": lanes}), yport) and s == w["sat"]
            for g, s, w in zip(got, sat, want))
        if not ok:
            mismatches += 1
            if mismatches <= 5:
                dut._log.error("frame %d: got %s / sat %s, expected %s (seed %s)", i, got, sat,
                               want, cfg["seed"])
    assert int(dut.err.value) == 0
    Bench(dut, cfg, "frames").record(frames=len(sent), cycles=sum(map(len, sent)),
                                     mismatches=mismatches)
    assert mismatches == 0, f"{mismatches} mismatching frames (seed {cfg['seed']})"


def _pack_lanes(values, port):
    e = port["elements"]
    return sum((v & ((1 << e["width"]) - 1)) << (i * e["width"]) for i, v in enumerate(values))

"""cocotb testbench of the single-stream backward layer
(:class:`l1bn.hdl.bn_backward_layer.BNBackwardLayer`).

The host streams every channel's (x, dy) once (descriptors with the forward's exact sums on
``channel``, beats on ``x`` in channel order) with random gaps, takes ``dx`` and ``grads`` with
random backpressure, and every ``dx`` beat and ``grads`` transfer is compared, in order, with
:func:`l1bn.golden.bn_backward.backward` (the backward unit's model, which the layer must equal
bit for bit). Runs :func:`l1bn.sim.tb_bn_layer.run_layer`.
"""

import cocotb
import numpy as np

from l1bn.golden.bn_unit import UnitConfig
from l1bn.hdl.bn_backward import sequence_cycles

from .harness import load_config
from .tb_bn_backward import Channel, _grads_check, draw
from .tb_bn_layer import LayerSpec, run_layer

#: The test the report runs: full rate, full channels (its cycles per element).
SMOKE_TEST = "throughput"


def _setup():
    p = load_config()["manifest"]["parameters"]
    cfg = UnitConfig(norm=p["norm"], stats="two-pass", width=p["width"], frac=p["frac"],
                     guard=p["guard"], max_batch=p["buffer_depth"],
                     eps=1e-5 if p["eps"] is None else p["eps"])

    def cycles(chans):
        return sequence_cycles(len(chans), [ch.m for ch in chans],
                               **dict(p, max_batch=p["buffer_depth"]))["total"]
    spec = LayerSpec(out="dx", side="grads", expected=lambda ch: ch.gold["dx"],
                     side_check=_grads_check, cycles=cycles)
    return p, cfg, spec


def _rng(name):
    config = load_config()
    return np.random.default_rng([int(config["seed"]), sum(map(ord, name))])


def _channels(cfg, rng, n, top):
    kinds = ("gauss", "two_level", "narrow", "relu", "const", "sparse", "spiky")
    sizes = [1, top, 2] + [int(v) for v in rng.integers(1, top + 1, max(0, n - 3))]
    return [draw(cfg, rng, sizes[i], kinds[i % len(kinds)]) for i in range(n)]


@cocotb.test()
async def random_stream(dut):
    """Sequences of 1, the buffer's size and random sizes, every channel family, a saturating
    channel (extreme gamma and dy, a zero spread handed over), random gaps and backpressure."""
    p, cfg, spec = _setup()
    rng = _rng("random_stream")
    top, d = p["buffer_depth"], cfg.data
    sat = Channel(cfg, [d.min_code, d.max_code, 0, 1, -1][:top],
                  [d.max_code, d.min_code, d.max_code, d.min_code, 0][:top], d.max_code,
                  spread=0)
    await run_layer(dut, "random_stream",
                    [_channels(cfg, rng, 6, top), [sat], _channels(cfg, rng, 2, top)], spec,
                    p_valid=0.8, p_ready=0.8)


@cocotb.test()
async def full_rate(dut):
    """Inputs always valid, outputs always ready: the layer never stalls itself."""
    p, cfg, spec = _setup()
    await run_layer(dut, "full_rate", [_channels(cfg, _rng("full_rate"), 6, p["buffer_depth"])],
                    spec)


@cocotb.test()
async def throughput(dut):
    """Four channels of the buffer's size, full rate (the report's cycles per element, beside
    the unit's for the same channels)."""
    p, cfg, spec = _setup()
    rng = _rng("throughput")
    chans = [draw(cfg, rng, p["buffer_depth"], k) for k in ("gauss", "relu", "two_level",
                                                            "narrow")]
    await run_layer(dut, "throughput", [chans], spec)

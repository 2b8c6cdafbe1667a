# amaranth: UnusedElaboratable=no
"""The single-stream layers: the forward and the backward unit's results with each channel
streamed once, on both simulators (random gaps and backpressure, full rate, full channels),
parameter checks."""

import subprocess
import sys

import pytest

from l1bn.hdl.registry import resolve

from .blocksim import simulate

CONFIGS = [
    ("bn_layer", dict(norm="l1", lanes=4, buffer_depth=64)),
    ("bn_layer", dict(norm="l2", stats="one-pass", lanes=1, buffer_depth=20)),
    ("bn_layer", dict(norm="l2", lanes=3, buffer_depth=48, width=8, frac=4, guard=4)),
    ("bn_backward_layer", dict(norm="l1", lanes=4, buffer_depth=64)),
    ("bn_backward_layer", dict(norm="l2", lanes=1, buffer_depth=20, width=8, frac=4, guard=4)),
]


IDS = ["l1-p4-d64", "l2one-p1-d20", "l2-p3-w8-d48", "bwd-l1-p4-d64", "bwd-l2-p1-w8-d20"]
#: Every testcase on Icarus; the random stream (gaps and backpressure) on Verilator for one
#: forward and one backward configuration (a Verilator build of a layer takes about a minute).
MATRIX = [(s, i, t) for s in ("icarus", "verilator") for i in range(len(CONFIGS))
          for t in ("random_stream", "full_rate", "throughput")
          if s == "icarus" or (t == "random_stream" and i in (2, 3))]


@pytest.mark.sim
@pytest.mark.parametrize("simulator, index, testcase", MATRIX,
                         ids=[f"{s}-{IDS[i]}-{t}" for s, i, t in MATRIX])
def test_layer_equals_the_unit_model(build_root, simulator, index, testcase):
    block, params = CONFIGS[index]
    summary = simulate(build_root, block, params, simulator, testcase)
    assert summary["out_beats"] > 0 and summary["side"] > 0
    if testcase == "throughput":
        # Full rate, four full channels: beyond the unit's cycles, the first channel's fill
        # and a few cycles per pass, nothing per beat.
        passes = 3 if block == "bn_layer" and params.get("stats") != "one-pass" else 2
        beats = -(-params["buffer_depth"] // params["lanes"])
        assert summary["unit_cycles"] <= summary["cycles"] \
            <= summary["unit_cycles"] + beats + 3 * passes * 4, summary


@pytest.mark.parametrize("block", ["bn_layer", "bn_backward_layer"])
@pytest.mark.parametrize("value", [0, 1 << 21, -3])
def test_bad_buffer_depth(block, value):
    with pytest.raises(ValueError) as exc:
        resolve(block, norm="l1", buffer_depth=value)
    assert str(exc.value) == f"buffer_depth must be an integer in [1, 1048576], got {value}"


@pytest.mark.parametrize("args, message", [
    (["--set", "buffer_depth=0"], "buffer_depth must be an integer in [1, 1048576], got 0"),
    (["--buffer-depth", "2000000"], "buffer_depth must be an integer in [1, 1048576], got "
                                    "2000000"),
    (["--buffer-depth", "0"], "argument --buffer-depth: expected an integer in [1, 4294967296], "
                              "got 0"),
])
def test_cli_bad_buffer_depth(tmp_path, args, message):
    out = tmp_path / "o"
    r = subprocess.run([sys.executable, "-m", "l1bn", "generate", "--block", "bn_layer", *args,
                        "-o", str(out)], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip() == f"l1bn generate: error: {message}"
    assert not out.exists()


def test_cli_buffer_depth_only_for_the_layer(tmp_path):
    r = subprocess.run([sys.executable, "-m", "l1bn", "generate", "--block", "bn_unit",
                        "--buffer-depth", "64", "-o", str(tmp_path / "o")], capture_output=True,
                       text=True)
    assert r.returncode == 2 and "bn_unit takes no parameter buffer_depth" in r.stderr

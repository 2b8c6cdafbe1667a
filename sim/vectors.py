"""Test vectors for users' own testbenches (``l1bn vectors``): stimulus and golden expected
transfers of a design as ``$readmemh`` files, a Verilog header and a JSON description.

For the forward BN unit (``bn_unit``, mode train or infer) the files are ``channel.hex`` (the
descriptors), ``x.hex`` (every beat of every pass, in the order of
:func:`l1bn.hdl.bn_sequencer.slot_order`; for the layer ``bn_layer`` every channel once, in
order), ``y.hex`` (the expected ``y`` beats) and, training, ``stats.hex`` (no file in
inference: the header's count is 0). For the backward unit (``bn_backward``, mode backward)
``channel.hex`` (descriptors with the forward's exact sums), ``x.hex`` ((x, dy) beats, both
passes; the layer ``bn_backward_layer``: every channel once), ``dx.hex`` and ``grads.hex``.
For the inference-only unit (``bn_infer``) ``coef.hex`` (every channel's constants,
:func:`l1bn.golden.bn_forward.lane_codes`), ``x.hex`` and ``y.hex`` (the unit computes every
lane: a final beat's lanes beyond m hold 0 and expect the channel's y of 0). One payload per
line, in hexadecimal, packed as the manifest's fields say. ``vectors.vh`` defines the module
name, the payload widths and the counts (``` `L1BN_<NAME>_W``, ``` `L1BN_N_<NAME>``), and
``` `L1BN_BACKWARD`` for the backward blocks, for a plain Verilog testbench (``examples/``);
``vectors.json`` describes the same and the data.
"""

import json

import numpy as np

from l1bn.golden import fixed
from l1bn.golden.bn_backward import backward
from l1bn.golden.bn_forward import apply_constants, batch_stats, infer_constants, lane_codes
from l1bn.golden.bn_unit import UnitConfig, forward_infer, forward_train
from l1bn.golden.channels import KINDS, channel_codes
from l1bn.hdl.bn_job import SAT_FIELDS
from l1bn.hdl.bn_sequencer import slot_order
from l1bn.util.files import write_text

__all__ = ["BLOCKS", "MODES", "build", "write"]

#: The blocks and the modes ``l1bn vectors`` writes vectors for.
BLOCKS = ("bn_unit", "bn_layer", "bn_infer", "bn_backward", "bn_backward_layer")
MODES = {"bn_unit": ("train", "infer"), "bn_layer": ("train", "infer"), "bn_infer": ("infer",),
         "bn_backward": ("backward",), "bn_backward_layer": ("backward",)}
#: The layers: every channel streamed once, in order (the layer replays the passes).
LAYERS = ("bn_layer", "bn_backward_layer")


def _port(manifest, name):
    return next(p for p in manifest["ports"] if p["name"] == name)


def pack(port, values):
    """An integer of ``port``'s manifest fields (each at its offset, two's complement);
    ``values`` may hold a list for an array field and a dict for a struct field."""
    out = 0
    for f in port["fields"]:
        v = values[f["name"]]
        if "elements" in f:
            e = f["elements"]
            v = sum((int(x) & ((1 << e["width"]) - 1)) << (i * e["width"])
                    for i, x in enumerate(list(v) + [0] * (e["count"] - len(v))))
        elif "fields" in f:
            v = pack(f, v)
        out |= (int(v) & ((1 << f["width"]) - 1)) << f["offset"]
    return out


def _unit_config(p):
    return UnitConfig(norm=p["norm"], stats=p["stats"], width=p["width"], frac=p["frac"],
                      guard=p["guard"], max_batch=p.get("max_batch") or p["buffer_depth"],
                      alpha=0.9 if p["alpha"] is None else p["alpha"],
                      eps=1e-5 if p["eps"] is None else p["eps"])


def _channel(cfg, rng, m, kind):
    d, s = cfg.data, cfg.stat
    x = channel_codes(cfg, rng, m, kind)
    g = int(fixed.quantize(rng.uniform(-2, 2), d)[0])
    b = int(fixed.quantize(rng.uniform(-1, 1), d)[0])
    rm = int(fixed.quantize(rng.uniform(-0.5, 0.5) * d.max_value, s)[0])
    rs = int(fixed.quantize(abs(rng.normal(0, 1)) * 2.0 ** rng.uniform(-3, 3), s)[0])
    return x, g, b, rm, rs


def _beats(x, lanes):
    return [list(x[i:i + lanes]) for i in range(0, len(x), lanes)]


def _unit_streams(manifest, mode, ms, rng):
    p = manifest["parameters"]
    cfg, P = _unit_config(p), p["lanes"]
    ports = {n: _port(manifest, f"{n}__payload") for n in ("channel", "x", "y", "stats")}
    chans, out = [], {"channel": [], "x": [], "y": [], "stats": []}
    for c, m in enumerate(ms):
        x, g, b, rm, rs = _channel(cfg, rng, m, KINDS[c % len(KINDS)])
        gold = (forward_train if mode == "train" else forward_infer)(cfg, x, g, b, rm, rs)
        chans.append((x, gold))
        out["channel"].append(pack(ports["channel"], {
            "mode": int(mode == "infer"), "m": m, "gamma": g, "beta": b, "running_mean": rm,
            "running_sigma": rs, "last": int(c == len(ms) - 1)}))
        beats = _beats(gold["y"], P)
        flags = [np.flatnonzero(_sat_lanes(cfg, x, gold)[i:i + P]) for i in range(0, m, P)]
        out["y"] += [pack(ports["y"], {"data": v, "sat": sum(1 << int(k) for k in f),
                                       "last": int(i == len(beats) - 1)})
                     for i, (v, f) in enumerate(zip(beats, flags))]
        if mode == "train":
            out["stats"].append(pack(ports["stats"], dict(
                {k: gold[k] for k in ("mean", "sigma", "running_mean", "running_sigma")},
                sat={k: gold["sat"][k] for k in SAT_FIELDS},
                **{k: gold["sums"][k] for k in ("sum_x", "spread", "sum_sgn")
                   if any(f["name"] == k for f in ports["stats"]["fields"])})))
    passes = 2 if p["stats"] == "one-pass" else 3
    for c in _stream_order(manifest, len(ms), passes, mode == "infer"):
        beats = _beats(chans[c][0], P)
        out["x"] += [pack(ports["x"], {"data": v, "last": int(i == len(beats) - 1)})
                     for i, v in enumerate(beats)]
    return out


def _stream_order(manifest, channels, passes, single):
    """The channel of every streamed pass: the unit's pass order, or each channel once."""
    if manifest["block"] in LAYERS:
        return list(range(channels))
    return [c for c, _kind in slot_order(channels, passes, single=single)]


def _backward_streams(manifest, ms, rng):
    p = manifest["parameters"]
    cfg, P = _unit_config(dict(p, stats="two-pass", alpha=None)), p["lanes"]
    d = cfg.data
    ports = {n: _port(manifest, f"{n}__payload") for n in ("channel", "x", "dx", "grads")}
    chans, out = [], {"channel": [], "x": [], "dx": [], "grads": []}
    for c, m in enumerate(ms):
        x = channel_codes(cfg, rng, m, KINDS[c % len(KINDS)])
        dy, _ = fixed.quantize(rng.standard_normal(m) * 2.0 ** rng.uniform(-3, 1), d)
        g = int(fixed.quantize(rng.uniform(-2, 2), d)[0])
        sums = batch_stats(cfg, x)["sums"]
        gold = backward(cfg, x, dy, g, sums["sum_x"], sums["spread"])
        chans.append((x, dy))
        desc = {"m": m, "gamma": g, "sum_x": sums["sum_x"], "spread": sums["spread"],
                "sum_sgn": gold["sums"].get("sum_sgn", 0), "last": int(c == len(ms) - 1)}
        out["channel"].append(pack(ports["channel"], {f["name"]: desc[f["name"]]
                                                      for f in ports["channel"]["fields"]}))
        beats, sat = _beats(gold["dx"], P), gold["dx_sat"]
        out["dx"] += [pack(ports["dx"], {"data": v, "last": int(i == len(beats) - 1),
                                         "sat": sum(1 << k for k in range(len(v))
                                                    if sat[i * P + k])})
                      for i, v in enumerate(beats)]
        out["grads"].append(pack(ports["grads"], {
            "dgamma": gold["dgamma"], "dbeta": gold["dbeta"],
            "sat": {k: int(gold["sat"][k] > 0) for k in ("a", "dgamma", "const")}}))
    for c in _stream_order(manifest, len(ms), 2, False):
        x, dy = chans[c]
        pairs = list(zip(_beats(x, P), _beats(dy, P)))
        out["x"] += [pack(ports["x"], {"x": a, "dy": b, "last": int(i == len(pairs) - 1)})
                     for i, (a, b) in enumerate(pairs)]
    return out


def _sat_lanes(cfg, x, gold):
    """Per value: whether its y saturated (the lane's flag), from the model's codes."""
    return apply_constants(cfg, x, gold["coef"])[1]


def _infer_streams(manifest, ms, rng):
    p = manifest["parameters"]
    cfg = UnitConfig(norm="l1", stats="two-pass", width=p["width"], frac=p["frac"],
                     guard=p["guard"])
    P, C = p["lanes"], p["channels"]
    ports = {n: _port(manifest, f"{n}__payload") for n in ("coef", "x", "y")}
    out = {"coef": [], "x": [], "y": []}
    consts = []
    for c in range(C):
        x, g, b, rm, rs = _channel(cfg, rng, 1, "gauss")
        k = infer_constants(cfg, g, b, rm, rs)["coef"]
        consts.append(k)
        out["coef"].append(pack(ports["coef"], dict(lane_codes(cfg, k), channel=c)))
    for i, m in enumerate(ms):
        c = i % C
        x = channel_codes(cfg, rng, m, KINDS[i % len(KINDS)])
        # The unit computes every lane: the final beat's lanes beyond m hold 0 and give y(0).
        x = np.concatenate([x, np.zeros(-m % P, dtype=x.dtype)])
        y, sat = apply_constants(cfg, x, consts[c])
        for j, (xv, yv) in enumerate(zip(_beats(x, P), _beats(y, P))):
            last = int((j + 1) * P >= m)
            out["x"].append(pack(ports["x"], {"data": xv, "channel": c, "last": last}))
            s = sum(1 << q for q, f in enumerate(sat[j * P:(j + 1) * P]) if f)
            out["y"].append(pack(ports["y"], {"data": yv, "sat": s, "last": last}))
    return out


def build(manifest, mode, ms, seed):
    """``{stream: [payload integers]}`` of the design ``manifest`` for channels of sizes ``ms``."""
    rng = np.random.default_rng(seed)
    if manifest["block"] in ("bn_unit", "bn_layer"):
        return _unit_streams(manifest, mode, ms, rng)
    if manifest["block"] in ("bn_backward", "bn_backward_layer"):
        return _backward_streams(manifest, ms, rng)
    return _infer_streams(manifest, ms, rng)


def write(out_dir, manifest, mode, ms, seed):
    """Write the vectors (module docstring) into ``out_dir``; returns the files written."""
    streams = build(manifest, mode, ms, seed)
    files = []
    head = [f"// l1bn vectors: {manifest['name']}, mode {mode}, seed {seed}",
            f"`define L1BN_DESIGN {manifest['name']}"] + (
                ["`define L1BN_BACKWARD"] if mode == "backward" else [])
    desc = {"design": manifest["name"], "block": manifest["block"], "mode": mode,
            "seed": seed, "m": list(ms), "files": {}}
    for name, words in streams.items():
        width = _port(manifest, f"{name}__payload")["width"]
        digits = -(-width // 4)
        path = out_dir / f"{name}.hex"
        if words:
            files.append(write_text(path, "".join(f"{w:0{digits}x}\n" for w in words)))
        head += [f"`define L1BN_{name.upper()}_W {width}",
                 f"`define L1BN_N_{name.upper()} {len(words)}"]
        desc["files"][name] = {"file": path.name if words else None, "width": width,
                               "count": len(words)}
    files.append(write_text(out_dir / "vectors.vh", "\n".join(head) + "\n"))
    files.append(write_text(out_dir / "vectors.json", json.dumps(desc, indent=2) + "\n"))
    return files

"""The README's WaveDrom timing diagram: a two-channel training sequence on the forward unit,
drawn from the cycle-exact schedule (:func:`l1bn.hdl.bn_unit.sequence_cycles`) by the
``wavedrom`` package. ``python -m l1bn.report.timing_diagram DIR`` writes
``DIR/two_channel_training.svg`` and ``.json`` (the WaveJSON)."""

import json
import sys
from pathlib import Path

from l1bn.hdl.bn_unit import latency_formulas, sequence_cycles
from l1bn.util.files import write_text

__all__ = ["wavejson", "write", "NAME"]

NAME = "two_channel_training"
_LETTER = {"first": "F", "mid": "M", "final": "N"}


def _states(norm, m, lanes):
    """Per cycle: (descriptor handshake, x beat's pass, y beat's pass, status: next pass)."""
    sched = sequence_cycles(2, m, "train", norm=norm, lanes=lanes)
    lat = latency_formulas(norm=norm, lanes=lanes)["y_latency"]
    passes = [(f"{c}{_LETTER[k]}", s, e) for c, k, s, e in sched["passes"]]
    out = []
    for t in range(sched["total"] + 1):
        x = next((lab for lab, s, e in passes if s <= t <= e), None)
        y = next((lab for lab, s, e in passes
                  if lab.endswith("N") and s + lat <= t <= e + lat), None)
        nxt = next((lab for lab, _s, e in passes if e >= t), None)
        out.append((int(t < 2), x, y, nxt))
    return out


def _keep(states, context=1):
    """Cycles drawn: those within ``context`` of a change; the rest collapse into gaps."""
    n = len(states)
    change = [t for t in range(1, n) if states[t] != states[t - 1]] + [0, n - 1]
    keep = set()
    for t in change:
        keep.update(range(max(0, t - context), min(n, t + context + 1)))
    return sorted(keep)


def wavejson(norm="l1", m=4, lanes=1):
    """WaveJSON of two channels of ``m`` values (training, ``lanes`` lanes): the descriptor
    handshakes, the passes on ``x`` (``0F`` = channel 0's first pass, ``M`` mid, ``N`` final),
    the ``y`` beats and the ``status`` output; long idle stretches drawn as gaps."""
    states = _states(norm, m, lanes)
    rows = {"clk": "", "channel (valid & ready)": "", "x (pass)": "", "y (channel)": "",
            "status (next pass)": ""}
    data = {k: [] for k in rows}
    prev, last_t = None, None
    for t in _keep(states):
        gap = last_t is not None and t != last_t + 1
        st = states[t]
        for i, key in enumerate(list(rows)[1:]):
            v = st[i]
            same = prev is not None and prev[i] == v
            if i == 0:
                rows[key] += "." if same else str(v)
            elif v is None:
                rows[key] += "." if same else "x"
            else:
                rows[key] += "." if same else "="
                if not same:
                    data[key].append(v if i != 2 else v[0])
        rows["clk"] += "p"
        if gap:
            rows = {k: w[:-1] + "|" + w[-1] for k, w in rows.items()}
        prev, last_t = st, t
    signal = [{"name": k, "wave": w, **({"data": data[k]} if data[k] else {})}
              for k, w in rows.items()]
    return {"signal": signal,
            "head": {"text": f"forward {norm.upper()} unit, 2 channels of m = {m}, {lanes} lane"
                             f"{'s' if lanes > 1 else ''}: training (gaps: idle cycles)"},
            "config": {"hscale": 1}}


def write(out_dir, **kw):
    """Write ``NAME.json`` and ``NAME.svg`` into ``out_dir``; returns the SVG's path."""
    import wavedrom
    wj = wavejson(**kw)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / f"{NAME}.json", json.dumps(wj, indent=1) + "\n")
    return write_text(out_dir / f"{NAME}.svg", wavedrom.render(json.dumps(wj)).tostring())


if __name__ == "__main__":
    print(write(sys.argv[1] if len(sys.argv) > 1 else "docs"))

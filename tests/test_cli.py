"""The l1bn command: exit codes, one-line errors, nothing written on bad input."""

import json
import subprocess
import sys

import pytest


def _l1bn(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "l1bn", *args], capture_output=True, text=True,
                          cwd=cwd)


@pytest.mark.parametrize("args, message", [
    (["--norm", "l3"], "norm must be one of l1, l2"),
    (["--norm", "l1", "--width", "4", "--frac", "8"], "width (4) must be at least frac (8)"),
    (["--norm", "l1", "--width", "0"], "width must be an integer >= 1"),
    (["--norm", "l2", "--width", "-3"], "width must be an integer >= 1"),
    (["--norm", "l1", "--max-batch", "0"], "max_count must be an integer >= 1"),
    (["--norm", "l1", "--block", "nonesuch"], "block must be one of"),
])
def test_bad_parameters_exit_2_and_write_nothing(tmp_path, args, message):
    out = tmp_path / "out"
    res = _l1bn("generate", *args, "-o", str(out))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], res.stderr
    assert not out.exists()


def test_generate_writes_verilog_and_manifest(tmp_path):
    res = _l1bn("generate", "--block", "stats_accumulator", "--norm", "l1", "--width", "16",
                "--frac", "8", "-o", str(tmp_path))
    assert res.returncode == 0, res.stderr
    name = "stats_accumulator_l1_w16_f8_m65536"
    man = json.loads((tmp_path / f"{name}.json").read_text())
    assert man["name"] == name and man["latency"] == 3
    assert man["parameters"] == {"norm": "l1", "width": 16, "frac": 8, "max_count": 65536}
    assert man["formats"]["sum"]["width"] == 16 + 16 and man["formats"]["sum"]["frac"] == 8
    ports = {p["name"]: p for p in man["ports"]}
    assert ports["x__payload"]["fields"] == [
        {"name": "data", "offset": 0, "width": 16, "signed": True},
        {"name": "last", "offset": 16, "width": 1, "signed": False}]
    assert f"module {name}(" in (tmp_path / f"{name}.v").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{name}.json", f"{name}.v"]


def test_doctor_lists_every_tool():
    from l1bn import toolchain
    res = _l1bn("doctor")
    for tool in toolchain.TOOLS:
        assert tool.name in res.stdout
    assert res.returncode in (0, 1)


def test_max_batch_reaches_the_unit(tmp_path):
    res = _l1bn("generate", "--block", "bn_unit", "--norm", "l1", "--lanes", "4",
                "--max-batch", "1024", "-o", str(tmp_path))
    assert res.returncode == 0, res.stderr
    man = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert man["parameters"]["max_batch"] == 1024 and man["parameters"]["lanes"] == 4

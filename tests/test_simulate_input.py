"""``l1bn simulate`` on bad input and hostile conditions: every case exits 2 with one line on
stderr before anything is generated or simulated, and writes nothing; simulator failures exit 3
and Ctrl-C exits 130, each with one line.

The simulator never runs here: :func:`l1bn.sim.simulate.simulate` is replaced by a function that
fails the test, except where a test says otherwise.
"""

import io
import os
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest

from l1bn.cli import main
from l1bn.sim import runner
from l1bn.sim import simulate as sm

SHAPE = (4, 3)


def _arrays(mode="train"):
    rng = np.random.default_rng(5)
    a = {"x": rng.normal(0, 1, SHAPE), "gamma": np.ones(3), "beta": np.zeros(3)}
    if mode == "infer":
        a.update(running_mean=np.zeros(3), running_sigma=np.ones(3))
    if mode == "backward":
        a = {"x": a["x"], "gamma": a["gamma"], "dy": rng.normal(0, 1, SHAPE)}
    return a


@pytest.fixture
def no_simulation(monkeypatch):
    """No simulator run: reaching :func:`l1bn.sim.simulate.simulate` fails the test."""
    monkeypatch.setattr(runner, "available", lambda simulator: None)
    monkeypatch.setattr(sm, "simulate",
                        lambda *a, **k: pytest.fail("simulated despite bad input"))


def _run(tmp_path, capsys, *extra, mode="train", inp=None, out=None):
    """``l1bn simulate`` with ``in.npz`` (written unless ``inp`` is given) and ``out.npz``."""
    if inp is None:
        inp = tmp_path / "in.npz"
        if not inp.exists():
            np.savez(inp, **_arrays(mode))
    out = tmp_path / "out.npz" if out is None else out
    argv = ["simulate", "--norm", "l1", "--mode", mode, "--input", str(inp),
            "--output", str(out), "--simulator", "icarus", *extra]
    rc = main(argv)
    return rc, capsys.readouterr().err.strip().splitlines()


def _refused(tmp_path, capsys, message, *extra, **kw):
    """The run exits 2 with one line holding ``message`` and changes nothing in ``tmp_path``."""
    if "inp" not in kw and not (tmp_path / "in.npz").exists():
        np.savez(tmp_path / "in.npz", **_arrays(kw.get("mode", "train")))
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    rc, err = _run(tmp_path, capsys, *extra, **kw)
    assert rc == 2, err
    assert len(err) == 1 and message in err[0], err
    assert err[0].startswith("l1bn simulate: error: ")
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    return err[0]


# --- output and build paths ---------------------------------------------------------------------

def test_output_fifo_is_refused_and_kept(tmp_path, capsys, no_simulation):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    _refused(tmp_path, capsys, "--output: ", out=fifo)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.parametrize("case, message", [
    ("directory", "is a directory, not a regular file"),
    ("symlink", "is a symbolic link"),
    ("dangling_symlink", "is a symbolic link"),
    ("empty", "--output: empty path"),
    ("under_file", "is not a directory"),
    ("missing_dir", "does not exist"),
    ("long_name", "name too long"),
    ("same_as_input", "is the input file"),
])
def test_bad_output_paths(tmp_path, capsys, no_simulation, case, message):
    np.savez(tmp_path / "in.npz", **_arrays())
    (tmp_path / "afile").write_text("keep")
    out = {"directory": tmp_path / "adir", "symlink": tmp_path / "link",
           "dangling_symlink": tmp_path / "dangling", "empty": "",
           "under_file": tmp_path / "afile" / "out.npz", "missing_dir": tmp_path / "no" / "o.npz",
           "long_name": tmp_path / ("o" * 250), "same_as_input": tmp_path / "in.npz"}[case]
    (tmp_path / "adir").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "afile")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    _refused(tmp_path, capsys, message, out=out, inp=tmp_path / "in.npz")
    assert (tmp_path / "afile").read_text() == "keep"


def test_read_only_output_directory(tmp_path, capsys, no_simulation, monkeypatch):
    """Simulated with os.access (this suite may run as root, who may write anywhere)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == ro
                        else real(p, mode, **kw))
    _refused(tmp_path, capsys, f"directory {ro} is not writable", out=ro / "out.npz")


@pytest.mark.parametrize("case, message", [
    ("empty", "--build-dir: empty path"),
    ("file", "is a regular file, not a directory"),
    ("under_file", "is not a directory"),
])
def test_bad_build_dir(tmp_path, capsys, no_simulation, case, message):
    (tmp_path / "afile").write_text("")
    build = {"empty": "", "file": tmp_path / "afile", "under_file": tmp_path / "afile" / "b"}
    _refused(tmp_path, capsys, message, "--build-dir", str(build[case]))


# --- input files ---------------------------------------------------------------------------------

def _npz(path, members):
    """An .npz of raw members: name -> bytes (a .npy file's content)."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _npy_bytes(a):
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=True)
    return buf.getvalue()


def _npy_header_only(shape, dtype="<f8"):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False,
                                               "shape": shape})
    return buf.getvalue()


@pytest.mark.parametrize("case, mode, message", [
    ("misspelled", "train", "unknown array 'runing_mean' (mode train takes x, gamma, beta; "
                            "optional running_mean, running_sigma)"),
    ("unused_dy", "train", "unknown array 'dy'"),
    ("unused_running", "backward", "unknown array 'running_mean'"),
    ("missing", "infer", "needs arrays running_mean, running_sigma"),
    ("text", "train", "is not an .npz archive"),
    ("empty_file", "train", "is not an .npz archive"),
    ("npy_renamed", "train", "is a single .npy array, not an .npz archive"),
    ("pickled", "train", "array 'gamma': dtype object is not a numeric type"),
    ("structured", "train", "is not a numeric type"),
    ("strings", "train", "is not a numeric type"),
    ("not_npy_member", "train", "array 'notes.txt': not a .npy array"),
    ("bad_member", "train", "array 'x':"),
    ("huge_header", "train", "truncated"),
    ("too_many", "train", "more than 10 values in all arrays"),
    ("directory", "train", "is not a regular file"),
    ("fifo", "train", "is not a regular file"),
    ("missing_file", "train", "does not exist"),
])
def test_bad_input_files(tmp_path, capsys, no_simulation, case, mode, message):
    inp = tmp_path / "in.npz"
    a = _arrays(mode)
    extra = []
    if case == "misspelled":
        np.savez(inp, runing_mean=np.zeros(3), **a)
    elif case == "unused_dy":
        np.savez(inp, dy=np.zeros((2, 2)), **a)
    elif case == "unused_running":
        np.savez(inp, running_mean=np.zeros(3), **a)
    elif case == "missing":
        np.savez(inp, **_arrays("train"))
    elif case == "text":
        inp.write_text("x,gamma,beta\n1,2,3\n")
    elif case == "empty_file":
        inp.write_bytes(b"")
    elif case == "npy_renamed":
        np.save(inp.with_suffix(".npy"), a["x"])
        inp.with_suffix(".npy").rename(inp)
    elif case == "pickled":
        _npz(inp, {"x.npy": _npy_bytes(a["x"]), "beta.npy": _npy_bytes(a["beta"]),
                   "gamma.npy": _npy_bytes(np.array([{"evil": 1}] * 3, dtype=object))})
    elif case == "structured":
        np.savez(inp, **dict(a, x=np.zeros(4, dtype=[("a", "f8"), ("b", "i4")])))
    elif case == "strings":
        np.savez(inp, **dict(a, beta=np.array(["a", "b", "c"])))
    elif case == "not_npy_member":
        _npz(inp, {**{f"{k}.npy": _npy_bytes(v) for k, v in a.items()}, "notes.txt": b"hi"})
        mode, message = "train", "unknown array 'notes.txt'"
    elif case == "bad_member":
        _npz(inp, {"x.npy": b"not a numpy file", "gamma.npy": _npy_bytes(a["gamma"]),
                   "beta.npy": _npy_bytes(a["beta"])})
    elif case == "huge_header":   # 2**31 values claimed in a few bytes: never allocated
        _npz(inp, {"x.npy": _npy_header_only((1 << 28, 8)),
                   "gamma.npy": _npy_bytes(a["gamma"]), "beta.npy": _npy_bytes(a["beta"])})
        extra = ["--max-elements", str(1 << 32)]
    elif case == "too_many":
        np.savez(inp, **a)
        extra = ["--max-elements", "10"]
    elif case == "directory":
        inp = tmp_path / "indir"
        inp.mkdir()
    elif case == "fifo":
        os.mkfifo(inp)
    before = sorted(p.name for p in tmp_path.iterdir())
    rc, err = _run(tmp_path, capsys, *extra, mode=mode, inp=inp if case != "missing_file"
                   else tmp_path / "nope.npz")
    assert rc == 2, err
    assert len(err) == 1 and message in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_unused_array_is_never_loaded(tmp_path, monkeypatch):
    """An unknown member is refused from the zip's directory: its data is never read."""
    inp = _npz(tmp_path / "in.npz", {**{f"{k}.npy": _npy_bytes(v) for k, v in _arrays().items()},
                                     "huge.npy": _npy_header_only((1 << 31,))})
    monkeypatch.setattr(np, "load", lambda *a, **k: pytest.fail("loaded"))
    with pytest.raises(sm.InputError, match="unknown array 'huge'"):
        sm.load_inputs(inp, "train")


def test_max_elements_default_and_limit(tmp_path):
    inp = tmp_path / "in.npz"
    np.savez(inp, **_arrays())
    assert sm.MAX_ELEMENTS == 1 << 24
    assert set(sm.load_inputs(inp, "train", max_elements=18)) == {"x", "gamma", "beta"}
    with pytest.raises(sm.InputError, match="more than 17 values"):
        sm.load_inputs(inp, "train", max_elements=17)


def test_api_refuses_unknown_arrays(monkeypatch):
    monkeypatch.setattr(runner, "available", lambda simulator: None)
    with pytest.raises(sm.InputError, match="unknown array 'runing_mean'"):
        sm.simulate("l1", "train", dict(_arrays(), runing_mean=np.zeros(3)))


# --- eps, alpha, guard ---------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--eps", "-0.5"], "eps must be a finite real number >= 0"),
    (["--eps", "inf"], "argument --eps: expected a finite number"),
    (["--eps", "1e6"], "eps must fit the statistics format"),
    (["--alpha", "1.5"], "alpha must be a finite real number in [0, 1]"),
    (["--alpha", "-0.1"], "alpha must be a finite real number in [0, 1]"),
    (["--guard", "33"], "guard must be an integer in [3, 32]"),
    (["--guard", "2"], "guard must be an integer in [3, 32]"),
    (["--guard", "-1"], "argument --guard: expected an integer in [0, "),
    (["--width", "64", "--guard", "32"], "too large for l1bn simulate"),
    (["--lanes", "65"], "lanes must be an integer in [1, 64]"),
    (["--max-elements", "0"], "argument --max-elements"),
])
def test_bad_unit_parameters(tmp_path, capsys, no_simulation, args, message):
    _refused(tmp_path, capsys, message, *args)


def test_api_takes_eps_alpha_guard(monkeypatch):
    monkeypatch.setattr(runner, "available", lambda simulator: None)
    with pytest.raises(sm.InputError, match="alpha must be"):
        sm.simulate("l1", "train", _arrays(), alpha=2.0)
    with pytest.raises(sm.InputError, match="eps must"):
        sm.simulate("l1", "train", _arrays(), eps=float("nan"))
    with pytest.raises(sm.InputError, match="guard must"):
        sm.simulate("l1", "train", _arrays(), guard=99)
    cfg = sm.config("l1", eps=1e-3, alpha=0.5, guard=4)
    assert (cfg.eps, cfg.alpha, cfg.guard) == (1e-3, 0.5, 4)


# --- failures of the simulator, Ctrl-C ----------------------------------------------------------

def test_simulator_failure_exits_3_with_log(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(runner, "available", lambda simulator: None)
    log = tmp_path / "build" / "run-x" / "sim.log"

    def failed(*a, **k):
        raise runner.SimulationFailed(f"icarus failed and wrote no results; see {log}", log=log)
    monkeypatch.setattr(sm, "simulate", failed)
    rc, err = _run(tmp_path, capsys)
    assert rc == 3 and len(err) == 1
    assert "icarus failed" in err[0] and str(log) in err[0]
    assert not (tmp_path / "out.npz").exists()


def test_missing_simulator_exits_3(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(runner, "available", lambda simulator: "iverilog missing")
    rc, err = _run(tmp_path, capsys)
    assert rc == 3 and len(err) == 1 and "iverilog missing" in err[0]


def test_ctrl_c_leaves_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(runner, "available", lambda simulator: None)
    import l1bn.hdl.generate

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(l1bn.hdl.generate, "generate", interrupted)
    build = tmp_path / "build"
    rc, err = _run(tmp_path, capsys, "--build-dir", str(build))
    assert rc == 130 and err == ["l1bn simulate: interrupted"]
    assert not (tmp_path / "out.npz").exists()
    assert not build.exists() or not any(build.rglob("run-*"))

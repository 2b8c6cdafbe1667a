"""``l1bn simulate`` and :func:`l1bn.sim.simulate.simulate`: the BN unit RTL on a user's own arrays.

Arrays the unit tests did not see (NCHW, C = 3, H = W = 5, N = 7: m = 175, not a multiple of 4),
run through ONE cocotb simulation per call, compared with the golden model (mismatches == 0) and
with the float64 reference of golden/reference.py on the same quantized inputs. Bad input exits
2 with one line and writes nothing; a forced disagreement exits 1 and says where.
"""

import subprocess
import sys

import numpy as np
import pytest

from l1bn.golden import bn_unit as gold
from l1bn.golden import fixed, reference
from l1bn.cli import main
from l1bn.sim import runner
from l1bn.sim.simulate import InputError, simulate
from .tools import requires

SHAPE = (7, 3, 5, 5)          # N, C, H, W: m = 175 per channel


def _arrays(seed=11, mode="train"):
    rng = np.random.default_rng(seed)
    a = {"x": rng.normal(0.25, 1.5, SHAPE) + np.arange(3)[None, :, None, None] * 0.5,
         "gamma": np.array([1.0, -0.75, 1.5]), "beta": np.array([0.125, 0.0, -0.5])}
    if mode == "infer":
        a["running_mean"] = np.array([0.25, 0.75, 1.25])
        a["running_sigma"] = np.array([1.25, 0.875, 1.5])
    if mode == "backward":
        a["dy"] = rng.normal(0.0, 0.5, SHAPE)
    return a


@pytest.fixture(scope="session")
def sim_root(tmp_path_factory):
    """Build directories private to this pytest process: runs of the suite that overlap (two
    sessions on one machine) must not share cocotb's per-testcase files."""
    return tmp_path_factory.mktemp("simulate")


def _q(v, fmt):
    return fixed.dequantize(fixed.quantize(v, fmt)[0], fmt)


def _check_forward_against_reference(norm, mode, arrays, res, cfg):
    """The RTL's floats are within the model's documented bounds of the float64 reference."""
    eps = cfg.eps_q * 2.0 ** -cfg.stat.frac
    x = _q(arrays["x"], cfg.data)
    gamma, beta = _q(arrays["gamma"], cfg.data), _q(arrays["beta"], cfg.data)
    lsb, slsb = 2.0 ** -cfg.frac, 2.0 ** -cfg.stat.frac
    if mode == "train":
        y, st = reference.forward_train(x, gamma, beta, norm, eps)
        assert np.max(np.abs(res["y"] - y)) <= 2 * lsb
        assert np.max(np.abs(res["batch_mean"] - st.mean)) <= 0.5 * slsb
        assert np.max(np.abs(res["batch_sigma"] - st.sigma)) <= 1 * slsb
        rm, rs = reference.update_running(np.zeros(3), np.ones(3), st.mean, st.sigma,
                                          cfg.alpha_q * 2.0 ** -16)
        assert np.max(np.abs(res["running_mean"] - rm)) <= 1 * slsb
        assert np.max(np.abs(res["running_sigma"] - rs)) <= 1.5 * slsb
    else:
        rm = _q(arrays["running_mean"], cfg.stat)
        rs = _q(arrays["running_sigma"], cfg.stat)
        y = reference.forward_infer(x, gamma, beta, rm, rs, norm, eps)
        assert np.max(np.abs(res["y"] - y)) <= 1 * lsb


@pytest.mark.sim
@pytest.mark.parametrize("lanes", [1, 4])
@pytest.mark.parametrize("simulator", runner.SIMULATORS)
def test_user_arrays_match_golden_and_reference(sim_root, simulator, lanes):
    requires(simulator)
    for norm in ("l1", "l2"):
        cfg = gold.UnitConfig(norm=norm, stats="two-pass", width=16, frac=8)
        for mode in ("train", "infer"):
            arrays = _arrays(mode=mode)
            res = simulate(norm, mode, arrays, simulator=simulator, lanes=lanes,
                           build_dir=sim_root / "api")
            assert res["mismatches"] == 0, res["mismatch_list"][:5]
            assert res["saturated_total"] == 0
            assert res["y"].shape == SHAPE and res["y_codes"].dtype.kind == "i"
            np.testing.assert_array_equal(res["y_codes"], res["golden_y"])
            # cycles: the documented schedule of one sequence of C = 3 channels.
            from l1bn.hdl.bn_unit import sequence_cycles
            p = dict(norm=norm, stats="two-pass", width=16, guard=8, lanes=lanes)
            assert res["cycles"] == sequence_cycles(3, 175, mode, **p)["total"]
            _check_forward_against_reference(norm, mode, arrays, res, cfg)


@pytest.mark.sim
def test_one_pass_and_nc_layout(sim_root):
    """l2 one-pass statistics on an (N, C) array whose m is odd; saturation is counted."""
    requires("icarus")
    rng = np.random.default_rng(3)
    arrays = {"x": rng.normal(0, 1, (13, 2)), "gamma": np.array([0.5, 1.0]),
              "beta": np.array([0.0, 200.0])}           # 200 saturates Q16.8 (max ~128)
    res = simulate("l2", "train", arrays, stats="one-pass", simulator="icarus", lanes=4,
                   build_dir=sim_root / "onepass")
    assert res["mismatches"] == 0
    assert res["y"].shape == (13, 2) and res["batch_mean"].shape == (2,)
    assert res["saturated"]["input_beta"] == 1 and res["saturated_total"] >= 1


@pytest.mark.sim
@pytest.mark.parametrize("norm", ["l1", "l2"])
@pytest.mark.parametrize("simulator", runner.SIMULATORS)
def test_backward_matches_golden(sim_root, simulator, norm):
    """NCHW N=7, C=3, 5x5 at P = 4 on the backward unit: zero mismatches, the schedule's
    cycles, dx within 4 LSB of the float64 reference and dbeta exact."""
    requires(simulator)
    arrays = _arrays(mode="backward")
    res = simulate(norm, "backward", arrays, simulator=simulator, lanes=4,
                   build_dir=sim_root / "backward")
    assert res["mismatches"] == 0, res["mismatch_list"][:5]
    assert res["dx"].shape == SHAPE and res["dgamma"].shape == (3,)
    from l1bn.hdl.bn_backward import sequence_cycles
    assert res["cycles"] == sequence_cycles(3, 175, norm=norm, lanes=4)["total"]
    cfg = gold.UnitConfig(norm=norm, stats="two-pass", width=16, frac=8)
    eps = cfg.eps_q * 2.0 ** -cfg.stat.frac
    x, dy = _q(arrays["x"], cfg.data), _q(arrays["dy"], cfg.data)
    gamma = _q(arrays["gamma"], cfg.data)
    dx, dgamma, dbeta = reference.backward(dy, x, gamma, norm, eps)
    assert np.max(np.abs(res["dx"] - dx)) <= 4 * 2.0 ** -cfg.frac
    assert np.max(np.abs(res["dgamma"] - dgamma)) <= 2.0 ** -cfg.frac
    np.testing.assert_allclose(res["dbeta"], dbeta, atol=1e-12)


@pytest.mark.sim
def test_cli_writes_out_npz(tmp_path, sim_root):
    requires("verilator")
    inp, out = tmp_path / "in.npz", tmp_path / "out.npz"
    np.savez(inp, **_arrays(mode="infer"))
    res = subprocess.run([sys.executable, "-m", "l1bn", "simulate", "--norm", "l1", "--mode",
                          "infer", "--input", str(inp), "--output", str(out), "--lanes", "4",
                          "--build-dir", str(sim_root / "cli")],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "0 mismatches" in res.stdout
    with np.load(out, allow_pickle=False) as f:
        d = {k: f[k] for k in f.files}
    assert int(d["mismatches"]) == 0 and int(d["cycles"]) > 0 and int(d["saturated"]) == 0
    for k in ("y", "y_codes", "golden_y"):
        assert d[k].shape == SHAPE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npz", "out.npz"]


@pytest.mark.sim
def test_mismatch_exits_1_and_says_where(tmp_path, sim_root, monkeypatch, capsys):
    requires("icarus")
    real = gold.run

    def wrong(cfg, mode, **arrays):
        r = real(cfg, mode, **arrays)
        r["y_codes"] = r["y_codes"].copy()
        r["y_codes"][2, 1, 0, 3] += 1          # channel 1, flat index 2*25 + 3 = 53
        return r

    monkeypatch.setattr(gold, "run", wrong)
    inp, out = tmp_path / "in.npz", tmp_path / "out.npz"
    np.savez(inp, **_arrays())
    rc = main(["simulate", "--norm", "l1", "--mode", "train", "--input", str(inp), "--output",
               str(out), "--simulator", "icarus",
               "--build-dir", str(sim_root / "mismatch")])
    text = capsys.readouterr().out
    assert rc == 1
    assert "1 mismatches" in text
    assert "y: channel 1 index 53" in text and "golden" in text
    with np.load(out, allow_pickle=False) as f:
        assert int(f["mismatches"]) == 1


def _bad(tmp_path, capsys, arrays, *extra, mode="train", raw=None):
    inp, out = tmp_path / "in.npz", tmp_path / "out.npz"
    if raw is not None:
        inp.write_bytes(raw)
    else:
        np.savez(inp, **arrays)
    rc = main(["simulate", "--norm", "l1", "--mode", mode, "--input", str(inp), "--output",
               str(out), "--simulator", "icarus", *extra])
    err = capsys.readouterr().err
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npz"]
    return lines[0]


def _without(a, key):
    return {k: v for k, v in a.items() if k != key}


@pytest.mark.parametrize("case, message", [
    ("missing_gamma", "needs array gamma"),
    ("missing_running", "needs arrays running_mean, running_sigma"),
    ("wrong_shape_beta", "beta must have shape (3,)"),
    ("wrong_ndim_x", "x must be (N, C) or (N, C, H, W)"),
    ("nan", "x holds non-finite values"),
    ("inf_gamma", "gamma holds non-finite values"),
    ("m_too_large", "exceeds max_batch = 100"),
    ("no_channels", "C = 0"),
    ("unreadable", "is not an .npz archive"),
    ("negative_sigma", "running_sigma must be >= 0"),
])
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, monkeypatch, case, message):
    monkeypatch.setattr(runner, "available", lambda simulator: None)
    a = _arrays()
    extra, mode, raw = [], "train", None
    if case == "missing_gamma":
        a = _without(a, "gamma")
    elif case == "missing_running":
        mode = "infer"
    elif case == "wrong_shape_beta":
        a["beta"] = np.zeros(2)
    elif case == "wrong_ndim_x":
        a["x"] = a["x"][0]
    elif case == "nan":
        a["x"][1, 2, 3, 4] = np.nan
    elif case == "inf_gamma":
        a["gamma"][0] = np.inf
    elif case == "m_too_large":
        extra = ["--max-batch", "100"]
    elif case == "no_channels":
        a = {"x": np.zeros((4, 0)), "gamma": np.zeros(0), "beta": np.zeros(0)}
    elif case == "unreadable":
        raw = b"this is not an npz file"
    elif case == "negative_sigma":
        mode = "infer"
        a = _arrays(mode="infer")
        a["running_sigma"][1] = -1.0
    line = _bad(tmp_path, capsys, a, *extra, mode=mode, raw=raw)
    assert message in line, line
    assert line.startswith("l1bn simulate: error: ")


def test_missing_input_file(tmp_path, capsys):
    out = tmp_path / "out.npz"
    rc = main(["simulate", "--norm", "l1", "--mode", "train", "--input",
               str(tmp_path / "nope.npz"), "--output", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--input: " in err[0] and "does not exist" in err[0]
    assert list(tmp_path.iterdir()) == []


def test_api_raises_input_error(monkeypatch):
    monkeypatch.setattr(runner, "available", lambda simulator: None)
    with pytest.raises(InputError, match="mode must be one of"):
        simulate("l1", "sideways", _arrays())
    with pytest.raises(InputError, match="norm must be one of"):
        simulate("l3", "train", _arrays())
    with pytest.raises(InputError, match="one-pass"):
        simulate("l1", "train", _arrays(), stats="one-pass")
    with pytest.raises(InputError, match="lanes"):
        simulate("l1", "train", _arrays(), lanes=0)


@pytest.mark.sim
def test_eps_alpha_guard_reach_rtl_and_golden(sim_root):
    """Non-default eps, alpha and guard: the RTL equals the golden model of the same values,
    and the result records each value asked for, its code and the value in effect."""
    requires("icarus")
    arrays = _arrays()
    res = simulate("l1", "train", arrays, simulator="icarus", lanes=4, eps=1e-3, alpha=0.75,
                   guard=6, build_dir=sim_root / "numerics")
    assert res["mismatches"] == 0, res["mismatch_list"][:5]
    cfg = gold.UnitConfig(norm="l1", stats="two-pass", width=16, frac=8, eps=1e-3, alpha=0.75,
                          guard=6)
    g = gold.run(cfg, "train", **{k: np.asarray(v, float) for k, v in arrays.items()})
    np.testing.assert_array_equal(res["golden_running_mean"], g["running_mean_codes"])
    n = res["numerics"]
    assert n["eps"] == {"asked": 1e-3, "code": cfg.eps_q, "value": cfg.eps_q * 2.0 ** -14,
                        "format": cfg.stat.name}
    assert n["alpha"]["asked"] == 0.75 and n["alpha"]["code"] == cfg.alpha_q
    assert n["guard"]["value"] == 6
    assert "eps0p001" in res["design"] and "guard6" in res["design"]


@pytest.mark.sim
def test_damaged_build_is_rebuilt(tmp_path):
    """A truncated sim.vvp in a reused build directory no longer matches the build's stamp:
    it is rebuilt, and the run is correct."""
    requires("icarus")
    build = tmp_path / "build"
    first = simulate("l1", "infer", _arrays(mode="infer"), simulator="icarus", build_dir=build)
    vvp = next(build.rglob("sim.vvp"))
    vvp.write_bytes(vvp.read_bytes()[:100])
    again = simulate("l1", "infer", _arrays(mode="infer"), simulator="icarus", build_dir=build)
    assert again["mismatches"] == 0
    np.testing.assert_array_equal(again["y_codes"], first["y_codes"])
    assert vvp.stat().st_size > 100
    assert not list(build.rglob("run-*"))     # each run's own directory is gone


@pytest.mark.sim
def test_two_processes_share_a_build_dir(tmp_path):
    """Two ``l1bn simulate`` processes on different data and one fresh build directory: both
    exit 0 with their own data's results (each run has its own directory; the build is
    made once, under the lock)."""
    requires("icarus")
    build = tmp_path / "build"
    procs, expected = [], []
    for seed in (1, 2):
        arrays = _arrays(seed=seed, mode="infer")
        inp, out = tmp_path / f"in{seed}.npz", tmp_path / f"out{seed}.npz"
        np.savez(inp, **arrays)
        cfg = gold.UnitConfig(norm="l1", stats="two-pass", width=16, frac=8)
        expected.append((out, gold.run(cfg, "infer", **arrays)["y_codes"]))
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "l1bn", "simulate", "--norm", "l1", "--mode", "infer",
             "--input", str(inp), "--output", str(out), "--simulator", "icarus",
             "--build-dir", str(build)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True))
    for p in procs:
        _out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    for out, y_codes in expected:
        with np.load(out, allow_pickle=False) as f:
            assert int(f["mismatches"]) == 0
            np.testing.assert_array_equal(f["y_codes"], y_codes)
    assert not list(build.rglob("run-*"))

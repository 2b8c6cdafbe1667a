"""The experiments package: gradients, fixed-point agreement, data, command line (pure NumPy).

Every random draw comes from a fixed seed named in the test's parameters; assertion messages
repeat it.
"""

import subprocess
import sys

import numpy as np
import pytest

from l1bn.experiments import bn_layers, data, network, train
from l1bn.golden import reference

#: Central differences with step H on a float64 loss of ~1: truncation ~H**2, rounding
#: ~1e-16/H, so the analytic gradient must agree to REL_FD norm-wise per parameter array.
H = 1e-6
REL_FD = 1e-6


def _rel(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def _tiny(variant, seed):
    """A 5-4-3-3 network with random gamma/beta, a batch of 8 and its labels."""
    net = network.Network(5, 3, (4, 3), lambda c: bn_layers.make(variant, c), seed)
    rng = np.random.default_rng(seed + 1000)
    for bn in net.bn_layers:
        bn.gamma[:] = rng.uniform(0.5, 1.5, bn.gamma.size)
        bn.beta[:] = rng.normal(0.0, 0.3, bn.beta.size)
    return net, rng.normal(size=(8, 5)), rng.integers(0, 3, 8)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("variant", ["float-l2", "float-l1"])
def test_network_backward_matches_finite_differences(variant, seed):
    net, x, labels = _tiny(variant, seed)

    def loss(inp):
        return network.cross_entropy(net.forward(inp, train=True), labels)[0]

    dlogits = network.cross_entropy(net.forward(x, train=True), labels)[1]
    dx = net.backward(dlogits)
    analytic = {name: g.copy() for name, _, g in net.parameters()}
    checked = []
    for name, p, _ in net.parameters():
        num = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            old = p[i]
            p[i] = old + H
            up = loss(x)
            p[i] = old - H
            down = loss(x)
            p[i] = old
            num[i] = (up - down) / (2 * H)
        err = _rel(analytic[name], num)
        assert err < REL_FD, f"{variant} seed {seed}: d loss / d {name}: relative error {err:.2e}"
        checked.append(name)
    num = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = H
        num[i] = (loss(x + e) - loss(x - e)) / (2 * H)
    err = _rel(dx, num)
    assert err < REL_FD, f"{variant} seed {seed}: d loss / d input: relative error {err:.2e}"
    # Every parameter was checked: 3 weights, bias, 2 x (gamma, beta).
    assert len(checked) == 8, checked


#: Fixed point (Q16.8, grad_scale 256) against the float64 reference on the SAME layer inputs
#: taken from a network step on the digits: norm-wise relative error of dx, dgamma, dbeta.
#: Measured worst: l2 2.4e-3, l1 1.9e-2 (l1's dx jumps where sgn(x - mu) of the unit, with
#: its rounded mu, differs from the exact one). Layer by layer on purpose: whole-network
#: gradients of a fixed and a float network differ by up to ~20 %, because their forward passes
#: differ (the y rounding alone, as +-1/2 LSB noise on a float network, moves them 1-6 %).
REL_FIXED = {"l2": 1e-2, "l1": 5e-2}


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("norm", ["l2", "l1"])
def test_fixed_point_gradients_agree_with_float(norm, seed):
    dataset = data.load()
    cfg = train.TrainConfig()
    net = train.build(f"fixed-{norm}", seed, cfg)
    idx = np.random.default_rng(100 + seed).choice(len(dataset.x_train), cfg.batch, replace=False)
    logits = net.forward(dataset.x_train[idx], train=True)
    net.backward(network.cross_entropy(logits, dataset.y_train[idx])[1])
    for i, bn in enumerate(net.bn_layers, start=1):
        x, dy = bn.last_input, bn.last_output_grad
        y, _ = reference.forward_train(x, bn.gamma, bn.beta, norm, bn.eps)
        dx, dgamma, dbeta = reference.backward(dy, x, bn.gamma, norm, bn.eps)
        # The forward output: within 2 LSB of Q16.8 (l1bn.golden.bn_unit's stated bound) here.
        assert np.max(np.abs(bn.last_output - y)) <= 2 * 2.0 ** -8, f"{norm} seed {seed} BN {i}"
        for name, fixed_value, ref in (("dx", bn.last_input_grad, dx),
                                       ("dgamma", bn.dgamma, dgamma), ("dbeta", bn.dbeta, dbeta)):
            err = _rel(fixed_value, ref)
            assert err < REL_FIXED[norm], \
                f"{norm} seed {seed} BN {i}: {name} relative error {err:.2e}"
        assert not any(bn.saturation.values()), f"{norm} seed {seed}: {bn.saturation}"


def test_fixed_layer_rejects_a_scale_that_is_not_a_power_of_two():
    with pytest.raises(ValueError, match="power of two"):
        bn_layers.make("fixed-l1", 4, grad_scale=300)
    with pytest.raises(ValueError, match="variant must be one of"):
        bn_layers.make("fixed-l3", 4)


def test_data_shapes_standardization_and_seed():
    a, b, c = data.load(split_seed=0), data.load(split_seed=0), data.load(split_seed=1)
    assert a.x_train.shape == (1438, 64) and a.x_test.shape == (359, 64)
    assert a.y_train.shape == (1438,) and a.y_test.shape == (359,)
    assert set(np.unique(a.y_train)) == set(range(10))
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.y_train, c.y_train), "split_seed 1 gave split_seed 0's split"
    assert np.allclose(a.x_train.mean(axis=0), 0.0, atol=1e-12)
    std = a.x_train.std(axis=0)
    assert np.allclose(std[std > 0], 1.0)


def test_real_activations_are_fixed_and_checked():
    from l1bn.experiments.activations import captured
    a, b = captured.__wrapped__(rows=32, channels=2), captured.__wrapped__(rows=32, channels=2)
    assert a["x"].shape == a["dy"].shape == (2 * 3 * 2, 32)
    assert np.array_equal(a["x"], b["x"]) and np.array_equal(a["dy"], b["dy"])
    assert np.sqrt(np.mean(a["dy"] ** 2)) == pytest.approx(0.5)
    assert np.all(np.ptp(a["x"], axis=1) > 0)
    for bad in ({"rows": 0}, {"rows": 1439}, {"channels": 33}):
        with pytest.raises(ValueError, match="rows must be in 1..1438 and channels in 1..32"):
            captured.__wrapped__(**bad)


def test_training_is_deterministic_and_learns():
    dataset = data.load()
    cfg = train.TrainConfig(epochs=2)
    r1, _ = train.train_one("float-l1", 3, cfg, dataset)
    r2, _ = train.train_one("float-l1", 3, cfg, dataset)
    assert r1["train_loss"] == r2["train_loss"] and r1["test_error"] == r2["test_error"]
    assert r1["train_loss"][1] < r1["train_loss"][0] < 2.3  # below chance level ln(10)
    assert r1["final_test_error"] < 0.2, "seed 3"


@pytest.mark.parametrize("args, message", [
    (["all", "--seeds", "0"], "--seeds: expected an integer in [1, 10000], got 0"),
    (["train", "--epochs", "x"], "--epochs: expected an integer, got 'x'"),
    (["bogus"], "invalid choice: 'bogus'"),
    (["all", "--width", "4"], "frac must be an integer in [0, 3], got 8"),
])
def test_cli_bad_arguments_exit_2_and_write_nothing(tmp_path, args, message):
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, "-m", "l1bn", "experiment", *args, "-o", str(out)],
                         capture_output=True, text=True)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], res.stderr
    assert not out.exists()


def test_cli_output_that_is_a_file_is_an_error(tmp_path):
    target = tmp_path / "file"
    target.write_text("keep")
    res = subprocess.run([sys.executable, "-m", "l1bn", "experiment", "theorem1", "-o",
                          str(target)], capture_output=True, text=True)
    assert res.returncode == 2 and "is a regular file, not a directory" in res.stderr, res.stderr
    assert target.read_text() == "keep"


def test_cli_unreadable_results_file_is_an_error(tmp_path):
    (tmp_path / "experiments.json").write_text("{not json")
    res = subprocess.run([sys.executable, "-m", "l1bn", "experiment", "theorem1", "-o",
                          str(tmp_path)], capture_output=True, text=True)
    assert res.returncode == 2 and "cannot read" in res.stderr, res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["experiments.json"]


def test_stages_write_report_json_and_figures(tmp_path):
    """theorem1 through the command (1 epoch), then a float-only training stage merged in."""
    import json

    from l1bn.experiments import plots, report

    res = subprocess.run([sys.executable, "-m", "l1bn", "experiment", "theorem1", "--epochs",
                          "1", "-o", str(tmp_path)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    cfg = train.TrainConfig(epochs=1)
    results, _ = train.run(cfg, [0, 1], jobs=1, variants=("float-l2", "float-l1"))
    summary = train.summarize(results)
    plots.training_curves(summary, tmp_path)
    report.update(tmp_path, train={"config": cfg.as_dict(), "seeds": [0, 1], "summary": summary,
                                   "paired": train.paired(summary), "runs": results})
    data_ = json.loads((tmp_path / "experiments.json").read_text())
    assert set(data_) >= {"theorem1", "train", "timing", "environment"}
    t1 = data_["theorem1"]
    assert [p["epoch"] for p in t1["checkpoints"]] == [0, 1]
    for layer in t1["checkpoints"][-1]["layers"]:
        assert layer["channels"] == 32 and 1.0 < layer["ratio_summary"]["mean"] < 1.6
    errs = [r["final_test_error"] * 100 for r in results if r["variant"] == "float-l1"]
    assert data_["train"]["summary"]["float-l1"]["test_error_mean_pct"] == pytest.approx(
        np.mean(errs))
    assert list(data_["train"]["paired"]) == ["float-l1 - float-l2"]
    md = (tmp_path / "experiments.md").read_text()
    assert "## Theorem 1" in md and "## Training equivalence" in md and "| float-l1 |" in md
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["experiments.json", "experiments.md", "theorem1.png", "theorem1.svg",
                     "training_curves.png", "training_curves.svg"], names

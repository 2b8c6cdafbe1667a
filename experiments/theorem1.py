"""Theorem 1 on a trained network: sigma_L2 / sigma_L1 of each BN layer's inputs (paper Fig. 3).

For Gaussian data sigma_L2 / sigma_L1 = sqrt(pi/2) ~ 1.2533 (Theorem 1). The network is trained
with float L2BN (:mod:`l1bn.experiments.train`); at a few checkpoints (before training, after the
first epoch, half-way, at the end) a copy of it runs, in training mode, over every minibatch
of one pass through the training set (fixed order, m = batch rows each) and, for every BN
layer and channel, the minibatch's sigma_L2 (sqrt of the biased variance, eps = 0) and
sigma_L1 (mean absolute deviation) of the layer's INPUT are taken from
:func:`l1bn.golden.reference.forward_train`. A channel's ratio is the mean over the minibatches of
the per-minibatch ratio (the paper averages over 100 minibatches).

For finite m the expected ratio of Gaussian samples is below sqrt(pi/2);
:func:`gaussian_reference` gives it for the run's m by Monte Carlo, so the measured ratios have
a like-for-like reference.
"""

from __future__ import annotations

import copy
import math

import numpy as np

from l1bn.golden import reference

from .train import train_one

__all__ = ["SQRT_PI_2", "sigmas", "gaussian_reference", "checkpoints", "run"]

SQRT_PI_2 = math.sqrt(math.pi / 2)


def sigmas(x):
    """Per-channel (sigma_L2, sigma_L1) of ``x`` (m, C), both without eps."""
    ones, zeros = np.ones(x.shape[1]), np.zeros(x.shape[1])
    return tuple(reference.forward_train(x, ones, zeros, norm, 0.0)[1].sigma
                 for norm in ("l2", "l1"))


def gaussian_reference(m, trials=20000, seed=1):
    """Mean and std of sigma_L2 / sigma_L1 over ``trials`` samples of m standard normals."""
    l2, l1 = sigmas(np.random.default_rng(seed).standard_normal((m, trials)))
    ratio = l2 / l1
    return {"m": int(m), "trials": int(trials), "seed": int(seed), "mean": float(ratio.mean()),
            "std": float(ratio.std())}


def checkpoints(epochs):
    """Epochs at which the ratios are measured: 0, 1, epochs // 2 and epochs (distinct)."""
    return sorted({0, 1, max(1, epochs // 2), epochs})


def _measure(net, dataset, batch):
    """Per BN layer: per-minibatch, per-channel sigma_L2 and sigma_L1 arrays (B, C)."""
    probe = copy.deepcopy(net)
    n = len(dataset.x_train) // batch
    per_layer = [{"l2": [], "l1": []} for _ in probe.bn_layers]
    for b in range(n):
        probe.forward(dataset.x_train[b * batch:(b + 1) * batch], train=True)
        for acc, bn in zip(per_layer, probe.bn_layers):
            l2, l1 = sigmas(bn.last_input)
            acc["l2"].append(l2)
            acc["l1"].append(l1)
    return [{k: np.array(v) for k, v in acc.items()} for acc in per_layer]


def _summary(values):
    v = np.asarray(values)
    return {"mean": float(v.mean()), "std": float(v.std()), "median": float(np.median(v)),
            "min": float(v.min()), "max": float(v.max())}


def run(config, dataset, seed=0):
    """Train float L2BN with ``seed`` and measure the ratios at :func:`checkpoints`.

    Returns
    -------
    dict
        ``config``, ``seed``, ``sqrt_pi_2``, ``gaussian`` (:func:`gaussian_reference` at m =
        batch), ``minibatches``, ``checkpoints``: list of ``{"epoch", "layers": [{"layer",
        "channels", "ratio": per-channel mean ratio, "ratio_summary", "sigma_l2", "sigma_l1":
        per-channel means}]}``, ``final_sigmas``: per layer, every minibatch's per-channel
        sigma_l2 and sigma_l1 at the last checkpoint (for the histograms), and ``test_error``.
    """
    wanted = set(checkpoints(config.epochs))
    points = []
    last = {}

    def on_epoch(epoch, net):
        if epoch not in wanted:
            return
        layers = []
        for i, s in enumerate(_measure(net, dataset, config.batch)):
            ratio = (s["l2"] / s["l1"]).mean(axis=0)
            layers.append({"layer": i + 1, "channels": int(ratio.size), "ratio": ratio.tolist(),
                           "ratio_summary": _summary(ratio),
                           "sigma_l2": s["l2"].mean(axis=0).tolist(),
                           "sigma_l1": s["l1"].mean(axis=0).tolist()})
            last[i + 1] = {"sigma_l2": s["l2"].ravel().tolist(),
                           "sigma_l1": s["l1"].ravel().tolist()}
        points.append({"epoch": epoch, "layers": layers})

    result, _ = train_one("float-l2", seed, config, dataset, on_epoch=on_epoch)
    return {"config": config.as_dict(), "seed": int(seed), "sqrt_pi_2": SQRT_PI_2,
            "gaussian": gaussian_reference(config.batch),
            "minibatches": len(dataset.x_train) // config.batch, "checkpoints": points,
            "final_sigmas": [{"layer": k, **v} for k, v in sorted(last.items())],
            "test_error": result["final_test_error"]}

"""Training runs: one network per (BN variant, seed); test error and loss curves (Table II, Fig. 1).

Every run trains the same architecture on the same split (:mod:`l1bn.experiments.data`); the seed
sets the weight initialization and the order of the minibatches. Minibatches have exactly
``batch`` rows (the last partial one of an epoch is dropped, so every BN layer always sees
m = ``batch``). The learning rate follows a cosine from ``lr`` to 0 over the run. Runs are
deterministic: the same (variant, seed, config) gives the same numbers on every call.
"""

from __future__ import annotations

import functools
import math
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np

from . import bn_layers, data
from .network import SGD, Network, cross_entropy

__all__ = ["TrainConfig", "PAIRS", "build", "train_one", "run", "summarize", "paired"]


#: (a, b) pairs compared seed by seed in :func:`paired`: fixed point against float, L1 against L2.
PAIRS = (("fixed-l1", "float-l1"), ("fixed-l2", "float-l2"), ("float-l1", "float-l2"),
         ("fixed-l1", "fixed-l2"))


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters shared by every run.

    Attributes
    ----------
    hidden : tuple of int
        Hidden-layer widths (one BN layer each).
    batch : int
        Minibatch rows (the BN's m).
    epochs : int
    lr : float
        Peak learning rate of the cosine schedule.
    momentum : float
    width, frac : int
        Data format Q(width, frac) of the fixed-point BN units.
    eps, alpha : float
        eps and running-statistics weight of every BN layer (float and fixed point).
    guard : int
        Guard bits of the fixed-point units' statistics.
    grad_scale : int
        Loss scale of the fixed-point BN backward (:mod:`l1bn.experiments.bn_layers`).
    split_seed : int
        Seed of the train/test split.
    """

    hidden: tuple = (32, 32, 32)
    batch: int = 64
    epochs: int = 20
    lr: float = 0.05
    momentum: float = 0.9
    width: int = 16
    frac: int = 8
    eps: float = 1e-5
    alpha: float = 0.9
    guard: int = 8
    grad_scale: int = 256
    split_seed: int = 0

    def make_bn(self, variant):
        """``make_bn(channels)`` for :class:`~l1bn.experiments.network.Network`."""
        return lambda channels: bn_layers.make(variant, channels, width=self.width,
                                               frac=self.frac, grad_scale=self.grad_scale,
                                               alpha=self.alpha, eps=self.eps,
                                               guard=self.guard)

    def as_dict(self):
        return {**asdict(self), "hidden": list(self.hidden)}


def build(variant, seed, config):
    """The untrained network of ``variant`` with weights from ``seed``."""
    return Network(data.N_FEATURES, data.N_CLASSES, config.hidden, config.make_bn(variant), seed)


def _error(net, x, y):
    return float(np.mean(np.argmax(net.forward(x, train=False), axis=1) != y))


def train_one(variant, seed, config, dataset, on_epoch=None):
    """Train one network.

    Parameters
    ----------
    variant : str
        One of :data:`l1bn.experiments.bn_layers.VARIANTS`.
    seed : int
    config : TrainConfig
    dataset : l1bn.experiments.data.Dataset
    on_epoch : callable, optional
        ``on_epoch(epoch, net)`` before training (epoch 0) and after every epoch.

    Returns
    -------
    result : dict
        ``variant``, ``seed``, ``train_loss`` (mean minibatch cross-entropy per epoch, nats),
        ``test_error`` (fraction misclassified after each epoch, inference mode),
        ``final_test_error``, ``seconds``, and for fixed-point variants ``saturation``
        (counts summed over the BN layers) and ``values`` (values the units quantized).
    net : Network
        The trained network.
    """
    t0 = time.perf_counter()
    net = build(variant, seed, config)
    opt = SGD(config.momentum)
    rng = np.random.default_rng(seed)
    n = len(dataset.x_train)
    steps_per_epoch = n // config.batch
    if steps_per_epoch == 0:
        raise ValueError(f"batch {config.batch} exceeds the {n} training rows")
    total = steps_per_epoch * config.epochs
    losses, errors = [], []
    if on_epoch is not None:
        on_epoch(0, net)
    step = 0
    for epoch in range(1, config.epochs + 1):
        order = rng.permutation(n)
        epoch_loss = 0.0
        for b in range(steps_per_epoch):
            idx = order[b * config.batch:(b + 1) * config.batch]
            loss, dlogits = cross_entropy(net.forward(dataset.x_train[idx], train=True),
                                          dataset.y_train[idx])
            if not math.isfinite(loss):
                raise FloatingPointError(f"{variant} seed {seed}: loss {loss} at epoch {epoch}")
            net.backward(dlogits)
            opt.step(net.parameters(), config.lr * 0.5 * (1 + math.cos(math.pi * step / total)))
            step += 1
            epoch_loss += loss
        losses.append(epoch_loss / steps_per_epoch)
        errors.append(_error(net, dataset.x_test, dataset.y_test))
        if on_epoch is not None:
            on_epoch(epoch, net)
    result = {"variant": variant, "seed": int(seed), "train_loss": losses, "test_error": errors,
              "final_test_error": errors[-1], "seconds": time.perf_counter() - t0}
    if variant.startswith("fixed"):
        result["saturation"] = _add_counts(bn.saturation for bn in net.bn_layers)
        result["values"] = _add_counts(bn.values for bn in net.bn_layers)
    return result, net


def _add_counts(dicts):
    """Key-wise sum of count dicts, keys sorted."""
    out = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0) + v
    return dict(sorted(out.items()))


@functools.lru_cache(maxsize=None)
def _dataset(split_seed):
    """The split, loaded once per process."""
    return data.load(split_seed=split_seed)


def _task(args):
    variant, seed, config = args
    return train_one(variant, seed, config, _dataset(config.split_seed))


def run(config, seeds, jobs, variants=bn_layers.VARIANTS):
    """Train every (variant, seed) pair, ``jobs`` processes at a time.

    Returns
    -------
    results : list of dict
        :func:`train_one` results, ordered by variant then seed.
    nets : dict
        ``(variant, seed) -> Network``.
    """
    tasks = [(v, s, config) for v in variants for s in seeds]
    # The fixed-point runs take longest: start them first.
    order = sorted(range(len(tasks)), key=lambda i: not tasks[i][0].startswith("fixed"))
    if jobs == 1:
        done = {i: _task(tasks[i]) for i in order}
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = {i: pool.submit(_task, tasks[i]) for i in order}
            done = {i: f.result() for i, f in futures.items()}
    results = [done[i][0] for i in range(len(tasks))]
    nets = {(t[0], t[1]): done[i][1] for i, t in enumerate(tasks)}
    return results, nets


def summarize(results):
    """Per variant: test error (%) mean and sample std (ddof 1; 0 for one seed) over seeds,
    per-seed errors, mean loss curve and its min/max envelope, summed saturation counts."""
    out = {}
    for variant in dict.fromkeys(r["variant"] for r in results):
        rs = [r for r in results if r["variant"] == variant]
        err = np.array([r["final_test_error"] for r in rs]) * 100
        loss = np.array([r["train_loss"] for r in rs])
        test = np.array([r["test_error"] for r in rs]) * 100
        entry = {"seeds": [r["seed"] for r in rs], "test_error_pct": err.tolist(),
                 "test_error_mean_pct": float(err.mean()),
                 "test_error_std_pct": float(err.std(ddof=1)) if len(err) > 1 else 0.0,
                 "train_loss_mean": loss.mean(axis=0).tolist(),
                 "train_loss_min": loss.min(axis=0).tolist(),
                 "train_loss_max": loss.max(axis=0).tolist(),
                 "test_error_curve_mean_pct": test.mean(axis=0).tolist(),
                 "seconds_mean": float(np.mean([r["seconds"] for r in rs]))}
        if "saturation" in rs[0]:
            entry["saturation"] = _add_counts(r["saturation"] for r in rs)
            entry["values"] = _add_counts(r["values"] for r in rs)
        out[variant] = entry
    return out


def paired(summary):
    """Seed-by-seed test-error differences (percentage points) of :data:`PAIRS` present in
    ``summary``: runs of the same seed share the initial weights and the minibatch order, so
    the difference removes most of the seed-to-seed spread. Returns ``{"a - b": {"mean_pp",
    "std_pp" (ddof 1; 0 for one seed), "per_seed_pp"}}``."""
    out = {}
    for a, b in PAIRS:
        if a not in summary or b not in summary or summary[a]["seeds"] != summary[b]["seeds"]:
            continue
        d = np.array(summary[a]["test_error_pct"]) - np.array(summary[b]["test_error_pct"])
        out[f"{a} - {b}"] = {"mean_pp": float(d.mean()),
                             "std_pp": float(d.std(ddof=1)) if d.size > 1 else 0.0,
                             "per_seed_pp": d.tolist()}
    return out

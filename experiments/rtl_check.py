"""The RTL on real activations: one batch per BN layer of the trained fixed-point networks.

For each norm, the fixed-point network (trained by :mod:`l1bn.experiments.train`, or here with the
same seed and config when none is given) runs ONE training step's forward and backward on a
copy of itself, on the first ``rows`` training images. Each BN layer's input ``x``, the
``dy`` its unit received (times ``grad_scale``, as :class:`l1bn.experiments.bn_layers.FixedBatchNorm`
passes it), ``gamma``, ``beta`` and the running statistics, restricted to the first
``channels`` channels (channels are independent in the unit), go through the RTL with
:func:`l1bn.sim.simulate.simulate` in ``train`` and ``backward`` modes. ``simulate`` compares
every output code with :func:`l1bn.golden.bn_unit.run`; this module records its mismatches and
cycles, and also checks that the golden codes equal what the network's own BN layer computed
(``network_agrees``), so the RTL is compared with the very numbers the training used.

The designs are built once per (norm, mode) in a temporary directory, removed afterwards.
"""

from __future__ import annotations

import copy
import tempfile

import numpy as np

from l1bn.golden import fixed

from .network import cross_entropy
from .train import train_one

__all__ = ["capture", "run"]


def capture(net, dataset, rows, channels):
    """Per BN layer of the fixed-point ``net``: the arrays of one training step.

    Returns
    -------
    list of dict
        ``{"train": {x, gamma, beta, running_mean, running_sigma}, "backward": {x, dy, gamma},
        "y": the layer's output, "dx": its input gradient times grad_scale}`` (what the unit
        returned), every array cut to the first ``channels`` channels.
    """
    probe = copy.deepcopy(net)
    before = [(bn.running_mean, bn.running_sigma) for bn in probe.bn_layers]
    logits = probe.forward(dataset.x_train[:rows], train=True)
    probe.backward(cross_entropy(logits, dataset.y_train[:rows])[1])
    c = slice(0, channels)
    return [{"train": {"x": bn.last_input[:, c], "gamma": bn.gamma[c], "beta": bn.beta[c],
                       "running_mean": rm[c], "running_sigma": rs[c]},
             "backward": {"x": bn.last_input[:, c], "gamma": bn.gamma[c],
                          "dy": bn.last_output_grad[:, c] * bn.grad_scale},
             "y": bn.last_output[:, c], "dx": bn.last_input_grad[:, c] * bn.grad_scale}
            for bn, (rm, rs) in zip(probe.bn_layers, before)]


def run(config, dataset, *, nets=None, seed=0, rows=16, channels=4, simulator="icarus"):
    """Run the RTL check.

    Parameters
    ----------
    config : l1bn.experiments.train.TrainConfig
    dataset : l1bn.experiments.data.Dataset
    nets : dict, optional
        ``{"l1": Network, "l2": Network}`` trained fixed-point networks; missing ones are
        trained here with ``seed``.
    seed : int
    rows, channels : int
        Batch rows (the unit's m) and channels per layer sent to the RTL.
    simulator : {"icarus", "verilator"}

    Returns
    -------
    dict
        ``config``, ``seed``, ``rows``, ``channels``, ``simulator``, ``runs``: one entry per
        (norm, layer, mode) with ``mismatches``, ``cycles``, ``saturated`` (the golden model's
        counts, inputs included), ``design``, ``network_agrees`` (the golden codes equal the
        network's own layer output y or dx) and ``error`` (None, or why the simulation did not
        run), and ``total_mismatches`` (None if any run failed).
    """
    from l1bn.sim.runner import SimulationFailed
    from l1bn.sim.simulate import InputError, simulate

    nets = dict(nets or {})
    runs = []
    with tempfile.TemporaryDirectory(prefix="l1bn-experiments-rtl-") as build:
        for norm in ("l1", "l2"):
            net = nets.get(norm)
            if net is None:
                net = train_one(f"fixed-{norm}", seed, config, dataset)[1]
            unit = net.bn_layers[0].unit
            for layer, batch in enumerate(capture(net, dataset, rows, channels), start=1):
                for mode, out in (("train", "y"), ("backward", "dx")):
                    entry = {"norm": norm, "layer": layer, "mode": mode, "error": None,
                             "mismatches": None, "cycles": None, "saturated": None,
                             "design": None, "network_agrees": None}
                    try:
                        r = simulate(norm, mode, batch[mode], simulator=simulator,
                                     width=unit.width, frac=unit.frac, lanes=1,
                                     max_batch=unit.max_batch, build_dir=build,
                                     eps=unit.eps, alpha=unit.alpha, guard=unit.guard)
                    except (SimulationFailed, InputError) as exc:
                        entry["error"] = f"{type(exc).__name__}: {exc}"
                    else:
                        golden = fixed.dequantize(r[f"golden_{out}"], unit.data)
                        entry.update(mismatches=int(r["mismatches"]), cycles=int(r["cycles"]),
                                     saturated=int(r["saturated_total"]), design=r["design"],
                                     network_agrees=bool(np.array_equal(golden, batch[out])))
                    runs.append(entry)
    failed = any(e["error"] for e in runs)
    return {"config": config.as_dict(), "seed": int(seed), "rows": int(rows),
            "channels": int(channels), "simulator": simulator, "runs": runs,
            "total_mismatches": None if failed else sum(e["mismatches"] for e in runs)}

"""The experiments' real activations: a fixed set for accuracy checks (``l1bn explore``).

:func:`captured` trains the float64 L1BN and L2BN networks of the experiments (the default
:class:`~l1bn.experiments.train.TrainConfig`: the digits data, three BN layers of 32 channels,
20 epochs, seed 0; about a second), runs one training step on the first ``rows`` training rows
and keeps, per BN layer, the first ``channels`` channels' inputs ``x`` and output gradients
``dy``. The gradients of a cross-entropy loss are tiny (about 1e-4 here); as a loss scale
does, one factor for the whole set brings their root mean square to 1/2 (the channels keep
their shapes and their relative sizes).
Deterministic for the pinned NumPy: the same arrays on every run.
"""

import functools

import numpy as np

from . import data
from .network import cross_entropy
from .train import TrainConfig, train_one

__all__ = ["captured"]


@functools.lru_cache(maxsize=4)
def captured(rows=256, channels=8, seed=0):
    """The real activation set.

    Parameters
    ----------
    rows : int
        Values per channel (the batch of the captured step), at most the 1,438 training rows.
    channels : int
        Channels kept per BN layer (the first ones), at most 32.
    seed : int
        Training seed of both networks.

    Returns
    -------
    dict
        ``x`` and ``dy``: float64 arrays of shape (2 networks x 3 layers x ``channels``,
        ``rows``), a channel per row (L1 network first, then L2, layers in order), ``dy``
        scaled to a root mean square of 1/2;
        ``source``: what they are, in words.
    """
    cfg = TrainConfig()
    ds = data.load(split_seed=cfg.split_seed)
    if not 1 <= rows <= len(ds.x_train) or not 1 <= channels <= min(cfg.hidden):
        raise ValueError(f"rows must be in 1..{len(ds.x_train)} and channels in "
                         f"1..{min(cfg.hidden)}, got {rows} and {channels}")
    xs, dys = [], []
    for variant in ("float-l1", "float-l2"):
        _result, net = train_one(variant, seed, cfg, ds)
        logits = net.forward(ds.x_train[:rows], train=True)
        net.backward(cross_entropy(logits, ds.y_train[:rows])[1])
        for bn in net.bn_layers:
            xs.append(bn.last_input[:, :channels].T)
            dys.append(bn.last_output_grad[:, :channels].T)
    dy = np.concatenate(dys)
    scale = 0.5 / np.sqrt(np.mean(dy ** 2))
    source = (f"BN inputs and output gradients (x {scale:.4g}) of the experiments' "
              f"trained float64 L1BN and L2BN networks ({len(cfg.hidden)} BN layers, the first "
              f"{channels} channels of each, one training step of {rows} rows)")
    return {"x": np.concatenate(xs), "dy": dy * scale, "source": source}

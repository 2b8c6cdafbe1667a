"""A small multilayer perceptron in NumPy with BN between its linear layers.

Layers: ``[Linear (no bias) -> BN -> ReLU] * len(hidden) -> Linear (with bias)``, followed by
softmax cross-entropy (mean over the batch). The hidden linear layers have no bias: the BN's
beta plays its part. Weights are He-normal (std sqrt(2 / fan_in)) from the network's seed.
Forward and backward are written out by hand; :class:`SGD` is plain SGD with momentum.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Linear", "ReLU", "Network", "cross_entropy", "SGD"]


class Linear:
    """``y = x @ weight (+ bias)``.

    Parameters
    ----------
    n_in, n_out : int
    rng : numpy.random.Generator
        Draws the He-normal weights.
    bias : bool
    """

    def __init__(self, n_in, n_out, rng, bias):
        self.weight = rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_in, n_out))
        self.bias = np.zeros(n_out) if bias else None
        self.dweight = self.dbias = None
        self._x = None

    def forward(self, x, train):
        self._x = x
        y = x @ self.weight
        return y if self.bias is None else y + self.bias

    def backward(self, dy):
        self.dweight = self._x.T @ dy
        if self.bias is not None:
            self.dbias = dy.sum(axis=0)
        return dy @ self.weight.T

    def parameters(self):
        """``[(name, array, gradient)]``."""
        out = [("weight", self.weight, self.dweight)]
        if self.bias is not None:
            out.append(("bias", self.bias, self.dbias))
        return out


class ReLU:
    """``max(x, 0)``; the gradient at 0 is 0."""

    def __init__(self):
        self._mask = None

    def forward(self, x, train):
        self._mask = x > 0
        return np.where(self._mask, x, 0.0)

    def backward(self, dy):
        return np.where(self._mask, dy, 0.0)

    def parameters(self):
        return []


class Network:
    """The multilayer perceptron.

    Parameters
    ----------
    n_in, n_out : int
        Features and classes.
    hidden : sequence of int
        Width of each hidden layer; one BN layer per hidden layer.
    make_bn : callable
        ``make_bn(channels)`` returns a BN layer (:mod:`l1bn.experiments.bn_layers`).
    seed : int
        Seed of the weight initialization.
    """

    def __init__(self, n_in, n_out, hidden, make_bn, seed):
        rng = np.random.default_rng(seed)
        self.layers = []
        self.bn_layers = []
        width = n_in
        for h in hidden:
            bn = make_bn(h)
            self.layers += [Linear(width, h, rng, bias=False), bn, ReLU()]
            self.bn_layers.append(bn)
            width = h
        self.layers.append(Linear(width, n_out, rng, bias=True))

    def forward(self, x, train):
        """Logits of ``x`` (N, n_in); ``train`` selects the BN layers' batch statistics."""
        for layer in self.layers:
            x = layer.forward(x, train)
        return x

    def backward(self, dlogits):
        """Back-propagate ``dlogits``; every layer keeps its parameter gradients. Returns the
        gradient with respect to the network's input."""
        for layer in reversed(self.layers):
            dlogits = layer.backward(dlogits)
        return dlogits

    def parameters(self):
        """``[(name, array, gradient)]`` of every layer, names ``<index>.<parameter>``."""
        return [(f"{i}.{name}", p, g) for i, layer in enumerate(self.layers)
                for name, p, g in layer.parameters()]


def cross_entropy(logits, labels):
    """Softmax cross-entropy, mean over the batch.

    Parameters
    ----------
    logits : ndarray, shape (N, K)
    labels : ndarray of int, shape (N,)

    Returns
    -------
    loss : float
        In nats.
    dlogits : ndarray, shape (N, K)
        Gradient of ``loss`` with respect to ``logits``.
    """
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    n = len(labels)
    loss = -logp[np.arange(n), labels].mean()
    dlogits = np.exp(logp)
    dlogits[np.arange(n), labels] -= 1.0
    return float(loss), dlogits / n


class SGD:
    """SGD with (heavy-ball) momentum: ``v = momentum*v + grad; p -= lr*v``, in place.

    Parameters
    ----------
    momentum : float
        In [0, 1).
    """

    def __init__(self, momentum):
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must lie in [0, 1), got {momentum!r}")
        self.momentum = momentum
        self._velocity = {}

    def step(self, parameters, lr):
        """Update every ``(name, array, gradient)`` of ``parameters`` with learning rate ``lr``."""
        for name, p, g in parameters:
            v = self._velocity.get(name)
            v = g.copy() if v is None else self.momentum * v + g
            self._velocity[name] = v
            p -= lr * v

"""Four batch-normalization variants behind one interface, for (N, C) activations.

========== ======================================================================================
variant    computes with
========== ======================================================================================
float-l2   :mod:`l1bn.golden.reference` (float64 paper equations), norm "l2"
float-l1   :mod:`l1bn.golden.reference`, norm "l1"
fixed-l2   :func:`l1bn.golden.bn_unit.run` (bit-accurate unit, two-pass statistics), norm "l2"
fixed-l1   :func:`l1bn.golden.bn_unit.run`, norm "l1"
========== ======================================================================================

Every variant keeps float64 master copies of ``gamma`` and ``beta`` (updated by the optimizer)
and running statistics (``running_mean``, ``running_sigma``: sigma as the norm defines it, see
:mod:`l1bn.golden.reference`; alpha = weight of the old value). Training mode normalizes with the
batch statistics and updates the running statistics; inference mode uses the running ones.

The fixed-point variants run the unit for the training forward pass (which also updates the
running statistics, bit-accurately), for the backward pass (dx, dgamma, dbeta from the
forward's mean and sigma codes) and for inference. The unit quantizes its float inputs itself
(:func:`l1bn.golden.fixed.quantize`, saturation counted); :attr:`FixedBatchNorm.saturation` sums
the counts it reports. The gradient ``dy`` is multiplied by ``grad_scale`` (a power of two,
so exactly) before the unit quantizes it and the results are divided by it afterwards: the
loss scaling of mixed-precision training, without which the gradients of a batch-mean loss
(~1e-2) would be a few LSB of Q16.8.
"""

from __future__ import annotations

import numpy as np

from l1bn.golden import bn_unit, reference

__all__ = ["VARIANTS", "BatchNorm", "FloatBatchNorm", "FixedBatchNorm", "make"]

VARIANTS = ("float-l2", "float-l1", "fixed-l2", "fixed-l1")


class BatchNorm:
    """Common state and the train / inference dispatch of a BN layer over (N, C) inputs.

    Parameters
    ----------
    channels : int
    norm : {"l1", "l2"}
    alpha : float
        Weight of the old running statistics (Algorithm 1; torch momentum = 1 - alpha).
    eps : float

    Attributes
    ----------
    gamma, beta : ndarray, shape (C,)
        Master copies (float64), updated in place by the optimizer; start at 1 and 0.
    running_mean, running_sigma : ndarray, shape (C,)
        Start at 0 and 1.
    dgamma, dbeta : ndarray or None
        Gradients of the last :meth:`backward`.
    last_input, last_output : ndarray or None
        Input and output of the last :meth:`forward`.
    last_output_grad, last_input_grad : ndarray or None
        ``dy`` and ``dx`` of the last :meth:`backward`.

    Notes
    -----
    Subclasses implement ``_train(x) -> (y, mean, sigma, new_running_mean,
    new_running_sigma)``, ``_infer(x) -> y`` and ``_backward(dy, x) -> (dx, dgamma, dbeta)``
    (x: the input of the last training forward; each recomputes what it needs from it, as the
    fixed-point backward unit takes the forward's exact sums of the same x).
    """

    def __init__(self, channels, norm, *, alpha, eps):
        if norm not in reference.NORMS:
            raise ValueError(f"norm must be one of {reference.NORMS}, got {norm!r}")
        self.norm = norm
        self.alpha = alpha
        self.eps = eps
        self.gamma = np.ones(channels)
        self.beta = np.zeros(channels)
        self.running_mean = np.zeros(channels)
        self.running_sigma = np.ones(channels)
        self.dgamma = self.dbeta = None
        self.last_input = self.last_output = None
        self.last_output_grad = self.last_input_grad = None
        self._saved = None

    def forward(self, x, train):
        """Normalize ``x`` (N, C): batch statistics when ``train`` (and update the running
        ones; keep what :meth:`backward` needs), else the running statistics."""
        self.last_input = x
        if train:
            y, _mean, _sigma, self.running_mean, self.running_sigma = self._train(x)
            self._saved = x
        else:
            y = self._infer(x)
        self.last_output = y
        return y

    def backward(self, dy):
        """Gradient with respect to the input of the last training :meth:`forward`; sets
        :attr:`dgamma` and :attr:`dbeta`."""
        if self._saved is None:
            raise RuntimeError("backward needs a training-mode forward first")
        self.last_output_grad = dy
        dx, self.dgamma, self.dbeta = self._backward(dy, self._saved)
        self.last_input_grad = dx
        return dx

    def parameters(self):
        """``[(name, array, gradient)]`` for the optimizer (gamma, beta)."""
        return [("gamma", self.gamma, self.dgamma), ("beta", self.beta, self.dbeta)]


class FloatBatchNorm(BatchNorm):
    """Float64 L1BN / L2BN of :mod:`l1bn.golden.reference`."""

    def _train(self, x):
        y, st = reference.forward_train(x, self.gamma, self.beta, self.norm, self.eps)
        rm, rs = reference.update_running(self.running_mean, self.running_sigma, st.mean,
                                          st.sigma, self.alpha)
        return y, st.mean, st.sigma, rm, rs

    def _infer(self, x):
        return reference.forward_infer(x, self.gamma, self.beta, self.running_mean,
                                       self.running_sigma, self.norm, self.eps)

    def _backward(self, dy, x):
        # reference.backward recomputes mean and sigma from x, in float64 exactly as _train.
        return reference.backward(dy, x, self.gamma, self.norm, self.eps)


class FixedBatchNorm(BatchNorm):
    """The bit-accurate fixed-point unit of :mod:`l1bn.golden.bn_unit` (forward and backward).

    Parameters
    ----------
    channels : int
    unit : l1bn.golden.bn_unit.UnitConfig
        Norm, formats, alpha and eps of the unit.
    grad_scale : int
        Power of two multiplying ``dy`` before the unit quantizes it (see the module docstring).

    Attributes
    ----------
    saturation : dict
        ``forward.<stage>``, ``backward.<stage>`` and ``infer.<stage>`` saturation counts summed
        over every call (``input_<array>`` for the quantization of the inputs).
    values : dict
        Number of x values quantized per mode, the denominators of the counts.
    """

    def __init__(self, channels, unit, grad_scale):
        if (isinstance(grad_scale, bool) or not isinstance(grad_scale, (int, np.integer))
                or grad_scale < 1 or grad_scale & (grad_scale - 1)):
            raise ValueError(f"grad_scale must be a power of two >= 1, got {grad_scale!r}")
        super().__init__(channels, unit.norm, alpha=unit.alpha, eps=unit.eps)
        self.unit = unit
        self.grad_scale = int(grad_scale)
        self.saturation = {}
        self.values = {"forward": 0, "backward": 0, "infer": 0}

    def _count(self, mode, result, x):
        self.values[mode] += x.size
        for k, v in result["sat"].items():
            key = f"{mode}.{k}"
            self.saturation[key] = self.saturation.get(key, 0) + int(v)

    def _train(self, x):
        r = bn_unit.run(self.unit, "train", x=x, gamma=self.gamma, beta=self.beta,
                        running_mean=self.running_mean, running_sigma=self.running_sigma)
        self._count("forward", r, x)
        return r["y"], r["mean"], r["sigma"], r["running_mean"], r["running_sigma"]

    def _infer(self, x):
        r = bn_unit.run(self.unit, "infer", x=x, gamma=self.gamma, beta=self.beta,
                        running_mean=self.running_mean, running_sigma=self.running_sigma)
        self._count("infer", r, x)
        return r["y"]

    def _backward(self, dy, x):
        r = bn_unit.run(self.unit, "backward", x=x, dy=dy * self.grad_scale, gamma=self.gamma)
        self._count("backward", r, x)
        s = self.grad_scale
        return r["dx"] / s, r["dgamma"] / s, r["dbeta"] / s


def make(variant, channels, *, width=16, frac=8, grad_scale=256, alpha=0.9, eps=1e-5, guard=8):
    """A BN layer of ``variant`` (one of :data:`VARIANTS`) over ``channels`` channels.

    ``width``, ``frac``, ``guard`` and ``grad_scale`` apply to the fixed-point variants (formats
    of :class:`l1bn.golden.bn_unit.UnitConfig`, max_batch at its default); ``alpha`` and ``eps`` to
    all four (the fixed-point units check them too).

    Raises
    ------
    ValueError
        Unknown variant, or a parameter :class:`~l1bn.golden.bn_unit.UnitConfig` rejects.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    kind, _, norm = variant.partition("-")
    if kind == "float":
        return FloatBatchNorm(channels, norm, alpha=alpha, eps=eps)
    unit = bn_unit.UnitConfig(norm=norm, stats="two-pass", width=width, frac=frac, alpha=alpha,
                              eps=eps, guard=guard)
    return FixedBatchNorm(channels, unit, grad_scale)

"""Parameters, formats and integer helpers of the bit-accurate BN unit models
(:mod:`l1bn.golden.bn_forward`, :mod:`l1bn.golden.bn_backward`, :mod:`l1bn.golden.bn_unit`).

=========  ==============================  =====================================================
name       format                          holds
=========  ==============================  =====================================================
data       Q(W, F)                         x, y, dy, dx, gamma, beta
stat  S    Q(W+G, F+G), ``FS = F+G``       mu, sigma, running mean / sigma, eps_q
bias       Q(W+2+G, F+G)                   the forward lanes' b' = beta - a*(mu - mu_F)
grad       Q(W+M, F)                       dgamma, dbeta
alpha      UQ(17, 16)                      alpha_q = round(alpha * 2**16) (half_up)
=========  ==============================  =====================================================

eps_q = quantize(eps, S, "half_up") (eps >= 0; ValueError if it saturates S). The reference is
compared with eps = eps_q * 2**-FS and alpha = alpha_q * 2**-16 (the unit's own parameters).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import fixed
from .reference import NORMS

__all__ = ["STATS", "ALPHA_FRAC", "ALPHA_FMT", "MIN_GUARD", "UnitConfig"]

#: Fewest guard bits: the forward's y bound (l1bn.golden.bn_forward) is within 1 LSB from 3 on.
MIN_GUARD = 3

STATS = ("two-pass", "one-pass")
ALPHA_FRAC = 16
#: Format of alpha_q: unsigned, 16 fraction bits, 1.0 representable.
ALPHA_FMT = fixed.Fmt(ALPHA_FRAC + 1, ALPHA_FRAC, signed=False)


def _check_real(name, value, lo, hi=math.inf):
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if ok:
        value = float(value)
        ok = math.isfinite(value) and lo <= value <= hi
    if not ok:
        rng = f">= {lo:g}" if hi == math.inf else f"in [{lo:g}, {hi:g}]"
        raise ValueError(f"{name} must be a finite real number {rng}, got {value!r}")
    return value


@dataclass(frozen=True)
class UnitConfig:
    """Parameters of one BN unit; validates them and derives every format.

    Raises
    ------
    ValueError
        Naming the parameter: ``norm`` not in NORMS; ``stats`` not in STATS or "one-pass" with
        l1; ``width`` not an int in [2, 64]; ``frac`` not an int in [0, width - 1]; ``guard``
        not an int in [3, 32] (:data:`MIN_GUARD`: the forward's 1-LSB bound needs 3); ``max_batch`` not an int in [1, 2**32]; ``alpha`` not a finite
        real in [0, 1]; ``eps`` not a finite real >= 0 or too large for S.
    """

    norm: str
    stats: str
    width: int
    frac: int
    guard: int = 8
    max_batch: int = 65536
    alpha: float = 0.9
    eps: float = 1e-5
    alpha_q: int = field(init=False, repr=False, compare=False)
    eps_q: int = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if not isinstance(self.norm, str) or self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        if not isinstance(self.stats, str) or self.stats not in STATS:
            raise ValueError(f"stats must be one of {STATS}, got {self.stats!r}")
        if self.stats == "one-pass" and self.norm != "l2":
            raise ValueError("stats 'one-pass' needs norm 'l2' (l1 needs mu before |x - mu|)")
        width = fixed.check_int("width", self.width, 2, 64)
        frac = fixed.check_int("frac", self.frac, 0, width - 1)
        guard = fixed.check_int("guard", self.guard, MIN_GUARD, 32)
        max_batch = fixed.check_int("max_batch", self.max_batch, 1, 1 << 32)
        alpha = _check_real("alpha", self.alpha, 0.0, 1.0)
        eps = _check_real("eps", self.eps, 0.0)
        for name, v in (("width", width), ("frac", frac), ("guard", guard),
                        ("max_batch", max_batch), ("alpha", alpha), ("eps", eps)):
            object.__setattr__(self, name, v)
        aq, _ = fixed.quantize(alpha, ALPHA_FMT, "half_up")
        stat = fixed.Fmt(width + guard, frac + guard)
        if eps > stat.max_value:
            raise ValueError(f"eps must fit the statistics format {stat.name} "
                             f"(<= {stat.max_value:g}), got {eps!r}")
        eq, n = fixed.quantize(eps, stat, "half_up")
        if n:
            raise ValueError(f"eps must fit the statistics format {stat.name}, got {eps!r}")
        object.__setattr__(self, "alpha_q", int(aq))
        object.__setattr__(self, "eps_q", int(eq))

    # --- formats -------------------------------------------------------------------------------
    @property
    def data(self):
        """Q(W, F): x, y, dy, dx, gamma, beta."""
        return fixed.Fmt(self.width, self.frac)

    @property
    def stat(self):
        """S = Q(W+G, F+G): mu, sigma, s, running statistics, eps_q."""
        return fixed.Fmt(self.width + self.guard, self.frac + self.guard)

    @property
    def mant_width(self):
        """MW: bits of the normalize gain's mantissa in :mod:`l1bn.golden.bn_forward` (18 up to
        W = 16, else W + 2): its relative error 2**-MW costs at most 2**(W - MW) <= 1/4 LSB of y."""
        return 18 if self.width <= 16 else self.width + 2

    @property
    def lane_exp(self):
        """e_c = MW - W - 2: the lanes' smallest gain exponent (gains >= 2**(W+2) are clamped)."""
        return self.mant_width - self.width - 2

    @property
    def root_width(self):
        """n: bits of the l2 training root ``isqrt(q * 4**j)``, ``max(MW + 8, W + G + 3)`` (the
        gain's relative error from it is below 2**-(MW+7), sigma's below 1/8 LSB)."""
        return max(self.mant_width + 8, self.width + self.guard + 3)

    @property
    def bias(self):
        """B = Q(W+2+G, G): the lanes' bias b' = beta - a*(mu - mu_F), saturated at four times
        the data range."""
        return fixed.Fmt(self.width + 2 + self.guard, self.guard)

    @property
    def lane_max(self):
        """Largest lane product magnitude ``2**(W+2+G) - 1`` (a larger one saturates y anyway)."""
        return (1 << (self.width + 2 + self.guard)) - 1

    @property
    def grad(self):
        """Q(W + clog2(max_batch), F): dgamma and dbeta."""
        return fixed.Fmt(self.width + fixed.clog2(self.max_batch), self.frac)

    @property
    def formats(self):
        return {"data": self.data, "stat": self.stat, "bias": self.bias, "grad": self.grad,
                "alpha": ALPHA_FMT}


# --- scalar helpers (Python ints, exact at any width) -------------------------------------------

def _obj(v):
    return np.array([v], dtype=object)


def _sat(v, fmt):
    c, n = fixed.saturate(_obj(int(v)), fmt)
    return int(c[0]), n


def _shr(v, n):
    return int(fixed.shift_right(_obj(int(v)), n, "half_up")[0])


def _rdiv(num, den):
    return int(fixed.div_round_away(_obj(int(num)), _obj(int(den)))[0])


def _check_code(name, v, fmt, nonneg=False):
    return fixed.check_int(name, v, 0 if nonneg else fmt.min_code, fmt.max_code)


def _check_codes(name, a, cfg):
    """1-D integer codes of the data format, ``1 <= len <= max_batch``; returns int64."""
    a = np.asarray(a)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of codes, got shape {a.shape}")
    if a.size > cfg.max_batch:
        raise ValueError(f"{name} has {a.size} values, more than max_batch = {cfg.max_batch}")
    if a.dtype != object and a.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer codes, got dtype {a.dtype}")
    fmt = cfg.data
    if a.dtype == object and not all(isinstance(v, (int, np.integer)) for v in a):
        raise ValueError(f"{name} must hold integer codes")
    if int(np.min(a)) < fmt.min_code or int(np.max(a)) > fmt.max_code:
        raise ValueError(f"{name} codes must lie in [{fmt.min_code}, {fmt.max_code}] ({fmt.name})")
    return a.astype(np.int64)


def _arr(a, bits):
    """``a`` as int64 if ``bits`` fit, else an object array of Python ints."""
    return fixed.codes(a, bits)

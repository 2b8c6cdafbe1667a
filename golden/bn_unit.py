"""Bit-accurate golden model of complete L1BN / L2BN batch-normalization units.

Pure NumPy on integer codes; the Amaranth RTL mirrors it bit for bit. Every rounding and
saturation rule used here is one of :mod:`golden.fixed` (``div_round_away``, ``shift_right``
``"half_up"``, ``isqrt``, ``saturate``); the float64 reference it is checked against is
:mod:`golden.reference` (conventions in ``/work/shared/notes/numerics.md``).

Parameters and formats (:class:`UnitConfig`)
--------------------------------------------
``norm`` in {"l1", "l2"}; ``stats`` in {"two-pass", "one-pass"} (one-pass only for l2); data
width ``W``, fraction ``F``; guard bits ``G`` (default 8); ``M = clog2(max_batch)``.

=========  ==============================  =====================================================
name       format                          holds
=========  ==============================  =====================================================
data       Q(W, F)                         x, y, dy, dx, gamma, beta
stat  S    Q(W+G, F+G), ``FS = F+G``       mu, sigma, s, running mean / sigma, eps_q
coef  K    Q(W+G+2, F+G), ``FK = F+G``     a = gamma/s (= the backward ``A``), b
grad       Q(W+M, F)                       dgamma, dbeta
const      Q(2(W-F)+3 + FK+F, FK+F)        backward D (l1) and E (both)
slope      Q(2W-F+3 + FB, FB), ``FB=W+G``  backward B (l2)
alpha      UQ(17, 16)                      alpha_q = round(alpha * 2**16) (half_up)
=========  ==============================  =====================================================

eps_q = quantize(eps, S, "half_up") (eps >= 0; ValueError if it saturates S). The reference is
compared with eps = eps_q * 2**-FS and alpha = alpha_q * 2**-16 (the unit's own parameters).
:attr:`UnitConfig.widths` gives accumulator widths that hold the worst case for ``max_batch``.

Forward, training (per channel of m values, all integers are codes)
-------------------------------------------------------------------
1. ``Sx = sum x_i`` (exact); ``mu = div_round_away(Sx * 2**G, m)`` (S).
2. ``d_i = x_i * 2**G - mu`` (exact, FS fraction bits, W+G+1 bits signed).
3. l1: ``Sd = sum |d_i|``; ``sigma = div_round_away(Sd, m)``; ``s = saturate_S(sigma + eps_q)``.
   l2 two-pass: ``Sq = sum d_i**2`` (exact, 2FS frac); ``var = div_round_away(Sq, m)``;
   ``sigma = saturate_S(isqrt(var + eps_q * 2**FS))`` (floor; eps inside the root); ``s = sigma``.
   l2 one-pass: ``Sx`` and ``Sxx = sum x_i**2`` from one pass; ``var = div_round_away((m*Sxx -
   Sx**2) * 2**(2G), m*m)`` (exact numerator); sigma, s as two-pass; mu as in step 1.
4. ``a = div_round_away(gamma * 2**(F + 2G), s)`` saturated to K (``s == 0``: K's bound of
   gamma's sign, ``gamma == 0`` giving the positive bound, counted: the rule of
   :mod:`golden.divider`); ``b = saturate_K(beta * 2**G - shift_right(mu * a, FS, "half_up"))``.
5. ``y_i = saturate_data(shift_right(a * x_i + b * 2**F, FK, "half_up"))`` (= ``y = a*x + b``,
   the :mod:`golden.scale_shift` datapath with coefficients in K).
6. Running statistics (Algorithm 1, alpha = weight of the OLD value; torch momentum = 1 - alpha):
   ``new = shift_right(alpha_q * old + (2**16 - alpha_q) * batch, 16, "half_up")`` for mean and
   sigma (the batch sigma of step 3: l1 the mean absolute deviation without eps, l2
   sqrt(var + eps)). A convex combination of two S codes: it cannot saturate.

Forward, inference: ``s_run = saturate_S(running_sigma + eps_q)`` (l1) or ``running_sigma``
(l2); steps 4-5 with ``mu = running_mean``.

Backward (inputs x, dy, gamma and the forward's mu and sigma codes; s and A = a as in steps 3-4)
------------------------------------------------------------------------------------------------
One pass: ``Sg = sum dy_i`` (frac F), ``Sgd = sum dy_i * d_i`` (frac F+FS), l1 also
``Ssgn = sum sgn(d_i)`` (sgn(0) = 0). Outputs, each with ONE rounding from exact integers
(``div_round_away``, so |error| <= 1/2 LSB of its format before any saturation):

* ``dbeta = Sg`` (exact, grad format, cannot overflow);
* ``dgamma = div_round_away(Sgd, s)`` (frac F, saturated to grad);
* l1: ``D = div_round_away(-A*Sgd, s*m)`` and ``E = div_round_away(A*(Sgd*Ssgn - Sg*s*m), s*m*m)``
  (const, frac FK+F), i.e. D = -A*dgamma/m and E = -A*Sg/m - D*Ssgn/m with the EXACT
  dgamma = Sgd/s and exact D inside E; per element
  ``dx_i = saturate_data(shift_right(A*dy_i + D*sgn(d_i) + E, FK, "half_up"))``: the sum is exact
  at frac FK+F, one multiplier and a sign select;
* l2: ``B = div_round_away(-A*Sgd * 2**(W-F+G), s*s*m)`` (slope, frac FB; = -A*dgamma/(m*s)),
  ``E = div_round_away(-A*Sg, m)`` (const, frac FK+F); per element
  ``dx_i = saturate_data(shift_right((A*dy_i + E) * 2**(W-F+G) + B*d_i, W+2G, "half_up"))``:
  the sum is exact at frac FB+FS, two multipliers. (The RTL adds the same integer as
  ``A*dy_i * 2**(W-F+G) + B*x_i * 2**G + E'`` with ``E' = E * 2**(W-F+G) - mu*B`` per channel,
  so that its lane product is B by x, not B by d.)

These are the closed forms of numerics.md folded per channel (:func:`fold_backward_float` is the
float64 version; it equals :func:`golden.reference.backward` to ~1e-15). ``s == 0`` in a
division saturates with the numerator's sign and is counted. Format choices: FK+F fraction bits
make A*dy_i, D*sgn and E add exactly; FB = W+G keeps the rounding of B below 2**-(G+1) LSB of dx
for any |d| < 2**(W-F); the const range holds |D| <= 1.5 * 2**(2(W-F)) and
|E| <= 2.5 * 2**(2(W-F)) for any inputs with s > 0 and the forward's sigma; the slope range
holds |B| <= (1 + |A|) * 2**W, which any non-constant channel whose exact dx fits in Q(W, F)
satisfies (take two elements with x_i != x_j: |x_i - x_j| >= 2**-F).

Error bounds (against golden.reference on the same dequantized codes; LSB of each result)
-----------------------------------------------------------------------------------------
Rigorous forms (no first-order approximation) are the ``*_bound`` helpers of
``tests/test_bn_unit_model.py``, checked on every unsaturated sample; the first-order forms
below use real values, eps_S = 2**-FS, a = gamma/s, xhat = (x - mu)/s, g = |gamma|/s**2,
mg = mean(dy * xhat) = dgamma/m:

* mu: <= 1/2 LSB of S. sigma: l1 <= 1 LSB of S (1/2 rounding + 1/2 from mu), l2 < 1 LSB
  (floor of the root; one-pass and two-pass alike). dbeta: exact. Unconditional.
* y:  <= 1/2 + 2**-(G+1) * (1 + |x - mu| + |a| * (1 + 2|xhat|)).
  CONDITION for 2 LSB: |x - mu| + |a|(1 + 2|xhat|) <~ 3 * 2**G. The roundings of mu and s
  (1/2 and 1 LSB of S) are amplified by the gain a = gamma/s, the rounding of a (1/2 LSB of K)
  by |x - mu|. Fails for tiny s relative to gamma (gain above ~2**(G-2)) and, at W=32/F=16,
  for |x - mu| above ~3 * 2**G (K has only G more fraction bits than x).
* inference y: <= 1/2 + 2**-(G+1) * (1 + |x - running_mean|) (no statistics are rounded):
  < 1 LSB whenever |x - running_mean| < 2**G, i.e. always for W - F <= G.
* dgamma: <= 1/2 + 2**-G * (|dgamma| + |sum dy|/2) / s. CONDITION for 1 LSB:
  |dgamma| + |sum dy|/2 <~ 2**(G-1) * s. dgamma is a sum of m terms carrying the relative
  error eps_S/s of s, and the error eps_S/2 of mu times sum(dy).
* dx, l2: <= 1/2 + 2**-(G+1) * [1 + (1 + 2g)(|dy_i - mean dy| + |xhat_i mg|)
  + g (4|xhat_i mg| + |xhat_i mean dy| + |mg|)];
  l1: <= 1/2 + 2**-(G+1) * [1 + (1 + 2g)(|dy_i - mean dy| + |c_i mg|) + g |c_i| (2|mg| +
  |mean dy|)] with c_i = sgn(d_i) - mean(sgn d). CONDITION for 4 LSB: the bracket <~ 7 * 2**G,
  i.e. g = |gamma|/s**2 times the gradient scale below ~2**G (dx ~ gamma/s * dy, so its
  sensitivity to s is gamma/s**2). l1 ALSO needs the unit's sgn(d_i) to equal the exact
  sgn(x_i - mu): they differ only if m > 2**(G+1) and some x_i lies within eps_S/2 of the true
  mean; the reference itself jumps there (the |.| kink) and dx differs by up to ~|D|.

Measured worst errors (LSB; the tests' seeds; W16: 1500 channels, W8: 400, W32: 150;
m in 1..1000; Gaussian, ReLU, skewed, sparse and constant channels; gamma of both signs).
"cond" is the worst error where the condition holds (share of samples in brackets), "all" the
worst over every unsaturated sample; l2 one-pass equals two-pass on these data.

========  =================  =================  =================  ===================
quantity  variant            Q16.8 (W16 F8)     Q8.4 (W8 F4)       Q32.16 (W32 F16)
========  =================  =================  =================  ===================
mean      l1, l2             0.500              0.495              0.499
sigma     l1 / l2            0.924 / 0.999      0.846 / 0.998      0.808 / 0.997
y         l1 cond (share)    1.24 (97.5%)       1.00 (100%)        1.65 (88.7%)
y         l2 cond (share)    1.37 (99.5%)       0.71 (100%)        1.79 (90.9%)
y         l1 / l2 all        15.5 / 4.2         1.00 / 0.71        34.8 / 10.8
y infer   l1 / l2 cond       0.58 / 0.55        0.50 / 0.50        0.75 / 0.72 (62.5%)
dx        l1 cond (share)    3.00 (82.4%)       3.00 (99.9%)       2.35 (59.2%)
dx        l2 cond (share)    3.48 (77.7%)       1.93 (100%)        3.70 (61.0%)
dx        l1 / l2 all        3953 / 192         3.00 / 6.9         1.0e6 / 997
dgamma    l1 cond (share)    0.70 (43.2%)       0.62 (73.7%)       0.47 (45.3%)
dgamma    l2 cond (share)    0.68 (66.4%)       0.77 (82.2%)       0.67 (68.7%)
dgamma    l1 / l2 all        1875 / 137         28.6 / 6.0         5469 / 187
dbeta     all                0                  0                  0
========  =================  =================  =================  ===================

The "all" extremes are channels with s of a fraction to a few LSB of x and gains |a| of
hundreds to ~2e4, where dx itself reaches 1e4..4e8 LSB (norm-wise relative error of dx
<= 0.5% on fully unsaturated channels). Targeted tests document
the regimes: tiny sigma with gain 2**5..2**8.9 (y ~3.5, dx ~80-120, dgamma ~8-23 LSB), biased dy
over m = 1000 (dgamma ~80 LSB), W=32 data with |x - mu| ~ 1e4 (y ~24 LSB), and the l1 sign
kink (m = 601, 300 values at mu_q).

Constant channel: sigma = 0 and s = eps_q (l1) or isqrt(eps_q * 2**FS) (l2). With the default
eps at Q16.8 (eps_q = 1 LSB of S) a = gamma/s saturates K for l1, and b = beta - mu*a saturates
for both norms unless mu*a fits: counted, and y is then not beta. With an eps that keeps a and b
in range, y == beta exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import fixed
from .reference import NORMS

__all__ = ["STATS", "ALPHA_FMT", "UnitConfig", "batch_stats", "forward_train", "forward_infer",
           "backward", "fold_backward_float", "run"]

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
        not an int in [0, 32]; ``max_batch`` not an int in [1, 2**32]; ``alpha`` not a finite
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
        guard = fixed.check_int("guard", self.guard, 0, 32)
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
    def coef(self):
        """K = Q(W+G+2, F+G): a (= backward A) and b."""
        return fixed.Fmt(self.width + self.guard + 2, self.frac + self.guard)

    @property
    def mant_width(self):
        """MW: bits of the normalize gain's mantissa in :mod:`golden.bn_forward` (18 up to
        W = 16, else W + 2): its relative error 2**-MW costs at most 2**(W - MW) <= 1/4 LSB of y."""
        return 18 if self.width <= 16 else self.width + 2

    @property
    def lane_exp(self):
        """e_c = MW - W - 2: the lanes' smallest gain exponent (gains >= 2**(W+2) are clamped)."""
        return self.mant_width - self.width - 2

    @property
    def root_width(self):
        """Bits of the l2 training root ``isqrt(q * 4**j)`` (MW + 8)."""
        return self.mant_width + 8

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
    def const(self):
        """Q(2(W-F) + 3 + FK + F, FK + F): backward D (l1) and E."""
        f = self.coef.frac + self.frac
        return fixed.Fmt(2 * (self.width - self.frac) + 3 + f, f)

    @property
    def slope(self):
        """Q(2W - F + 3 + FB, FB) with FB = W + G: backward B (l2)."""
        fb = self.width + self.guard
        return fixed.Fmt(2 * self.width - self.frac + 3 + fb, fb)

    @property
    def formats(self):
        return {"data": self.data, "stat": self.stat, "coef": self.coef, "grad": self.grad,
                "const": self.const, "slope": self.slope, "alpha": ALPHA_FMT}

    @property
    def widths(self):
        """Bits of every accumulator / intermediate for batches up to ``max_batch``.

        Signed unless named ``abs``/``sq``/``num`` (unsigned); each holds its worst case.
        """
        w, g, mb = self.width, self.guard, self.max_batch
        return {
            "sum_x": fixed.sum_width(w, mb),
            "d": w + g + 1,
            "sum_abs_d": fixed.sum_width(w + g, mb),          # unsigned, |d| < 2**(W+G)
            "sum_sq_d": fixed.sum_width(2 * (w + g), mb),     # unsigned
            "sum_sq_x": fixed.sum_width(2 * w - 1, mb),       # unsigned, x**2 <= 2**(2W-2)
            "onepass_num": 2 * w - 1 + 2 * fixed.clog2(mb),   # unsigned m*Sxx - Sx**2
            "sum_dy": fixed.sum_width(w, mb),
            "sum_dy_d": fixed.sum_width(2 * w + g, mb),
            "sum_sgn": fixed.sum_width(2, mb),
        }


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


def _divide(num, den, fmt):
    """``(q, n_sat)``: ``div_round_away(num, den)`` saturated to ``fmt``; ``den == 0`` saturates
    with ``num``'s sign (``num == 0`` -> max), counted (the rule of :mod:`golden.divider`)."""
    if den < 0:
        raise ValueError("den must be non-negative")
    if den == 0:
        return (fmt.max_code if num >= 0 else fmt.min_code), 1
    return _sat(_rdiv(num, den), fmt)


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


# --- the unit --------------------------------------------------------------------------------

def _stats(cfg, x):
    """Steps 1-3 on validated int64 codes ``x``: mu, d, sigma, s and the sums."""
    w, f, g = cfg.width, cfg.frac, cfg.guard
    fs, stat = cfg.stat.frac, cfg.stat
    m = x.size
    lm = fixed.clog2(m)
    sx = int(np.sum(_arr(x, w + lm)))
    mu = _rdiv(sx << g, m)
    d = _arr(x, w + g + 2) * (1 << g) - mu
    sums = {"sum_x": sx}
    if cfg.norm == "l1":
        sd = int(np.sum(np.abs(d)))
        sums["sum_abs_d"] = sd
        sigma, n_sig = _sat(_rdiv(sd, m), stat)
        s, n_s = _sat(sigma + cfg.eps_q, stat)
    else:
        if cfg.stats == "two-pass":
            dd = _arr(d, 2 * (w + g + 1) + lm)
            sq = int(np.sum(dd * dd))
            sums["sum_sq_d"] = sq
            var = _rdiv(sq, m)
        else:
            xx = _arr(x, 2 * w + lm)
            sxx = int(np.sum(xx * xx))
            num = m * sxx - sx * sx
            sums["sum_sq_x"], sums["onepass_num"] = sxx, num
            var = _rdiv(num << (2 * g), m * m)
        sums["var"] = var
        root = int(fixed.isqrt(_obj(var + (cfg.eps_q << fs)))[0])
        sigma, n_sig = _sat(root, stat)
        s, n_s = sigma, 0
    return {"m": m, "mu": mu, "d": d, "sigma": sigma, "s": s, "sums": sums,
            "sat": {"sigma": n_sig, "s": n_s}}


def _scale_shift(cfg, x, gamma, beta, mu, s):
    """Steps 4-5: a, b and y codes with their saturation counts."""
    f, g, fk, fs = cfg.frac, cfg.guard, cfg.coef.frac, cfg.stat.frac
    a, n_a = _divide(gamma << (fk - f + fs), s, cfg.coef)
    b, n_b = _sat((beta << (fk - f)) - _shr(mu * a, fs), cfg.coef)
    p = _arr(x, 2 * cfg.width + g + 4) * a + (b << f)
    y, flags = fixed.saturate_flags(fixed.shift_right(p, fk, "half_up"), cfg.data)
    return y, a, b, {"a": n_a, "b": n_b, "y": int(np.count_nonzero(flags))}


def _update(cfg, old, batch):
    aq = cfg.alpha_q
    v = aq * old + ((1 << ALPHA_FRAC) - aq) * batch
    return _sat(_shr(v, ALPHA_FRAC), cfg.stat)


def batch_stats(cfg, x):
    """Batch statistics of one channel (steps 1-3): dict with ``mean``, ``sigma``, ``s`` codes,
    the sums and the saturation counts."""
    x = _check_codes("x", x, cfg)
    st = _stats(cfg, x)
    return {"mean": st["mu"], "sigma": st["sigma"], "s": st["s"], "sums": st["sums"],
            "sat": dict(st["sat"])}


def forward_train(cfg, x, gamma, beta, running_mean, running_sigma):
    """Training forward pass of one channel.

    Parameters
    ----------
    cfg : UnitConfig
    x : 1-D integer codes of ``cfg.data`` (m values, 1 <= m <= max_batch)
    gamma, beta : int codes of ``cfg.data``
    running_mean, running_sigma : int codes of ``cfg.stat`` (running_sigma >= 0)

    Returns
    -------
    dict
        ``y`` (int64 codes), ``mean``, ``sigma``, ``running_mean``, ``running_sigma`` (S codes),
        internals ``s``, ``a``, ``b``, ``sums``, and ``sat`` (per-stage saturation counts:
        sigma, s, a, b, y, running) with their total ``n_sat``.
    """
    x = _check_codes("x", x, cfg)
    gamma = _check_code("gamma", gamma, cfg.data)
    beta = _check_code("beta", beta, cfg.data)
    rm = _check_code("running_mean", running_mean, cfg.stat)
    rs = _check_code("running_sigma", running_sigma, cfg.stat, nonneg=True)
    st = _stats(cfg, x)
    y, a, b, sat = _scale_shift(cfg, x, gamma, beta, st["mu"], st["s"])
    new_mean, n1 = _update(cfg, rm, st["mu"])
    new_sigma, n2 = _update(cfg, rs, st["sigma"])
    sat = {**st["sat"], **sat, "running": n1 + n2}
    return {"y": y, "mean": st["mu"], "sigma": st["sigma"], "running_mean": new_mean,
            "running_sigma": new_sigma, "s": st["s"], "a": a, "b": b, "sums": st["sums"],
            "sat": sat, "n_sat": sum(sat.values())}


def forward_infer(cfg, x, gamma, beta, running_mean, running_sigma):
    """Inference forward pass of one channel: y = a*x + b with a = gamma/s_run,
    b = beta - running_mean*a (steps 4-5). Returns dict ``y``, ``s``, ``a``, ``b``, ``sat``,
    ``n_sat``."""
    x = _check_codes("x", x, cfg)
    gamma = _check_code("gamma", gamma, cfg.data)
    beta = _check_code("beta", beta, cfg.data)
    rm = _check_code("running_mean", running_mean, cfg.stat)
    rs = _check_code("running_sigma", running_sigma, cfg.stat, nonneg=True)
    if cfg.norm == "l1":
        s, n_s = _sat(rs + cfg.eps_q, cfg.stat)
    else:
        s, n_s = rs, 0
    y, a, b, sat = _scale_shift(cfg, x, gamma, beta, rm, s)
    sat = {"s": n_s, **sat}
    return {"y": y, "s": s, "a": a, "b": b, "sat": sat, "n_sat": sum(sat.values())}


def backward(cfg, x, dy, gamma, mean, sigma):
    """Backward pass of one channel from the forward's ``mean`` and ``sigma`` codes.

    Returns
    -------
    dict
        ``dx`` (int64 codes of ``cfg.data``), ``dgamma``, ``dbeta`` (``cfg.grad`` codes),
        internals ``s``, ``A``, ``E`` and ``D`` (l1) or ``B`` (l2), ``sums`` (sum_dy,
        sum_dy_d, and sum_sgn for l1), ``sat`` (s, a, dgamma, D/B, E, dx) and ``n_sat``.
    """
    x = _check_codes("x", x, cfg)
    dy = _check_codes("dy", dy, cfg)
    if dy.shape != x.shape:
        raise ValueError(f"dy must have the shape of x {x.shape}, got {dy.shape}")
    gamma = _check_code("gamma", gamma, cfg.data)
    mu = _check_code("mean", mean, cfg.stat)
    sigma = _check_code("sigma", sigma, cfg.stat, nonneg=True)
    w, f, g = cfg.width, cfg.frac, cfg.guard
    fk, fs, fb = cfg.coef.frac, cfg.stat.frac, cfg.slope.frac
    m = x.size
    lm = fixed.clog2(m)
    if cfg.norm == "l1":
        s, n_s = _sat(sigma + cfg.eps_q, cfg.stat)
    else:
        s, n_s = sigma, 0
    a, n_a = _divide(gamma << (fk - f + fs), s, cfg.coef)
    d = _arr(x, w + g + 2) * (1 << g) - mu
    sg = int(np.sum(_arr(dy, w + lm)))
    sgd = int(np.sum(_arr(dy, 2 * w + g + 2 + lm) * d))
    dbeta, n_db = _sat(sg, cfg.grad)
    assert n_db == 0, "dbeta cannot overflow the grad format"
    dgamma, n_dg = _divide(sgd, s, cfg.grad)
    sums = {"sum_dy": sg, "sum_dy_d": sgd}
    out = {"s": s, "A": a}
    if cfg.norm == "l1":
        sgn = fixed.sign(d)
        ssgn = int(np.sum(sgn))
        sums["sum_sgn"] = ssgn
        dd, n_d = _divide(-a * sgd, s * m, cfg.const)
        e, n_e = _divide(a * (sgd * ssgn - sg * s * m), s * m * m, cfg.const)
        bits = max(cfg.coef.width + w, cfg.const.width) + 2
        t = _arr(dy, bits) * a + _arr(sgn, bits) * dd + e
        shift = fk
        out.update(D=dd, E=e)
        sat = {"s": n_s, "a": n_a, "dgamma": n_dg, "D": n_d, "E": n_e}
    else:
        up = fb - fk - f + fs
        bb, n_b = _divide((-a * sgd) << up, s * s * m, cfg.slope)
        e, n_e = _divide(-a * sg, m, cfg.const)
        bits = max(cfg.coef.width + w + up, cfg.const.width + up,
                   cfg.slope.width + w + g + 1) + 2
        t = (_arr(dy, bits) * a + e) * (1 << up) + _arr(d, bits) * bb
        shift = fb + fs - f
        out.update(B=bb, E=e)
        sat = {"s": n_s, "a": n_a, "dgamma": n_dg, "B": n_b, "E": n_e}
    dx, flags = fixed.saturate_flags(fixed.shift_right(t, shift, "half_up"), cfg.data)
    sat["dx"] = int(np.count_nonzero(flags))
    out.update(dx=dx, dgamma=dgamma, dbeta=dbeta, sums=sums, sat=sat, n_sat=sum(sat.values()))
    return out


# --- float64 folded form (the algebra the integer backward implements) -------------------------

def fold_backward_float(norm, x, dy, gamma, eps):
    """Per-channel folded backward in float64: dict ``A``, ``E``, ``D`` (l1) or ``B`` (l2),
    ``dx``, ``dgamma``, ``dbeta`` for 1-D ``x``, ``dy`` of one channel.

    A = gamma/s; dgamma = sum(dy*d)/s with d = x - mu;
    l1: D = -A*dgamma/m, E = -A*sum(dy)/m - D*sum(sgn d)/m, dx = A*dy + D*sgn(d) + E;
    l2: B = -A*dgamma/(m*s), E = -A*sum(dy)/m, dx = A*dy + B*d + E.
    """
    x = np.asarray(x, dtype=np.float64)
    dy = np.asarray(dy, dtype=np.float64)
    m = x.size
    mu = x.mean()
    d = x - mu
    if norm == "l1":
        s = np.abs(d).mean() + eps
    elif norm == "l2":
        s = math.sqrt((d * d).mean() + eps)
    else:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    a = gamma / s
    sg = dy.sum()
    dgamma = (dy * d).sum() / s
    out = {"A": a, "dgamma": dgamma, "dbeta": sg}
    if norm == "l1":
        sgn = np.sign(d)
        dd = -a * dgamma / m
        e = -a * sg / m - dd * sgn.sum() / m
        out.update(D=dd, E=e, dx=a * dy + dd * sgn + e)
    else:
        b = -a * dgamma / (m * s)
        e = -a * sg / m
        out.update(B=b, E=e, dx=a * dy + b * d + e)
    return out


# --- array-level wrapper -----------------------------------------------------------------------

_MODES = {
    "train": ({"x", "gamma", "beta"}, {"running_mean", "running_sigma"}),
    "infer": ({"x", "gamma", "beta", "running_mean", "running_sigma"}, set()),
    "backward": ({"x", "dy", "gamma"}, {"mean", "sigma"}),
}


def _channels(a):
    """(N, C[, H, W]) -> (C, m) view of the channel-major values."""
    return np.moveaxis(a, 1, 0).reshape(a.shape[1], -1)


def _unchannels(c, shape):
    moved = (shape[1], shape[0]) + tuple(shape[2:])
    return np.moveaxis(c.reshape(moved), 0, 1)


def run(cfg, mode, **arrays):
    """Run the unit over float arrays: quantize (counting saturation), run per channel, return
    floats and codes.

    Parameters
    ----------
    cfg : UnitConfig
    mode : {"train", "infer", "backward"}
    **arrays
        ``x`` (and ``dy`` for backward) of shape (N, C) or (N, C, H, W); per-channel (C,)
        vectors ``gamma``, ``beta`` (train, infer), ``running_mean``, ``running_sigma`` (infer;
        optional for train, default 0 and 1), ``mean``, ``sigma`` (optional for backward: the
        unit's own batch statistics of ``x`` when absent). x, dy, gamma, beta are quantized to
        ``cfg.data``, the others to ``cfg.stat`` (half_even, :func:`golden.fixed.quantize`).

    Returns
    -------
    dict
        Float results (``y`` / ``dx``, per-channel vectors) and their ``*_codes``; ``sat``: the
        saturation counts summed over channels, plus ``input_<name>`` for quantization.
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {tuple(_MODES)}, got {mode!r}")
    need, opt = _MODES[mode]
    names = set(arrays)
    if not need <= names or not names <= need | opt:
        raise ValueError(f"mode {mode!r} needs {sorted(need)} (optional {sorted(opt)}), "
                         f"got {sorted(names)}")
    x = np.asarray(arrays["x"], dtype=np.float64)
    if x.ndim not in (2, 4) or x.size == 0:
        raise ValueError(f"x must be non-empty 2-D (N, C) or 4-D (N, C, H, W), got {x.shape}")
    c = x.shape[1]
    sat_total = {}
    q = {}
    for name, v in arrays.items():
        v = np.asarray(v, dtype=np.float64)
        if name in ("x", "dy"):
            if v.shape != x.shape:
                raise ValueError(f"{name} must have shape {x.shape}, got {v.shape}")
        elif v.shape != (c,):
            raise ValueError(f"{name} must have shape ({c},), got {v.shape}")
        if name in ("running_sigma", "sigma") and np.any(v < 0):
            raise ValueError(f"{name} must be >= 0")
        fmt = cfg.data if name in ("x", "dy", "gamma", "beta") else cfg.stat
        q[name], sat_total[f"input_{name}"] = fixed.quantize(v, fmt)
    xc = _channels(q["x"])
    stat, data = cfg.stat, cfg.data
    out = {}

    def add(sat):
        for k, v in sat.items():
            sat_total[k] = sat_total.get(k, 0) + v

    if mode == "train":
        rm = q.get("running_mean", fixed.quantize(np.zeros(c), stat)[0])
        rs = q.get("running_sigma", fixed.quantize(np.ones(c), stat)[0])
        y = np.empty(xc.shape, dtype=np.int64)
        keys = ("mean", "sigma", "running_mean", "running_sigma")
        vec = {k: [] for k in keys}
        for ch in range(c):
            r = forward_train(cfg, xc[ch], int(q["gamma"][ch]), int(q["beta"][ch]),
                              int(rm[ch]), int(rs[ch]))
            y[ch] = r["y"]
            for k in keys:
                vec[k].append(r[k])
            add(r["sat"])
        out["y_codes"] = _unchannels(y, x.shape)
        out["y"] = fixed.dequantize(out["y_codes"], data)
        for k in keys:
            out[f"{k}_codes"] = fixed.codes(vec[k], stat.width)
            out[k] = fixed.dequantize(out[f"{k}_codes"], stat)
    elif mode == "infer":
        y = np.empty(xc.shape, dtype=np.int64)
        for ch in range(c):
            r = forward_infer(cfg, xc[ch], int(q["gamma"][ch]), int(q["beta"][ch]),
                              int(q["running_mean"][ch]), int(q["running_sigma"][ch]))
            y[ch] = r["y"]
            add(r["sat"])
        out["y_codes"] = _unchannels(y, x.shape)
        out["y"] = fixed.dequantize(out["y_codes"], data)
    else:
        dyc = _channels(q["dy"])
        dx = np.empty(xc.shape, dtype=np.int64)
        dg, db = [], []
        for ch in range(c):
            if "mean" in q and "sigma" in q:
                mu, sg = int(q["mean"][ch]), int(q["sigma"][ch])
            else:
                st = batch_stats(cfg, xc[ch])
                mu = int(q["mean"][ch]) if "mean" in q else st["mean"]
                sg = int(q["sigma"][ch]) if "sigma" in q else st["sigma"]
            r = backward(cfg, xc[ch], dyc[ch], int(q["gamma"][ch]), mu, sg)
            dx[ch] = r["dx"]
            dg.append(r["dgamma"])
            db.append(r["dbeta"])
            add(r["sat"])
        out["dx_codes"] = _unchannels(dx, x.shape)
        out["dx"] = fixed.dequantize(out["dx_codes"], data)
        for k, v in (("dgamma", dg), ("dbeta", db)):
            out[f"{k}_codes"] = fixed.codes(v, cfg.grad.width)
            out[k] = fixed.dequantize(out[f"{k}_codes"], cfg.grad)
    out["sat"] = sat_total
    return out

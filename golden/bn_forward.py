"""Bit-accurate forward numerics of the BN units from exact sums: a relative-precision gain and
centred lanes.

Every statistic and coefficient is one rounding of exact integers, so the error bounds below
hold for every input with ``1 <= m <= max_batch``: constant, two-level, sparse and large-mean
channels with a tiny spread included. Formats and parameters come from
:class:`l1bn.golden.bn_unit.UnitConfig` (data ``Q(W, F)``, statistics ``S = Q(W+G, F+G)``, ``FS =
F+G``, guard bits ``G >= 3``, eps code ``eps_q`` with ``FS`` fraction bits, ``alpha_q``); all
quantities are integer codes, x, gamma, beta of the data format.

Training (one channel of m values)
----------------------------------
1. ``Sx = sum x_i``; the mean on the data grid ``mu_F = div_round_away(Sx, m)`` and its
   remainder ``r = Sx - m*mu_F`` (``|r| <= m/2``: the exact mean is ``mu_F + t``, ``t = r/m``,
   ``|t| <= 1/2``); the batch mean output ``mean = div_round_away(Sx * 2**G, m)`` (S).
2. Centred values ``d_i = x_i - mu_F``: exact, W+1 bits signed (``|d_i| <= 2**W``).
3. Spread, exactly, as an integer ``N = m**2 * (spread in data codes)``:

   * l1: ``A = sum |d_i|``, ``P = #(d_i > 0)``, ``Q = #(d_i < 0)``;
     ``N = m*A + |r| * (m - 2*(P if r >= 0 else Q))`` = ``m * sum |x_i - Sx/m|`` (for an integer
     ``d != 0``, ``|d - t| = |d| - t*sgn(d)`` because ``|t| <= 1/2``; for ``d = 0`` it is ``|t|``).
     ``sigma = div_round_away(N * 2**G, m*m)`` (S, the mean absolute deviation, no eps).
   * l2 two-pass: ``V = m * sum d_i**2 - r**2``; one-pass: ``V = m * sum x_i**2 - Sx**2``: the same
     integer, ``m**2`` times the biased variance. ``q = V * 2**(2G) + eps_q * 2**FS * m**2`` (so that
     ``sqrt(q)/m`` is ``sqrt(var + eps)`` in S codes). One root serves sigma and the gain:
     ``R = isqrt(floor(q * 4**j))`` normalized to ``[2**(n-1), 2**n)``, ``n`` =
     :attr:`~l1bn.golden.bn_unit.UnitConfig.root_width` = ``max(MW + 8, W + G + 3)``;
     ``sigma = (X + m) // (2m)`` with ``X = R * 2**(1-j)`` (a right shift for ``j > 1``): exactly
     ``sqrt(q)/m`` rounded half up when ``j >= 1``, within ``1/2 + 2**(W+G-n) <= 5/8`` LSB always.
4. Gain ``a = gamma/s`` in data codes per data code, held as sign, mantissa and exponent,
   ``|a| ~ mant * 2**-e`` with ``mant`` in ``[2**(MW-1), 2**MW)`` (``MW`` =
   :attr:`~l1bn.golden.bn_unit.UnitConfig.mant_width`: 18 up to W = 16):

   * l1: ``mant = round_half_up(|gamma| * m**2 * 2**G * 2**e / (N * 2**G + eps_q * m**2))``: one
     rounding of exact integers, relative error <= 2**-MW;
   * l2: ``|gamma| * m * 2**G / sqrt(q)`` as one rounding of ``|gamma| * m * 2**G * 2**j / R``:
     relative error <= 2**-MW + 2**-(n-1);
   * ``gamma = 0``: ``mant = 0``. A zero denominator (l1: N = 0 and eps_q = 0; l2: q = 0), an
     infinite gain, counts as saturated (``sat["a"]``).

   The lanes use ``(mant_l, e_l) = (mant, e)`` when ``e >= e_c = MW - W - 2``, else the clamp
   ``(2**MW - 1, e_c)`` (a gain of ``2**(W+2)`` or more, counted in ``sat["a"]``): every output
   with ``d_i != 0`` saturates then, in the float reference too, with the same sign.
5. Bias ``b' = beta - a*t`` in B = Q(W+2+G, G): ``q1 = div_round_away(mant*|r| * 2**(G +
   max(-e, 0)), m)``, ``c = shift_right(q1, max(e, 0), "half_up")``, ``b' = saturate_B(beta *
   2**G - sgn(gamma)*sgn(r)*c)``; an infinite gain has ``r = 0`` in training (a constant
   channel), else ``c`` saturates. Error <= 2**-G LSB (one rounding of 1/2 unit for e < 0, two
   of at most 1/2 each for e >= 0).
6. Lanes: ``q_i = min(floor(mant_l * |d_i| * 2**(G - e_l)), 2**(W+2+G) - 1)``,
   ``z_i = -q_i if (gamma < 0) != (d_i < 0) else q_i``,
   ``y_i = saturate_data(shift_right(z_i + b', G, "half_up"))``. The lane multiplier is
   ``MW x (W+1)`` bits unsigned (18 x 17 at W = 16); a constant channel has ``d_i = 0`` and
   ``t = 0``, so ``y_i = beta`` exactly.
7. What the backward takes (:func:`l1bn.golden.bn_backward.backward`), all exact integers: ``Sx``,
   the spread ``N`` (l1) or ``V`` (l2) and, l1, the sum of the exact signs ``Ssgn = sum
   sgn(x_i - Sx/m) = P - Q - sgn(r) * (m - P - Q)`` (``d_i = 0`` lies on the other side of the
   mean from ``r``): ``sums["sum_x"]``, ``sums["spread"]``, ``sums["sum_sgn"]``.
8. Running statistics (Algorithm 1, alpha = weight of the OLD value): ``new =
   saturate_S(shift_right(alpha_q * old + (2**16 - alpha_q) * batch, 16, "half_up"))`` for the
   mean and sigma.

Inference: ``mu_F = shift_right(running_mean, G, "half_up")`` (W+1 bits: ``d`` stays W+1 bits),
``r = running_mean - mu_F * 2**G`` with ``2**G`` in place of m (``|t| <= 1/2``), the gain
``|gamma| * 2**G / den`` with ``den = running_sigma + eps_q`` (l1) or ``running_sigma`` (l2,
whose eps is inside), then steps 5-6.

Error bounds (against :mod:`l1bn.golden.reference` on the same codes, with eps = eps_q * 2**-FS and
alpha = alpha_q * 2**-16; unconditional)
------------------------------------------------------------------------------------------------
* mean <= 1/2 LSB of S; sigma <= 1/2 LSB of S for l1, 5/8 for l2 (unless it saturates S,
  counted).
* y (training and inference) <= 1/2 + 2**(W-MW) * (1 + 2**-(n-2)) + 2**(1-G) <= 1 LSB wherever
  the reference y lies inside the data format. Sketch: let ``y* = a(d - t) + beta`` (exact).
  If ``|y*| <= R = 2**(W-1)`` codes and ``d != 0``, then ``|a(d - t)| <= 2R`` and, as ``|d - t| >=
  |d|/2``, ``|a d| <= 4R``: no clamp (``|a| < 2**(W+2)``), no ``q`` limit, ``|b'| <= 3R``
  (unsaturated). The lane then computes ``round(a_hat (d - t) + beta + e_1 + e_2)`` with the
  mantissa error ``|a_hat - a| |d - t| <= 2**-MW * 2R``, the floor of ``q`` ``e_1 < 2**-G`` and
  the bias ``e_2 <= 2**-G``, plus the final 1/2. With ``d = 0`` only the bias and the final
  rounding remain. Outside the format the sign is kept: ``|a| >= 2**(W+2)`` or a saturated
  ``b'`` occur only where ``|y*| > R`` for every ``d != 0``, and the lane result then exceeds R
  with the sign of ``gamma * d``.
* running statistics <= 1/2 + (1 - alpha) / 2 <= 1 LSB of S against Algorithm 1 with alpha_q.
"""

from __future__ import annotations

import math

import numpy as np

from . import fixed
from .centred_scale import centred_scale, shift_cap
from .norm_divider import norm_div
from .bn_config import ALPHA_FRAC, MIN_GUARD, _arr, _check_code, _check_codes, _rdiv, _sat, _shr

__all__ = ["MIN_GUARD", "apply_constants", "batch_stats", "forward_train", "forward_infer",
           "infer_constants", "lane_codes", "root"]


def root(q, n):
    """``(R, j)``: ``R = isqrt(floor(q * 4**j))`` with j chosen so that ``R`` lies in
    ``[2**(n-1), 2**n)`` (``q > 0``; ``R ~ sqrt(q) * 2**j`` within a relative ``2**-(n-1)``)."""
    j = n - (q.bit_length() + 1) // 2
    return math.isqrt(q << (2 * j) if j >= 0 else q >> (-2 * j)), j


def _root_sigma(r, j, m):
    """l2 sigma ``round(sqrt(q)/m)`` from the normalized root: exact for ``j >= 1``; for
    ``j <= 0`` the root's floor adds less than ``2**-j / m <= 2**(W+G-n)`` LSB."""
    x = r >> (j - 1) if j >= 1 else r << (1 - j)
    return (x + m) // (2 * m)


def _gain(cfg, num, den=None, q=None):
    """``|a| = num / den`` (or ``num / sqrt(q)``) as ``(mant, e)``, its lane form ``(mant_l,
    e_l)`` and the clamp's saturation count."""
    mw = cfg.mant_width
    if q is not None:
        den = 0
        if q:
            r, j = root(q, cfg.root_width)
            num, den = (num << j, r) if j >= 0 else (num, r << -j)
    mant, e, n_inf = norm_div(num, den, mw)
    ec = cfg.lane_exp
    if n_inf or (mant and e < ec):
        return (mant, e), ((1 << mw) - 1, ec), 1
    return (mant, e), (mant, e if mant else ec), 0


def _bias(cfg, gamma, beta, mant, e, r, m):
    """``(b', n_sat)``: ``beta - a * r/m`` in the bias format, step 5."""
    g = cfg.guard
    if r == 0 or (mant == 0 and e is not None):
        c = 0
    elif e is None:
        c = 1 << cfg.bias.width          # an infinite gain: beyond B, saturates with the sign
    else:
        # one rounding on the gain's grid or, for a gain of 2**MW or more (e < 0), on the
        # bias's grid: a rounding there is not multiplied by 2**-e
        q1 = _rdiv(mant * abs(r) << (g + max(-e, 0)), m)
        c = _shr(q1, max(e, 0))
    if (gamma < 0) != (r < 0):
        c = -c
    return _sat((beta << g) - c, cfg.bias)


def _lanes(cfg, x, mu_f, mant_l, e_l, neg_gamma, bias):
    """``(y, sat flags)`` of step 6 (:func:`l1bn.golden.centred_scale.centred_scale`) for codes x."""
    d = _arr(x, cfg.width + 2) - mu_f
    return centred_scale(d, mant_l, e_l - cfg.lane_exp, neg_gamma, bias, width=cfg.width,
                         frac=cfg.frac, guard=cfg.guard, mant_width=cfg.mant_width)


def _train_stats(cfg, x):
    """Steps 1-3 on validated codes: mean, sigma, mu_F, r, the exact sums and the gain's
    operands (``scale``: the factor of |gamma|; ``den`` (l1) or ``q`` (l2))."""
    w, g = cfg.width, cfg.guard
    m = x.size
    lm = fixed.clog2(m)
    sx = int(np.sum(_arr(x, w + lm)))
    mu_f = _rdiv(sx, m)
    r = sx - m * mu_f
    d = _arr(x, w + 2) - mu_f
    sums = {"sum_x": sx}
    if cfg.norm == "l1":
        a1 = int(np.sum(np.abs(d)))
        npos, nneg = int(np.count_nonzero(d > 0)), int(np.count_nonzero(d < 0))
        n1 = m * a1 + abs(r) * (m - 2 * (npos if r >= 0 else nneg))
        ssgn = npos - nneg - (m - npos - nneg) * (r > 0) + (m - npos - nneg) * (r < 0)
        sums.update(sum_abs_d=a1, n_pos=npos, n_neg=nneg, spread=n1, sum_sgn=ssgn)
        sigma, n_sig = _sat(_rdiv(n1 << g, m * m), cfg.stat)
        gain = {"scale": m * m << g, "den": (n1 << g) + cfg.eps_q * m * m}
    else:
        if cfg.stats == "two-pass":
            dd = _arr(d, 2 * w + 4 + lm)
            sums["sum_sq_d"] = sq = int(np.sum(dd * dd))
            v = m * sq - r * r
        else:
            xx = _arr(x, 2 * w + lm)
            sums["sum_sq_x"] = sxx = int(np.sum(xx * xx))
            v = m * sxx - sx * sx
        q = (v << 2 * g) + (cfg.eps_q << cfg.stat.frac) * m * m
        sums.update(spread=v, q=q)
        sigma, n_sig = _sat(_root_sigma(*root(q, cfg.root_width), m) if q else 0, cfg.stat)
        gain = {"scale": m << g, "q": q}
    return {"m": m, "mean": _rdiv(sx << g, m), "mu_f": mu_f, "r": r, "sigma": sigma,
            "sums": sums, "gain": gain, "sat": {"sigma": n_sig}}


def _normalize(cfg, x, gamma, beta, mu_f, r, m, scale, den=None, q=None):
    """Steps 4-6 of one channel: y codes, the lanes' coefficients and saturation counts."""
    (mant, e), (mant_l, e_l), n_a = _gain(cfg, abs(gamma) * scale, den, q)
    bias, n_b = _bias(cfg, gamma, beta, mant, e, r, m)
    y, flags = _lanes(cfg, x, mu_f, mant_l, e_l, gamma < 0, bias)
    coef = {"mu_f": mu_f, "mant": mant_l, "exp": e_l, "neg": int(gamma < 0), "bias": bias}
    return y, coef, {"a": n_a, "b": n_b, "y": int(np.count_nonzero(flags))}


def _update(cfg, old, batch):
    aq = cfg.alpha_q
    return _sat(_shr(aq * old + ((1 << ALPHA_FRAC) - aq) * batch, ALPHA_FRAC), cfg.stat)


def _check_channel(cfg, x, gamma, beta, running_mean, running_sigma):
    return (_check_codes("x", x, cfg), _check_code("gamma", gamma, cfg.data),
            _check_code("beta", beta, cfg.data),
            _check_code("running_mean", running_mean, cfg.stat),
            _check_code("running_sigma", running_sigma, cfg.stat, nonneg=True))


def batch_stats(cfg, x):
    """Steps 1-3 of one channel: dict ``mean``, ``sigma`` (S codes), ``mu_f``, ``r``, the exact
    ``sums`` and ``sat``."""
    st = _train_stats(cfg, _check_channel(cfg, x, 0, 0, 0, 0)[0])
    return {k: st[k] for k in ("mean", "sigma", "mu_f", "r", "sums", "sat")}


def forward_train(cfg, x, gamma, beta, running_mean, running_sigma):
    """Training forward pass of one channel.

    Parameters
    ----------
    cfg : l1bn.golden.bn_unit.UnitConfig
    x : 1-D integer codes of ``cfg.data`` (m values, 1 <= m <= max_batch)
    gamma, beta : int codes of ``cfg.data``
    running_mean, running_sigma : int codes of ``cfg.stat`` (running_sigma >= 0)

    Returns
    -------
    dict
        ``y`` (int64 codes), ``mean``, ``sigma``, ``running_mean``, ``running_sigma`` (S codes),
        ``coef`` (the lanes' ``mu_f``, ``mant``, ``exp``, ``neg``, ``bias``), ``sums``, ``sat``
        (counts: sigma, a, b, y, running) and their total ``n_sat``.
    """
    x, gamma, beta, rm, rs = _check_channel(cfg, x, gamma, beta, running_mean, running_sigma)
    st = _train_stats(cfg, x)
    y, coef, sat = _normalize(cfg, x, gamma, beta, st["mu_f"], st["r"], st["m"],
                              **st["gain"])
    new_mean, n1 = _update(cfg, rm, st["mean"])
    new_sigma, n2 = _update(cfg, rs, st["sigma"])
    sat = {**st["sat"], **sat, "running": n1 + n2}
    return {"y": y, "mean": st["mean"], "sigma": st["sigma"], "running_mean": new_mean,
            "running_sigma": new_sigma, "coef": coef, "sums": st["sums"], "sat": sat,
            "n_sat": sum(sat.values())}


def infer_constants(cfg, gamma, beta, running_mean, running_sigma):
    """The lanes' constants of inference for one channel (steps 4-5 from the running
    statistics, see the module docstring): what an inference-only unit loads
    (:class:`l1bn.hdl.bn_infer.BNInfer`).

    Returns
    -------
    dict
        ``coef``: ``mu_f`` (W+1 bits signed), ``mant`` (MW bits), ``exp`` (the lane exponent,
        ``>= cfg.lane_exp``), ``neg`` (gamma < 0), ``bias`` (the bias format); ``sat``: the
        counts ``a`` (an infinite or clamped gain) and ``b`` (a saturated bias).
    """
    _x, gamma, beta, rm, rs = _check_channel(cfg, [0], gamma, beta, running_mean, running_sigma)
    g = cfg.guard
    mu_f = _shr(rm, g)
    den = rs + cfg.eps_q if cfg.norm == "l1" else rs
    (mant, e), (mant_l, e_l), n_a = _gain(cfg, abs(gamma) << g, den)
    bias, n_b = _bias(cfg, gamma, beta, mant, e, rm - (mu_f << g), 1 << g)
    coef = {"mu_f": mu_f, "mant": mant_l, "exp": e_l, "neg": int(gamma < 0), "bias": bias}
    return {"coef": coef, "sat": {"a": n_a, "b": n_b}}


def apply_constants(cfg, x, coef):
    """Step 6 on the codes ``x`` with the lanes' constants ``coef`` (as
    :func:`infer_constants` returns them): ``(y codes, saturation flags)``."""
    return _lanes(cfg, _check_codes("x", x, cfg), coef["mu_f"], coef["mant"], coef["exp"],
                  bool(coef["neg"]), coef["bias"])


def lane_codes(cfg, coef):
    """The codes an inference-only unit loads for the constants ``coef`` (of
    :func:`infer_constants`): ``mu_f``, ``mant``, ``neg``, ``bias`` as they are and ``shift =
    min(exp - cfg.lane_exp, shift_cap)`` (every shift from the cap up truncates the product to 0,
    :func:`l1bn.golden.centred_scale.shift_cap`)."""
    cap = shift_cap(cfg.width, cfg.guard, cfg.mant_width)
    return {"mu_f": coef["mu_f"], "mant": coef["mant"],
            "shift": min(coef["exp"] - cfg.lane_exp, cap), "neg": coef["neg"],
            "bias": coef["bias"]}


def forward_infer(cfg, x, gamma, beta, running_mean, running_sigma):
    """Inference forward pass of one channel (see the module docstring):
    :func:`infer_constants` then :func:`apply_constants`. Returns dict ``y``, ``coef``, ``sat``
    (a, b, y) and ``n_sat``."""
    x = _check_codes("x", x, cfg)
    k = infer_constants(cfg, gamma, beta, running_mean, running_sigma)
    y, flags = apply_constants(cfg, x, k["coef"])
    sat = {**k["sat"], "y": int(np.count_nonzero(flags))}
    return {"y": y, "coef": k["coef"], "sat": sat, "n_sat": sum(sat.values())}

"""Bit-accurate backward numerics of the BN units from exact sums: the forward's exact sum and
spread, a relative-precision gain and centred lanes.

Formats and parameters come from :class:`l1bn.golden.bn_unit.UnitConfig` (data ``Q(W, F)``, ``G``
guard bits, eps code ``eps_q`` with ``FS = F+G`` fraction bits, ``MW`` =
:attr:`~l1bn.golden.bn_unit.UnitConfig.mant_width`, ``n`` =
:attr:`~l1bn.golden.bn_unit.UnitConfig.root_width`); all quantities are integer codes. Inputs of
one channel: x, dy, gamma (data codes) and what the forward hands over, both exact integers
from :func:`l1bn.golden.bn_forward.forward_train` (``sums``): ``sum_x = Sx`` and the spread
``N`` (l1) or ``V`` (l2). Nothing is taken from a rounded mean or sigma.

Notation (data codes; the reference is :func:`l1bn.golden.reference.backward` on the same codes)
------------------------------------------------------------------------------------------
``mu_F = div_round_away(Sx, m)``, ``r = Sx - m*mu_F``, ``d_i = x_i - mu_F`` (W+1 bits),
``c_i = d_i - r/m`` (exactly ``x_i - mean x``). The denominator ``s`` (data codes) is
``Den/(m**2 * 2**G)`` with ``Den = N * 2**G + eps_q * m**2`` (l1) and ``sqrt(q)/(m * 2**G)``
with ``q = V * 2**(2G) + eps_q * 2**FS * m**2`` (l2): the forward's exact integers. The gain is
``a = gamma/s``; ``mg = mean(dy * xhat)``; the exact ``dx_i = a * b_i`` with the bracket
``b_i = dy_i - mean(dy) - xhat_i * mg`` (l2) or ``dy_i - mean(dy) - mg * (sgn_i - mean(sgn))``
(l1).

Per-channel sums (one pass over x and dy)
-----------------------------------------
``Sdy = sum dy_i``, ``Sdyx = sum dy_i * x_i`` and ``T = m*Sdyx - Sx*Sdy = m * sum dy_i * c_i``
(exact; no mean is needed during the pass). l1 also takes the EXACT sign ``sgn_i = sgn(x_i - Sx/m)``: ``sgn(d_i)`` for
``d_i != 0`` (``|d_i| >= 1 > |r/m|``), else ``-sgn(r)``; and ``Ssgn = sum sgn_i`` (the
forward hands it over: :mod:`l1bn.golden.bn_forward` step 7). Then, exactly,
``mg = T * 2**G / Den`` (l1) and ``mg / s = T * 2**(2G) / q`` (l2): the brackets are rational.

Outputs and their one rounding each
-----------------------------------
* ``dbeta = Sdy``: exact (the grad format holds it).
* ``dgamma = sum dy_i * xhat_i = T/(m*s)``: l1 ``div_round_away(T * m * 2**G, Den)``, exact
  to 1/2 LSB; l2 ``div_round_away(T * 2**(G+j), R)`` with the forward's normalized root
  ``(R, j) = root(q, n)`` (``R <= sqrt(q) * 2**j < R + 1``): error ``<= 1/2 + 2**-(n-1) *
  |dgamma|``. Saturated to the grad format (counted).
* The gain ``|a|`` as mantissa and exponent (:func:`l1bn.golden.bn_forward._gain`, the forward's
  own): l1 one rounding of ``|gamma| * m**2 * 2**G / Den`` (relative error ``<= 2**-MW``), l2
  ``|gamma| * m * 2**(G+j) / R`` (``<= eps_2 = 2**-MW + 2**-(n-2)``).

l1 (one product and a sign select per lane)
-------------------------------------------
The bracket is ``b_i = dy_i - k_sigma`` with one of three rationals per channel,
``k_sigma = mean(dy) + mg * (sigma - Ssgn/m) = P_sigma / Q`` for ``sigma = sgn_i`` in
{-1, 0, 1}, ``P_sigma = Sdy*Den + T * 2**G * (m*sigma - Ssgn)``, ``Q = m*Den`` (``Den = 0``,
a constant channel without eps: ``P = Sdy``, ``Q = m``, xhat = 0). Per sign, an integer centre
and the exact rest: ``c_sigma = clip_data(div_round_away(P_sigma, Q))`` and ``phi_sigma =
c_sigma - k_sigma`` (``|phi| <= 1/2``, or, where the clip acts, of the same sign as every
``u = dy - c_sigma``). Per lane ``u_i = dy_i - c_{sgn_i}`` (exact, W+1 bits) and
``dx_i = a * (u_i + phi)``: the forward's lane (:func:`l1bn.golden.centred_scale.centred_scale`)
with d = u, the forward's gain clamp, and the bias ``beta' = A_hat * phi_sigma`` in B =
Q(W+2+G, G) with the lanes' own rounded gain ``A_hat = mant * 2**-e``: ``phi`` as mantissa and
exponent, ``(mp, ep) = norm_div(|c_sigma*Q - P_sigma|, Q)`` (relative error ``<= 2**-MW``),
then ``round_half_up(mant * mp * 2**(G - e - ep))`` with the sign of ``gamma * phi``
(saturated, counted; an infinite gain with ``phi != 0`` saturates).

l2 (two centred products per lane)
----------------------------------
``dx_i = a * (dy_i - mean dy) - B * c_i`` with ``B = a * T * 2**(2G) / q = a * mg / s``
(``B * c_i = a * xhat_i * mg``), held as sign, mantissa and exponent: ``Z = |T| * 2**(2G) / q``
by :func:`norm_div`, then ``B_hat = A_hat * Z_hat`` rounded to MW bits (relative error
``<= eps_B = 3 * 2**-MW + 2**-(n-3)``). With
``mu_dyF = div_round_away(Sdy, m)``, ``r_dy = Sdy - m*mu_dyF`` and ``e_i = dy_i - mu_dyF``
(W+1 bits): ``z_i = p(A, e_i) - p(B, d_i) + K``, where ``p(X, v) = sgn(X*v) *
min(floor(mant_X * |v| * 2**(G - e_X)), L)``, ``L = 2**(MW+W+2+G) - 1``, the exponents taken
``>= e_L = -(W+3)`` (a smaller one puts every nonzero product at L anyway; an infinite gain is
``(2**MW - 1, e_L)``; from ``e = G + MW + W`` on every product is 0): the lane
:func:`l1bn.golden.centred_scale.centred_pair`. ``K = K_A + K_B`` with ``K_A = -div_round_away(
2**G * A_hat * r_dy, m)`` and ``K_B = div_round_away(2**G * B_hat * r, m)``, the lanes' own
rounded ``A_hat``, ``B_hat``: one rounding each, each and the sum limited to ``[-L/2, L/2]``
(an infinite gain with ``r_dy != 0`` saturates; a product at L outweighs it). Lane multipliers ``MW x (W+1)``
unsigned (18 x 17 at W = 16, 34 x 33 at W = 32); the lane sum has ``MW + W + 5 + G`` bits.

Both: ``dx_i = saturate_data(shift_right(z_i, G, "half_up"))``. ``s = 0`` (a constant channel
with eps = 0; the reference has no gradient there) counts as saturated (``sat["a"]``): every
lane with ``dy_i != mean(dy)`` saturates with the sign of ``gamma * (dy_i - mean dy)``, and
dgamma = 0.

Error bounds (unconditional; LSB; ``R_d = 2**(W-1)``; ``dx*`` the exact value, ``clip`` to the
data format)
---------------------------------------------------------------------------------------------
* dbeta exact; dgamma ``<= max(1, 2**-W * |dgamma|)`` (l1: 1/2; l2: ``n - 2 >= W``).
* dx, l1: ``|dx_i - clip(dx*_i)| <= 1/2 + 2**(W-MW) + 3 * 2**-(G+1) <= 15/16`` for
  ``G >= 3``: the 2-LSB contract holds on every input. Sketch: the lane is the forward's with
  ``y* = a(u - t) + beta``, ``t = -phi``, ``beta = 0``. If ``|dx*| <= R_d`` and ``u != 0``:
  ``|u + phi| >= |u|/2`` and ``>= |phi|`` (``|phi| <= 1/2 <= |u|/2``, or same signs), so
  ``|a u| <= 2 R_d`` (no gain clamp, no lane limit) and ``|a phi| <= R_d`` (no bias
  saturation). The lane computes ``round(A_hat * (u + phi) + e_1 + e_2)``: because the bias
  uses the SAME ``A_hat`` as the product, the gain's error is relative to dx itself
  (``<= 2**-MW * R_d``, no cancellation), ``phi``'s ``<= 2**-MW * |a phi| <= 2**-MW * R_d``,
  ``e_1 < 2**-G`` (floor), ``e_2 <= 2**-(G+1)`` (bias), plus the final 1/2. ``u = 0``: only the bias and the final rounding. Outside the
  format the lane saturates with the sign of dx* (the forward's argument: a clamped gain or a
  saturated bias occur only where ``|dx*| > R_d`` on every lane with ``u != 0``).
* dx, l2: ``|dx_i - clip(dx*_i)| <= 1/2 + 3 * 2**-G + eps_B * Lam_i`` with
  ``Lam_i = |a| * (|dy_i - mean dy| + |xhat_i * mg|)``, the magnitude of the two terms of dx.
  Sketch: with the lanes' own ``A_hat``, ``B_hat`` inside K, ``z_i * 2**-G`` is
  ``A_hat (dy_i - mean dy) - B_hat c_i`` plus two floors (``< 2**-G`` each) and K's two
  roundings (``<= 2**-(G+1)`` each); ``|A_hat - a| <= eps_2 |a|`` and ``|B_hat - B| <= eps_B
  |B|``; clipping
  is 1-Lipschitz. The limits act only where the bound exceeds the format's span ``2**W``: a
  product at L has ``|v| >= 1``, hence ``|dy_i - mean dy| >= |e_i|/2`` (resp.
  ``|c_i| >= |d_i|/2``), so ``eps_B Lam_i >= 2**-MW * 2**(MW+W)``; and ``Lam_i >= |a r_dy/m|
  + |B r/m|``, the exact K, on every lane (``|dy_i - mean dy| >= |r_dy/m|``,
  ``|c_i| >= |r/m|``), so a K at ``L/2 ~ 2**(MW+W+1)`` has ``eps_B Lam_i > 2**W`` too.
  The 2-LSB contract therefore holds wherever ``Lam_i <= 2**(MW-2)`` (``2**(MW-W-2)`` times
  the format's span), and within 1 LSB where ``Lam_i <= 2**(MW-5)``.
* Counterexample to the 2-LSB contract for l2, for any lanes ``A' e_i - B' d_i + K'`` with
  MW-bit factors: W = 16, F = 8, eps = 0, m = 2, ``x = (0, 1)``, ``dy = (-k, k)`` with
  ``k = 32736``, ``gamma = 32704``. dy is proportional to xhat = (-1, 1), the bracket is 0 and
  ``dx* = (0, 0)``; ``d = (-1, 0)``, ``e = (-k, k)``, ``a = 2 gamma = 65408`` (exact in 18
  bits) and ``B = 4 gamma k = 261376.5 * 2**14``, exactly halfway between two 18-bit values.
  The two lanes differ by ``2k A' - B'``, which must be within 4 of 0 for both to be within 2
  LSB; but for every 18-bit ``A'`` with ``|A' - a| < 128`` (a multiple of 1/4, so
  ``2k A' = 16368 j``) and every 18-bit ``B'`` near ``2**32`` (a multiple of ``2**14``) it is a
  nonzero multiple of 16: one lane is off by 8 LSB or more whatever the rounding. This model
  (one rounding each) gives ``dx = (4096, -4096)`` (``Lam ~ 2**32``, bound ``2**14``). dx is
  the difference of two terms of ``2**31`` LSB; the cure would be lane factors of about
  ``MW + W`` bits (e.g. each factor as two MW-bit parts, two products: the threshold moves to
  ``Lam <= 2**(2 MW)``). The l1 bracket has no such term (its slope multiplies a sign: a select,
  exact), so the l1 contract holds everywhere.
"""

from __future__ import annotations

import numpy as np

from . import fixed
from .bn_config import _arr, _check_code, _check_codes, _rdiv, _sat, _shr
from .bn_forward import _gain, root
from .centred_scale import centred_pair, centred_scale, pair_exp, pair_limit_bits
from .norm_divider import norm_div

__all__ = ["backward", "lane_limit", "min_lane_exp"]


def lane_limit(cfg):
    """``L = 2**(MW+W+2+G) - 1``: the largest l2 lane product and constant magnitude (grid
    ``2**-G`` LSB; :func:`l1bn.golden.centred_scale.pair_limit_bits`)."""
    return (1 << pair_limit_bits(cfg.width, cfg.guard, cfg.mant_width)) - 1


def min_lane_exp(cfg):
    """``e_L = -(W+3)``: the l2 lanes' smallest factor exponent
    (:func:`l1bn.golden.centred_scale.pair_exp`)."""
    return pair_exp(cfg.width)


def _dyadic(num, e, den):
    """``div_round_away(num * 2**-e, den)`` for any integer ``e``: one rounding."""
    return _rdiv(num, den << e) if e >= 0 else _rdiv(num << -e, den)


def _check(cfg, x, dy, gamma, sum_x, spread):
    x = _check_codes("x", x, cfg)
    dy = _check_codes("dy", dy, cfg)
    if dy.shape != x.shape:
        raise ValueError(f"dy must have the shape of x {x.shape}, got {dy.shape}")
    m, data = x.size, cfg.data
    sum_x = fixed.check_int("sum_x", sum_x, m * data.min_code, m * data.max_code)
    spread = fixed.check_int("spread", spread, 0, m * m << (2 * cfg.width))
    return x, dy, _check_code("gamma", gamma, data), sum_x, spread


def _sums(cfg, x, dy, sum_x, r):
    """The pass over x and dy: Sdy, Sdyx, ``T = m*Sdyx - Sx*Sdy`` and, for l1, the exact signs
    of ``x - Sx/m`` and their sum."""
    w, m = cfg.width, x.size
    lm = fixed.clog2(m)
    sdy = int(np.sum(_arr(dy, w + lm)))
    sdyx = int(np.sum(_arr(dy, 2 * w + lm) * _arr(x, 2 * w + lm)))
    sums = {"sum_dy": sdy, "sum_dy_x": sdyx, "t": m * sdyx - sum_x * sdy}
    if cfg.norm == "l1":
        d = _arr(x, w + 2) - _rdiv(sum_x, m)
        sums["sgn"] = np.where(d != 0, np.sign(d), -np.sign(r)).astype(np.int64)
        sums["sum_sgn"] = int(np.sum(sums["sgn"]))
    return sums


def _dgamma(cfg, t, m, den=None, q=None):
    """``(dgamma, n_sat)``: ``T/(m*s)`` with one rounding; 0 where ``s = 0``."""
    g = cfg.guard
    if cfg.norm == "l1":
        v = _rdiv(t * m << g, den) if den else 0
    elif q:
        rt, j = root(q, cfg.root_width)
        v = _dyadic(t << g, -j, rt)
    else:
        v = 0
    return _sat(v, cfg.grad)


def _shift_half_up(v, s):
    """``v * 2**-s`` for ``v >= 0`` and any integer ``s``, rounded half up."""
    return v << -s if s <= 0 else _shr(v, s)


def _l1_bias(cfg, mant, e, rest, q, neg):
    """``A_hat * phi`` on B's grid: ``phi = rest/Q`` as ``(mp, ep)`` (:func:`norm_div`),
    ``round_half_up(mant * mp * 2**(G - e - ep))`` with the sign ``neg``; saturated."""
    if rest == 0 or mant == 0 and e is not None:
        b = 0
    elif e is None:
        b = 1 << cfg.bias.width            # an infinite gain: saturates with the sign
    else:
        mp, ep, _ = norm_div(abs(rest), q, cfg.mant_width)
        b = _shift_half_up(mant * mp, e + ep - cfg.guard)
    return _sat(-b if neg else b, cfg.bias)


def _l1_constants(cfg, gamma, sums, m, den):
    """Per sign: the centre ``c`` (data code) and the bias ``A_hat * phi`` (B code); the gain."""
    g, data = cfg.guard, cfg.data
    (mant, e), lane, n_a = _gain(cfg, abs(gamma) * (m * m << g), den=den)
    sdy, t, ssgn = sums["sum_dy"], sums["t"], sums["sum_sgn"]
    centre, bias, n_b = {}, {}, 0
    for sigma in (-1, 0, 1):
        p, q = (sdy * den + (t << g) * (m * sigma - ssgn), m * den) if den else (sdy, m)
        c = min(max(_rdiv(p, q), data.min_code), data.max_code)
        rest = c * q - p                       # (c - k_sigma) * Q
        b, n = _l1_bias(cfg, mant, e, rest, q, (gamma < 0) != (rest < 0))
        centre[sigma], bias[sigma] = c, b
        n_b += n                               # of the three, whether some d has the sign
    return {"mant": lane[0], "exp": lane[1], "neg": int(gamma < 0), "centre": centre,
            "bias": bias}, {"a": n_a, "const": n_b}


def _l1_lanes(cfg, dy, coef, sgn):
    """dx codes and saturation flags: ``u = dy - c_sgn`` through the forward's lane."""
    pick = {k: np.array([coef[k][s] for s in (-1, 0, 1)], dtype=object) for k in ("centre",
                                                                               "bias")}
    u = _arr(dy, cfg.width + 2) - fixed.codes(pick["centre"][sgn + 1], cfg.width + 1)
    return centred_scale(u, coef["mant"], coef["exp"] - cfg.lane_exp, coef["neg"],
                         pick["bias"][sgn + 1], width=cfg.width, frac=cfg.frac,
                         guard=cfg.guard, mant_width=cfg.mant_width)


def _factor(num, den, mw, e_min):
    """``(mant, e, n_inf)`` of ``num/den`` (:func:`l1bn.golden.norm_divider.norm_div`); an infinite
    quotient is ``(2**mw - 1, e_min, 1)``, the largest the lanes take."""
    mant, e, n_inf = norm_div(num, den, mw)
    return ((1 << mw) - 1, e_min, 1) if n_inf else (mant, e, 0)


def _k_term(cfg, mant, e, rem, m, neg):
    """``round(mant * |rem| * 2**(G-e) / m)`` with the sign ``neg``, limited to ``L/2``."""
    v = min(_dyadic(mant * abs(rem) << cfg.guard, e, m), lane_limit(cfg) >> 1)
    return -v if neg else v


def _l2_constants(cfg, gamma, sums, m, r, q):
    """Signed factors A and B (mantissa, exponent), mu_dyF and K."""
    g, mw, el, lim = cfg.guard, cfg.mant_width, min_lane_exp(cfg), lane_limit(cfg)
    sdy, t = sums["sum_dy"], sums["t"]
    num_a, den_a = abs(gamma) * m << g, 0
    if q:
        rt, j = root(q, cfg.root_width)
        num_a, den_a = (num_a << j, rt) if j >= 0 else (num_a, rt << -j)
    ma, ea, n_a = _factor(num_a, den_a, mw, el)
    mb, eb = 0, el
    if q and t and gamma:
        mz, ez, _ = norm_div(abs(t) << 2 * g, q, mw)           # Z = |T| * 2**(2G) / q
        mb, eb, _ = norm_div(ma * mz, 1, mw)                  # B = A_hat * Z_hat
        eb += ea + ez
    sa, sb = -1 if gamma < 0 else 1, -1 if (gamma < 0) != (t < 0) else 1
    mu_dy = _rdiv(sdy, m)
    r_dy = sdy - m * mu_dy
    k_lim = lim >> 1
    if n_a:
        k = 0 if r_dy == 0 else -sa * k_lim * (1 if r_dy > 0 else -1)
    else:
        k = (_k_term(cfg, ma, ea, r_dy, m, (sa > 0) == (r_dy > 0))
             + _k_term(cfg, mb, eb, r, m, (sb > 0) != (r > 0)))
    k = min(max(k, -k_lim), k_lim)
    return {"A": (sa, ma, ea), "B": (sb, mb, eb), "mu_dy_f": mu_dy, "K": k}, \
        {"a": n_a, "const": int(abs(k) == k_lim)}


def _pair_factor(cfg, factor):
    """``(mant, shift, neg)`` of a signed factor for the pair lane (``shift = e - e_p``, 0
    below: those products reach the limit anyway)."""
    sign, mant, e = factor
    return mant, max(e - min_lane_exp(cfg), 0), int(sign < 0)


def _l2_lanes(cfg, x, dy, coef):
    e = _arr(dy, cfg.width + 2) - coef["mu_dy_f"]
    d = _arr(x, cfg.width + 2) - coef["mu_f"]
    return centred_pair(e, d, _pair_factor(cfg, coef["A"]), _pair_factor(cfg, coef["B"]),
                        coef["K"], width=cfg.width, frac=cfg.frac, guard=cfg.guard,
                        mant_width=cfg.mant_width)


def backward(cfg, x, dy, gamma, sum_x, spread):
    """Backward pass of one channel from the forward's exact ``sum_x`` and ``spread``.

    Parameters
    ----------
    cfg : l1bn.golden.bn_unit.UnitConfig
    x, dy : 1-D integer codes of ``cfg.data`` (m values, 1 <= m <= max_batch)
    gamma : int code of ``cfg.data``
    sum_x, spread : int
        ``sums["sum_x"]`` and ``sums["spread"]`` of :func:`l1bn.golden.bn_forward.forward_train`
        on the same x (the exact sum and N (l1) or V (l2)).

    Returns
    -------
    dict
        ``dx`` (int codes of ``cfg.data``), ``dgamma``, ``dbeta`` (``cfg.grad`` codes),
        ``coef`` (the lanes' constants), ``sums`` (sum_dy, sum_dy_x, t; l1 sgn, sum_sgn),
        ``sat`` (a, dgamma, const, dx) and its total ``n_sat``, and ``dx_sat`` (per value,
        whether its dx saturated: the lane's flag).
    """
    x, dy, gamma, sum_x, spread = _check(cfg, x, dy, gamma, sum_x, spread)
    g, m = cfg.guard, x.size
    mu_f = _rdiv(sum_x, m)
    r = sum_x - m * mu_f
    sums = _sums(cfg, x, dy, sum_x, r)
    if cfg.norm == "l1":
        den = (spread << g) + cfg.eps_q * m * m
        dgamma, n_dg = _dgamma(cfg, sums["t"], m, den=den)
        coef, sat = _l1_constants(cfg, gamma, sums, m, den)
        dx, flags = _l1_lanes(cfg, dy, coef, sums["sgn"])
    else:
        q = (spread << 2 * g) + (cfg.eps_q << cfg.stat.frac) * m * m
        dgamma, n_dg = _dgamma(cfg, sums["t"], m, q=q)
        coef, sat = _l2_constants(cfg, gamma, sums, m, r, q)
        coef["mu_f"] = mu_f
        dx, flags = _l2_lanes(cfg, x, dy, coef)
    dbeta, n_db = _sat(sums["sum_dy"], cfg.grad)
    assert n_db == 0, "dbeta cannot overflow the grad format"
    coef["mu_f"] = mu_f
    sat.update(dgamma=n_dg, dx=int(np.count_nonzero(flags)))
    return {"dx": fixed.codes(dx, cfg.width), "dgamma": dgamma, "dbeta": dbeta, "coef": coef,
            "sums": sums, "sat": sat, "n_sat": sum(sat.values()),
            "dx_sat": np.asarray(flags, dtype=bool)}

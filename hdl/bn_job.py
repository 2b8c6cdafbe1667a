"""The per-channel job of the forward BN unit as a program of steps on shared arithmetic units.

:class:`ChannelJob` computes, from a channel's exact sums, everything the lanes and the host
need (:mod:`l1bn.golden.bn_forward` steps 1-5 and 7): the batch mean and sigma, the mean on the data
grid ``mu_F``, the gain as mantissa and shift, the bias ``b'`` and the running statistics. The
work is a list of :class:`Step` s (:func:`program`); each step either loads registers in one
cycle or issues one operation to a shared unit (a serial multiplier, a divider, a normalizing
divider, an integer square root) and takes its result. The RTL and the cycle count
(:func:`job_cycles`) are both derived from that list, so they cannot drift apart.
"""

from dataclasses import dataclass
from typing import Callable

from amaranth import C, Cat, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from l1bn.golden import fixed
from l1bn.golden.bn_unit import ALPHA_FRAC, UnitConfig
from l1bn.golden.centred_scale import shift_cap

from .divider import Divider
from .isqrt import Isqrt
from .norm_divider import NormDivider
from .round_sat import round_saturate, saturate
from .serial_multiplier import SerialMultiplier

__all__ = ["Step", "ChannelJob", "program", "job_cycles", "program_cycles", "run_programs",
           "SAT_FIELDS"]

#: Saturation flags of a job, in this order in its ``sat`` output.
SAT_FIELDS = ("sigma", "a", "b", "running")


@dataclass(frozen=True)
class Step:
    """One step of the job.

    ``unit`` is None for a one-cycle register step, else the name of the shared unit it issues
    to (``mul``, ``div``, ``ndiv``, ``sqrt``). ``issue(r)`` gives the unit's input payload
    fields from the registers ``r``; ``take(r, out)`` gives ``(register, value)`` pairs loaded
    when the step ends (``out`` is the unit's output payload, None for a register step).
    """
    name: str
    unit: str = None
    issue: Callable = None
    take: Callable = None


class _Widths:
    """Register widths of a job (``cfg``: :class:`l1bn.golden.bn_unit.UnitConfig`)."""

    def __init__(self, cfg):
        w, g, mw = cfg.width, cfg.guard, cfg.mant_width
        M = fixed.clog2(cfg.max_batch)
        self.M = M
        self.m = M + 1
        self.sx = w + M
        self.abs_sum = w + 1 + M
        self.sq_sum = (2 * w + 1 if cfg.stats == "two-pass" else 2 * w - 1) + M
        self.spread = 2 * M + 2 * w + 2               # N (l1) or V (l2), unsigned
        q = max(self.spread + 2 * g + 2, 2 * cfg.root_width)
        self.q = q + (q & 1)                          # even: normalized by pairs of bits
        self.num = 2 * M + w + g + 1                  # |gamma| * m**2 * 2**G
        self.den = 2 * M + 2 * w + g + 3              # N * 2**G + eps_q * m**2
        self.shift = shift_cap(w, g, mw).bit_length()
        self.mul_a = max(self.sq_sum, 2 * M + 1, self.abs_sum, cfg.stat.width, mw) + 2
        self.mul_b = max(M + 2, w + 1, ALPHA_FRAC + 2,
                         self.sx + 1 if cfg.stats == "one-pass" else 0)
        self.div_num = max(self.spread + g + 1, self.sx + g + 1,
                           mw + max(M, g) + g + _lift_cap(cfg) + 1)
        self.div_den = 2 * M + 2
        self.div_quot = max(cfg.stat.width, mw + g, w + 1) + 2


def job_cycles(steps, units):
    """Cycles of ``steps`` from the start cycle to the done cycle: one per register step,
    ``LATENCY + 1`` per unit step (issue, then take the result when it is valid)."""
    return sum(1 if s.unit is None else units[s.unit].LATENCY + 1 for s in steps) + 1


def _sgn(v):
    """An unsigned value as a signed one (one more bit)."""
    return Cat(v, C(0, 1)).as_signed()


def _neg(v):
    """Sign bit of a signed value (lint-clean ``v < 0``)."""
    return v[-1]


def _abs(v):
    """``|v|`` of a signed value, unsigned, as :class:`~l1bn.hdl.abs_sign.AbsSign`: ``(v + s) ^ s``."""
    ones = v[-1].replicate(len(v))
    return (v + ones.as_signed())[:len(v)] ^ ones


def _negate_if(v, flip):
    """``-v`` where ``flip`` else ``v``, for an unsigned ``v``: ``(v ^ f) + flip`` (signed)."""
    f = flip.replicate(len(v) + 1)
    return (Cat(v, C(0, 1)) ^ f).as_signed() + flip


def _shl(v, amount, most):
    """``v << amount`` for an unsigned ``amount`` of at most ``most``, as a right shift of
    ``v << most`` (a variable right shift keeps its operand's width: lint-clean); signed for a
    signed ``v``."""
    if most == 0:
        return v
    k = most.bit_length()
    wide = Cat(C(0, most), v)
    if Value.cast(v).shape().signed:
        wide = wide.as_signed()
    return wide >> (C(most, k + 1) - amount[:k]).as_unsigned()[:k + 1]


def _shr(v, amount, most):
    """Unsigned ``v >> amount``; amounts above ``most`` give 0."""
    k = max(most, 1).bit_length()
    big = amount[k:].any() if len(amount) > k else C(0, 1)
    return Mux(big, 0, v >> amount[:k])


def _mul(a, b):
    return {"a": a, "b": b, "neg": 0}


def _div(num, den):
    return {"num": num, "den": den}


def _sum_sgn(r):
    """l1: ``Ssgn = P - Q - sgn(r) * (m - P - Q)``, the sum of the exact signs of x - Sx/m."""
    zeros = _sgn(r.m) - r.npos - r.nneg
    return _sgn(r.npos) - r.nneg + Mux(_neg(r.r), zeros, Mux(r.r.any(), -zeros, 0))


def _centre(cfg):
    """Steps of every training job: r = Sx - m*mu_F, the count C, (l1) the sum of the signs
    and the batch mean."""
    g = cfg.guard
    return [
        Step("m_muf", "mul", lambda r: _mul(r.muf, _sgn(r.m)),
             lambda r, o: [(r.r, r.sx - o.p)]),
        Step("centre", None, take=lambda r, o: [
            (r.absr, _abs(r.r)),
            (r.k, _sgn(r.m) - Cat(C(0, 1), Mux(_neg(r.r), r.nneg, r.npos)).as_signed())]
            + ([(r.ssgn, _sum_sgn(r))] if cfg.norm == "l1" else [])),
        Step("mean", "div", lambda r: _div(Cat(C(0, g), r.sx).as_signed(), r.m),
             lambda r, o: [(r.mean, o.quot)]),
    ]


def _spread_l1(cfg):
    """N = m*A + |r|*(m - 2C), sigma and the gain of an l1 training job."""
    g = cfg.guard
    return [
        Step("m_a", "mul", lambda r: _mul(_sgn(r.abs_sum), _sgn(r.m)),
             lambda r, o: [(r.spread, o.p)]),
        Step("r_k", "mul", lambda r: _mul(r.k, _sgn(r.absr)),
             lambda r, o: [(r.spread, r.spread + o.p)]),
        Step("m_m", "mul", lambda r: _mul(_sgn(r.m), _sgn(r.m)), lambda r, o: [(r.mm, o.p)]),
        Step("sigma", "div", lambda r: _div(_sgn(Cat(C(0, g), r.spread)), r.mm),
             lambda r, o: _sigma(cfg, r, o.quot, o.sat) + [
                 (r.den, Cat(C(0, g), r.spread) + r.mm * cfg.eps_q)]),
        Step("g_mm", "mul", lambda r: _mul(_sgn(r.mm), _sgn(_abs(r.gamma))),
             lambda r, o: [(r.num, o.p)]),
        _gain(cfg, lambda r: r.den),
    ]


def _gain(cfg, den, j=None):
    """The normalizing division ``|gamma| * scale * 2**G / den`` (the gain; ``scale`` is in
    ``num``); ``j``: the l2 root's power of two, taken off the exponent."""
    g = cfg.guard
    return Step("gain", "ndiv", lambda r: {"num": Cat(C(0, g), r.num), "den": den(r)},
                lambda r, o: [(r.mant, o.mant), (r.exp, o.exp if j is None else o.exp - j(r)),
                              (r.inf, o.inf)])


def _sigma(cfg, r, quot, flag):
    val, sat = saturate(quot, cfg.stat)
    return [(r.sigma, val), (r.sat_sigma, flag | sat)]


def root_steps(cfg, w, extra=None):
    """From ``r.spread`` = V and ``r.m``: ``r.mm = m**2``, ``r.q = q * 4**z`` normalized (``q =
    V * 2**(2G) + eps_q * 2**FS * m**2``; ``extra(r)``: more ``(register, value)`` loads of the
    step that forms q) and the root ``(r.root, r.j)`` of :func:`l1bn.golden.bn_forward.root`."""
    g, fs = cfg.guard, cfg.stat.frac
    steps = [
        Step("m_m", "mul", lambda r: _mul(_sgn(r.m), _sgn(r.m)), lambda r, o: [(r.mm, o.p)]),
        Step("q", None, take=lambda r, o: [
            (r.q, Cat(C(0, 2 * g), r.spread) + r.mm * (cfg.eps_q << fs)), (r.z, 0)]
            + list(extra(r) if extra else ())),
    ]
    half = w.q // 2
    s = 1 << (half.bit_length() - 1)
    while s:
        steps.append(Step(f"norm{s}", None, take=lambda r, o, s=s: [
            (r.q, Mux(r.q[-2 * s:].any(), r.q, r.q << (2 * s))),
            (r.z, Mux(r.q[-2 * s:].any(), r.z, r.z + s))]))
        s >>= 1
    n = cfg.root_width
    jofs = half - n                       # j = z - jofs
    steps.append(Step("root", "sqrt", lambda r: {"radicand": r.q[-2 * n:]},
                      lambda r, o: [(r.root, o.root), (r.j, _sgn(r.z) - jofs)]))
    return steps


def _spread_l2(cfg, w):
    """V, q, its normalized root, sigma and the gain of an l2 training job."""
    first = (Step("m_sq", "mul", lambda r: _mul(_sgn(r.sq_sum), _sgn(r.m)),
                  lambda r, o: [(r.spread, o.p)]),
             Step("r_r", "mul", lambda r: _mul(r.r, r.r),
                  lambda r, o: [(r.spread, r.spread - o.p)]))
    if cfg.stats == "one-pass":
        first = (Step("m_sxx", "mul", lambda r: _mul(_sgn(r.sq_sum), _sgn(r.m)),
                      lambda r, o: [(r.spread, o.p)]),
                 Step("sx_sx", "mul", lambda r: _mul(r.sx, r.sx),
                      lambda r, o: [(r.spread, r.spread - o.p)]))
    steps = list(first) + root_steps(cfg, w)
    half, n = w.q // 2, cfg.root_width
    steps += [
        Step("x", None, take=lambda r, o: [
            (r.xs, Mux(~_neg(r.j) & r.j.any(), _shr(r.root, (r.j - 1).as_unsigned(), n),
                       _shl(r.root, (1 - r.j).as_unsigned(), half - n + 1)))]),
        Step("sigma", "div", lambda r: _div(_sgn(r.xs), Cat(C(0, 1), r.m)),
             lambda r, o: _sigma(cfg, r, o.quot, o.sat)),
        Step("g_m", "mul", lambda r: _mul(_sgn(r.m), _sgn(_abs(r.gamma))),
             lambda r, o: [(r.num, o.p)]),
        _gain(cfg, lambda r: r.root, j=lambda r: r.j),
    ]
    return steps


def _tail(cfg):
    """The bias and the gain's lane form."""
    g, bw = cfg.guard, cfg.bias.width

    def bias(r, o):
        e = r.exp
        right = r.twice[1:] + r.twice[0]               # q1 >> e, half up
        big = C(1 << bw, bw + 1)
        left = Mux(_above(_abs(e), _lift_cap(cfg)), big, r.q1)   # e < 0: q1 is c
        c = Mux(~r.absr.any(), 0, Mux(r.inf, big, Mux(~r.mant.any(), 0,
                                                       Mux(_neg(e), left, right))))
        t = _negate_if(c, _neg(r.gamma) ^ _neg(r.r))
        val, flag = saturate(Cat(C(0, g), r.beta).as_signed() - t, cfg.bias)
        return [(r.bias, val), (r.sat_b, flag)] + lane_form(cfg, r)

    return [Step("bias", None, take=bias)]


def lane_form(cfg, r):
    """The gain ``(r.mant, r.exp, r.inf)`` as the lanes take it: ``r.mant_l`` and ``r.shift =
    e - e_c`` (capped), the clamp to ``(2**MW - 1, e_c)`` of an infinite gain or one of
    ``2**(W+2)`` and more, flagged in ``r.sat_a``."""
    mw, ec, e = cfg.mant_width, cfg.lane_exp, r.exp
    cap = shift_cap(cfg.width, cfg.guard, mw)
    clamp = r.inf | (r.mant.any() & (e < ec))
    sh = Mux(clamp | ~r.mant.any(), 0, (e - ec).as_unsigned()[:len(r.shift) + 1])
    return [(r.sat_a, clamp), (r.mant_l, Mux(clamp, (1 << mw) - 1, r.mant)),
            (r.shift, Mux(sh > cap, cap, sh))]


def _running(cfg):
    def update(batch, out, flag):
        def take(r, o):
            v, f = round_saturate(Cat(C(0, ALPHA_FRAC), batch(r)).as_signed() + o.p,
                                  ALPHA_FRAC, cfg.stat)
            return [(out(r), v), (flag(r), f)]
        return take
    aq = C(cfg.alpha_q, ALPHA_FRAC + 2)
    return [
        Step("run_mean", "mul", lambda r: _mul(r.rm - r.mean, aq),
             update(lambda r: r.mean, lambda r: r.new_mean, lambda r: r.sat_rm)),
        Step("run_sigma", "mul", lambda r: _mul(r.rs - r.sigma, aq),
             update(lambda r: r.sigma, lambda r: r.new_sigma, lambda r: r.sat_rs)),
    ]


def _above(v, k):
    """``v > k`` for a constant ``k >= 0``; ``v.any()`` for 0: Yosys narrows a zero operand
    of a comparison to no bits, which its Verilog writer emits as an undriven wire ``[-1:0]``
    (``hdl/emit.py`` refuses such Verilog)."""
    return v.any() if k == 0 else v > k


def _lift_cap(cfg):
    """The largest ``-e`` the bias is computed for: beyond it ``c`` exceeds the bias format
    (any |r| >= 1, m <= 2**max(M, G)) and the bias saturates."""
    M = fixed.clog2(cfg.max_batch)
    return max(0, cfg.bias.width + max(M, cfg.guard) - cfg.mant_width - cfg.guard)


def _lift(cfg, r):
    """``max(-e, 0)``, limited to :func:`_lift_cap`: the left shift that puts ``a*|t|`` of a
    gain of ``2**MW`` or more onto the bias's grid before its one rounding."""
    cap = _lift_cap(cfg)
    if cap == 0:
        return C(0, 1)
    ne = _abs(r.exp)
    return Mux(~_neg(r.exp), 0, Mux(ne > cap, cap, ne))


def _q1(cfg, r, value):
    """Load ``q1`` (``a*|t|*2**G``, on the gain's grid for e >= 0, on the bias's for e < 0),
    limited to just beyond the bias format, and ``2*q1 >> e`` (e >= 0: the bias step rounds it
    half up)."""
    big = 1 << cfg.bias.width
    k = (cfg.mant_width + cfg.guard + 2).bit_length()
    q1 = Mux(value > big, big, value[:len(r.q1)])
    return [(r.q1, q1),
            (r.twice, _shr(Cat(C(0, 1), value[:len(r.twice) - 1]), r.exp.as_unsigned(),
                           (1 << k) - 1))]


def _gain_to_bias(cfg):
    g = cfg.guard
    return [
        Step("mant_r", "mul", lambda r: _mul(_sgn(r.mant), _sgn(r.absr)),
             lambda r, o: [(r.q1, o.p)]),
        Step("q1", "div",
             lambda r: _div(_sgn(_shl(Cat(C(0, g), r.q1), _lift(cfg, r), _lift_cap(cfg))), r.m),
             lambda r, o: _q1(cfg, r, o.quot)),
    ]


def program(cfg, mode):
    """The steps of a ``"train"`` or ``"infer"`` job of the unit ``cfg``."""
    if mode == "infer":
        g = cfg.guard

        def prep(r, o):
            mu = (r.rm >> g) + r.rm[g - 1]
            rem = Cat(r.rm[:g], r.rm[g - 1]).as_signed()   # rm - mu * 2**G
            den = r.rs + cfg.eps_q if cfg.norm == "l1" else r.rs
            return [(r.muf, mu), (r.r, rem), (r.absr, _abs(rem)), (r.den, den),
                    (r.num, _abs(r.gamma))]
        return ([Step("prep", None, take=prep),
                 _gain(cfg, lambda r: r.den),
                 Step("mant_r", "mul", lambda r: _mul(_sgn(r.mant), _sgn(r.absr)),
                      lambda r, o: _q1(cfg, r, _shl(o.p[:len(r.q1)], _lift(cfg, r),
                                                    _lift_cap(cfg))))]
                + _tail(cfg))
    steps = []
    if cfg.stats == "one-pass":
        steps.append(Step("muf", "div", lambda r: _div(r.sx, r.m),
                          lambda r, o: [(r.muf, o.quot)]))
    steps += _centre(cfg)
    steps += _spread_l1(cfg) if cfg.norm == "l1" else _spread_l2(cfg, _Widths(cfg))
    return steps + _gain_to_bias(cfg) + _tail(cfg) + _running(cfg)


class _Regs:
    """The job's registers, as attributes (``r.sx``, ``r.mant``, ...)."""

    def __init__(self, shapes):
        for name, shape in shapes.items():
            setattr(self, name, Signal(shape, name=f"job_{name}"))


class ChannelJob(wiring.Component):
    """The per-channel arithmetic of the forward BN unit, bit for bit :mod:`l1bn.golden.bn_forward`.

    A training job takes the channel's exact sums and computes the batch mean and sigma, the
    bias, the gain's lane form and the running statistics; an inference job takes the running
    statistics. The work is the program of :func:`program` on one
    :class:`~l1bn.hdl.serial_multiplier.SerialMultiplier`, one :class:`~l1bn.hdl.divider.Divider`, one
    :class:`~l1bn.hdl.norm_divider.NormDivider` and (l2 training) one :class:`~l1bn.hdl.isqrt.Isqrt`.

    Parameters
    ----------
    norm, stats, width, frac, guard, max_batch, alpha, eps
        As :class:`l1bn.golden.bn_unit.UnitConfig` (``guard >= 3``).

    Members
    -------
    start : ``In(1)``
        Starts a job with the operands below (sampled in this cycle); ignored while ``busy``.
    infer : ``In(1)``
        The job is an inference job (uses ``gamma``, ``beta``, ``running_mean``,
        ``running_sigma`` only).
    m, sum_x, mu_f_in, sum_abs, n_pos, n_neg, sum_sq : ``In``
        Training operands: m, ``sum x``, the mean on the data grid (two-pass; one-pass jobs
        compute it), ``sum |x - mu_F|`` and the counts of positive and negative ``x - mu_F``
        (l1), ``sum (x - mu_F)**2`` (l2 two-pass) or ``sum x**2`` (one-pass).
    gamma, beta, running_mean, running_sigma : ``In``
        Data codes and S codes.
    busy, done : ``Out(1)``
        A job runs; ``done`` is high for the one cycle after its last step. The outputs hold
        until the next job starts (a unit copies them when ``done`` or later, before that).
    mean, sigma, mu_f, mant, shift, neg, bias, new_mean, new_sigma, sat : ``Out``
        Results: the batch statistics (S), the lanes' coefficients (``shift = e - e_c``, capped
        at :func:`l1bn.golden.centred_scale.shift_cap`), the running statistics, and the saturation
        flags :data:`SAT_FIELDS`.
    saved_sum_x, saved_spread, saved_sum_sgn : ``Out``
        Training: what the backward unit takes (:mod:`l1bn.golden.bn_forward` step 7): ``sum x``,
        the exact spread N (l1) or V (l2) and (l1; 0 for l2) the sum of the exact signs.

    Latency: :func:`job_cycles` of the program (``self.CYCLES``, per mode), fixed.
    """

    def __init__(self, *, norm, stats="two-pass", width=16, frac=8, guard=8, max_batch=65536,
                 alpha=0.9, eps=1e-5):
        self.cfg = cfg = UnitConfig(norm=norm, stats=stats, width=width, frac=frac, guard=guard,
                                    max_batch=max_batch, alpha=alpha, eps=eps)
        self.w = w = _Widths(cfg)
        W, SW, mw = cfg.width, cfg.stat.width, cfg.mant_width
        self._units = self._make_units()
        self.programs = {mode: program(cfg, mode) for mode in ("train", "infer")}
        self.CYCLES = {mode: job_cycles(st, self._units) for mode, st in self.programs.items()}
        super().__init__({
            "start": In(1), "infer": In(1),
            "m": In(unsigned(w.m)), "sum_x": In(signed(w.sx)), "mu_f_in": In(signed(W + 1)),
            "sum_abs": In(unsigned(w.abs_sum)), "n_pos": In(unsigned(w.m)),
            "n_neg": In(unsigned(w.m)), "sum_sq": In(unsigned(w.sq_sum)),
            "gamma": In(signed(W)), "beta": In(signed(W)),
            "running_mean": In(signed(SW)), "running_sigma": In(signed(SW)),
            "busy": Out(1), "done": Out(1),
            "mean": Out(signed(SW)), "sigma": Out(signed(SW)), "mu_f": Out(signed(W + 1)),
            "mant": Out(unsigned(mw)), "shift": Out(unsigned(w.shift)), "neg": Out(1),
            "bias": Out(signed(cfg.bias.width)), "new_mean": Out(signed(SW)),
            "new_sigma": Out(signed(SW)), "sat": Out(data.StructLayout({k: 1 for k in SAT_FIELDS})),
            "saved_sum_x": Out(signed(w.sx)), "saved_spread": Out(unsigned(w.spread)),
            "saved_sum_sgn": Out(signed(w.m + 1)),
        })

    def _make_units(self):
        cfg, w = self.cfg, self.w
        units = {
            "mul": SerialMultiplier(a_width=w.mul_a, b_width=w.mul_b),
            "div": Divider(width=w.div_num, frac=0, den_width=w.div_den, den_frac=0,
                           quot_width=w.div_quot, quot_frac=0),
            "ndiv": NormDivider(num_width=w.num, den_width=max(w.den, cfg.root_width),
                                mant_width=cfg.mant_width),
        }
        if cfg.norm == "l2":
            units["sqrt"] = Isqrt(width=2 * cfg.root_width)
        return units

    def _registers(self):
        cfg, w = self.cfg, self.w
        W, SW, mw, M = cfg.width, cfg.stat.width, cfg.mant_width, w.M
        exp_w = self._units["ndiv"].exp_width + 2
        return _Regs({
            "m": unsigned(w.m), "sx": signed(w.sx), "muf": signed(W + 1),
            "abs_sum": unsigned(w.abs_sum), "npos": unsigned(w.m), "nneg": unsigned(w.m),
            "sq_sum": unsigned(w.sq_sum), "gamma": signed(W), "beta": signed(W),
            "rm": signed(SW), "rs": signed(SW), "r": signed(max(M, cfg.guard) + 1),
            "absr": unsigned(max(M, cfg.guard)), "k": signed(M + 2), "ssgn": signed(M + 2),
            "mean": signed(SW), "sigma": signed(SW), "spread": signed(w.spread + 1),
            "mm": unsigned(2 * M + 1), "den": unsigned(max(w.den, SW + 1)),
            "num": unsigned(w.num - cfg.guard), "q": unsigned(w.q), "z": unsigned(8),
            "root": unsigned(cfg.root_width), "j": signed(9),
            "xs": unsigned(w.q // 2 + 3), "mant": unsigned(mw), "exp": signed(exp_w),
            "inf": 1, "q1": unsigned(max(mw + max(M, cfg.guard) + cfg.guard,
                                         cfg.bias.width) + 1),
            "twice": unsigned(mw + max(M, cfg.guard) + cfg.guard + 2),
            "bias": signed(cfg.bias.width), "mant_l": unsigned(mw), "shift": unsigned(w.shift),
            "new_mean": signed(SW), "new_sigma": signed(SW),
            "sat_sigma": 1, "sat_a": 1, "sat_b": 1, "sat_rm": 1, "sat_rs": 1,
        })

    def elaborate(self, platform):
        m = Module()
        for name, u in self._units.items():
            m.submodules[f"{name}_unit"] = u
        r = self._registers()
        loads = [
            r.sat_sigma.eq(0), r.sat_rm.eq(0), r.sat_rs.eq(0),
            r.m.eq(self.m), r.sx.eq(self.sum_x), r.muf.eq(self.mu_f_in),
            r.abs_sum.eq(self.sum_abs), r.npos.eq(self.n_pos), r.nneg.eq(self.n_neg),
            r.sq_sum.eq(self.sum_sq), r.gamma.eq(self.gamma), r.beta.eq(self.beta),
            r.rm.eq(self.running_mean), r.rs.eq(self.running_sigma)]
        run_programs(m, self._units, r, [self.programs["train"], self.programs["infer"]],
                     choice=[~self.infer, self.infer], start=self.start, loads=loads,
                     busy=self.busy, done=self.done)
        m.d.comb += [
            self.mean.eq(r.mean), self.sigma.eq(r.sigma), self.mu_f.eq(r.muf),
            self.mant.eq(r.mant_l), self.shift.eq(r.shift), self.neg.eq(_neg(r.gamma)),
            self.bias.eq(r.bias), self.new_mean.eq(r.new_mean), self.new_sigma.eq(r.new_sigma),
            self.sat.eq(Cat(r.sat_sigma, r.sat_a, r.sat_b, r.sat_rm | r.sat_rs)),
            self.saved_sum_x.eq(r.sx), self.saved_spread.eq(r.spread[:len(self.saved_spread)]),
            self.saved_sum_sgn.eq(r.ssgn if self.cfg.norm == "l1" else 0),
        ]
        return m


def run_programs(m, units, r, programs, *, choice, start, loads, busy, done):
    """The RTL of a job: one of ``programs`` (lists of :class:`Step`), the one whose ``choice``
    is high at ``start``, runs on ``units`` (submodules of ``m``, added by the caller) over the
    registers ``r``; ``loads`` are the assignments of the start cycle. ``busy`` is high while
    a program runs, ``done`` for the one cycle after its last step. One-hot step state."""
    steps = [s for prog in programs for s in prog]
    firsts = [sum(len(p) for p in programs[:i]) for i in range(len(programs))]
    ends = {f + len(p) - 1 for f, p in zip(firsts, programs)}
    state = Signal(len(steps), name="job_step")    # one-hot: lint-clean, no step decoder
    issued, run = Signal(name="job_issued"), Signal(name="job_busy")
    m.d.comb += busy.eq(run)
    m.d.sync += done.eq(0)
    with m.If(start & ~run):
        m.d.sync += [run.eq(1), issued.eq(0)] + [state[f].eq(c) for f, c in zip(firsts, choice)]
        m.d.sync += loads
    for k, step in enumerate(steps):
        _step(m, units, r, k, step, state, issued, run, done, k in ends)


def _step(m, units, r, k, step, state, issued, run, done, last):
    """The RTL of step ``k``: a register step, or issue to a unit and take its result."""
    here = run & state[k]

    def finish(assigns):
        m.d.sync += [dst.eq(val) for dst, val in assigns]
        m.d.sync += state[k].eq(0)
        if last:
            m.d.sync += [run.eq(0), done.eq(1)]
        else:
            m.d.sync += state[k + 1].eq(1)

    if step.unit is None:
        with m.If(here):
            finish(step.take(r, None))
        return
    u = units[step.unit]
    with m.If(here & ~issued):
        m.d.comb += u.i.valid.eq(1)
        for name, val in step.issue(r).items():
            m.d.comb += getattr(u.i.payload, name).eq(val)
        with m.If(u.i.ready):
            m.d.sync += issued.eq(1)
    with m.If(here & issued & u.o.valid):
        m.d.comb += u.o.ready.eq(1)
        m.d.sync += issued.eq(0)
        finish(step.take(r, u.o.payload))


def program_cycles(**params):
    """``ChannelJob(**params).CYCLES`` (per mode) without building anything."""
    job = ChannelJob(**params)
    for c in (job, *job._units.values()):
        c._MustUse__silence = True      # measured, never elaborated
    return job.CYCLES

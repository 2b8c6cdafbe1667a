"""The per-channel job of the backward BN unit as a program of steps on shared arithmetic units.

:class:`GradJob` computes, from a channel's exact sums, everything the dx lanes and the host
need (:mod:`l1bn.golden.bn_backward`): ``dgamma``, the mean on the data grid ``mu_F`` and the lanes'
constants (l1: the gain's lane form, and per sign of ``x - mean`` a centre and a bias; l2: the
two factors A and B, ``mu_dyF`` and K). As :class:`l1bn.hdl.bn_job.ChannelJob`, the work is a list
of :class:`~l1bn.hdl.bn_job.Step` s (:func:`program`), from which both the RTL and the cycle count
(:func:`~l1bn.hdl.bn_job.job_cycles`) are derived.
"""

from amaranth import C, Cat, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from l1bn.golden import fixed
from l1bn.golden.bn_unit import UnitConfig
from l1bn.golden.centred_scale import pair_exp, pair_limit_bits, pair_shift_cap, shift_cap

from .bn_job import (Step, _Regs, _Widths, _abs, _div, _gain, _mul, _neg, _negate_if, _sgn,
                     _shl, _shr, job_cycles, lane_form, root_steps, run_programs)
from .divider import Divider
from .isqrt import Isqrt
from .norm_divider import NormDivider, exp_width
from .round_sat import saturate
from .serial_multiplier import SerialMultiplier

__all__ = ["GradJob", "program", "grad_cycles", "SIGNS", "SAT_LAYOUT"]

#: The l1 per-sign constants, in this order: sgn(x - mean) = -1, 0, 1.
SIGNS = (-1, 0, 1)


class _GradWidths:
    """Register and unit widths of a backward job (``cfg``: two-pass
    :class:`~l1bn.golden.bn_unit.UnitConfig`)."""

    def __init__(self, cfg):
        w, g, mw = cfg.width, cfg.guard, cfg.mant_width
        M = fixed.clog2(cfg.max_batch)
        self.M, self.m = M, M + 1
        self.sx = self.sdy = w + M
        self.sdyx = 2 * w + M
        self.spread = 2 * M + 2 * w + 2
        self.r = max(M, g) + 1
        self.t = 2 * w + 2 * M + 2                  # T = m*Sdyx - Sx*Sdy
        self.tm = self.t + M + 1                    # T*m
        self.den = 2 * M + 2 * w + g + 3            # N * 2**G + eps_q * m**2
        self.q = self.den + M + 1                   # Q = m * Den
        self.p = max(self.sdy + self.den, self.tm + g + 2) + 2
        self.rest = max(w + self.q, self.p) + 1
        self.plb = pair_limit_bits(w, g, mw)
        self.k_left = w + M + 2                     # K: left shifts from here saturate
        self.k_right = mw + g                       # K: right shifts from here give 0


#: The job's saturation flags (the backward unit's ``grads.sat``): an infinite or clamped gain,
#: dgamma saturated, a constant at its limit (l1 a per-sign bias, l2 K).
SAT_LAYOUT = data.StructLayout({"a": 1, "dgamma": 1, "const": 1})


def lane_layout(cfg):
    """The lanes' constants of a channel: l1 the gain's lane form, ``mu_f``, the sign of
    ``r = Sx - m*mu_F`` and per sign a centre and a bias; l2 two factors, ``mu_f``,
    ``mu_dy`` and K."""
    w, mw = cfg.width, cfg.mant_width
    if cfg.norm == "l1":
        sh = shift_cap(w, cfg.guard, mw).bit_length()
        return data.StructLayout({
            "mant": unsigned(mw), "shift": unsigned(sh), "neg": 1, "mu_f": signed(w + 1),
            "r_pos": 1, "r_neg": 1,
            "centre": data.ArrayLayout(signed(w), 3),
            "bias": data.ArrayLayout(signed(cfg.bias.width), 3)})
    sh = pair_shift_cap(w, cfg.guard, mw).bit_length()
    factor = data.StructLayout({"mant": unsigned(mw), "shift": unsigned(sh), "neg": 1})
    return data.StructLayout({"a": factor, "b": factor, "mu_f": signed(w + 1),
                              "mu_dy": signed(w + 1),
                              "k": signed(pair_limit_bits(w, cfg.guard, mw))})


def _common():
    """mu_F, r, T = m*(Sdyx - mu_F*Sdy) - r*Sdy, mu_dyF, r_dy = Sdy - m*mu_dyF."""
    return [
        Step("muf", "div", lambda r: _div(r.sx, r.m), lambda r, o: [(r.muf, o.quot)]),
        Step("m_muf", "mul", lambda r: _mul(r.muf, _sgn(r.m)),
             lambda r, o: [(r.r, r.sx - o.p)]),
        Step("muf_sdy", "mul", lambda r: _mul(r.sdy, r.muf),
             lambda r, o: [(r.t, r.sdyx - o.p)]),
        Step("t_m", "mul", lambda r: _mul(r.t, _sgn(r.m)), lambda r, o: [(r.t, o.p)]),
        Step("r_sdy", "mul", lambda r: _mul(r.sdy, r.r), lambda r, o: [(r.t, r.t - o.p)]),
        Step("mudy", "div", lambda r: _div(r.sdy, r.m), lambda r, o: [(r.mudy, o.quot)]),
        Step("m_mudy", "mul", lambda r: _mul(r.mudy, _sgn(r.m)),
             lambda r, o: [(r.rdy, r.sdy - o.p)]),
    ]


def _dgamma(cfg, r, quot, sat, zero):
    """``dgamma`` saturated to the grad format; 0 (not saturated) where ``s = 0``."""
    v, flag = saturate(quot, cfg.grad)
    return [(r.dgamma, Mux(zero, 0, v)), (r.sat_dg, ~zero & (sat | flag))]


def _twice_scaled(v, s, left, right):
    """``(h, big)`` for an unsigned ``v`` and a signed ``s``: ``h = floor(v * 2**(1-s))``, whose
    ``h[1:] + h[0]`` is ``round_half_up(v * 2**-s)``; left shifts of up to ``left`` bits
    (beyond: ``big``), right shifts of up to ``right`` (beyond: 0)."""
    neg = _neg(s)
    a = _abs(s)
    big = neg & (a > left) & v.any()
    up = _shl(v, Mux(neg & (a <= left), a, 0)[:max(left, 1).bit_length()], left)
    down = _shr(v, (a - 1).as_unsigned(), right)                    # v >> (s-1)
    return Mux(neg | ~a.any(), Cat(C(0, 1), up), down), big


def _l1_sign(cfg, k, sigma):
    """Steps of one sign: the centre, the exact rest, phi and the bias ``A_hat * phi``."""
    g = cfg.guard

    def p(r, o):
        slope = (r.tm if sigma == 1 else -r.tm if sigma == -1 else 0) - r.ts
        pc = r.sd + Cat(C(0, g), slope).as_signed()
        return [(r.pc, Mux(r.den.any(), pc, r.sdy)), (r.qc, Mux(r.den.any(), r.q, r.m))]

    def shift(r, o):
        h, big = _twice_scaled(r.v, r.es, cfg.bias.width, 2 * cfg.mant_width + 1)
        return [(r.half, h), (r.big, big)]

    def bias(r, o):
        v = r.half[1:] + r.half[0]
        mag = Mux(r.inf | r.big, C(1 << cfg.bias.width), v)
        val, flag = saturate(_negate_if(Mux(r.rest.any(), mag, 0),
                                        _neg(r.gamma) ^ _neg(r.rest)), cfg.bias)
        return [(r.bias[k], val), (r.sat_b[k], flag)]

    data_fmt = cfg.data
    return [
        Step(f"p{k}", None, take=p),
        Step(f"c{k}", "div", lambda r: _div(r.pc, r.qc),
             lambda r, o: [(r.centre[k], saturate(o.quot, data_fmt)[0])]),
        Step(f"rest{k}", "mul", lambda r: _mul(_sgn(r.qc), r.centre[k]),
             lambda r, o: [(r.rest, o.p - r.pc)]),
        Step(f"phi{k}", "ndiv", lambda r: {"num": _abs(r.rest), "den": r.qc},
             lambda r, o: [(r.mp, o.mant), (r.es, r.exp + o.exp - g)]),
        Step(f"v{k}", "mul", lambda r: _mul(_sgn(r.mant), _sgn(r.mp)),
             lambda r, o: [(r.v, o.p)]),
        Step(f"shift{k}", None, take=shift),
        Step(f"bias{k}", None, take=bias),
    ]


def _l1(cfg):
    g = cfg.guard
    steps = _common() + [
        Step("m_m", "mul", lambda r: _mul(_sgn(r.m), _sgn(r.m)), lambda r, o: [(r.mm, o.p)]),
        Step("den", None, take=lambda r, o: [
            (r.den, Cat(C(0, g), r.spread) + r.mm * cfg.eps_q)]),
        Step("tm", "mul", lambda r: _mul(r.t, _sgn(r.m)), lambda r, o: [(r.tm, o.p)]),
        Step("dgamma", "div", lambda r: _div(Cat(C(0, g), r.tm).as_signed(), r.den),
             lambda r, o: _dgamma(cfg, r, o.quot, o.sat, ~r.den.any())),
        Step("g_mm", "mul", lambda r: _mul(_sgn(r.mm), _sgn(_abs(r.gamma))),
             lambda r, o: [(r.num, o.p)]),
        _gain(cfg, lambda r: r.den),
        Step("q", "mul", lambda r: _mul(_sgn(r.den), _sgn(r.m)), lambda r, o: [(r.q, o.p)]),
        Step("mudy_q", "mul", lambda r: _mul(_sgn(r.q), r.mudy), lambda r, o: [(r.sd, o.p)]),
        Step("rdy_den", "mul", lambda r: _mul(_sgn(r.den), r.rdy),
             lambda r, o: [(r.sd, r.sd + o.p)]),
        Step("ts", "mul", lambda r: _mul(r.t, r.ssgn), lambda r, o: [(r.ts, o.p)]),
    ]
    for k, sigma in enumerate(SIGNS):
        steps += _l1_sign(cfg, k, sigma)
    return steps + [Step("lane", None, take=lambda r, o: lane_form(cfg, r))]


def _k_term(cfg, w, name, mant, exp, rem, neg):
    """``K_X``: ``round(mant * |rem| * 2**(G-e) / m)`` with the sign ``neg``, at most L/2."""
    klim = (1 << (w.plb - 1)) - 1

    def ops(r, o):
        e = exp(r)
        a = _abs(e)
        num = _shl(Cat(C(0, cfg.guard), r.v), Mux(_neg(e) & (a <= w.k_left), a, 0)
                   [:w.k_left.bit_length()], w.k_left)
        den = _shl(r.m, Mux(~_neg(e) & (a <= w.k_right), a, 0)[:w.k_right.bit_length()],
                   w.k_right)
        return [(r.knum, num), (r.kden, Mux(~_neg(e) & (a > w.k_right), 0, den)),
                (r.kbig, _neg(e) & (a > w.k_left) & r.v.any())]

    def take(r, o):
        quot = Mux(o.quot > klim, klim, o.quot)
        mag = Mux(r.kbig, klim, Mux(r.kden.any(), quot.as_unsigned(), 0))
        return [(getattr(r, name), _negate_if(mag[:w.plb - 1], neg(r)))]

    return [
        Step(f"{name}_v", "mul", lambda r: _mul(_sgn(mant(r)), _sgn(_abs(rem(r)))),
             lambda r, o: [(r.v, o.p)]),
        Step(f"{name}_ops", None, take=ops),
        Step(f"{name}_div", "div", lambda r: _div(_sgn(r.knum), r.kden), take),
    ]


def _l2_lane(cfg, w, r):
    """K = K_A + K_B (or the infinite gain's), limited, and the factors' lane forms."""
    el, mw = pair_exp(cfg.width), cfg.mant_width
    cap = pair_shift_cap(cfg.width, cfg.guard, mw)
    klim = (1 << (w.plb - 1)) - 1
    ng, nrdy = _neg(r.gamma), _neg(r.rdy)

    def shift(e):
        s = (e - el)
        return Mux(_neg(s), 0, Mux(s > cap, cap, s.as_unsigned()))

    total = r.ka + r.kb
    k = Mux(total > klim, klim, Mux(total < -klim, -klim, total))
    k_inf = Mux(r.rdy.any(), _negate_if(C(klim, w.plb), ~(ng ^ nrdy)), 0)
    k = Mux(r.inf, k_inf, k)
    return [(r.k, k), (r.sat_k, (k == klim) | (k == -klim)), (r.sat_a, r.inf),
            (r.mant_l, Mux(r.inf, (1 << mw) - 1, r.mant)),
            (r.shift, Mux(r.inf, 0, shift(r.exp))),
            (r.shift_b, Mux(r.mb.any(), shift(r.eb), 0))]


def _l2(cfg, w):
    g = cfg.guard
    steps = _common() + root_steps(cfg, w.fwd, extra=lambda r: [
        (r.q0, ~r.spread.any() if cfg.eps_q == 0 else C(0, 1))])
    half, n = w.fwd.q // 2, cfg.root_width
    steps += [
        Step("dg_ops", None, take=lambda r, o: [
            (r.dnum, _shl(Cat(C(0, g), r.t).as_signed(),
                          Mux(_neg(r.j), 0, r.j.as_unsigned())[:n.bit_length()], n - 1)),
            (r.dden, _shl(r.root, Mux(_neg(r.j), _abs(r.j), 0)[:half.bit_length()],
                          half - n + 1))]),
        Step("dgamma", "div", lambda r: _div(r.dnum, r.dden),
             lambda r, o: _dgamma(cfg, r, o.quot, o.sat, r.q0)),
        Step("g_m", "mul", lambda r: _mul(_sgn(r.m), _sgn(_abs(r.gamma))),
             lambda r, o: [(r.num, o.p)]),
        _gain(cfg, lambda r: r.root, j=lambda r: r.j),
        Step("z", "ndiv", lambda r: {"num": Cat(C(0, 2 * g), _abs(r.t)), "den": r.q},
             lambda r, o: [(r.mp, o.mant), (r.ep, o.exp - Cat(C(0, 1), r.z).as_signed())]),
        Step("a_z", "mul", lambda r: _mul(_sgn(r.mant), _sgn(r.mp)),
             lambda r, o: [(r.v, o.p)]),
        Step("b", "ndiv", lambda r: {"num": r.v, "den": 1},
             lambda r, o: [(r.mb, Mux(r.q0, 0, o.mant)), (r.eb, o.exp + r.exp + r.ep)]),
    ]
    steps += _k_term(cfg, w, "ka", lambda r: r.mant, lambda r: r.exp, lambda r: r.rdy,
                     lambda r: ~(_neg(r.gamma) ^ _neg(r.rdy)))
    steps += _k_term(cfg, w, "kb", lambda r: r.mb, lambda r: r.eb, lambda r: r.r,
                     lambda r: _neg(r.gamma) ^ _neg(r.t) ^ _neg(r.r))
    return steps + [Step("lane", None, take=lambda r, o: _l2_lane(cfg, w, r))]


def program(cfg, w):
    """The steps of a backward job of the unit ``cfg`` (widths ``w``: :class:`_GradWidths`)."""
    return _l1(cfg) if cfg.norm == "l1" else _l2(cfg, w)




class GradJob(wiring.Component):
    """The per-channel arithmetic of the backward BN unit, bit for bit :mod:`l1bn.golden.bn_backward`.

    The program (:func:`program`) runs on one :class:`~l1bn.hdl.serial_multiplier.SerialMultiplier`,
    one :class:`~l1bn.hdl.divider.Divider`, one :class:`~l1bn.hdl.norm_divider.NormDivider` and (l2) one
    :class:`~l1bn.hdl.isqrt.Isqrt`; their widths are the widest operands the program issues.

    Parameters
    ----------
    norm, width, frac, guard, max_batch, eps
        As :class:`l1bn.golden.bn_unit.UnitConfig` (two-pass statistics, ``guard >= 3``).

    Members
    -------
    start : ``In(1)``
        Starts a job with the operands below (sampled in this cycle); ignored while ``busy``.
    m, gamma, sum_x, spread, sum_sgn : ``In``
        The channel's size and gamma, and what the forward handed over (``sum_sgn``: l1 only).
    sum_dy, sum_dy_x : ``In``
        The first pass's exact sums of dy and dy*x.
    busy, done : ``Out(1)``
        A job runs; ``done`` is high for the one cycle after its last step. The outputs hold
        until the next job starts.
    lanes : ``Out(lane_layout(cfg))``
        The dx lanes' constants.
    dgamma : ``Out(signed(grad width))``; ``sat`` : ``Out({a, dgamma, const})``
        dgamma and the saturation flags of :func:`l1bn.golden.bn_backward.backward` (``const``: l1
        any of the three biases, l2 K).

    Latency: ``CYCLES`` = :func:`~l1bn.hdl.bn_job.job_cycles` of the program, fixed.
    """

    def __init__(self, *, norm, width=16, frac=8, guard=8, max_batch=65536, eps=1e-5):
        self.cfg = cfg = UnitConfig(norm=norm, stats="two-pass", width=width, frac=frac,
                                    guard=guard, max_batch=max_batch, eps=eps)
        self.w = w = _GradWidths(cfg)
        w.fwd = _Widths(cfg)
        self.layout = lane_layout(cfg)
        self.steps = program(cfg, w)
        # The units' widths are those of the operands issued to them, which do not depend on
        # the exponent registers: measured with wide ones, then the exact ones are built.
        self._regs = self._registers(exp_width=16)
        widths = self._unit_widths()
        self._regs = self._registers(exp_width=exp_width(
            widths["ndiv", "num"], widths["ndiv", "den"], cfg.mant_width))
        assert self._unit_widths() == widths
        self._units = self._make_units(widths)
        self.CYCLES = job_cycles(self.steps, self._units)
        W = cfg.width
        super().__init__({
            "start": In(1), "m": In(unsigned(w.m)), "gamma": In(signed(W)),
            "sum_x": In(signed(w.sx)), "spread": In(unsigned(w.spread)),
            **({"sum_sgn": In(signed(w.m + 1))} if norm == "l1" else {}),
            "sum_dy": In(signed(w.sdy)),
            "sum_dy_x": In(signed(w.sdyx)),
            "busy": Out(1), "done": Out(1), "lanes": Out(self.layout),
            "dgamma": Out(signed(cfg.grad.width)), "sat": Out(SAT_LAYOUT),
        })

    def _registers(self, exp_width):
        """The job's registers; ``exp_width``: the normalizing divider's exponent width."""
        cfg, w = self.cfg, self.w
        ew = exp_width
        W, mw, M = cfg.width, cfg.mant_width, w.M
        plb = w.plb
        shapes = {
            "m": unsigned(w.m), "gamma": signed(W), "sx": signed(w.sx), "sdy": signed(w.sdy),
            "sdyx": signed(w.sdyx), "spread": unsigned(w.spread), "ssgn": signed(w.m + 1),
            "muf": signed(W + 2), "r": signed(w.r), "t": signed(w.t), "mudy": signed(W + 2),
            "rdy": signed(M + 2), "mm": unsigned(2 * M + 1),
            "num": unsigned(w.fwd.num - cfg.guard), "mant": unsigned(mw),
            "exp": signed(ew if cfg.norm == "l1" else ew + 2), "inf": 1, "mp": unsigned(mw),
            "v": unsigned(max(2 * mw, mw + M + 2)), "dgamma": signed(cfg.grad.width),
            "sat_dg": 1, "sat_a": 1, "mant_l": unsigned(mw),
        }
        if cfg.norm == "l1":
            shapes.update({
                "den": unsigned(w.den), "tm": signed(w.tm), "q": unsigned(w.q),
                "sd": signed(w.p), "ts": signed(w.t + M + 2), "pc": signed(w.p),
                "qc": unsigned(w.q), "rest": signed(w.rest), "es": signed(ew + 2),
                "half": unsigned(2 * mw + cfg.bias.width + 1), "big": 1,
                "shift": unsigned(shift_cap(W, cfg.guard, mw).bit_length())})
        else:
            n, half = cfg.root_width, w.fwd.q // 2
            sh = unsigned(pair_shift_cap(W, cfg.guard, mw).bit_length())
            shapes.update({
                "q": unsigned(w.fwd.q), "z": unsigned(8), "root": unsigned(n), "j": signed(9),
                "q0": 1, "dnum": signed(w.t + cfg.guard + n), "dden": unsigned(half + 1),
                "mb": unsigned(mw), "ep": signed(max(ew, 10) + 1),
                "eb": signed(max(ew + 2, max(ew, 10) + 1) + 2),
                "knum": unsigned(max(2 * mw, mw + M + 2) + cfg.guard + w.k_left),
                "kden": unsigned(w.m + w.k_right), "kbig": 1, "ka": signed(plb),
                "kb": signed(plb), "k": signed(plb), "sat_k": 1, "shift": sh,
                "shift_b": sh})
        r = _Regs(shapes)
        if cfg.norm == "l1":
            r.centre = [Signal(signed(W), name=f"job_centre{k}") for k in range(3)]
            r.bias = [Signal(signed(cfg.bias.width), name=f"job_bias{k}") for k in range(3)]
            r.sat_b = [Signal(name=f"job_sat_b{k}") for k in range(3)]
        return r

    def _unit_widths(self):
        """``{(unit, operand): width}``: the widest operand the program issues to each unit."""
        widths = {}
        for step in self.steps:
            if step.unit is not None:
                for name, val in step.issue(self._regs).items():
                    key = (step.unit, name)
                    widths[key] = max(widths.get(key, 0), len(Value.cast(val)))
        return widths

    def _make_units(self, widths):
        """The shared units, as wide as ``widths`` (:meth:`_unit_widths`)."""
        cfg = self.cfg
        quot = max(cfg.width + 2, cfg.grad.width,
                   self.w.plb if cfg.norm == "l2" else 0)
        units = {
            "mul": SerialMultiplier(a_width=widths["mul", "a"], b_width=widths["mul", "b"]),
            "div": Divider(width=widths["div", "num"], frac=0,
                           den_width=widths["div", "den"], den_frac=0, quot_width=quot,
                           quot_frac=0),
            "ndiv": NormDivider(num_width=widths["ndiv", "num"],
                                den_width=widths["ndiv", "den"], mant_width=cfg.mant_width),
        }
        if cfg.norm == "l2":
            units["sqrt"] = Isqrt(width=widths["sqrt", "radicand"])
        return units

    def elaborate(self, platform):
        m = Module()
        cfg, r = self.cfg, self._regs
        for name, u in self._units.items():
            m.submodules[f"{name}_unit"] = u
        loads = [r.m.eq(self.m), r.gamma.eq(self.gamma), r.sx.eq(self.sum_x),
                 r.spread.eq(self.spread), r.sdy.eq(self.sum_dy), r.sdyx.eq(self.sum_dy_x)]
        if cfg.norm == "l1":
            loads.append(r.ssgn.eq(self.sum_sgn))
        run_programs(m, self._units, r, [self.steps], choice=[C(1, 1)], start=self.start,
                     loads=loads, busy=self.busy, done=self.done)
        lanes = self.lanes
        m.d.comb += [self.dgamma.eq(r.dgamma), self.sat.a.eq(r.sat_a),
                     self.sat.dgamma.eq(r.sat_dg), lanes.mu_f.eq(r.muf)]
        if cfg.norm == "l1":
            m.d.comb += [lanes.mant.eq(r.mant_l), lanes.shift.eq(r.shift),
                         lanes.neg.eq(_neg(r.gamma)), lanes.r_pos.eq(r.r.any() & ~_neg(r.r)),
                         lanes.r_neg.eq(_neg(r.r)),
                         self.sat.const.eq(Cat(*r.sat_b).any())]
            for k in range(3):
                m.d.comb += [lanes.centre[k].eq(r.centre[k]), lanes.bias[k].eq(r.bias[k])]
        else:
            m.d.comb += [lanes.a.mant.eq(r.mant_l), lanes.a.shift.eq(r.shift),
                         lanes.a.neg.eq(_neg(r.gamma)), lanes.b.mant.eq(r.mb),
                         lanes.b.shift.eq(r.shift_b),
                         lanes.b.neg.eq(_neg(r.gamma) ^ _neg(r.t)), lanes.mu_dy.eq(r.mudy),
                         lanes.k.eq(r.k), self.sat.const.eq(r.sat_k)]
        return m


def grad_cycles(**params):
    """``GradJob(**params).CYCLES`` without building anything."""
    job = GradJob(**params)
    for c in (job, *job._units.values()):
        c._MustUse__silence = True      # measured, never elaborated
    return job.CYCLES

"""The L1BN / L2BN backward unit, one channel at a time.

Bit for bit :func:`golden.bn_unit.backward`.
"""

from amaranth import C, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden import fixed
from golden.bn_unit import UnitConfig

from .accumulator import Accumulator
from .block import BlockSpec
from .divider import Divider
from .multiplier import Multiplier
from .round_sat import saturate, shift_right_half_up

__all__ = ["BNBackward", "latency_formulas", "pass_schedule"]

MUL_STAGES = 2


def _check_lanes(lanes):
    return fixed.check_int("lanes", lanes, 1, 64)


def latency_formulas(*, norm, width=16, frac=8, guard=8, lanes=1, max_batch=65536, **_ignored):
    """Cycle counts with ``x`` always valid and ``dx``/``grads`` always ready.

    ``pass`` = ceil(m/P) for both passes; ``gap`` (x.ready low between the last beat of pass 1
    and the first of pass 2); ``dx_latency`` (x beat of pass 2 -> its dx beat);
    ``between_channels`` = 0. With La = 1 (P = 1) or 2, M = clog2(max_batch):
    l1 ``gap = La + max(W+G+2, W+M) + 3 + (2W+G+3) + 3 + 9``;
    l2 ``gap = La + max(W+G+2, W+M) + 3 + (3W-F+G+3) + 3 + 9``.
    """
    cfg = UnitConfig(norm=norm, stats="two-pass", width=width, frac=frac, guard=guard,
                     max_batch=max_batch)
    P = _check_lanes(lanes)
    W, F, G = cfg.width, cfg.frac, cfg.guard
    M = fixed.clog2(cfg.max_batch)
    la = 1 if P == 1 else 2
    lat1 = max(W + G + 2, W + M) + 3
    lat2 = (cfg.const.width if norm == "l1" else cfg.slope.width) + 3
    out = {"La": la, "dx_latency": MUL_STAGES + 2, "between_channels": 0,
           "gap": la + lat1 + lat2 + MUL_STAGES + 7}
    text = {
        "pass": "ceil(m/P)",
        "La": "1 if P == 1 else 2",
        "dx_latency": "4",
        "between_channels": "0",
        "gap": ("La + (max(W+G+2, W+M)+3) + (2W+G+3 + 3) + 9" if norm == "l1" else
                "La + (max(W+G+2, W+M)+3) + (3W-F+G+3 + 3) + 9"),
    }
    out["formulas"] = text
    return out


def pass_schedule(m, *, norm, width=16, frac=8, guard=8, lanes=1, max_batch=65536, **_ignored):
    """``[("pass", ceil(m/P)), ("gap", ...), ("pass", ceil(m/P))]`` of one channel."""
    f = latency_formulas(norm=norm, width=width, frac=frac, guard=guard, lanes=lanes,
                         max_batch=max_batch)
    beats = -(-m // lanes)
    return [("pass", beats), ("gap", f["gap"]), ("pass", beats)]


def _delay(m, sig, n, en, name):
    for i in range(n):
        nxt = Signal.like(sig, name=f"{name}_d{i + 1}")
        with m.If(en):
            m.d.sync += nxt.eq(sig)
        sig = nxt
    return sig


class BNBackward(wiring.Component):
    """Batch-normalization backward unit (L1BN or L2BN), P lanes, bit for bit
    :func:`golden.bn_unit.backward`.

    Parameters: ``norm`` ("l1"/"l2"), ``width``/``frac`` (data ``Q(W, F)`` of x, dy, dx, gamma),
    ``lanes`` P (1..64), ``max_batch`` (m <= max_batch, M = clog2(max_batch)), ``guard`` G,
    ``eps`` (default 1e-5; ``None`` in the registry). Validated by
    :class:`golden.bn_unit.UnitConfig`.

    Protocol (one channel at a time)
    --------------------------------
    * Configuration inputs ``m``, ``gamma`` (data code), ``mean``, ``sigma`` (the forward's S
      codes, sigma >= 0) must be valid from the first cycle the channel's first beat is valid;
      they are latched at its handshake.
    * ``x``: payload ``{x: ArrayLayout(signed(W), P), dy: ArrayLayout(signed(W), P), last}``.
      The host streams the channel's (x, dy) pairs twice: pass 1 (sums of dy, dy*(x-mu), and
      sgn(x-mu) for l1), pass 2 (dx). Each pass is ceil(m/P) beats; lanes of the final beat
      beyond m are ignored; ``last`` marks each pass's final beat (the unit counts with m and
      sets the sticky ``err`` if ``last`` disagrees).
    * ``dx``: ``{data[P], sat: P bits, last}``, one beat per pass-2 beat, in order; lanes
      beyond m are 0.
    * ``grads``: ``{dgamma, dbeta}`` (grad codes) and ``sat`` flags ``{s, a, dgamma, c, e}``
      (c = D for l1, B for l2), once per channel, valid from the first cycle pass 2 may start.
      Pass 2 does not start while the previous channel's grads transfer is pending.
    * Backpressure: one global stall ``en = ~dx.valid | dx.ready``; ``x.ready`` is low while
      stalled and between the passes.

    Schedule (x always valid, outputs always ready; La = 1 for P = 1, else 2): each pass takes
    ceil(m/P) cycles with no bubble; the gap between the passes is, with L1 = max(W+G+2, W+M)+3
    (the A and dgamma dividers in parallel) and L2 = the D/E (l1, const width 2W+G+3) or B/E
    (l2, slope width 3W-F+G+3) dividers' latency (quot width + 3):
    ``gap = La + L1 + L2 + 9`` (drain 1 + 2 + La, launch 1, products 3, launch 1, go 1).
    Channels follow each other with no gap; dx beats leave 4 cycles after their x beats.
    :func:`latency_formulas` gives the numbers.

    Datapath: per lane ONE :class:`~hdl.multiplier.Multiplier` (2 stages) shared by the passes
    (pass 1 dy*d, pass 2 A*dy) plus a sign select of D (l1); l2 adds a second one (B*d). Per
    channel: three :class:`~hdl.accumulator.Accumulator` (dy, dy*d, sgn), four
    :class:`~hdl.divider.Divider` (A, dgamma, D or B, E) and registered products of the sums.
    """

    def __init__(self, *, norm, width=16, frac=8, lanes=1, max_batch=65536, guard=8, eps=None):
        eps = 1e-5 if eps is None else eps
        try:
            self.cfg = cfg = UnitConfig(norm=norm, stats="two-pass", width=width, frac=frac,
                                        guard=guard, max_batch=max_batch, eps=eps)
            self.lanes = P = _check_lanes(lanes)
        except ValueError:
            self._MustUse__silence = True
            raise
        self.norm = cfg.norm
        self.formats = dict(cfg.formats)
        W, SW, GW = cfg.width, cfg.stat.width, cfg.grad.width
        self.mbits = fixed.clog2(cfg.max_batch) + 1
        self.LATENCY = latency_formulas(norm=norm, width=width, frac=frac, guard=guard,
                                        lanes=lanes, max_batch=max_batch)
        self.x_layout = data.StructLayout({"x": data.ArrayLayout(signed(W), P),
                                           "dy": data.ArrayLayout(signed(W), P), "last": 1})
        self.dx_layout = data.StructLayout({"data": data.ArrayLayout(signed(W), P),
                                            "sat": unsigned(P), "last": 1})
        self.sat_layout = data.StructLayout({"s": 1, "a": 1, "dgamma": 1, "c": 1, "e": 1})
        self.grads_layout = data.StructLayout({"dgamma": signed(GW), "dbeta": signed(GW),
                                               "sat": self.sat_layout})
        super().__init__({
            "m": In(unsigned(self.mbits)),
            "gamma": In(signed(W)),
            "mean": In(signed(SW)),
            "sigma": In(signed(SW)),
            "x": In(stream.Signature(self.x_layout)),
            "dx": Out(stream.Signature(self.dx_layout)),
            "grads": Out(stream.Signature(self.grads_layout)),
            "err": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, P = self.cfg, self.lanes
        W, F, G = cfg.width, cfg.frac, cfg.guard
        FS, SW, KW, FK = cfg.stat.frac, cfg.stat.width, cfg.coef.width, cfg.coef.frac
        GW, CW = cfg.grad.width, cfg.const.width
        SLW, FB = cfg.slope.width, cfg.slope.frac
        M = self.mbits - 1
        l1 = cfg.norm == "l1"
        DW = W + G + 1
        L = MUL_STAGES

        # --- blocks ---
        acc_g = Accumulator(width=W, lanes=P, max_count=cfg.max_batch, signed=True)
        acc_gd = Accumulator(width=2 * W + G + 1, lanes=P, max_count=cfg.max_batch, signed=True)
        m.submodules.acc_g = acc_g
        m.submodules.acc_gd = acc_gd
        la = acc_g.LATENCY
        if l1:
            acc_sgn = Accumulator(width=2, lanes=P, max_count=cfg.max_batch, signed=True)
            m.submodules.acc_sgn = acc_sgn
        mul = [Multiplier(a_width=KW, b_width=W, stages=L) for _ in range(P)]
        for i, b in enumerate(mul):
            m.submodules[f"mul{i}"] = b
        if not l1:
            mul_b = [Multiplier(a_width=SLW, b_width=DW, stages=L) for _ in range(P)]
            for i, b in enumerate(mul_b):
                m.submodules[f"mul_b{i}"] = b

        # --- configuration ---
        m_r = Signal(self.mbits, name="m_r")
        gamma_r = Signal(signed(W), name="gamma_r")
        mu_r = Signal(signed(SW), name="mu_r")
        sigma_r = Signal(signed(SW), name="sigma_r")
        latch = Signal()
        with m.If(latch):
            m.d.sync += [m_r.eq(self.m), gamma_r.eq(self.gamma), mu_r.eq(self.mean),
                         sigma_r.eq(self.sigma)]

        # --- stream control ---
        en = Signal()
        m.d.comb += en.eq(~self.dx.valid | self.dx.ready)
        in_idle, in_p1, in_p2 = Signal(), Signal(), Signal()
        accept = Signal()
        m.d.comb += accept.eq(in_idle | in_p1 | in_p2)
        m.d.comb += self.x.ready.eq(en & accept)
        xfer = Signal()
        m.d.comb += xfer.eq(self.x.valid & self.x.ready)
        rw = max(self.mbits, P.bit_length()) + 1
        remaining = Signal(rw)
        pstart = Signal()
        rem_now = Signal(rw)
        m.d.comb += rem_now.eq(Mux(in_idle, self.m, Mux(pstart, m_r, remaining)))
        first_now = in_idle | pstart

        def gt(v, k):
            b = k.bit_length()
            if k == (1 << b) - 1:
                return v[b:].any()
            return v[b:].any() | (v[:b] > k)

        end_now = Signal()
        m.d.comb += end_now.eq(~gt(rem_now, P))
        lane_ok = [C(1, 1)] + [gt(rem_now, i) for i in range(1, P)]
        with m.If(xfer):
            m.d.sync += [remaining.eq(rem_now - C(P, rw)), pstart.eq(0)]
            m.d.sync += self.err.eq(self.err | (self.x.payload.last != end_now))
        is_p1 = in_idle | in_p1
        mu_now = Mux(in_idle, self.mean, mu_r)

        # Stage 1: masked dy and d = x*2**G - mu, pass tags.
        s1_dy = [Signal(signed(W), name=f"s1_dy{i}") for i in range(P)]
        s1_d = [Signal(signed(DW), name=f"s1_d{i}") for i in range(P)]
        s1_first1, s1_end1, s1_v2, s1_last2, s1_is2 = (Signal(name=n) for n in (
            "s1_first1", "s1_end1", "s1_v2", "s1_last2", "s1_is2"))
        s1_mask = Signal(P)
        with m.If(en):
            m.d.sync += [
                s1_first1.eq(xfer & is_p1 & first_now),
                s1_end1.eq(xfer & is_p1 & end_now),
                s1_v2.eq(xfer & in_p2),
                s1_last2.eq(xfer & in_p2 & end_now),
                s1_is2.eq(in_p2),
                s1_mask.eq(Cat(*lane_ok)),
            ]
            for i in range(P):
                ok = xfer & lane_ok[i]
                m.d.sync += [
                    s1_dy[i].eq(Mux(ok, self.x.payload.dy[i], 0)),
                    s1_d[i].eq(Mux(ok, Cat(C(0, G), self.x.payload.x[i]).as_signed() - mu_now,
                                   0)),
                ]
        pos = [s1_d[i].any() & ~s1_d[i][-1] for i in range(P)]
        neg = [s1_d[i][-1] for i in range(P)]

        a_r = Signal(signed(KW), name="a_r")
        c_r = Signal(signed(CW if l1 else SLW), name="c_r")   # D (l1) or B (l2)
        e_r = Signal(signed(CW), name="e_r")

        # Shared multiplier: pass 1 dy*d, pass 2 A*dy.
        for i in range(P):
            m.d.comb += [mul[i].en.eq(en), mul[i].a.eq(Mux(s1_is2, a_r, s1_d[i])),
                         mul[i].b.eq(s1_dy[i])]
            if not l1:
                m.d.comb += [mul_b[i].en.eq(en), mul_b[i].a.eq(c_r), mul_b[i].b.eq(s1_d[i])]
        # Pass 1 sums.
        m.d.comb += [acc_g.en.eq(en), acc_g.first.eq(s1_first1),
                     acc_gd.en.eq(en), acc_gd.first.eq(_delay(m, s1_first1, L, en, "fgd"))]
        for i in range(P):
            m.d.comb += [acc_g.values[i].eq(s1_dy[i]),
                         acc_gd.values[i].eq(mul[i].p[:2 * W + G + 1])]
        if l1:
            m.d.comb += [acc_sgn.en.eq(en), acc_sgn.first.eq(s1_first1)]
            for i in range(P):
                m.d.comb += acc_sgn.values[i].eq(Cat(s1_d[i].any(), neg[i]).as_signed())
        done1 = _delay(m, s1_end1, L + la, en, "done1")

        # Pass 2: dx = one rounding of the exact sum.
        out_v = _delay(m, s1_v2, L + 1, en, "dxv")
        out_last = _delay(m, s1_last2, L + 1, en, "dxl")
        out_mask = _delay(m, s1_mask, L + 1, en, "dxm")
        dx_r = [Signal(signed(W), name=f"dx_r{i}") for i in range(P)]
        dxs_r = Signal(P, name="dxs_r")
        for i in range(P):
            if l1:
                pd = _delay(m, pos[i], L, en, f"pos{i}")
                nd = _delay(m, neg[i], L, en, f"neg{i}")
                sel = Mux(pd, c_r, Mux(nd, -c_r, 0))
                t = mul[i].p + sel + e_r
                v, sat = saturate(shift_right_half_up(t, FK), cfg.data)
            else:
                up = FB - FK - F + FS
                bits = max(KW + W + up, CW + up, SLW + W + G + 1) + 2
                t = Signal(signed(bits), name=f"t{i}")
                m.d.comb += t.eq(Cat(C(0, up), mul[i].p + e_r).as_signed() + mul_b[i].p)
                sh = Signal(signed(bits - (FB + FS - F) + 1), name=f"t_sh{i}")
                m.d.comb += sh.eq(shift_right_half_up(t, FB + FS - F))
                v, sat = saturate(sh, cfg.data)
            with m.If(en):
                m.d.sync += [dx_r[i].eq(v), dxs_r[i].eq(sat)]
        m.d.comb += [self.dx.valid.eq(out_v), self.dx.payload.last.eq(out_last)]
        for i in range(P):
            m.d.comb += [self.dx.payload.data[i].eq(Mux(out_mask[i], dx_r[i], 0)),
                         self.dx.payload.sat[i].eq(out_mask[i] & dxs_r[i])]

        # --- per-channel constants ---
        s_val, s_sat = saturate(sigma_r + C(cfg.eps_q, SW + 1), cfg.stat) if l1 else \
            (sigma_r, C(0, 1))
        s_u = Signal(SW - 1, name="s_u")          # s >= 0
        m.d.comb += s_u.eq(Mux(s_val[SW - 1], 0, s_val[:SW - 1]))   # s < 0 never (sigma >= 0)
        sg = acc_g.sum
        sgd = acc_gd.sum
        a_div = Divider(width=W, frac=F, den_width=SW - 1, den_frac=FS, quot_width=KW,
                        quot_frac=FK)
        g_div = Divider(width=len(sgd), frac=F + FS, den_width=SW - 1, den_frac=FS,
                        quot_width=GW, quot_frac=F)
        m.submodules.a_div = a_div
        m.submodules.dgamma_div = g_div
        m.d.comb += [a_div.i.payload.num.eq(gamma_r), a_div.i.payload.den.eq(s_u),
                     g_div.i.payload.num.eq(sgd), g_div.i.payload.den.eq(s_u)]
        mw = self.mbits
        sm = Signal(SW - 1 + mw, name="s_m")
        if l1:
            ssgn = acc_sgn.sum
            r1 = Signal(signed(len(sgd) + len(ssgn)), name="sgd_ssgn")
            r3 = Signal(signed(len(sg) + len(sm) + 1), name="sg_sm")
            smm = Signal(len(sm) + mw, name="s_m_m")
            num_c = Signal(signed(KW + len(sgd) + 1), name="num_d")
            num_e = Signal(signed(KW + max(len(r1), len(r3)) + 1), name="num_e")
            c_div = Divider(width=len(num_c), frac=FK + F + FS, den_width=len(sm), den_frac=FS,
                            quot_width=CW, quot_frac=FK + F)
            e_div = Divider(width=len(num_e), frac=FK + F + FS, den_width=len(smm),
                            den_frac=FS, quot_width=CW, quot_frac=FK + F)
            m.d.comb += [c_div.i.payload.num.eq(num_c), c_div.i.payload.den.eq(sm),
                         e_div.i.payload.num.eq(num_e), e_div.i.payload.den.eq(smm)]
        else:
            ss = Signal(2 * (SW - 1), name="s_s")
            ssm = Signal(len(ss) + mw, name="s_s_m")
            num_c = Signal(signed(KW + len(sgd) + 1), name="num_b")
            num_e = Signal(signed(KW + len(sg) + 1), name="num_e")
            c_div = Divider(width=len(num_c), frac=FK + F + FS, den_width=len(ssm),
                            den_frac=2 * FS, quot_width=SLW, quot_frac=FB)
            e_div = Divider(width=len(num_e), frac=FK + F, den_width=mw, den_frac=0,
                            quot_width=CW, quot_frac=FK + F)
            m.d.comb += [c_div.i.payload.num.eq(num_c), c_div.i.payload.den.eq(ssm),
                         e_div.i.payload.num.eq(num_e), e_div.i.payload.den.eq(m_r)]
        m.submodules.c_div = c_div
        m.submodules.e_div = e_div

        # --- control: one-hot ---
        names = ["IDLE", "P1", "DRAIN", "GO1", "WAIT1", "MUL0", "MUL1", "MUL2", "GO2", "WAIT2",
                 "GO", "P2"]
        st = {n: Signal(name=f"st_{n.lower()}", init=(n == "IDLE")) for n in names}

        def goto(cond, src, dst):
            with m.If(st[src] & cond):
                m.d.sync += [st[src].eq(0), st[dst].eq(1)]

        m.d.comb += [in_idle.eq(st["IDLE"]), in_p1.eq(st["P1"]), in_p2.eq(st["P2"])]
        m.d.comb += latch.eq(st["IDLE"] & xfer)
        goto(xfer & end_now, "IDLE", "DRAIN")
        goto(xfer & ~end_now, "IDLE", "P1")
        goto(xfer & end_now, "P1", "DRAIN")
        goto(done1, "DRAIN", "GO1")
        m.d.comb += [a_div.i.valid.eq(st["GO1"]), g_div.i.valid.eq(st["GO1"])]
        goto(C(1, 1), "GO1", "WAIT1")
        both1 = a_div.o.valid & g_div.o.valid
        m.d.comb += [a_div.o.ready.eq(st["WAIT1"] & both1), g_div.o.ready.eq(st["WAIT1"] & both1)]
        sat_r = Signal(self.sat_layout, name="sat_r")
        dgamma_r = Signal(signed(GW), name="dgamma_r")
        with m.If(st["WAIT1"] & both1):
            m.d.sync += [a_r.eq(a_div.o.payload.quot), dgamma_r.eq(g_div.o.payload.quot),
                         sat_r.s.eq(s_sat), sat_r.a.eq(a_div.o.payload.sat),
                         sat_r.dgamma.eq(g_div.o.payload.sat)]
        goto(both1, "WAIT1", "MUL0")
        with m.If(st["MUL0"]):
            m.d.sync += sm.eq(s_u * m_r)
            if l1:
                m.d.sync += r1.eq(sgd * ssgn)
            else:
                m.d.sync += ss.eq(s_u * s_u)
        with m.If(st["MUL1"]):
            if l1:
                m.d.sync += [r3.eq(sg * Cat(sm, C(0, 1)).as_signed()), smm.eq(sm * m_r)]
            else:
                m.d.sync += [ssm.eq(ss * m_r), num_c.eq(-(a_r * sgd)), num_e.eq(-(a_r * sg))]
        with m.If(st["MUL2"]):
            if l1:
                m.d.sync += [num_c.eq(-(a_r * sgd)), num_e.eq(a_r * (r1 - r3))]
        goto(C(1, 1), "MUL0", "MUL1")
        goto(C(1, 1), "MUL1", "MUL2")
        goto(C(1, 1), "MUL2", "GO2")
        m.d.comb += [c_div.i.valid.eq(st["GO2"]), e_div.i.valid.eq(st["GO2"])]
        goto(C(1, 1), "GO2", "WAIT2")
        both2 = c_div.o.valid & e_div.o.valid
        m.d.comb += [c_div.o.ready.eq(st["WAIT2"] & both2), e_div.o.ready.eq(st["WAIT2"] & both2)]
        with m.If(st["WAIT2"] & both2):
            m.d.sync += [c_r.eq(c_div.o.payload.quot), e_r.eq(e_div.o.payload.quot),
                         sat_r.c.eq(c_div.o.payload.sat), sat_r.e.eq(e_div.o.payload.sat)]
        goto(both2, "WAIT2", "GO")
        grads_free = ~self.grads.valid | self.grads.ready
        with m.If(self.grads.ready):
            m.d.sync += self.grads.valid.eq(0)
        dbeta, _ = saturate(sg, cfg.grad)
        go = st["GO"] & grads_free
        with m.If(go):
            m.d.sync += [pstart.eq(1), self.grads.valid.eq(1),
                         self.grads.payload.dgamma.eq(dgamma_r),
                         self.grads.payload.dbeta.eq(dbeta),
                         self.grads.payload.sat.eq(sat_r)]
        goto(grads_free, "GO", "P2")
        goto(xfer & end_now, "P2", "IDLE")
        return m


BLOCK = BlockSpec(BNBackward, ("norm", "width", "frac", "lanes", "max_batch", "guard", "eps"),
                  defaults={"width": 16, "frac": 8, "lanes": 1, "max_batch": 65536, "guard": 8,
                            "eps": None},
                  summary="L1BN/L2BN backward unit: sums of dy, dy*(x-mu), sgn; dgamma, dbeta; "
                          "dx = A*dy + D*sgn + E (l1) or A*dy + B*(x-mu) + E (l2)")

"""The L1BN / L2BN backward unit: sequences of channels, two in flight (interleaved passes).

Bit for bit :func:`golden.bn_unit.backward`.
"""

from amaranth import C, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden import fixed
from golden.bn_unit import UnitConfig

from .accumulator import Accumulator
from .bn_sequencer import PassSequencer, schedule_cycles
from .block import BlockSpec
from .registers import context_pair, delay, pick
from .divider import Divider
from .multiplier import Multiplier
from .serial_multiplier import SerialMultiplier
from .round_sat import round_saturate, saturate

__all__ = ["BNBackward", "AREA_GROUPS", "latency_formulas", "sequence_cycles"]

MUL_STAGES = 2
#: Submodule instance-name prefixes of each part of the unit (for area reports); the rest of the
#: top module (sequencer, contexts, job control, the registered products) is control and
#: registers.
AREA_GROUPS = {"statistics": ("acc_g", "acc_gd", "acc_sgn"),
               "per-channel math": ("a_div", "dgamma_div", "c_div", "e_div", "scalar_mul"),
               "datapath": ("mul",)}


def _check_lanes(lanes):
    return fixed.check_int("lanes", lanes, 1, 64)


def latency_formulas(*, norm, width=16, frac=8, guard=8, lanes=1, max_batch=65536, **_ignored):
    """Timing constants of the backward schedule (:func:`hdl.bn_sequencer.schedule_cycles`).

    Numbers for these parameters and, under ``"formulas"``, as text (La = 1 for P = 1, else 2;
    M = clog2(max_batch)): ``pass`` = ceil(m/P) beats per pass; ``request_train`` (last beat of
    the sums pass to the start of the constants job) ``La + 4``; ``job_train`` (job start to the
    first cycle the dx pass may stream): ``5 + L1 + S * (Ls + 1) + Dd + L2`` with L1 =
    max(W+G+2, W+M) + 3 (the A and dgamma dividers in parallel), S steps of the two serial
    multipliers of latency Ls (:func:`_product_plan`; l1 3, l2 2), Dd = 2 cycles of r1 - r3 (l1)
    and L2 = the D/E (l1: 2W+G+3 + 6) or B/E (l2: 3W-F+G+3 + 6) dividers' latency (split
    loads); l2 then adds (Lp + 1) + 1 for mu*B on the first serial multiplier (Lp its latency)
    and E' = E*2**up - mu*B; ``dx_latency`` 5.
    """
    cfg = UnitConfig(norm=norm, stats="two-pass", width=width, frac=frac, guard=guard,
                     max_batch=max_batch)
    P = _check_lanes(lanes)
    la = 1 if P == 1 else 2
    lat1 = max(cfg.coef.width, cfg.grad.width) + 3
    lat2 = max(cfg.const.width, 0 if norm == "l1" else cfg.slope.width) + 6   # split loads
    steps, lat_mul, lat_post = _product_plan(cfg)
    diff = 2 if norm == "l1" else 0
    post = 0 if norm == "l1" else lat_post + 2
    out = {"La": la, "dx_latency": MUL_STAGES + 3, "request_train": MUL_STAGES + la + 2,
           "job_train": 5 + lat1 + steps * (lat_mul + 1) + diff + lat2 + post}
    out["formulas"] = {
        "pass": "ceil(m/P)", "La": "1 if P == 1 else 2", "dx_latency": "5",
        "request_train": "La+4",
        "job_train": ("5 + (max(W+G+2, W+M)+3) + 3(Ls+1) + 2 + (2W+G+3 + 6), Ls = the serial "
                      "multipliers' latency (widest second factor + 1)" if norm == "l1" else
                      "5 + (max(W+G+2, W+M)+3) + 2(Ls+1) + (3W-F+G+3 + 6) + (Lp+1) + 1, Ls = "
                      "the serial multipliers' latency (widest second factor + 1), Lp = the "
                      "mu*B product's (slope width 3W-F+G+3 + 1)"),
        "serial_latency": str(lat_mul),
    }
    return out


def _product_plan(cfg):
    """(steps, cycles per step, latency of the first multiplier) of the constants job's scalar
    products: the second factors' widths (M = clog2(max_batch), mbits = M + 1) as
    :meth:`BNBackward.elaborate` gives them. l1: (s*m, Ssgn*Sgd), (m*sm, Sg*sm),
    (A*Sgd, A*(r1-r3)); l2: (s*s, A*Sgd), (m*ss, A*Sg), and after the dividers mu*B on the
    first multiplier alone."""
    W, G, SW = cfg.width, cfg.guard, cfg.stat.width
    M = fixed.clog2(cfg.max_batch)
    mw = M + 1
    sg_w, sgd_w, ssgn_w = W + M, 2 * W + G + 1 + M, 2 + M
    sm_w = SW - 1 + mw
    if cfg.norm == "l1":
        r1_w, r3_w = sgd_w + ssgn_w, sg_w + sm_w + 1
        b_widths = ([SW, sm_w + 1, sgd_w], [sgd_w, sm_w + 1, max(r1_w, r3_w) + 1])
        steps = 3
    else:
        # the first multiplier's widest second factor includes B (mu*B, after the dividers)
        b_widths = ([SW, 2 * (SW - 1) + 1, cfg.slope.width], [sgd_w, sg_w])
        steps = 2
    return steps, max(max(b) for b in b_widths) + 1, max(b_widths[0]) + 1


def sequence_cycles(channels, m, *, norm, width=16, frac=8, guard=8, lanes=1,
                    max_batch=65536, **_ignored):
    """Cycles for a sequence of ``channels`` channels of ``m`` values (an int or one per
    channel), from the first descriptor handshake to the last ``dx`` beat, every input valid and
    every output ready: the dict of :func:`hdl.bn_sequencer.schedule_cycles`. With ceil(m/P)
    at least the constants job, ``2 * C * ceil(m/P) + K`` for C >= 2 (a lone channel waits for
    its job once more: nothing else can be streamed meanwhile)."""
    f = latency_formulas(norm=norm, width=width, frac=frac, guard=guard, lanes=lanes,
                         max_batch=max_batch)
    P = _check_lanes(lanes)
    ms = [m] * channels if isinstance(m, int) else list(m)
    beats = [-(-fixed.check_int("m", v, 1) // P) for v in ms]
    return schedule_cycles(channels, beats, passes=2, request_delay=f["request_train"],
                           job_cycles=f["job_train"], out_latency=f["dx_latency"])



class BNBackward(wiring.Component):
    """Batch-normalization backward unit (L1BN or L2BN), P lanes, bit for bit
    :func:`golden.bn_unit.backward`.

    Parameters: ``norm`` ("l1"/"l2"), ``width``/``frac`` (data ``Q(W, F)`` of x, dy, dx, gamma),
    ``lanes`` P (1..64), ``max_batch`` (m <= max_batch, M = clog2(max_batch)), ``guard`` G,
    ``eps`` (default 1e-5; ``None`` in the registry). Validated by
    :class:`golden.bn_unit.UnitConfig`.

    Protocol (sequences of channels, two in flight; as :class:`hdl.bn_unit.BNUnit`)
    -------------------------------------------------------------------------------
    * ``channel``: descriptors ``{m, gamma, mean, sigma, last}`` (gamma a data code, the
      forward's mean and sigma S codes, sigma >= 0; ``last`` on a sequence's final channel),
      taken ahead of the data into one of two contexts.
    * ``x``: payload ``{x: ArrayLayout(signed(W), P), dy: ArrayLayout(signed(W), P), last}``.
      Each channel's (x, dy) pairs are streamed twice: the *first* pass (sums of dy,
      dy*(x-mu), and sgn(x-mu) for l1), the *final* pass (dx). Each pass is ceil(m/P) beats;
      lanes of the final beat beyond m are ignored; ``last`` marks each pass's final beat (the
      unit counts with m and sets the sticky ``err`` if ``last`` disagrees). Order
      (:func:`hdl.bn_sequencer.slot_order`, two passes): round c streams the first pass of
      channel c, then the final pass of channel c - 1: ``0F 1F 0N 2F 1N ... (C-1)N``.
    * ``dx``: ``{data[P], sat: P bits, last}``, one beat per final-pass beat, in order; lanes
      beyond m are 0.
    * ``grads``: ``{dgamma, dbeta}`` (grad codes) and ``sat`` flags ``{s, a, dgamma, c, e}``
      (c = D for l1, B for l2), once per channel, in order, when its constants are known. A
      pending transfer holds the next channel's constants (and so its final pass).
    * Backpressure: one global stall ``en = ~dx.valid | dx.ready``; ``x.ready`` is low while
      stalled or while a final pass waits for its constants.

    Schedule (inputs always valid, outputs always ready): one beat per cycle; a final pass
    waits until ``request_train + job_train`` cycles after its channel's first pass (the
    constants job: A and dgamma dividers, five or six scalar products, D or B and E dividers;
    one job at a time), hidden behind the other channel's passes when ``ceil(m/P)`` covers it.
    :func:`sequence_cycles` is the cycle-exact model the testbench checks;
    :func:`latency_formulas` the constants. dx beats leave 5 cycles after their x beats.

    Datapath: per lane ONE :class:`~hdl.multiplier.Multiplier` (2 stages) shared by the passes
    (pass 1 dy*d, pass 2 A*dy) plus a sign select of D (l1); l2 adds a second one, B*x: the
    golden sum ``(A*dy + E)*2**up + B*(x*2**G - mu)`` is formed as the same integer
    ``A*dy*2**up + B*x*2**G + E'`` with the per-channel ``E' = E*2**up - mu*B`` (exact), so the
    lane product is slope x W bits, not slope x (W+G+1). Per channel: three
    :class:`~hdl.accumulator.Accumulator` (dy, dy*d, sgn), four :class:`~hdl.divider.Divider`
    (A, dgamma, D or B, E), registered products of the sums on two
    :class:`~hdl.serial_multiplier.SerialMultiplier` (l2: and mu*B).
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
        #: Multiplier instances. Per lane: l1 one (dy*d, then A*dy) plus a sign select; l2 also
        #: B*d. Per channel: two serial multipliers for the constants job's products (l1 six:
        #: s*m, Sgd*Ssgn, m*sm, Sg*sm, A*Sgd, A*(r1-r3); l2 four: s*s, A*Sgd, m*ss, A*Sg).
        self.MULTIPLIERS = {"per_lane": 1 if norm == "l1" else 2, "lanes": P, "scalar": 2}
        self.LATENCY = latency_formulas(norm=norm, width=width, frac=frac, guard=guard,
                                        lanes=lanes, max_batch=max_batch)
        self.x_layout = data.StructLayout({"x": data.ArrayLayout(signed(W), P),
                                           "dy": data.ArrayLayout(signed(W), P), "last": 1})
        self.dx_layout = data.StructLayout({"data": data.ArrayLayout(signed(W), P),
                                            "sat": unsigned(P), "last": 1})
        self.sat_layout = data.StructLayout({"s": 1, "a": 1, "dgamma": 1, "c": 1, "e": 1})
        self.grads_layout = data.StructLayout({"dgamma": signed(GW), "dbeta": signed(GW),
                                               "sat": self.sat_layout})
        self.channel_layout = data.StructLayout({
            "m": unsigned(self.mbits), "gamma": signed(W), "mean": signed(SW),
            "sigma": signed(SW), "last": 1})
        super().__init__({
            "channel": In(stream.Signature(self.channel_layout)),
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
        up = FB - FK - F + FS           # l2: fraction bits A*dy + E lack against B*d
        EW = max(CW + up, SW + SLW) + 1     # l2: E' = E*2**up - mu*B

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
            mul_b = [Multiplier(a_width=SLW, b_width=W, stages=L) for _ in range(P)]
            for i, b in enumerate(mul_b):
                m.submodules[f"mul_b{i}"] = b

        # --- schedule, configuration stream and the two channel contexts ---
        m.submodules.sequencer = seq = PassSequencer(lanes=P, mbits=self.mbits, passes=2)
        cp = self.channel.payload
        m.d.comb += [seq.cfg_valid.eq(self.channel.valid), seq.cfg_last.eq(cp.last),
                     seq.cfg_single.eq(0), seq.cfg_m.eq(cp.m),
                     self.channel.ready.eq(seq.cfg_ready)]

        gamma_c = context_pair(signed(W), "gamma")
        mu_c, sigma_c = context_pair(signed(SW), "mu"), context_pair(signed(SW), "sigma")
        a_c = context_pair(signed(KW), "a")
        c_c = context_pair(signed(CW if l1 else SLW), "c")      # D (l1) or B (l2)
        e_c = context_pair(signed(CW if l1 else EW), "e")      # E (l1) or E' (l2)
        if l1:
            nc_c = context_pair(signed(CW + 1), "neg_d")    # -D: no negation per element
            # The dx pass reads only this bank (written with the constants): the descriptor's
            # mean may already belong to the next channel of the context.
            mu_dx = context_pair(signed(SW), "mu_dx")
        m_c = [seq.m0, seq.m1]
        coef_ready = Signal(2)
        m.d.comb += [seq.dep_mid.eq(0), seq.dep_final.eq(coef_ready)]
        for i in range(2):
            with m.If(seq.load & (seq.load_ctx == i)):
                m.d.sync += [gamma_c[i].eq(cp.gamma), mu_c[i].eq(cp.mean),
                             sigma_c[i].eq(cp.sigma), coef_ready[i].eq(0)]

        # --- stream control ---
        en = Signal()
        m.d.comb += en.eq(~self.dx.valid | self.dx.ready)
        m.d.comb += [seq.en.eq(en), seq.x_valid.eq(self.x.valid),
                     seq.x_last.eq(self.x.payload.last), self.x.ready.eq(seq.x_ready),
                     self.err.eq(seq.err)]
        xfer = seq.xfer
        is_p1, is_p2 = seq.kind[0], seq.kind[2]
        # l2 pass 2 takes d = x*2**G (mu is in E'), so that d[G:G+W] = x.
        mu_now = Mux(is_p2, pick(mu_dx, seq.ctx) if l1 else 0, pick(mu_c, seq.ctx))

        # Stage 1: dy and d = x*2**G - mu, pass tags and the beat's channel.
        s1_dy = [Signal(signed(W), name=f"s1_dy{i}") for i in range(P)]
        s1_d = [Signal(signed(DW), name=f"s1_d{i}") for i in range(P)]
        s1_first1, s1_end1, s1_v2, s1_last2, s1_is2, s1_ctx = (Signal(name=n) for n in (
            "s1_first1", "s1_end1", "s1_v2", "s1_last2", "s1_is2", "s1_ctx"))
        s1_mask, s1_ok = Signal(P), Signal(P, name="s1_ok")
        # The beat's channel constants, picked from the contexts here so that no context select
        # sits in front of the lane multipliers.
        s1_a = Signal(signed(KW), name="s1_a")
        s1_c = Signal(signed(len(c_c[0])), name="s1_c")
        with m.If(en):
            m.d.sync += [
                s1_a.eq(pick(a_c, seq.ctx)),
                s1_c.eq(pick(c_c, seq.ctx)),
                s1_first1.eq(xfer & is_p1 & seq.first),
                s1_end1.eq(xfer & is_p1 & seq.end),
                s1_v2.eq(xfer & is_p2),
                s1_last2.eq(xfer & is_p2 & seq.end),
                s1_is2.eq(is_p2),
                s1_ctx.eq(seq.ctx),
                s1_mask.eq(seq.lane_ok),
                s1_ok.eq(seq.lane_ok & xfer.replicate(P)),
            ]
            # The values are registered as they come and masked after the register (s1_ok):
            # the handshake (xfer) then drives a few mask and tag flops, not every data flop.
            for i in range(P):
                m.d.sync += [
                    s1_dy[i].eq(self.x.payload.dy[i]),
                    s1_d[i].eq(Cat(C(0, G), self.x.payload.x[i]).as_signed() - mu_now),
                ]
        dy_ok = [Mux(s1_ok[i], s1_dy[i], 0) for i in range(P)]
        ok_l = delay(m, s1_ok, L, en, "ok")        # the beat's lane mask at the multiplier output
        pos = [s1_d[i].any() & ~s1_d[i][-1] for i in range(P)]
        neg = [s1_d[i][-1] for i in range(P)]
        ctx_l = delay(m, s1_ctx, L, en, "ctx")     # the beat's channel at the multiplier output

        # Shared multiplier: pass 1 dy*d, pass 2 A*dy.
        for i in range(P):
            m.d.comb += [mul[i].en.eq(en), mul[i].a.eq(Mux(s1_is2, s1_a, s1_d[i])),
                         mul[i].b.eq(s1_dy[i])]
            if not l1:
                m.d.comb += [mul_b[i].en.eq(en), mul_b[i].a.eq(s1_c),
                             mul_b[i].b.eq(s1_d[i][G:G + W].as_signed())]
        # Pass 1 sums.
        m.d.comb += [acc_g.en.eq(en), acc_g.first.eq(s1_first1),
                     acc_gd.en.eq(en), acc_gd.first.eq(delay(m, s1_first1, L, en, "fgd"))]
        for i in range(P):
            m.d.comb += [acc_g.values[i].eq(dy_ok[i]),
                         acc_gd.values[i].eq(Mux(ok_l[i], mul[i].p[:2 * W + G + 1], 0))]
        if l1:
            m.d.comb += [acc_sgn.en.eq(en), acc_sgn.first.eq(s1_first1)]
            for i in range(P):
                m.d.comb += acc_sgn.values[i].eq(Mux(s1_ok[i], Cat(s1_d[i].any(), neg[i]).as_signed(),
                                                     0))
        done_tag = delay(m, Cat(s1_end1, s1_ctx), L + la, en, "done1")
        done1, done_ctx = done_tag[0] & en, done_tag[1]
        # sum dy and sum sgn are ready L cycles before sum dy*d: delayed to meet it.
        sg_late = delay(m, acc_g.sum, L, en, "sg")
        if l1:
            ssgn_late = delay(m, acc_sgn.sum, L, en, "ssgn")

        # Pass 2: dx = one rounding of the exact sum, in two stages: the exact sum (registered
        # per lane), then its rounding and saturation.
        out_v = delay(m, s1_v2, L + 2, en, "dxv")
        out_last = delay(m, s1_last2, L + 2, en, "dxl")
        out_mask = delay(m, s1_mask, L + 2, en, "dxm")
        c_now, e_now = pick(c_c, ctx_l), pick(e_c, ctx_l)
        dx_r = [Signal(signed(W), name=f"dx_r{i}") for i in range(P)]
        dxs_r = Signal(P, name="dxs_r")
        for i in range(P):
            if l1:
                pd = delay(m, pos[i], L, en, f"pos{i}")
                nd = delay(m, neg[i], L, en, f"neg{i}")
                sel = Mux(pd, c_now, Mux(nd, pick(nc_c, ctx_l), 0))
                total = mul[i].p + sel + e_now
                shift = FK
            else:
                # A*dy*2**up + B*x*2**G + E': the golden model's integer, three terms each
                # below 2**(bits-3)
                bits = max(KW + W + up, SLW + W + G, EW) + 2
                total = Signal(signed(bits), name=f"t{i}")
                m.d.comb += total.eq(Cat(C(0, up), mul[i].p).as_signed() + e_now
                                     + Cat(C(0, G), mul_b[i].p).as_signed())
                shift = FB + FS - F
            t_r = Signal(signed(len(total)), name=f"dx_sum{i}")
            with m.If(en):
                m.d.sync += t_r.eq(total)
            v, sat = round_saturate(t_r, shift, cfg.data)
            with m.If(en):
                m.d.sync += [dx_r[i].eq(v), dxs_r[i].eq(sat)]
        m.d.comb += [self.dx.valid.eq(out_v), self.dx.payload.last.eq(out_last)]
        for i in range(P):
            m.d.comb += [self.dx.payload.data[i].eq(Mux(out_mask[i], dx_r[i], 0)),
                         self.dx.payload.sat[i].eq(out_mask[i] & dxs_r[i])]

        # --- per-channel constants: a job per channel, its sums waiting in a one-entry queue ---
        pend, pend_ctx, take = Signal(name="pend"), Signal(name="pend_ctx"), Signal(name="take")
        sg_p, sgd_p = Signal.like(acc_g.sum, name="sg_p"), Signal.like(acc_gd.sum, name="sgd_p")
        sg, sgd = Signal.like(acc_g.sum, name="sg_j"), Signal.like(acc_gd.sum, name="sgd_j")
        job = Signal()
        with m.If(take):
            m.d.sync += [pend.eq(0), job.eq(pend_ctx), sg.eq(sg_p), sgd.eq(sgd_p)]
        with m.If(done1):
            m.d.sync += [pend.eq(1), pend_ctx.eq(done_ctx), sg_p.eq(sg_late),
                         sgd_p.eq(acc_gd.sum)]
        if l1:
            ssgn_p = Signal.like(acc_sgn.sum, name="ssgn_p")
            ssgn = Signal.like(acc_sgn.sum, name="ssgn_j")
            with m.If(take):
                m.d.sync += ssgn.eq(ssgn_p)
            with m.If(done1):
                m.d.sync += ssgn_p.eq(ssgn_late)
        m_r, gamma_r, sigma_r = pick(m_c, job), pick(gamma_c, job), pick(sigma_c, job)
        s_val, s_sat = saturate(sigma_r + C(cfg.eps_q, SW + 1), cfg.stat) if l1 else \
            (sigma_r, C(0, 1))
        s_u = Signal(SW - 1, name="s_u")          # s >= 0, registered in S_LOAD
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
            r1 = Signal(signed(len(sgd) + len(ssgn)), name="sgd_ssgn")
            r3 = Signal(signed(len(sg) + len(sm) + 1), name="sg_sm")
            smm = Signal(len(sm) + mw, name="s_m_m")
            num_c = Signal(signed(KW + len(sgd) + 1), name="num_d")
            num_e = Signal(signed(KW + max(len(r1), len(r3)) + 1), name="num_e")
            c_div = Divider(width=len(num_c), frac=FK + F + FS, den_width=len(sm), den_frac=FS,
                            quot_width=CW, quot_frac=FK + F, split_load=True)
            e_div = Divider(width=len(num_e), frac=FK + F + FS, den_width=len(smm),
                            den_frac=FS, quot_width=CW, quot_frac=FK + F, split_load=True)
            m.d.comb += [c_div.i.payload.num.eq(num_c), c_div.i.payload.den.eq(sm),
                         e_div.i.payload.num.eq(num_e), e_div.i.payload.den.eq(smm)]
        else:
            ss = Signal(2 * (SW - 1), name="s_s")
            ssm = Signal(len(ss) + mw, name="s_s_m")
            num_c = Signal(signed(KW + len(sgd) + 1), name="num_b")
            num_e = Signal(signed(KW + len(sg) + 1), name="num_e")
            c_div = Divider(width=len(num_c), frac=FK + F + FS, den_width=len(ssm),
                            den_frac=2 * FS, quot_width=SLW, quot_frac=FB, split_load=True)
            e_div = Divider(width=len(num_e), frac=FK + F, den_width=mw, den_frac=0,
                            quot_width=CW, quot_frac=FK + F, split_load=True)
            m.d.comb += [c_div.i.payload.num.eq(num_c), c_div.i.payload.den.eq(ssm),
                         e_div.i.payload.num.eq(num_e), e_div.i.payload.den.eq(m_r)]
        m.submodules.c_div = c_div
        m.submodules.e_div = e_div

        # Scalar products of the job on two serial multipliers, in steps: a step's products
        # start together and the step ends when they are all done (plan: :func:`_product_plan`).
        # A step is {multiplier: (destination, a, b, neg)}; destination None leaves the product
        # in the multiplier's output register for the state after the step.
        a_r = Signal(signed(KW), name="a_r")
        c_r = Signal.like(c_c[0], name="c_r")

        def sgn(v):
            return Cat(v, C(0, 1)).as_signed()

        if l1:
            diff = Signal(signed(max(len(r1), len(r3)) + 1), name="r1_r3")
            steps = [{0: (sm, sgn(m_r), sgn(s_u), 0), 1: (r1, ssgn, sgd, 0)},
                     {0: (smm, sgn(m_r), sgn(sm), 0), 1: (r3, sg, sgn(sm), 0)},
                     {0: (num_c, a_r, sgd, 1), 1: (num_e, a_r, diff, 0)}]
            order = ["K0", "KW0", "K1", "KW1", "DIFF", "DIFF2", "K2", "KW2", "GO2", "WAIT2",
                     "GO"]
        else:
            steps = [{0: (ss, sgn(s_u), sgn(s_u), 0), 1: (num_c, a_r, sgd, 1)},
                     {0: (ssm, sgn(m_r), sgn(ss), 0), 1: (num_e, a_r, sg, 1)},
                     {0: (None, pick(mu_c, job), c_r, 0)}]
            order = ["K0", "KW0", "K1", "KW1", "GO2", "WAIT2", "K2", "KW2", "EP", "GO"]
        smul = []
        for k in range(2):
            aw = max(len(st_[k][1]) for st_ in steps if k in st_)
            bw = max(len(st_[k][2]) for st_ in steps if k in st_)
            smul.append(SerialMultiplier(a_width=aw, b_width=bw))
            m.submodules[f"scalar_mul{k}"] = smul[k]

        # --- job control: one-hot; after WAIT1 the states follow ``order`` ---
        names = ["IDLE", "S_LOAD", "GO1", "WAIT1"] + order
        st = {n: Signal(name=f"job_{n.lower()}", init=(n == "IDLE")) for n in names}
        after = dict(zip(order, order[1:]))

        def goto(cond, src, dst):
            with m.If(st[src] & cond):
                m.d.sync += [st[src].eq(0), st[dst].eq(1)]

        m.d.comb += take.eq(st["IDLE"] & pend)
        goto(pend, "IDLE", "S_LOAD")
        with m.If(st["S_LOAD"]):
            m.d.sync += s_u.eq(Mux(s_val[SW - 1], 0, s_val[:SW - 1]))   # s < 0 never
        goto(C(1, 1), "S_LOAD", "GO1")
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
        goto(both1, "WAIT1", "K0")
        for i, step in enumerate(steps):
            done = C(1, 1)
            for k in step:
                done = done & smul[k].o.valid
            for k, (dest, a_in, b_in, neg) in step.items():
                with m.If(st[f"K{i}"]):
                    m.d.comb += [smul[k].i.valid.eq(1), smul[k].i.payload.a.eq(a_in),
                                 smul[k].i.payload.b.eq(b_in), smul[k].i.payload.neg.eq(neg)]
                if dest is not None:
                    with m.If(st[f"KW{i}"] & done):
                        m.d.comb += smul[k].o.ready.eq(1)
                        m.d.sync += dest.eq(smul[k].o.payload.p)
            goto(C(1, 1), f"K{i}", f"KW{i}")
            goto(done, f"KW{i}", after[f"KW{i}"])
        if l1:
            # r1 - r3 in two cycles: the low half with its borrow, then the high half.
            h = len(diff) // 2
            r1x, r3x = Signal.like(diff, name="r1x"), Signal.like(diff, name="r3x")
            low = Signal(h + 1, name="r1_r3_low")
            m.d.comb += [r1x.eq(r1), r3x.eq(r3)]
            with m.If(st["DIFF"]):
                m.d.sync += low.eq(r1x[:h] - r3x[:h])
            with m.If(st["DIFF2"]):
                m.d.sync += diff.eq(Cat(low[:h], r1x[h:] - r3x[h:] - low[h]))
            goto(C(1, 1), "DIFF", "DIFF2")
            goto(C(1, 1), "DIFF2", "K2")
        m.d.comb += [c_div.i.valid.eq(st["GO2"]), e_div.i.valid.eq(st["GO2"])]
        goto(C(1, 1), "GO2", "WAIT2")
        both2 = c_div.o.valid & e_div.o.valid
        e_r = Signal.like(e_c[0], name="e_r")
        with m.If(st["WAIT2"] & both2):
            m.d.sync += [c_r.eq(c_div.o.payload.quot),
                         sat_r.c.eq(c_div.o.payload.sat), sat_r.e.eq(e_div.o.payload.sat)]
        m.d.comb += c_div.o.ready.eq(st["WAIT2"] & both2)
        if l1:
            m.d.comb += e_div.o.ready.eq(st["WAIT2"] & both2)
            with m.If(st["WAIT2"] & both2):
                m.d.sync += e_r.eq(e_div.o.payload.quot)
        else:
            # E' = E*2**up - mu*B (E still in the divider's output register, mu*B in the first
            # serial multiplier's)
            m.d.comb += e_div.o.ready.eq(st["EP"])
            with m.If(st["EP"]):
                m.d.comb += smul[0].o.ready.eq(1)
                m.d.sync += e_r.eq(Cat(C(0, up), e_div.o.payload.quot).as_signed()
                                   - smul[0].o.payload.p)
            goto(C(1, 1), "EP", "GO")
        goto(both2, "WAIT2", after["WAIT2"])
        grads_free = ~self.grads.valid | self.grads.ready
        with m.If(self.grads.ready):
            m.d.sync += self.grads.valid.eq(0)
        dbeta, _ = saturate(sg, cfg.grad)
        go = st["GO"] & grads_free
        for i in range(2):
            with m.If(go & (job == i)):
                m.d.sync += [a_c[i].eq(a_r), c_c[i].eq(c_r), e_c[i].eq(e_r),
                             coef_ready[i].eq(1)]
                if l1:
                    m.d.sync += [nc_c[i].eq(-c_r), mu_dx[i].eq(mu_c[i])]
        with m.If(go):
            m.d.sync += [self.grads.valid.eq(1),
                         self.grads.payload.dgamma.eq(dgamma_r),
                         self.grads.payload.dbeta.eq(dbeta),
                         self.grads.payload.sat.eq(sat_r)]
        goto(grads_free, "GO", "IDLE")
        return m


BLOCK = BlockSpec(BNBackward, ("norm", "width", "frac", "lanes", "max_batch", "guard", "eps"),
                  defaults={"width": 16, "frac": 8, "lanes": 1, "max_batch": 65536, "guard": 8,
                            "eps": None},
                  summary="L1BN/L2BN backward unit: sums of dy, dy*(x-mu), sgn; dgamma, dbeta; "
                          "dx = A*dy + D*sgn + E (l1) or A*dy + B*(x-mu) + E (l2)")

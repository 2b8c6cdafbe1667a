"""The L1BN / L2BN backward unit: sequences of channels, two in flight (interleaved passes), the
forward's exact sums in, per-channel constants with relative precision, centred dx lanes.

Bit for bit :func:`l1bn.golden.bn_backward.backward`.
"""

from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from l1bn.golden import fixed
from l1bn.golden.bn_unit import UnitConfig

from .accumulator import Accumulator
from .block import BlockSpec
from .bn_grad_job import SAT_LAYOUT, GradJob, grad_cycles
from .bn_sequencer import PassSequencer, schedule_cycles
from .bn_skeleton import (DESC_DEPTH, STATUS_LAYOUT, Wires, descriptors, event, job_handshake,
                          register_tags, status_output, stream_control)
from .centred_pair import CentredPair
from .centred_scale import CentredScale
from .multiplier import Multiplier
from .registers import context_pair, delay, pick

__all__ = ["BNBackward", "AREA_GROUPS", "latency_formulas", "sequence_cycles"]

#: Submodule instance-name prefixes of each part of the unit (for area reports); the rest of the
#: top module (sequencer, contexts, job control) is control and registers.
AREA_GROUPS = {"statistics": ("acc_dy", "acc_dyx", "dyx"),
               "per-channel math": ("job",),
               "datapath": ("lane",)}


def _check_lanes(lanes):
    return fixed.check_int("lanes", lanes, 1, 64)


def _lane_block(norm):
    return CentredScale if norm == "l1" else CentredPair


def latency_formulas(*, norm, width=16, guard=8, lanes=1, max_batch=65536, **_ignored):
    """Timing constants of the backward schedule (:func:`l1bn.hdl.bn_sequencer.schedule_cycles`).

    Numbers for these parameters and, under ``"formulas"``, as text (La: the accumulators'
    latency, 1 for P = 1, else 2; Jb: the cycles of the per-channel job's program,
    :attr:`l1bn.hdl.bn_grad_job.GradJob.CYCLES`): ``pass`` = ceil(m/P) beats per pass;
    ``request_train`` (last beat of the sums pass to the start of the job) ``La + 3``;
    ``job_train`` (job start to the first cycle the dx pass may stream) ``Jb + 1``;
    ``dx_latency`` (an x beat to its dx beat): the centring registers and the lane, l1 2 + 7
    (the sign select), l2 1 + 7.
    """
    P = _check_lanes(lanes)
    jb = grad_cycles(norm=norm, width=width, frac=0, guard=guard, max_batch=max_batch)
    la = 1 if P == 1 else 2
    pre = 2 if norm == "l1" else 1
    lat = _lane_block(norm).LATENCY
    out = {"La": la, "dx_latency": pre + lat, "request_train": la + 3, "job_train": jb + 1}
    out["formulas"] = {"pass": "ceil(m/P)", "La": "1 if P == 1 else 2",
                       "dx_latency": f"{pre}+{lat}", "request_train": "La+3",
                       "job_train": f"Jb+1 (Jb = {jb})"}
    return out


def sequence_cycles(channels, m, *, norm, width=16, guard=8, lanes=1, max_batch=65536,
                    **_ignored):
    """Cycles for a sequence of ``channels`` channels of ``m`` values (an int or one per
    channel), from the first descriptor handshake to the last ``dx`` beat, every input valid and
    every output ready: the dict of :func:`l1bn.hdl.bn_sequencer.schedule_cycles`. With ceil(m/P)
    at least the constants job, ``2 * C * ceil(m/P) + K`` for C >= 2 (a lone channel waits for
    its job once more: nothing else can be streamed meanwhile)."""
    f = latency_formulas(norm=norm, width=width, guard=guard, lanes=lanes, max_batch=max_batch)
    P = _check_lanes(lanes)
    ms = [m] * channels if isinstance(m, int) else list(m)
    beats = [-(-fixed.check_int("m", v, 1) // P) for v in ms]
    return schedule_cycles(channels, beats, passes=2, request_delay=f["request_train"],
                           job_cycles=f["job_train"], out_latency=f["dx_latency"])


class BNBackward(wiring.Component):
    """Batch-normalization backward unit (L1BN or L2BN), P lanes, bit for bit
    :func:`l1bn.golden.bn_backward.backward`.

    Parameters
    ----------
    norm : "l1" or "l2"
    width, frac : data format ``Q(width, frac)`` of x, dy, dx and gamma
    lanes : values per beat, P (1..64)
    max_batch : largest channel size (m <= max_batch, M = clog2(max_batch))
    guard : guard bits G of the statistics (>= 3)
    eps : epsilon (quantized as the model; default 1e-5, ``None`` in the registry)
    desc_depth : entries of a descriptor FIFO in front of ``channel`` (default None: 0, none),
        as :class:`l1bn.hdl.bn_unit.BNUnit`'s; ``status`` as the forward unit's

    Protocol (sequences of channels, two in flight; as :class:`l1bn.hdl.bn_unit.BNUnit`)
    -------------------------------------------------------------------------------
    * ``channel``: descriptors ``{m, gamma, sum_x, spread, sum_sgn, last}``: m, gamma (a data
      code) and what the forward unit's ``stats`` handed over for this channel, exact integers
      (``sum_x``, the spread N or V, and for l1 the sum of the exact signs ``sum_sgn``; l2 has
      no ``sum_sgn``); ``last`` on a sequence's final channel. Taken ahead of the data into one
      of two contexts.
    * ``x``: payload ``{x: ArrayLayout(signed(W), P), dy: ArrayLayout(signed(W), P), last}``.
      Each channel's (x, dy) pairs are streamed twice: the *first* pass (sums of dy and dy*x),
      the *final* pass (dx). Each pass is ceil(m/P) beats; lanes of the final beat beyond m
      are ignored; ``last`` marks each pass's final beat (the unit counts with m and sets the
      sticky ``err`` if ``last`` disagrees). Order (:func:`l1bn.hdl.bn_sequencer.slot_order`, two
      passes): ``0F 1F 0N 2F 1N ... (C-1)N``.
    * ``dx``: ``{data[P], sat: P bits, last}``, one beat per final-pass beat, in order; lanes
      beyond m are 0.
    * ``grads``: ``{dgamma, dbeta}`` (grad codes) and ``sat`` flags ``{a, dgamma, const}``
      (an infinite or clamped gain; dgamma saturated; l1 a per-sign bias, l2 K at its limit),
      once per channel, in order, when its constants are known. A pending transfer holds the
      next channel's constants (and so its final pass).
    * Backpressure: one global stall ``en = ~dx.valid | dx.ready``; ``x.ready`` is low while
      stalled or while a final pass waits for its constants.

    Schedule (inputs always valid, outputs always ready): one beat per cycle; a final pass
    waits until ``request_train + job_train`` cycles after its channel's first pass (one job at
    a time), hidden behind the other channel's passes when ``ceil(m/P)`` covers it.
    :func:`sequence_cycles` is the cycle-exact model the testbench checks;
    :func:`latency_formulas` the constants.

    Datapath: pass *first*: per lane one ``W x W`` :class:`~l1bn.hdl.multiplier.Multiplier`
    (dy*x, one stage), accumulators of dy and dy*x. Per channel: :class:`~l1bn.hdl.bn_grad_job.GradJob`.
    Pass *final*: l1 ``d = x - mu_F``, the exact sign of ``x - mean`` (``-sgn(r)`` where
    ``d = 0``), ``u = dy - centre[sign]`` and the sign's bias, then a
    :class:`~l1bn.hdl.centred_scale.CentredScale` lane (one ``MW x (W+1)`` product); l2 ``e = dy -
    mu_dyF`` and ``d = x - mu_F``, then a :class:`~l1bn.hdl.centred_pair.CentredPair` lane (two).
    Multipliers per lane (:attr:`MULTIPLIERS`): l1 two, l2 three.
    """

    def __init__(self, *, norm, width=16, frac=8, lanes=1, max_batch=65536, guard=8, eps=None,
                 desc_depth=None):
        eps = 1e-5 if eps is None else eps
        self.desc_depth = DESC_DEPTH.check("desc_depth", desc_depth or 0, {})
        try:
            self.cfg = cfg = UnitConfig(norm=norm, stats="two-pass", width=width, frac=frac,
                                        guard=guard, max_batch=max_batch, eps=eps)
            self.lanes = P = _check_lanes(lanes)
            self._job = GradJob(norm=norm, width=width, frac=frac, guard=guard,
                                max_batch=max_batch, eps=eps)
        except ValueError:
            self._MustUse__silence = True
            raise
        self.norm = cfg.norm
        self.formats = dict(cfg.formats)
        W, GW = cfg.width, cfg.grad.width
        self.mbits = fixed.clog2(cfg.max_batch) + 1
        self.MULTIPLIERS = {"per_lane": 2 if norm == "l1" else 3, "lanes": P, "scalar": 1}
        self.LATENCY = latency_formulas(norm=norm, width=width, guard=guard, lanes=lanes,
                                        max_batch=max_batch)
        job = self._job
        self.x_layout = data.StructLayout({"x": data.ArrayLayout(signed(W), P),
                                           "dy": data.ArrayLayout(signed(W), P), "last": 1})
        self.dx_layout = data.StructLayout({"data": data.ArrayLayout(signed(W), P),
                                            "sat": unsigned(P), "last": 1})
        self.sat_layout = SAT_LAYOUT
        self.grads_layout = data.StructLayout({"dgamma": signed(GW), "dbeta": signed(GW),
                                               "sat": self.sat_layout})
        self.channel_layout = data.StructLayout({
            "m": unsigned(self.mbits), "gamma": signed(W), "sum_x": signed(len(job.sum_x)),
            "spread": unsigned(len(job.spread)),
            **({"sum_sgn": signed(len(job.sum_sgn))} if norm == "l1" else {}), "last": 1})
        self.consts_layout = job.layout
        super().__init__({
            "channel": In(stream.Signature(self.channel_layout)),
            "x": In(stream.Signature(self.x_layout)),
            "dx": Out(stream.Signature(self.dx_layout)),
            "grads": Out(stream.Signature(self.grads_layout)),
            "err": Out(1),
            "status": Out(STATUS_LAYOUT),
        })

    def elaborate(self, platform):
        m = Module()
        seq = PassSequencer(lanes=self.lanes, mbits=self.mbits, passes=2)
        m.submodules.sequencer = seq
        m.submodules.job = self._job
        u = Wires(seq=seq, m_c=[seq.m0, seq.m1])
        self._contexts(m, u)
        self._stage1(m, u)
        self._first_pass(m, u)
        self._final_pass(m, u)
        self._job_control(m, u)
        return m

    def _contexts(self, m, u):
        """Descriptor stream, the two channel contexts and the lanes' constants per context."""
        seq = u.seq
        cp, valid, ready = descriptors(m, self, self.channel_layout, self.desc_depth)
        m.d.comb += [seq.cfg_valid.eq(valid), seq.cfg_last.eq(cp.last),
                     seq.cfg_single.eq(0), seq.cfg_m.eq(cp.m), ready.eq(seq.cfg_ready)]
        status_output(m, u, self, cp.last)
        names = ["gamma", "sum_x", "spread"] + (["sum_sgn"] if self.norm == "l1" else [])
        for name in names:
            setattr(u, name, context_pair(self.channel_layout[name].shape, name))
        # Written with the constants: the descriptor bank may already hold the next channel.
        u.consts = context_pair(self._job.layout, "consts")
        u.coef_ready = Signal(2)
        m.d.comb += [seq.dep_mid.eq(0), seq.dep_final.eq(u.coef_ready)]
        for i in range(2):
            with m.If(seq.load & (seq.load_ctx == i)):
                m.d.sync += [getattr(u, n)[i].eq(getattr(cp, n)) for n in names]
                m.d.sync += u.coef_ready[i].eq(0)

    def _stage1(self, m, u):
        """Stream control and stage 1: x and dy, masks, tags and the beat's channel's
        constants, registered on ``en``."""
        P, seq, W = self.lanes, u.seq, self.cfg.width
        stream_control(m, u, self, self.dx)
        en, xfer, kind = u.en, seq.xfer, seq.kind
        ok = Cat(*(seq.lane_ok[i] for i in range(P)))
        register_tags(m, u, {"first_sum": xfer & kind[0] & seq.first,
                             "end_sum": xfer & kind[0] & seq.end, "nvalid": xfer & kind[2],
                             "nlast": xfer & kind[2] & seq.end, "ctx": seq.ctx})
        u.s1_nmask = Signal(P, name="s1_nmask")
        u.s1_sum_mask = Signal(P, name="s1_sum_mask")
        u.s1_x = [Signal(signed(W), name=f"s1_x{i}") for i in range(P)]
        u.s1_dy = [Signal(signed(W), name=f"s1_dy{i}") for i in range(P)]
        u.s1_c = Signal(self._job.layout, name="s1_consts")
        with m.If(en):
            m.d.sync += [u.s1_nmask.eq(ok), u.s1_sum_mask.eq(ok & (xfer & kind[0]).replicate(P)),
                         u.s1_c.eq(pick(u.consts, seq.ctx))]
            for i in range(P):
                m.d.sync += [u.s1_x[i].eq(self.x.payload.x[i]),
                             u.s1_dy[i].eq(self.x.payload.dy[i])]

    def _first_pass(self, m, u):
        """Pass *first*: sum dy and sum dy*x; the sums wait with the job request."""
        cfg, P, en, W = self.cfg, self.lanes, u.en, self.cfg.width
        acc_dy = Accumulator(width=W, lanes=P, max_count=cfg.max_batch, signed=True)
        acc_dyx = Accumulator(width=2 * W, lanes=P, max_count=cfg.max_batch, signed=True)
        m.submodules.acc_dy = acc_dy
        m.submodules.acc_dyx = acc_dyx
        la = acc_dy.LATENCY
        # dy*x of the values as they came, masked after the product.
        mask = delay(m, u.s1_sum_mask, 1, en, "dyxm")
        for i in range(P):
            mul = Multiplier(a_width=W, b_width=W, stages=1)
            m.submodules[f"dyx{i}"] = mul
            m.d.comb += [mul.en.eq(en), mul.a.eq(u.s1_dy[i]), mul.b.eq(u.s1_x[i]),
                         acc_dy.values[i].eq(Mux(u.s1_sum_mask[i], u.s1_dy[i], 0)),
                         acc_dyx.values[i].eq(Mux(mask[i], mul.p, 0))]
        m.d.comb += [acc_dy.en.eq(en), acc_dy.first.eq(u.s1_first_sum),
                     acc_dyx.en.eq(en), acc_dyx.first.eq(delay(m, u.s1_first_sum, 1, en, "fdx"))]
        done, ctx = event(m, u, u.s1_end_sum, 1 + la, "done_sum")
        sdy_late = delay(m, acc_dy.sum, 1, en, "sdy")
        u.pend, u.pend_ctx, u.take = Signal(name="pend"), Signal(name="pend_ctx"), Signal()
        u.sdy_p = Signal.like(acc_dy.sum, name="sdy_p")
        u.sdyx_p = Signal.like(acc_dyx.sum, name="sdyx_p")
        with m.If(u.take):
            m.d.sync += u.pend.eq(0)
        with m.If(done):
            m.d.sync += [u.pend.eq(1), u.pend_ctx.eq(ctx), u.sdy_p.eq(sdy_late),
                         u.sdyx_p.eq(acc_dyx.sum)]

    def _final_pass(self, m, u):
        """Pass *final*: the centred values and the dx lanes."""
        cfg, P, en, W = self.cfg, self.lanes, u.en, self.cfg.width
        c = u.s1_c
        if self.norm == "l1":
            # stage 2: the gain, once for every lane
            u.s2_gain = {k: Signal.like(getattr(c, k), name=f"s2_{k}")
                         for k in ("mant", "shift", "neg")}
            with m.If(en):
                m.d.sync += [v.eq(getattr(c, k)) for k, v in u.s2_gain.items()]
        block = _lane_block(self.norm)
        lanes = [block(width=W, frac=cfg.frac, guard=cfg.guard, mant_width=cfg.mant_width)
                 for _ in range(P)]
        for i, lane in enumerate(lanes):
            m.submodules[f"lane{i}"] = lane
            d = u.s1_x[i] - c.mu_f
            if self.norm == "l1":
                self._sign_select(m, u, lane, i, d)
            else:
                m.d.comb += [lane.en.eq(en), lane.e.eq(u.s1_dy[i] - c.mu_dy), lane.d.eq(d),
                             lane.mant_a.eq(c.a.mant), lane.shift_a.eq(c.a.shift),
                             lane.neg_a.eq(c.a.neg), lane.mant_b.eq(c.b.mant),
                             lane.shift_b.eq(c.b.shift), lane.neg_b.eq(c.b.neg),
                             lane.k.eq(c.k)]
        lat = self.LATENCY["dx_latency"] - 1
        valid = delay(m, u.s1_nvalid, lat, en, "dxv")
        last = delay(m, u.s1_nlast, lat, en, "dxl")
        mask = delay(m, u.s1_nmask, lat, en, "dxm")
        m.d.comb += [self.dx.valid.eq(valid), self.dx.payload.last.eq(last)]
        for i, lane in enumerate(lanes):
            out = lane.y if self.norm == "l1" else lane.dx
            m.d.comb += [self.dx.payload.data[i].eq(Mux(mask[i], out, 0)),
                         self.dx.payload.sat[i].eq(mask[i] & lane.sat)]

    def _sign_select(self, m, u, lane, i, d):
        """l1, stage 2: the exact sign of ``x - mean`` (``-sgn(r)`` where ``d = 0``), ``u = dy -
        centre[sign]`` and that sign's bias, registered; then the lane."""
        c, en, W = u.s1_c, u.en, self.cfg.width
        zero = ~d.any()
        pos = Mux(zero, c.r_neg, ~d[-1])
        neg = Mux(zero, c.r_pos, d[-1])
        def select(arr):                # by sign -1, 0, 1
            return Mux(pos, arr[2], Mux(neg, arr[0], arr[1]))
        s2_u = Signal(signed(W + 1), name=f"s2_u{i}")
        s2_bias = Signal.like(c.bias[0], name=f"s2_bias{i}")
        with m.If(en):
            m.d.sync += [s2_u.eq(u.s1_dy[i] - select(c.centre)), s2_bias.eq(select(c.bias))]
        g = u.s2_gain
        m.d.comb += [lane.en.eq(en), lane.d.eq(s2_u), lane.mant.eq(g["mant"]),
                     lane.shift.eq(g["shift"]), lane.neg.eq(g["neg"]), lane.bias.eq(s2_bias)]

    def _job_control(self, m, u):
        """Start the job on a waiting request; hand its constants to the channel's context and
        its dgamma (with dbeta) to ``grads``, once ``grads`` has room (GO)."""
        job = self._job
        go, job_ctx = job_handshake(m, u, job, ~self.grads.valid | self.grads.ready)
        c = u.pend_ctx
        m.d.comb += [job.start.eq(u.take), job.m.eq(pick(u.m_c, c)),
                     job.gamma.eq(pick(u.gamma, c)), job.sum_x.eq(pick(u.sum_x, c)),
                     job.spread.eq(pick(u.spread, c)), job.sum_dy.eq(u.sdy_p),
                     job.sum_dy_x.eq(u.sdyx_p)]
        if self.norm == "l1":
            m.d.comb += job.sum_sgn.eq(pick(u.sum_sgn, c))
        sdy = Signal.like(u.sdy_p, name="sdy_job")
        with m.If(u.take):
            m.d.sync += sdy.eq(u.sdy_p)
        for i in range(2):
            with m.If(go & (job_ctx == i)):
                m.d.sync += [u.consts[i].eq(job.lanes), u.coef_ready[i].eq(1)]
        with m.If(self.grads.ready):
            m.d.sync += self.grads.valid.eq(0)
        with m.If(go):
            p = self.grads.payload
            m.d.sync += [self.grads.valid.eq(1), p.dgamma.eq(job.dgamma), p.dbeta.eq(sdy),
                         p.sat.eq(job.sat)]


BLOCK = BlockSpec(BNBackward, ("norm", "width", "frac", "lanes", "max_batch", "guard", "eps",
                               "desc_depth"),
                  defaults={"width": 16, "frac": 8, "lanes": 1, "max_batch": 65536, "guard": 8,
                            "eps": None, "desc_depth": None},
                  bounds={"desc_depth": DESC_DEPTH},
                  summary="L1BN/L2BN backward unit: sums of dy and dy*x; dgamma, dbeta; centred "
                          "dx lanes with per-channel constants of relative precision")

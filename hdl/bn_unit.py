"""The complete L1BN / L2BN forward unit (training and inference): sequences of channels, two
in flight (interleaved passes), lanes centred on the mean, a gain with relative precision.

Bit for bit :func:`l1bn.golden.bn_forward.forward_train` and :func:`l1bn.golden.bn_forward.forward_infer`.
"""

from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from l1bn.golden import fixed
from l1bn.golden.bn_unit import UnitConfig

from .abs_sign import AbsSign
from .accumulator import Accumulator
from .block import BlockSpec, Choice
from .bn_job import SAT_FIELDS, ChannelJob, program_cycles
from .bn_sequencer import PassSequencer, schedule_cycles, slot_order
from .bn_skeleton import (DESC_DEPTH, STATUS_LAYOUT, Wires, descriptors, event, job_handshake,
                          register_tags, status_output, stream_control)
from .centred_scale import CentredScale
from .divider import Divider
from .registers import context_pair, delay, pick
from .square import Square

__all__ = ["BNUnit", "Mode", "AREA_GROUPS", "latency_formulas",
           "sequence_cycles", "slot_order"]

class Mode(enum.Enum, shape=1):
    """A channel descriptor's ``mode``: batch statistics (training) or running statistics."""
    TRAIN = 0
    INFER = 1


#: What an untaken ``stats`` transfer does (:class:`BNUnit`'s ``stats_out``).
STATS_OUT = Choice(("wait", "drop"))
#: Pipeline stages of the L2 statistics' squares: one ``$mul`` each, so a square at W <= 16
#: maps to one 18 x 18 DSP block (two stages split it into two tiles, two blocks).
SQUARE_STAGES = 1
#: Submodule instance-name prefixes of each part of the unit (for area reports); the rest of the
#: top module (sequencer, contexts, job control) is control and registers.
AREA_GROUPS = {"statistics": ("acc_x", "acc_xx", "acc_d", "acc_pos", "acc_neg", "dev", "sq_x"),
               "per-channel math": ("mean_div", "job"),
               "datapath": ("lane",)}


def _check_lanes(lanes):
    return fixed.check_int("lanes", lanes, 1, 64)


def _mean_divider(cfg):
    """The two-pass units' ``mu_F = div_round_away(sum x, m)`` (quotient W+2 bits)."""
    M = fixed.clog2(cfg.max_batch)
    return Divider(width=cfg.width + M, frac=0, den_width=M + 1, den_frac=0,
                   quot_width=cfg.width + 2, quot_frac=0)


def latency_formulas(*, norm, stats="two-pass", width=16, guard=8, lanes=1, max_batch=65536,
                     **_ignored):
    """Timing constants of the unit's schedule (:func:`l1bn.hdl.bn_sequencer.schedule_cycles`).

    Returns a dict of numbers for these parameters and, under ``"formulas"``, the same as text
    in W (width), La (the accumulators' latency: 1 for P = 1, else 2) and Jt / Ji (the cycles of
    the per-channel job's program, :attr:`l1bn.hdl.bn_job.ChannelJob.CYCLES`):

    * ``pass``: every pass streams ``ceil(m/P)`` beats, one per cycle;
    * ``mean_delay`` (train two-pass): idle cycles from the last beat of a channel's sum pass to
      the first beat of its deviation pass if nothing else is streamed in between
      (the ``mu_F`` divider of ``W + 5`` cycles), ``W+6+La``;
    * ``request_delay``: cycles from the last beat of the pass that completes the statistics
      (train) or from the descriptor handshake (infer) to the start of the job;
    * ``job_train`` / ``job_infer``: cycles from a job's start until the channel's normalize pass
      may stream, ``Jt + 1`` / ``Ji + 1``; one job at a time;
    * ``y_latency``: cycles from a normalize-pass beat to its ``y`` beat (the centring register
      and :class:`~l1bn.hdl.centred_scale.CentredScale`).
    """
    P = _check_lanes(lanes)
    cycles = program_cycles(norm=norm, stats=stats, width=width, frac=0, guard=guard,
                            max_batch=max_batch)
    W = fixed.check_int("width", width, 2)
    la = 1 if P == 1 else 2
    jt, ji = cycles["train"], cycles["infer"]
    y_lat = 1 + CentredScale.LATENCY
    out = {"La": la, "y_latency": y_lat, "request_infer": 1, "job_infer": ji + 1,
           "job_train": jt + 1}
    text = {"pass": "ceil(m/P)", "La": "1 if P == 1 else 2", "y_latency": f"{y_lat}",
            "request_infer": "1", "job_infer": f"Ji+1 (Ji = {ji})",
            "job_train": f"Jt+1 (Jt = {jt})"}
    # The pass that completes the statistics ends in its kernel (|d| or d**2), the accumulator
    # and two registers.
    kernel = 1 if norm == "l1" and stats == "two-pass" else SQUARE_STAGES
    out["request_train"] = la + 2 + kernel
    text["request_train"] = f"La+{2 + kernel}"
    if stats == "two-pass":
        out["mean_delay"] = W + 6 + la
        text["mean_delay"] = "W+6+La"
    out["formulas"] = text
    return out


def sequence_cycles(channels, m, mode, *, norm, stats="two-pass", width=16, guard=8, lanes=1,
                    max_batch=65536, **_ignored):
    """Cycles for a sequence of ``channels`` channels of ``m`` values (an int, or one per
    channel) in ``mode`` ("train" or "infer"), from the first descriptor handshake to the last
    ``y`` beat, with every input valid and every output ready.

    Returns the dict of :func:`l1bn.hdl.bn_sequencer.schedule_cycles` (``total`` and the cycles of
    every pass). For ``ceil(m/P)`` at least the per-channel work (``mean_delay``,
    ``request_train + job_train``), a training sequence takes ``passes * C * ceil(m/P) + K``
    cycles with K independent of C.
    """
    if mode not in ("train", "infer"):
        raise ValueError(f"mode must be 'train' or 'infer', got {mode!r}")
    f = latency_formulas(norm=norm, stats=stats, width=width, guard=guard, lanes=lanes,
                         max_batch=max_batch)
    P = _check_lanes(lanes)
    ms = [m] * channels if isinstance(m, int) else list(m)
    beats = [-(-fixed.check_int("m", v, 1) // P) for v in ms]
    single = mode == "infer"
    return schedule_cycles(
        channels, beats, passes=2 if stats == "one-pass" else 3, single=single,
        mean_delay=None if single else f.get("mean_delay"),
        request_delay=f["request_infer" if single else "request_train"],
        job_cycles=f["job_infer" if single else "job_train"], out_latency=f["y_latency"])


class BNUnit(wiring.Component):
    """Batch-normalization forward unit (L1BN or L2BN), training and inference, P lanes.

    Bit for bit :mod:`l1bn.golden.bn_forward` (:class:`~l1bn.golden.bn_unit.UnitConfig` formats: data
    ``Q(W, F)``, statistics ``S = Q(W+G, F+G)``, the lanes' bias ``Q(W+2+G, F+G)``).

    Parameters
    ----------
    norm : "l1" or "l2"
    stats : "two-pass" or "one-pass" (l2 only)
    width, frac : data format ``Q(width, frac)`` of x, y, gamma, beta
    lanes : values per beat, P (1..64)
    max_batch : largest channel size M (m <= max_batch)
    guard : extra fraction bits G of the statistics and the bias (>= 3)
    alpha, eps : running-statistics weight of the OLD value, and epsilon (quantized as the model)
    stats_out : "wait" (default) or "drop"
        What a ``stats`` transfer the host has not taken does. "wait": it holds the next
        channel's coefficients, and so its final pass, until taken (a host must drain
        ``stats``). "drop": the unit never waits for ``stats``; a transfer still pending when
        the next channel's statistics are ready is replaced by them. For hosts that do not use
        ``stats`` (inference-only deployments, or a forward whose backward does not run).
    desc_depth : int (0..4096)
        Entries of a FIFO in front of ``channel`` (default None: 0, none). The unit holds two
        descriptors; with the FIFO a host may write up to ``desc_depth + 2`` descriptors before
        any data (without it, the third is taken only once channel 0's final pass begins). The
        FIFO delays each descriptor by its latency, so :func:`sequence_cycles` holds without it.

    Protocol (sequences of channels, two channels in flight)
    ---------------------------------------------------------
    * ``channel``: a stream of channel descriptors ``{mode, m, gamma, beta, running_mean,
      running_sigma, last}``: ``mode`` 0 train / 1 infer, ``m`` in 1..max_batch, gamma and beta
      data codes, the running statistics S codes (running_sigma >= 0), ``last`` on the final
      channel of a sequence. All channels of a sequence have the first one's mode (another mode
      sets ``err``; results are then undefined). The unit holds two descriptors (contexts) and
      takes the next one as soon as a context is free, ahead of its data.
    * ``x``: payload ``{data: ArrayLayout(signed(W), P), last: 1}``. Each pass streams the
      channel's m values again: ``ceil(m/P)`` beats, lane ``i`` of beat ``k`` holds value
      ``k*P + i``, lanes of the final beat beyond m are ignored, ``last`` on the final beat (the
      unit counts with ``m`` and sets the sticky ``err`` if ``last`` disagrees; the count wins).
    * Passes: train l1 and l2 two-pass: *first* (sum x -> mean), *mid* (sum |x-mu| or
      (x-mu)^2 -> sigma), *final* (normalize); l2 one-pass: *first* (sum x and x^2), *final*;
      infer: *final* only. Order of a sequence of C channels (:func:`slot_order`): round c = 0..C
      streams the first pass of channel c, the final pass of channel c - 1, then (three passes)
      the mid pass of channel c, leaving out passes of channels that do not exist; inference
      streams the channels in order. E.g. three passes, C = 3: ``0F 0M 1F 0N 1M 2F 1N 2M 2N``.
      While channel c's mean or coefficients are computed, another channel's pass streams.
    * ``y``: payload ``{data: ArrayLayout(signed(W), P), sat: P bits, last: 1}``: one beat per
      beat of a final pass, in channel order, ``last`` on each channel's final beat; lanes
      beyond m are 0; ``sat`` flags saturated lanes (the model's ``sat["y"]`` is their count).
    * ``stats`` (train only): one transfer per channel, in order, when its coefficients are
      known (before its final pass): ``{mean, sigma, running_mean, running_sigma}`` (S codes:
      the batch mean and sigma, the updated running statistics), ``sat`` flags ``{sigma, a,
      b, running}`` (the model's per-stage counts, 0 or 1 per channel) and what the backward
      unit takes, exact integers: ``sum_x``, ``spread`` (N for l1, V for l2) and, l1,
      ``sum_sgn`` (:mod:`l1bn.golden.bn_forward` step 7). A pending transfer
      holds the next channel's coefficients (and so its final pass), unless
      ``stats_out="drop"``.
    * ``status`` (no handshake): ``{valid, pass, channel, ctx}``, the pass the unit expects
      next on ``x`` (``pass`` 0 first, 1 mid, 2 final), its channel's number in the sequence
      (descriptors counted from 0, modulo 2**16) and its context (the k-th descriptor since
      reset is held in context k mod 2: a double-buffering host's buffer); ``valid`` low while
      the unit waits for that channel's descriptor. A DMA may stream whatever it names: it
      follows :func:`slot_order`.
    * Backpressure: one global stall ``en = ~y.valid | y.ready`` freezes the streaming
      datapath; ``x.ready`` is low while stalled or while the next pass waits for its mean or
      coefficients. The per-channel math runs on regardless.

    Schedule (inputs always valid, outputs always ready): every pass streams one beat per cycle
    and the next pass follows in the next cycle unless it waits for its channel's mean
    (``mean_delay`` cycles after that channel's first pass) or coefficients (``request_train +
    job_train`` after its statistics pass; inference ``request_infer + job_infer`` after its
    descriptor); one coefficient job runs at a time. :func:`sequence_cycles` is the cycle-exact
    model (the testbench checks every pass against it) and :func:`latency_formulas` gives the
    constants (the manifest's ``latency``). With ``ceil(m/P)`` at least the per-channel work a
    sequence of C channels takes ``passes * C * ceil(m/P) + K`` cycles, K independent of C
    (two-pass schedules: for C >= 2; a lone channel has nothing to hide its job behind).
    ``y`` beats leave ``y_latency`` (7) cycles after their ``x`` beats.


    Datapath: pass *first*: an :class:`~l1bn.hdl.accumulator.Accumulator` of x (one-pass also P
    :class:`~l1bn.hdl.square.Square` of x and an accumulator of x**2); the two-pass units divide
    ``mu_F = round(sum x / m)`` on a :class:`~l1bn.hdl.divider.Divider` as soon as it drains. Pass
    *mid*: ``d = x - mu_F`` (W+1 bits), then P :class:`~l1bn.hdl.abs_sign.AbsSign` (l1: ``sum |d|``
    and the counts of positive and negative ``d``) or :class:`~l1bn.hdl.square.Square` (l2:
    ``sum d**2``) into accumulators. Per channel: :class:`~l1bn.hdl.bn_job.ChannelJob` (one serial
    multiplier, one divider, one normalizing divider, l2 one square root) computes the batch
    statistics, the gain's mantissa and shift, the bias and the running statistics. Pass
    *final*: P :class:`~l1bn.hdl.centred_scale.CentredScale` lanes, ``y = a*(x - mu_F) + b'`` with
    one ``MW x (W+1)`` unsigned product each (18 x 17 at W <= 16). Multipliers per lane
    (:attr:`MULTIPLIERS`): l1 one, l2 two (the square and the normalize product).

    Limits: ``m = 0`` is not a channel (undefined). ``alpha``/``eps``/``stats_out`` default to
    0.9 / 1e-5 / "wait" (``None`` in the registry, so that the default leaves the module name
    as it is).
    """

    def __init__(self, *, norm, stats="two-pass", width=16, frac=8, lanes=1, max_batch=65536,
                 guard=8, alpha=None, eps=None, stats_out=None, desc_depth=None):
        alpha = 0.9 if alpha is None else alpha
        self.desc_depth = DESC_DEPTH.check("desc_depth", desc_depth or 0, {})
        self.stats_out = STATS_OUT.check("stats_out", stats_out or "wait", {})
        eps = 1e-5 if eps is None else eps
        try:
            self.cfg = cfg = UnitConfig(norm=norm, stats=stats, width=width, frac=frac,
                                        guard=guard, max_batch=max_batch, alpha=alpha, eps=eps)
            self.lanes = P = _check_lanes(lanes)
            self._job = ChannelJob(norm=norm, stats=stats, width=width, frac=frac, guard=guard,
                                   max_batch=max_batch, alpha=alpha, eps=eps)
        except ValueError:
            self._MustUse__silence = True   # never built: no "created but never used" warning
            raise
        self.norm, self.stats_kind = cfg.norm, cfg.stats
        self.formats = {"data": cfg.data, "stat": cfg.stat, "bias": cfg.bias,
                        "alpha": cfg.formats["alpha"]}
        W, SW = cfg.width, cfg.stat.width
        self.mbits = fixed.clog2(cfg.max_batch) + 1
        self.LATENCY = latency_formulas(norm=norm, stats=stats, width=width, guard=guard,
                                        lanes=lanes, max_batch=max_batch)
        #: Multiplier instances: per lane (the square of l2, the normalize product), and per
        #: channel (the job's serial multiplier).
        self.MULTIPLIERS = {"per_lane": 1 if norm == "l1" else 2, "lanes": P, "scalar": 1}
        self.x_layout = data.StructLayout({"data": data.ArrayLayout(signed(W), P), "last": 1})
        self.y_layout = data.StructLayout({"data": data.ArrayLayout(signed(W), P),
                                           "sat": unsigned(P), "last": 1})
        self.sat_layout = data.StructLayout({k: 1 for k in SAT_FIELDS})
        self.channel_layout = data.StructLayout({
            "mode": Mode, "m": unsigned(self.mbits), "gamma": signed(W), "beta": signed(W),
            "running_mean": signed(SW), "running_sigma": signed(SW), "last": 1})
        job = self._job
        self.stats_layout = data.StructLayout({
            "mean": signed(SW), "sigma": signed(SW), "running_mean": signed(SW),
            "running_sigma": signed(SW), "sat": self.sat_layout,
            "sum_x": signed(len(job.saved_sum_x)), "spread": unsigned(len(job.saved_spread)),
            **({"sum_sgn": signed(len(job.saved_sum_sgn))} if cfg.norm == "l1" else {})})
        super().__init__({
            "channel": In(stream.Signature(self.channel_layout)),
            "x": In(stream.Signature(self.x_layout)),
            "y": Out(stream.Signature(self.y_layout)),
            "stats": Out(stream.Signature(self.stats_layout)),
            "err": Out(1),
            "status": Out(STATUS_LAYOUT),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, P = self.cfg, self.lanes
        onepass = cfg.stats == "one-pass"
        seq = PassSequencer(lanes=P, mbits=self.mbits, passes=2 if onepass else 3)
        m.submodules.sequencer = seq
        m.submodules.job = self._job
        u = Wires(seq=seq, m_c=[seq.m0, seq.m1])
        self._contexts(m, u)
        self._stage1(m, u)
        self._first_pass(m, u)
        if not onepass:
            self._mid_pass(m, u)
        self._final_pass(m, u)
        self._job_control(m, u)
        return m

    def _contexts(self, m, u):
        """Descriptor stream, the two channel contexts and the job request register."""
        cfg, seq = self.cfg, u.seq
        W, SW, bw = cfg.width, cfg.stat.width, cfg.bias.width
        cp, valid, ready = descriptors(m, self, self.channel_layout, self.desc_depth)
        m.d.comb += [seq.cfg_valid.eq(valid), seq.cfg_last.eq(cp.last),
                     seq.cfg_single.eq(cp.mode == Mode.INFER), seq.cfg_m.eq(cp.m),
                     ready.eq(seq.cfg_ready)]
        status_output(m, u, self, cp.last)
        for name, shape in (("gamma", signed(W)), ("beta", signed(W)), ("rmean", signed(SW)),
                            ("rsigma", signed(SW)), ("muf", signed(W + 1)),
                            ("sx", signed(len(self._job.sum_x))),
                            ("mant", unsigned(len(self._job.mant))),
                            ("shift", unsigned(len(self._job.shift))), ("neg", 1),
                            ("bias", signed(bw))):
            setattr(u, name, context_pair(shape, name))
        u.mean_ready, u.coef_ready = Signal(2), Signal(2)
        m.d.comb += [seq.dep_mid.eq(u.mean_ready), seq.dep_final.eq(u.coef_ready)]
        # Jobs wait in a one-entry queue (train: after the statistics pass, infer: at the
        # descriptor); the schedule never offers a second request while one waits.
        u.pend, u.pend_ctx, u.pend_infer = (Signal(name=n) for n in ("pend", "pend_ctx",
                                                                   "pend_infer"))
        u.take = Signal()
        with m.If(u.take):
            m.d.sync += u.pend.eq(0)
        for i in range(2):
            with m.If(seq.load & (seq.load_ctx == i)):
                m.d.sync += [u.gamma[i].eq(cp.gamma), u.beta[i].eq(cp.beta),
                             u.rmean[i].eq(cp.running_mean), u.rsigma[i].eq(cp.running_sigma),
                             u.mean_ready[i].eq(0), u.coef_ready[i].eq(0)]
        with m.If(seq.load & (cp.mode == Mode.INFER)):
            m.d.sync += [u.pend.eq(1), u.pend_ctx.eq(seq.load_ctx), u.pend_infer.eq(1)]

    def _stage1(self, m, u):
        """Stream control and stage 1: the beat's raw values, their centred values
        ``d = x - mu_F``, masks, tags and the beat's channel's lane coefficients, on ``en``."""
        P, seq, W = self.lanes, u.seq, self.cfg.width
        stream_control(m, u, self, self.y)
        en, xfer, kind = u.en, seq.xfer, seq.kind
        ok = Cat(*(seq.lane_ok[i] for i in range(P)))
        xs = [self.x.payload.data[i] for i in range(P)]
        u.s1_n = [Signal(signed(W), name=f"s1_n{i}") for i in range(P)]
        u.s1_d = [Signal(signed(W + 1), name=f"s1_d{i}") for i in range(P)]
        tags = {"first_sum": xfer & kind[0] & seq.first, "end_sum": xfer & kind[0] & seq.end,
                "first_dev": xfer & kind[1] & seq.first, "end_dev": xfer & kind[1] & seq.end,
                "nvalid": xfer & kind[2], "nlast": xfer & kind[2] & seq.end, "ctx": seq.ctx}
        register_tags(m, u, tags)
        masks = {"nmask": ok, "sum_mask": ok & (xfer & kind[0]).replicate(P),
                 "dev_mask": ok & (xfer & kind[1]).replicate(P)}
        for name, val in masks.items():
            sig = Signal(P, name=f"s1_{name}")
            setattr(u, f"s1_{name}", sig)
            with m.If(en):
                m.d.sync += sig.eq(val)
        muf = pick(u.muf, seq.ctx)
        with m.If(en):
            for i in range(P):
                m.d.sync += [u.s1_n[i].eq(xs[i]), u.s1_d[i].eq(xs[i] - muf)]
        # The lane coefficients, picked here so that no context select sits before the lanes.
        for name in ("mant", "shift", "neg", "bias"):
            regs = getattr(u, name)
            sig = Signal.like(regs[0], name=f"s1_{name}")
            setattr(u, f"s1_{name}", sig)
            with m.If(en):
                m.d.sync += sig.eq(pick(regs, seq.ctx))

    def _first_pass(self, m, u):
        """Pass *first*: sum x (one-pass also sum x**2); two-pass: mu_F as soon as it drains."""
        cfg, P, en = self.cfg, self.lanes, u.en
        acc_x = Accumulator(width=cfg.width, lanes=P, max_count=cfg.max_batch, signed=True)
        m.submodules.acc_x = acc_x
        la = acc_x.LATENCY
        m.d.comb += [acc_x.en.eq(en), acc_x.first.eq(u.s1_first_sum)]
        for i in range(P):
            m.d.comb += acc_x.values[i].eq(Mux(u.s1_sum_mask[i], u.s1_n[i], 0))
        u.sx_p = Signal(signed(len(self._job.sum_x)), name="sx_p")
        if cfg.stats == "one-pass":
            acc_xx = Accumulator(width=2 * cfg.width - 1, lanes=P, max_count=cfg.max_batch,
                                 signed=False)
            m.submodules.acc_xx = acc_xx
            squares = [Square(width=cfg.width, stages=SQUARE_STAGES) for _ in range(P)]
            sql = squares[0].LATENCY
            # x is squared as it came and the square masked: no lane mask before the multiplier.
            xm = delay(m, u.s1_sum_mask, sql, en, "xxm")
            for i, sq in enumerate(squares):
                m.submodules[f"sq_x{i}"] = sq
                m.d.comb += [sq.en.eq(en), sq.d.eq(u.s1_n[i]),
                             acc_xx.values[i].eq(Mux(xm[i], sq.sq, 0))]
            m.d.comb += [acc_xx.en.eq(en),
                         acc_xx.first.eq(delay(m, u.s1_first_sum, sql, en, "fxx"))]
            done, ctx = event(m, u, u.s1_end_sum, sql + la, "done_sum")
            # The sums wait with the request: the next channel may restart the accumulators.
            u.sq_p = Signal(len(acc_xx.sum), name="sxx_p")
            sx_late = delay(m, acc_x.sum, sql, en, "sx")
            with m.If(done):
                m.d.sync += [u.pend.eq(1), u.pend_ctx.eq(ctx), u.pend_infer.eq(0),
                             u.sx_p.eq(sx_late), u.sq_p.eq(acc_xx.sum)]
            return
        done, ctx = event(m, u, u.s1_end_sum, la, "done_sum")
        mean_div = _mean_divider(cfg)
        m.submodules.mean_div = mean_div
        mean_ctx = Signal(name="mean_ctx")
        m.d.comb += [mean_div.i.payload.num.eq(acc_x.sum),
                     mean_div.i.payload.den.eq(pick(u.m_c, ctx)),
                     mean_div.i.valid.eq(done), mean_div.o.ready.eq(1)]
        with m.If(done):
            m.d.sync += mean_ctx.eq(ctx)
            for i in range(2):
                with m.If(ctx == i):
                    m.d.sync += u.sx[i].eq(acc_x.sum)
        for i in range(2):
            with m.If(mean_div.o.valid & (mean_ctx == i)):
                m.d.sync += [u.muf[i].eq(mean_div.o.payload.quot), u.mean_ready[i].eq(1)]

    def _mid_pass(self, m, u):
        """Pass *mid* (two-pass): l1 sum |d| and the counts of d > 0 and d < 0; l2 sum d**2."""
        cfg, P, en = self.cfg, self.lanes, u.en
        W, l1 = cfg.width, cfg.norm == "l1"
        acc_d = Accumulator(width=W + 1 if l1 else 2 * W + 1, lanes=P,
                            max_count=cfg.max_batch, signed=False)
        m.submodules.acc_d = acc_d
        la = acc_d.LATENCY
        kern = [AbsSign(width=W + 1) if l1 else Square(width=W + 1, stages=SQUARE_STAGES)
                for _ in range(P)]
        counts = []
        if l1:
            for name in ("acc_pos", "acc_neg"):
                acc = Accumulator(width=1, lanes=P, max_count=cfg.max_batch, signed=False)
                m.submodules[name] = acc
                m.d.comb += [acc.en.eq(en), acc.first.eq(delay(m, u.s1_first_dev, 1, en,
                                                                     f"f{name}"))]
                counts.append(acc)
        for i, k in enumerate(kern):
            m.submodules[f"dev{i}"] = k
            m.d.comb += [k.en.eq(en), k.d.eq(Mux(u.s1_dev_mask[i], u.s1_d[i], 0)),
                         acc_d.values[i].eq(k.mag if l1 else k.sq)]
            if l1:
                m.d.comb += [counts[0].values[i].eq(~k.sgn[1] & k.sgn[0]),
                             counts[1].values[i].eq(k.sgn[1])]
        kl = kern[0].LATENCY
        m.d.comb += [acc_d.en.eq(en), acc_d.first.eq(delay(m, u.s1_first_dev, kl, en, "fd"))]
        done, ctx = event(m, u, u.s1_end_dev, kl + la, "done_dev")
        # The sums wait with the request in registers of their own: the job loads from flops.
        u.sq_p = Signal.like(acc_d.sum, name="sd_p")
        u.pos_p = Signal(self.mbits, name="pos_p")
        u.neg_p = Signal(self.mbits, name="neg_p")
        with m.If(done):
            m.d.sync += [u.pend.eq(1), u.pend_ctx.eq(ctx), u.pend_infer.eq(0),
                         u.sq_p.eq(acc_d.sum)]
            if l1:
                m.d.sync += [u.pos_p.eq(counts[0].sum), u.neg_p.eq(counts[1].sum)]

    def _final_pass(self, m, u):
        """Pass *final*: ``y = a*(x - mu_F) + b'`` on P centred lanes."""
        cfg, P, en = self.cfg, self.lanes, u.en
        lanes = [CentredScale(width=cfg.width, frac=cfg.frac, guard=cfg.guard,
                              mant_width=cfg.mant_width) for _ in range(P)]
        lat = lanes[0].LATENCY
        for i, lane in enumerate(lanes):
            m.submodules[f"lane{i}"] = lane
            m.d.comb += [lane.en.eq(en), lane.d.eq(u.s1_d[i]), lane.mant.eq(u.s1_mant),
                         lane.shift.eq(u.s1_shift), lane.neg.eq(u.s1_neg),
                         lane.bias.eq(u.s1_bias)]
        valid = delay(m, u.s1_nvalid, lat, en, "yv")
        last = delay(m, u.s1_nlast, lat, en, "yl")
        mask = delay(m, u.s1_nmask, lat, en, "ym")
        m.d.comb += [self.y.valid.eq(valid), self.y.payload.last.eq(last)]
        for i, lane in enumerate(lanes):
            m.d.comb += [self.y.payload.data[i].eq(Mux(mask[i], lane.y, 0)),
                         self.y.payload.sat[i].eq(mask[i] & lane.sat)]

    def _job_control(self, m, u):
        """Start the per-channel job on a waiting request; hand its results to the channel's
        context and (training) the ``stats`` stream, once ``stats`` has room (GO)."""
        cfg, job = self.cfg, self._job
        job_infer = Signal(name="job_infer")
        room = job_infer | ~self.stats.valid | self.stats.ready
        go, job_ctx = job_handshake(m, u, job, 1 if self.stats_out == "drop" else room)
        c = u.pend_ctx
        sum_x = u.sx_p if cfg.stats == "one-pass" else pick(u.sx, c)
        m.d.comb += [job.start.eq(u.take), job.infer.eq(u.pend_infer),
                     job.m.eq(pick(u.m_c, c)), job.sum_x.eq(sum_x),
                     job.mu_f_in.eq(pick(u.muf, c)), job.sum_sq.eq(u.sq_p),
                     job.gamma.eq(pick(u.gamma, c)), job.beta.eq(pick(u.beta, c)),
                     job.running_mean.eq(pick(u.rmean, c)),
                     job.running_sigma.eq(pick(u.rsigma, c))]
        if cfg.norm == "l1":
            m.d.comb += [job.sum_abs.eq(u.sq_p), job.n_pos.eq(u.pos_p),
                         job.n_neg.eq(u.neg_p)]
        with m.If(u.take):
            m.d.sync += job_infer.eq(u.pend_infer)
        for i in range(2):
            with m.If(go & (job_ctx == i)):
                m.d.sync += [u.muf[i].eq(job.mu_f), u.mant[i].eq(job.mant),
                             u.shift[i].eq(job.shift), u.neg[i].eq(job.neg),
                             u.bias[i].eq(job.bias), u.coef_ready[i].eq(1)]
        with m.If(self.stats.ready):
            m.d.sync += self.stats.valid.eq(0)
        with m.If(go & ~job_infer):
            p = self.stats.payload
            m.d.sync += [self.stats.valid.eq(1), p.mean.eq(job.mean), p.sigma.eq(job.sigma),
                         p.running_mean.eq(job.new_mean), p.running_sigma.eq(job.new_sigma),
                         p.sat.eq(job.sat), p.sum_x.eq(job.saved_sum_x),
                         p.spread.eq(job.saved_spread)]
            if cfg.norm == "l1":
                m.d.sync += p.sum_sgn.eq(job.saved_sum_sgn)


BLOCK = BlockSpec(BNUnit, ("norm", "stats", "width", "frac", "lanes", "max_batch", "guard",
                           "alpha", "eps", "stats_out", "desc_depth"),
                  defaults={"stats": "two-pass", "width": 16, "frac": 8, "lanes": 1,
                            "max_batch": 65536, "guard": 8, "alpha": None, "eps": None,
                            "stats_out": None, "desc_depth": None},
                  bounds={"stats_out": STATS_OUT, "desc_depth": DESC_DEPTH},
                  summary="complete L1BN/L2BN forward unit: batch statistics, centred lanes "
                          "y = a*(x - mu_F) + b', running statistics; train and inference")

"""The complete L1BN / L2BN forward unit (training and inference): sequences of channels, two
in flight (interleaved passes).

Bit for bit :func:`golden.bn_unit.forward_train` and :func:`golden.bn_unit.forward_infer`.
"""

from amaranth import C, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden import fixed
from golden.bn_unit import ALPHA_FRAC, UnitConfig

from .abs_sign import AbsSign
from .accumulator import Accumulator
from .block import BlockSpec
from .registers import context_pair, delay, pick
from .divider import Divider
from .isqrt import Isqrt
from .bn_sequencer import PassSequencer, schedule_cycles, slot_order
from .round_sat import round_saturate, saturate, shift_right_half_up
from .scale_shift import ScaleShift
from .serial_multiplier import SerialMultiplier
from .square import Square

__all__ = ["BNUnit", "MODE_TRAIN", "MODE_INFER", "AREA_GROUPS", "latency_formulas",
           "sequence_cycles", "slot_order"]

MODE_TRAIN = 0
MODE_INFER = 1
#: Submodule instance-name prefixes of each part of the unit (for area reports); the rest of the
#: top module (sequencer, contexts, job control) is control and registers. The serial
#: multipliers of the per-channel products are per-channel math.
AREA_GROUPS = {"statistics": ("acc_x", "acc_xx", "acc_d", "dev", "sq_x"),
               "per-channel math": ("mean_div", "sigma_div", "coef_div", "isqrt", "mu_a_mul",
                                    "scalar_mul"),
               "datapath": ("scale_shift",)}


def _check_lanes(lanes):
    return fixed.check_int("lanes", lanes, 1, 64)


def latency_formulas(*, norm, stats="two-pass", width=16, guard=8, lanes=1, max_batch=65536,
                     **_ignored):
    """Timing constants of the unit's schedule (:func:`hdl.bn_sequencer.schedule_cycles`).

    Returns a dict of numbers for these parameters and, under ``"formulas"``, the same as text
    in W (width), G (guard), La (the accumulators' latency: 1 for P = 1, else 2):

    * ``pass``: every pass streams ``ceil(m/P)`` beats, one per cycle;
    * ``mean_delay`` (train two-pass): idle cycles from the last beat of a channel's sum pass to
      the first beat of its deviation pass if nothing else is streamed in between,
      ``W+G+4+La``;
    * ``request_delay``: cycles from the last beat of the pass that completes the statistics
      (train) or from the descriptor handshake (infer) to the start of the coefficient job;
    * ``job_train`` / ``job_infer``: cycles from a job's start until the channel's normalize pass
      may stream (dividers of ``quot_width + 3`` cycles, the isqrt of ``W+G+1``, the serial mu*a
      product of ``Lm = max(W+G, 18) + 1`` cycles: ``X = Lm - 3 + R`` below, where ``R`` is
      the wait for the training job's two running-statistics products on the same multiplier,
      ``max(0, max(1, Lm - D1) + Lm - (W+G+6))``: the mean's is issued D1 cycles before A_GO
      (when the job starts, two-pass: ``W+G+5`` for l1, ``3(W+G)+8`` for l2; when the job's
      mean division ends, one-pass: ``2(W+G)+3W+2M+8``), the sigma's after A_GO; inference
      jobs have none, ``R = 0``); one job at a time;
    * ``y_latency``: cycles from a normalize-pass beat to its ``y`` beat (5).
    """
    cfg = UnitConfig(norm=norm, stats=stats, width=width, frac=0, guard=guard)
    P = _check_lanes(lanes)
    wg = cfg.width + cfg.guard
    la = 1 if P == 1 else 2
    lm = max(wg, ALPHA_FRAC + 2) + 1
    if stats == "one-pass":
        W, M = cfg.width, fixed.clog2(fixed.check_int("max_batch", max_batch, 1))
        d1, text_d1 = 2 * wg + 3 * W + 2 * M + 8, "2(W+G)+3W+2M+8"
    else:
        d1, text_d1 = (wg + 5, "W+G+5") if norm == "l1" else (3 * wg + 8, "3(W+G)+8")
    wait = max(0, max(1, lm - d1) + lm - (wg + 6))
    text_r = f"max(0, max(1, Lm-D1) + Lm-(W+G+6)), D1 = {text_d1}"
    x = lm - 3 + wait
    out = {"La": la, "y_latency": 5, "request_infer": 1, "job_infer": wg + 14 + lm - 3}
    text = {"pass": "ceil(m/P)", "La": "1 if P == 1 else 2", "y_latency": "5",
            "request_infer": "1", "job_infer": "W+G+14+Lm-3",
            "X": "Lm-3 + R, Lm = max(W+G, 18)+1 (serial mu*a)",
            "R": text_r + " (the running statistics' products)"}
    if stats == "one-pass":
        # + the serial products m*Sxx, Sx*Sx (2W+M+1 cycles), then m*m (W+M+1);
        # M = clog2(max_batch)
        out.update(request_train=la + 4,
                   job_train=4 * wg + 22 + (2 * W + M + 1) + (W + M + 1) + x)
        text.update(request_train="La+4", job_train="4(W+G)+22 + (2W+M+1) + (W+M+1) + X")
    else:
        out.update(mean_delay=wg + 4 + la)
        text.update(mean_delay="W+G+4+La")
        if norm == "l1":
            out.update(request_train=la + 3, job_train=2 * wg + 18 + x)
            text.update(request_train="La+3", job_train="2(W+G)+18+X")
        else:
            out.update(request_train=la + 4, job_train=4 * wg + 21 + x)
            text.update(request_train="La+4", job_train="4(W+G)+21+X")
    out["formulas"] = text
    return out


def sequence_cycles(channels, m, mode, *, norm, stats="two-pass", width=16, guard=8, lanes=1,
                    max_batch=65536, **_ignored):
    """Cycles for a sequence of ``channels`` channels of ``m`` values (an int, or one per
    channel) in ``mode`` ("train" or "infer"), from the first descriptor handshake to the last
    ``y`` beat, with every input valid and every output ready.

    Returns the dict of :func:`hdl.bn_sequencer.schedule_cycles` (``total`` and the cycles of
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

    Bit for bit :mod:`golden.bn_unit` (:class:`~golden.bn_unit.UnitConfig` formats: data
    ``Q(W, F)``, statistics ``S = Q(W+G, F+G)``, coefficients ``K = Q(W+G+2, F+G)``).

    Parameters
    ----------
    norm : "l1" or "l2"
    stats : "two-pass" or "one-pass" (l2 only)
    width, frac : data format ``Q(width, frac)`` of x, y, gamma, beta
    lanes : values per beat, P (1..64)
    max_batch : largest channel size M (m <= max_batch)
    guard : extra fraction bits G of the statistics
    alpha, eps : running-statistics weight of the OLD value, and epsilon (quantized as the model)

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
      the batch mean and sigma, the updated running statistics) and ``sat`` flags ``{sigma, s,
      a, b, running}`` (the model's per-stage counts, 0 or 1 per channel). A pending transfer
      holds the next channel's coefficients (and so its final pass).
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
    ``y`` beats leave 5 cycles after their ``x`` beats.

    Datapath (blocks of the library): pass 1: an :class:`~hdl.accumulator.Accumulator` of x (and,
    one-pass, P :class:`~hdl.square.Square` of x with an accumulator of x^2); pass 2: P
    :class:`~hdl.abs_sign.AbsSign` (l1) or :class:`~hdl.square.Square` (l2) of
    ``d = x * 2**G - mu`` and an accumulator; per channel: :class:`~hdl.divider.Divider` for mu,
    sigma (l1) / variance (l2) and ``a``, :class:`~hdl.isqrt.Isqrt` (l2), one
    :class:`~hdl.serial_multiplier.SerialMultiplier`: the running statistics'
    ``alpha_q * (old - batch)`` of training jobs (the mean's as soon as the mean is known, the
    sigma's after A_GO), then ``mu * a`` (one-pass also ``m * Sxx``, ``Sx**2``, ``m*m`` on two
    more);
    normalize: P :class:`~hdl.scale_shift.ScaleShift`; control: :class:`~hdl.bn_sequencer.
    PassSequencer`. Multipliers per lane (:attr:`MULTIPLIERS`): l1 one (the normalize pass),
    l2 two (the square of pass 2 or of x, and the normalize pass); per channel one serial
    multiplier, one-pass two more.

    Limits: ``m = 0`` is not a channel (undefined). ``alpha``/``eps`` default to 0.9 / 1e-5
    (``None`` in the registry so that module names stay plain identifiers; a given float puts a
    ``.`` into the module name, which the registry does not sanitize).
    """

    def __init__(self, *, norm, stats="two-pass", width=16, frac=8, lanes=1, max_batch=65536,
                 guard=8, alpha=None, eps=None):
        alpha = 0.9 if alpha is None else alpha
        eps = 1e-5 if eps is None else eps
        try:
            self.cfg = cfg = UnitConfig(norm=norm, stats=stats, width=width, frac=frac,
                                        guard=guard, max_batch=max_batch, alpha=alpha, eps=eps)
            self.lanes = P = _check_lanes(lanes)
        except ValueError:
            self._MustUse__silence = True   # never built: no "created but never used" warning
            raise
        self.norm, self.stats_kind = cfg.norm, cfg.stats
        self.formats = dict(cfg.formats)
        del self.formats["const"], self.formats["slope"], self.formats["grad"]
        W, G = cfg.width, cfg.guard
        SW = cfg.stat.width
        self.mbits = fixed.clog2(cfg.max_batch) + 1
        lat = latency_formulas(norm=norm, stats=stats, width=width, guard=guard, lanes=lanes,
                               max_batch=max_batch)
        self.LATENCY = {k: v for k, v in lat.items()}
        #: Multiplier instances: per lane, and per channel (serial: the running statistics and
        #: mu*a on one; one-pass also m*Sxx, Sx*Sx and m*m on two more).
        self.MULTIPLIERS = {"per_lane": 1 if norm == "l1" else 2, "lanes": P,
                            "scalar": 3 if stats == "one-pass" else 1}
        self.x_layout = data.StructLayout({"data": data.ArrayLayout(signed(W), P), "last": 1})
        self.y_layout = data.StructLayout({"data": data.ArrayLayout(signed(W), P),
                                           "sat": unsigned(P), "last": 1})
        self.sat_layout = data.StructLayout({"sigma": 1, "s": 1, "a": 1, "b": 1, "running": 1})
        self.channel_layout = data.StructLayout({
            "mode": 1, "m": unsigned(self.mbits), "gamma": signed(W), "beta": signed(W),
            "running_mean": signed(SW), "running_sigma": signed(SW), "last": 1})
        self.stats_layout = data.StructLayout({
            "mean": signed(SW), "sigma": signed(SW), "running_mean": signed(SW),
            "running_sigma": signed(SW), "sat": self.sat_layout})
        super().__init__({
            "channel": In(stream.Signature(self.channel_layout)),
            "x": In(stream.Signature(self.x_layout)),
            "y": Out(stream.Signature(self.y_layout)),
            "stats": Out(stream.Signature(self.stats_layout)),
            "err": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, P = self.cfg, self.lanes
        W, F, G = cfg.width, cfg.frac, cfg.guard
        FS, SW, KW = cfg.stat.frac, cfg.stat.width, cfg.coef.width
        M = self.mbits - 1
        l1 = cfg.norm == "l1"
        onepass = cfg.stats == "one-pass"

        # --- blocks ---------------------------------------------------------------------------
        m.submodules.sequencer = seq = PassSequencer(lanes=P, mbits=self.mbits,
                                                     passes=2 if onepass else 3)
        acc_x = Accumulator(width=W, lanes=P, max_count=cfg.max_batch, signed=True)
        m.submodules.acc_x = acc_x
        la = acc_x.LATENCY
        if onepass:
            acc_xx = Accumulator(width=2 * W - 1, lanes=P, max_count=cfg.max_batch, signed=False)
            m.submodules.acc_xx = acc_xx
            sq_x = [Square(width=W) for _ in range(P)]
            for i, b in enumerate(sq_x):
                m.submodules[f"sq_x{i}"] = b
        else:
            term_w = W + G if l1 else 2 * (W + G)
            acc_d = Accumulator(width=term_w, lanes=P, max_count=cfg.max_batch, signed=False)
            m.submodules.acc_d = acc_d
            kern = [(AbsSign if l1 else Square)(width=W + G + 1) for _ in range(P)]
            for i, b in enumerate(kern):
                m.submodules[f"dev{i}"] = b
        ss = [ScaleShift(width=W, frac=F, coef_width=KW, coef_frac=cfg.coef.frac)
              for _ in range(P)]
        for i, b in enumerate(ss):
            m.submodules[f"scale_shift{i}"] = b
        ss_lat = ss[0].LATENCY

        mu_div = Divider(width=W + M, frac=F, den_width=M + 1, den_frac=0,
                         quot_width=SW, quot_frac=FS)
        m.submodules.mean_div = mu_div
        a_div = Divider(width=W, frac=F, den_width=SW, den_frac=FS, quot_width=KW,
                        quot_frac=cfg.coef.frac)
        m.submodules.coef_div = a_div
        vw = 2 * (W + G) + 1          # variance quotient width (signed; var >= 0)
        # sigma's (l1) or the variance's numerator is a non-negative sum: an unsigned numerator,
        # so the load cycle is only the overflow compare (no |num| carry chain).
        if l1:
            sig_div = Divider(width=W + G + M, frac=0, den_width=M + 1, den_frac=0,
                              quot_width=SW, quot_frac=0, num_signed=False)
        elif onepass:
            sig_div = Divider(width=2 * W + 2 * M + 2 * G - 1, frac=0, den_width=2 * M + 1,
                              den_frac=0, quot_width=vw, quot_frac=0, num_signed=False)
        else:
            sig_div = Divider(width=2 * (W + G) + M, frac=0, den_width=M + 1, den_frac=0,
                              quot_width=vw, quot_frac=0, num_signed=False)
        m.submodules.sigma_div = sig_div
        if not l1:
            root = Isqrt(width=vw)
            m.submodules.isqrt = root
        # The running statistics' alpha_q * (old - batch) (mean, then sigma) while the a divider
        # runs, then mu * a, on one serial multiplier: a few products per channel do not need
        # an array multiplier (alpha_q: ALPHA_FRAC + 2 bits signed).
        mu_a_mul = SerialMultiplier(a_width=max(KW, SW + 1), b_width=max(SW, ALPHA_FRAC + 2))
        m.submodules.mu_a_mul = mu_a_mul

        # --- configuration stream and the two channel contexts ----------------------------------
        cp = self.channel.payload
        m.d.comb += [seq.cfg_valid.eq(self.channel.valid), seq.cfg_last.eq(cp.last),
                     seq.cfg_single.eq(cp.mode == MODE_INFER), seq.cfg_m.eq(cp.m),
                     self.channel.ready.eq(seq.cfg_ready)]

        gamma_c, beta_c = context_pair(signed(W), "gamma"), context_pair(signed(W), "beta")
        rm_c, rs_c = context_pair(signed(SW), "rmean"), context_pair(signed(SW), "rsigma")
        mu_c = context_pair(signed(SW), "mu")
        a_c, b_c = context_pair(signed(KW), "a"), context_pair(signed(KW), "b")
        m_c = [seq.m0, seq.m1]
        mean_ready = Signal(2)
        coef_ready = Signal(2)
        m.d.comb += [seq.dep_mid.eq(mean_ready), seq.dep_final.eq(coef_ready)]
        # Coefficient jobs wait in a one-entry queue (train: after the statistics pass, infer:
        # at the descriptor); the schedule never offers a second request while one waits.
        pend, pend_ctx = Signal(name="pend"), Signal(name="pend_ctx")
        pend_infer = Signal(name="pend_infer")
        take = Signal()           # the job engine takes the request (a new one may arrive)
        with m.If(take):
            m.d.sync += pend.eq(0)
        for i in range(2):
            with m.If(seq.load & (seq.load_ctx == i)):
                m.d.sync += [gamma_c[i].eq(cp.gamma), beta_c[i].eq(cp.beta),
                             rm_c[i].eq(cp.running_mean), rs_c[i].eq(cp.running_sigma),
                             mean_ready[i].eq(0), coef_ready[i].eq(0)]
        with m.If(seq.load & (cp.mode == MODE_INFER)):
            m.d.sync += [pend.eq(1), pend_ctx.eq(seq.load_ctx), pend_infer.eq(1)]

        # --- stream control ----------------------------------------------------------------------
        en = Signal()
        m.d.comb += en.eq(~self.y.valid | self.y.ready)
        m.d.comb += [seq.en.eq(en), seq.x_valid.eq(self.x.valid),
                     seq.x_last.eq(self.x.payload.last), self.x.ready.eq(seq.x_ready),
                     self.err.eq(seq.err)]
        xfer = seq.xfer
        is_sum, is_dev, is_norm = seq.kind[0], seq.kind[1], seq.kind[2]
        lane_ok = [seq.lane_ok[i] for i in range(P)]
        xs = [self.x.payload.data[i] for i in range(P)]

        # Stage 1 (all paths): the beat's values, their lane masks and tags, loaded on en. The
        # values are registered as they come and masked after the register: the handshake
        # (xfer) then drives a few mask and tag flops, not every data flop.
        s1_first_sum, s1_end_sum = Signal(name="s1_first_sum"), Signal(name="s1_end_sum")
        s1_ctx = Signal(name="s1_ctx")
        s1_n = [Signal(signed(W), name=f"s1_n{i}") for i in range(P)]
        s1_nmask = Signal(P)
        s1_nvalid, s1_nlast = Signal(name="s1_nvalid"), Signal(name="s1_nlast")
        s1_xm = Signal(P, name="s1_sum_mask")
        # The beat's coefficients, picked from the contexts here so that no context select sits
        # in front of the lane multipliers.
        s1_a, s1_b = Signal(signed(KW), name="s1_a"), Signal(signed(KW), name="s1_b")
        with m.If(en):
            m.d.sync += [
                s1_a.eq(pick(a_c, seq.ctx)),
                s1_b.eq(pick(b_c, seq.ctx)),
                s1_first_sum.eq(xfer & is_sum & seq.first),
                s1_end_sum.eq(xfer & is_sum & seq.end),
                s1_ctx.eq(seq.ctx),
                s1_nvalid.eq(xfer & is_norm),
                s1_nlast.eq(xfer & is_norm & seq.end),
                s1_nmask.eq(Cat(*lane_ok)),
                s1_xm.eq(Cat(*lane_ok) & (xfer & is_sum).replicate(P)),
            ]
            for i in range(P):
                m.d.sync += s1_n[i].eq(xs[i])
        s1_x = [Mux(s1_xm[i], s1_n[i], 0) for i in range(P)]

        def event(tag, ctx, n, name):
            """(pulse, ctx) of ``tag`` after ``n`` enabled cycles: one cycle with en high."""
            d = delay(m, Cat(tag, ctx), n, en, name)
            return d[0] & en, d[1]

        # Pass "sum": sum x (and sum x^2, one-pass).
        m.d.comb += [acc_x.en.eq(en), acc_x.first.eq(s1_first_sum)]
        for i in range(P):
            m.d.comb += acc_x.values[i].eq(s1_x[i])
        if onepass:
            # x is squared as it came and the square masked: no lane mask before the multiplier.
            sql = sq_x[0].LATENCY
            xm_l = delay(m, s1_xm, sql, en, "xxm")
            for i in range(P):
                m.d.comb += [sq_x[i].en.eq(en), sq_x[i].d.eq(s1_n[i]),
                             acc_xx.values[i].eq(Mux(xm_l[i], sq_x[i].sq, 0))]
            m.d.comb += [acc_xx.en.eq(en),
                         acc_xx.first.eq(delay(m, s1_first_sum, sql, en, "fxx"))]
            sum_done, sum_ctx = event(s1_end_sum, s1_ctx, sql + la, "done_sum")
            # The sums wait with the request: the next channel may restart the accumulators.
            # sum x is ready sql cycles before sum x^2: it is delayed to meet it.
            sx_p = Signal(signed(W + M), name="sx_p")
            sxx_p = Signal(2 * W - 1 + M, name="sxx_p")
            sx_late = delay(m, acc_x.sum, sql, en, "sx")
            with m.If(sum_done):
                m.d.sync += [pend.eq(1), pend_ctx.eq(sum_ctx), pend_infer.eq(0),
                             sx_p.eq(sx_late), sxx_p.eq(acc_xx.sum)]
        else:
            sum_done, sum_ctx = event(s1_end_sum, s1_ctx, la, "done_sum")
            # Pass "dev": d = x * 2**G - mu, then |d| or d^2, summed.
            s1_d = [Signal(signed(W + G + 1), name=f"s1_d{i}") for i in range(P)]
            s1_first_dev, s1_end_dev = Signal(name="s1_first_dev"), Signal(name="s1_end_dev")
            s1_dm = Signal(P, name="s1_dev_mask")
            mu_now = pick(mu_c, seq.ctx)
            with m.If(en):
                m.d.sync += [s1_first_dev.eq(xfer & is_dev & seq.first),
                             s1_end_dev.eq(xfer & is_dev & seq.end),
                             s1_dm.eq(Cat(*lane_ok) & (xfer & is_dev).replicate(P))]
                for i in range(P):
                    m.d.sync += s1_d[i].eq(Cat(C(0, G), xs[i]).as_signed() - mu_now)
            kl = kern[0].LATENCY
            for i in range(P):
                term = kern[i].mag[:W + G] if l1 else kern[i].sq[:2 * (W + G)]
                m.d.comb += [kern[i].en.eq(en), kern[i].d.eq(Mux(s1_dm[i], s1_d[i], 0)),
                             acc_d.values[i].eq(term)]
            m.d.comb += [acc_d.en.eq(en), acc_d.first.eq(delay(m, s1_first_dev, kl, en, "fd"))]
            dev_done, dev_ctx = event(s1_end_dev, s1_ctx, kl + la, "done_dev")
            # The deviation sum waits with the request in a register of its own: the sigma
            # divider then loads from a flop, not from the accumulator's adder.
            sd_p = Signal.like(acc_d.sum, name="sd_p")
            with m.If(dev_done):
                m.d.sync += [pend.eq(1), pend_ctx.eq(dev_ctx), pend_infer.eq(0),
                             sd_p.eq(acc_d.sum)]

        # Pass "normalize": y = a*x + b on ScaleShift with the beat's channel's coefficients.
        for i in range(P):
            m.d.comb += [ss[i].en.eq(en), ss[i].x.eq(s1_n[i]), ss[i].a.eq(s1_a), ss[i].b.eq(s1_b)]
        y_valid = delay(m, s1_nvalid, ss_lat, en, "yv")
        y_last = delay(m, s1_nlast, ss_lat, en, "yl")
        y_mask = delay(m, s1_nmask, ss_lat, en, "ym")
        m.d.comb += [self.y.valid.eq(y_valid), self.y.payload.last.eq(y_last)]
        for i in range(P):
            m.d.comb += [self.y.payload.data[i].eq(Mux(y_mask[i], ss[i].y, 0)),
                         self.y.payload.sat[i].eq(y_mask[i] & ss[i].sat)]

        # --- per-channel math: the coefficient job of context `job` ------------------------------
        job, job_infer = Signal(name="job"), Signal(name="job_infer")
        # The job's go: its coefficients (and statistics) leave in GO.
        go = Signal(name="go")
        # a (and l1's sigma) are read from the divider's output, held there until GO takes
        # it; l2's sigma is the isqrt's, registered.
        a_new = a_div.o.payload.quot
        sigma_r = sig_div.o.payload.quot if l1 else Signal(signed(SW), name="sigma_r")
        sat_r = Signal(self.sat_layout, name="sat_r")
        mu_job = pick(mu_c, job)
        m_job = pick(m_c, job)
        # Mean: two-pass as soon as the sum pass drains (the divider is idle: the channel's
        # deviation pass, which needs the mean, precedes the next sum pass); one-pass inside
        # the coefficient job, from the sums that waited with the request.
        mean_ctx = Signal()
        if onepass:
            m.d.comb += [mu_div.i.payload.num.eq(sx_p),
                         mu_div.i.payload.den.eq(pick(m_c, pend_ctx)),
                         mu_div.i.valid.eq(take & ~pend_infer)]
            mean_to = job
        else:
            m.d.comb += [mu_div.i.payload.num.eq(acc_x.sum),
                         mu_div.i.payload.den.eq(pick(m_c, sum_ctx)),
                         mu_div.i.valid.eq(sum_done)]
            with m.If(sum_done):
                m.d.sync += mean_ctx.eq(sum_ctx)
            mean_to = mean_ctx
        m.d.comb += mu_div.o.ready.eq(1)
        for i in range(2):
            with m.If(mu_div.o.valid & (mean_to == i)):
                m.d.sync += [mu_c[i].eq(mu_div.o.payload.quot), mean_ready[i].eq(1)]

        eps_q = cfg.eps_q
        s_r = Signal(unsigned(SW), name="s_r")     # registered in S_LOAD (s >= 0)
        # s: l1 saturate_S(sigma + eps_q) (inference: running sigma), l2 sigma itself.
        sig_src = Mux(job_infer, pick(rs_c, job), sigma_r)
        if l1:
            s_val, s_sat = saturate(sig_src + C(eps_q, SW + 1), cfg.stat)
        else:
            s_val, s_sat = sig_src, C(0, 1)
        m.d.comb += [
            a_div.i.payload.num.eq(pick(gamma_c, job)),
            a_div.i.payload.den.eq(s_r),
            a_div.o.ready.eq(go),
            sig_div.o.ready.eq(go if l1 else 1),
        ]
        if not onepass:
            m.d.comb += [sig_div.i.payload.num.eq(sd_p), sig_div.i.payload.den.eq(m_job)]
        else:
            prod_mxx = Signal(2 * W - 1 + 2 * M + 1, name="m_sxx")
            prod_xx = Signal(2 * (W + M), name="sx_sq")
            mm = Signal(2 * M + 2, name="m_sq")
            num = Signal(2 * W - 1 + 2 * M, name="onepass_num")

            def sgn(v):
                return Cat(v, C(0, 1)).as_signed()

            # m*Sxx and Sx*Sx on two serial multipliers, issued when the job takes its request
            # (the request's sums may be replaced by the next channel's soon after), then m*m.
            mul_x = SerialMultiplier(a_width=M + 2, b_width=len(sxx_p) + 1)
            mul_y = SerialMultiplier(a_width=W + M, b_width=W + M)
            m.submodules.scalar_mul0 = mul_x
            m.submodules.scalar_mul1 = mul_y
            issue = take & ~pend_infer
            m.d.comb += [mul_x.i.valid.eq(issue), mul_x.i.payload.a.eq(sgn(pick(m_c, pend_ctx))),
                         mul_x.i.payload.b.eq(sgn(sxx_p)),
                         mul_y.i.payload.a.eq(Mux(issue, sx_p, sgn(m_job))),
                         mul_y.i.payload.b.eq(Mux(issue, sx_p, sgn(m_job)))]
            m.d.comb += [sig_div.i.payload.num.eq(Cat(C(0, 2 * G), num)),
                         sig_div.i.payload.den.eq(mm[:2 * M + 1])]
        if not l1:
            var_r = Signal(vw - 1, name="var_r")
            m.d.comb += [root.i.payload.radicand.eq(var_r + C(eps_q << FS, vw)),
                         root.o.ready.eq(1)]

        # Job control: a one-hot state register (flat conditions keep the Verilog lint-clean).
        names = ["IDLE", "SIG_GO", "SIG_WAIT", "S_LOAD", "A_GO", "A_WAIT", "MA_GO", "MA_WAIT",
                 "B", "GO"]
        names += ["MUL_WAIT", "MM_GO", "MM_WAIT"] if onepass else []
        names += [] if l1 else ["SQRT_GO", "SQRT_WAIT"]
        st = {n: Signal(name=f"job_{n.lower()}", init=(n == "IDLE")) for n in names}

        # b = saturate_K(beta * 2**G - shift_right(mu * a, FS, half_up)), registered in B from
        # the product held in mu_a_mul (taken in B); mu is the job's (inference: running) mean.
        mu_src = Mux(job_infer, pick(rm_c, job), mu_job)
        b_r = Signal(signed(KW), name="b_r")
        b_sat = Signal(name="b_sat")
        b_val, b_flag = saturate(Cat(C(0, G), pick(beta_c, job)).as_signed()
                                 - shift_right_half_up(mu_a_mul.o.payload.p, FS), cfg.coef)
        # Running statistics (training jobs): shift_right(alpha_q * old + (2**16 - alpha_q) *
        # batch, 16), the same integer as shift_right(batch * 2**16 + alpha_q * (old - batch),
        # 16): one product each of old - batch on mu_a_mul, issued as soon as the batch value is
        # known and the multiplier free (pending in run1 / run2; sig_fly: the sigma's in
        # flight): the mean's when the job starts (two-pass: the mean came before the deviation
        # pass) or when the job's mean division ends (one-pass: only training jobs divide), the
        # sigma's after A_GO. Each is summed with batch * 2**16 as it arrives (one adder,
        # `run_sum`; `run_sig` says whose), then rounded and saturated in a registered stage into
        # its own register, long before GO reads them.
        aq = cfg.alpha_q
        run1, run2 = Signal(name="run1"), Signal(name="run2")
        sig_fly, run_sig = Signal(name="sig_fly"), Signal(name="run_sig")
        d_mean, d_sigma = Signal(signed(SW + 1), name="d_mean"), Signal(signed(SW + 1),
                                                                          name="d_sigma")
        run_total = Signal(signed(len(mu_a_mul.o.payload.p) + 1), name="run_sum")
        run_mean, run_sigma = Signal(signed(SW), name="run_mean_r"), Signal(signed(SW),
                                                                             name="run_sigma_r")
        run_sat0, run_sat1 = Signal(name="run_mean_sat"), Signal(name="run_sigma_sat")
        m.d.comb += [d_mean.eq(pick(rm_c, job) - mu_job), d_sigma.eq(pick(rs_c, job) - sigma_r)]
        with m.If(mu_a_mul.o.valid & ~st["MA_WAIT"] & ~st["B"]):
            m.d.sync += [run_total.eq(Cat(C(0, ALPHA_FRAC), Mux(sig_fly, sigma_r, mu_job))
                                      .as_signed() + mu_a_mul.o.payload.p),
                         run_sig.eq(sig_fly)]
        run_v, run_f = round_saturate(run_total, ALPHA_FRAC, cfg.stat)
        with m.If(run_sig):
            m.d.sync += [run_sigma.eq(run_v), run_sat1.eq(run_f)]
        with m.Else():
            m.d.sync += [run_mean.eq(run_v), run_sat0.eq(run_f)]

        # Products are taken as they arrive: the running mean's, the running sigma's; mu * a is
        # held from MA_WAIT and taken in B.
        m.d.comb += [
            mu_a_mul.o.ready.eq(~st["MA_WAIT"]),
            mu_a_mul.i.valid.eq(run1 | run2 | st["MA_GO"]),
            mu_a_mul.i.payload.a.eq(Mux(run1, d_mean, Mux(run2, d_sigma, a_new))),
            mu_a_mul.i.payload.b.eq(Mux(run1 | run2, aq, mu_src)),
        ]
        with m.If(mu_div.o.valid if onepass else take & ~pend_infer):
            m.d.sync += run1.eq(1)
        with m.If(st["A_GO"] & ~job_infer):
            m.d.sync += run2.eq(1)
        with m.If(run1 & mu_a_mul.i.ready):
            m.d.sync += run1.eq(0)
        with m.If(run2 & ~run1 & mu_a_mul.i.ready):
            m.d.sync += [run2.eq(0), sig_fly.eq(1)]
        with m.If(sig_fly & mu_a_mul.o.valid):
            m.d.sync += sig_fly.eq(0)

        def goto(cond, src, dst):
            with m.If(st[src] & cond):
                m.d.sync += [st[src].eq(0), st[dst].eq(1)]

        stats_free = ~self.stats.valid | self.stats.ready
        with m.If(self.stats.ready):
            m.d.sync += self.stats.valid.eq(0)
        m.d.comb += take.eq(st["IDLE"] & pend)
        with m.If(take):
            m.d.sync += [job.eq(pend_ctx), job_infer.eq(pend_infer), sat_r.eq(0)]
        goto(pend & pend_infer, "IDLE", "S_LOAD")
        goto(pend & ~pend_infer, "IDLE", "MUL_WAIT" if onepass else "SIG_GO")
        if onepass:
            both = mul_x.o.valid & mul_y.o.valid
            with m.If(st["MUL_WAIT"] & both):
                m.d.comb += [mul_x.o.ready.eq(1), mul_y.o.ready.eq(1)]
                m.d.sync += [prod_mxx.eq(mul_x.o.payload.p), prod_xx.eq(mul_y.o.payload.p)]
            goto(both, "MUL_WAIT", "MM_GO")
            m.d.comb += mul_y.i.valid.eq(issue | st["MM_GO"])
            with m.If(st["MM_GO"]):
                m.d.sync += num.eq(prod_mxx - prod_xx)
            goto(C(1, 1), "MM_GO", "MM_WAIT")
            with m.If(st["MM_WAIT"] & mul_y.o.valid):
                m.d.comb += mul_y.o.ready.eq(1)
                m.d.sync += mm.eq(mul_y.o.payload.p)
            goto(mul_y.o.valid, "MM_WAIT", "SIG_GO")
        m.d.comb += sig_div.i.valid.eq(st["SIG_GO"])
        goto(C(1, 1), "SIG_GO", "SIG_WAIT")
        sig_done = st["SIG_WAIT"] & sig_div.o.valid
        if l1:
            with m.If(sig_done):
                m.d.sync += sat_r.eq(Cat(sig_div.o.payload.sat, C(0, 4)))
            goto(sig_div.o.valid, "SIG_WAIT", "S_LOAD")
        else:
            with m.If(sig_done):
                m.d.sync += var_r.eq(sig_div.o.payload.quot[:vw - 1])
            goto(sig_div.o.valid, "SIG_WAIT", "SQRT_GO")
            m.d.comb += root.i.valid.eq(st["SQRT_GO"])
            goto(C(1, 1), "SQRT_GO", "SQRT_WAIT")
            r = Cat(root.o.payload.root, C(0, 1)).as_signed()
            sg, sg_sat = saturate(r, cfg.stat)
            with m.If(st["SQRT_WAIT"] & root.o.valid):
                m.d.sync += [sigma_r.eq(sg), sat_r.sigma.eq(sg_sat)]
            goto(root.o.valid, "SQRT_WAIT", "S_LOAD")
        with m.If(st["S_LOAD"]):
            m.d.sync += [s_r.eq(s_val[:SW]), sat_r.s.eq(s_sat)]
        goto(C(1, 1), "S_LOAD", "A_GO")
        m.d.comb += a_div.i.valid.eq(st["A_GO"])
        goto(C(1, 1), "A_GO", "A_WAIT")
        with m.If(st["A_WAIT"] & a_div.o.valid):
            m.d.sync += sat_r.a.eq(a_div.o.payload.sat)
        goto(a_div.o.valid, "A_WAIT", "MA_GO")
        # MA_GO issues mu * a once mu_a_mul is free (both running products issued, the sigma's
        # taken), MA_WAIT waits for it, B forms b from it; the coefficients and the stats
        # transfer in GO (training: waiting for a free stats slot).
        goto(mu_a_mul.i.ready & ~run1 & ~run2, "MA_GO", "MA_WAIT")
        goto(mu_a_mul.o.valid, "MA_WAIT", "B")
        with m.If(st["B"]):
            m.d.sync += [b_r.eq(b_val), b_sat.eq(b_flag)]
        goto(C(1, 1), "B", "GO")
        m.d.comb += go.eq(st["GO"] & (job_infer | stats_free))
        for i in range(2):
            with m.If(go & (job == i)):
                m.d.sync += [a_c[i].eq(a_new), b_c[i].eq(b_r), coef_ready[i].eq(1)]
        with m.If(go & ~job_infer):
            m.d.sync += [
                self.stats.valid.eq(1),
                self.stats.payload.mean.eq(mu_job),
                self.stats.payload.sigma.eq(sigma_r),
                self.stats.payload.running_mean.eq(run_mean),
                self.stats.payload.running_sigma.eq(run_sigma),
                self.stats.payload.sat.eq(Cat(sat_r.sigma, sat_r.s, sat_r.a, b_sat,
                                              run_sat0 | run_sat1)),
            ]
        goto(job_infer | stats_free, "GO", "IDLE")
        return m


BLOCK = BlockSpec(BNUnit, ("norm", "stats", "width", "frac", "lanes", "max_batch", "guard",
                           "alpha", "eps"),
                  defaults={"stats": "two-pass", "width": 16, "frac": 8, "lanes": 1,
                            "max_batch": 65536, "guard": 8, "alpha": None, "eps": None},
                  summary="complete L1BN/L2BN forward unit: batch statistics, y = a*x + b, "
                          "running statistics; train and inference")

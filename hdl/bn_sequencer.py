"""Channel-interleaving pass sequencer of the BN units (:mod:`l1bn.hdl.bn_unit`, :mod:`l1bn.hdl.bn_backward`).

A BN unit streams each channel's m values several times (passes), and between two passes of one
channel it has per-channel work to do (a division, a square root). To keep the stream busy the
unit interleaves two channels: while channel ``c`` waits for its statistics, the host streams a
pass of channel ``c + 1`` or ``c - 1``. This component owns that schedule, the configuration
stream, the two channel contexts and the beat counting; the units own the datapaths.
"""

from amaranth import C, Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from l1bn.golden.fixed import check_int

__all__ = ["PassSequencer", "slot_order", "schedule_cycles"]

FIRST, MID, FINAL = "first", "mid", "final"


def slot_order(channels, passes, single=False):
    """The order in which the host streams the passes of ``channels`` channels.

    Returns ``[(channel, kind), ...]`` with ``kind`` in ``"first"``, ``"mid"``, ``"final"``.
    Round ``c`` (for ``c = 0 .. channels``) streams: the first pass of channel ``c``, the final
    pass of channel ``c - 1``, then (three-pass schedules) the middle pass of channel ``c``;
    passes of channels that do not exist are left out. ``single`` (one pass per channel): the
    channels' final passes in order.
    """
    check_int("channels", channels, 0)
    if single:
        return [(c, FINAL) for c in range(channels)]
    if passes not in (2, 3):
        raise ValueError(f"passes must be 2 or 3, got {passes!r}")
    out = []
    for c in range(channels + 1):
        if c < channels:
            out.append((c, FIRST))
        if c > 0:
            out.append((c - 1, FINAL))
        if passes == 3 and c < channels:
            out.append((c, MID))
    return out


def schedule_cycles(channels, beats, *, passes, single=False, mean_delay=None, request_delay,
                    job_cycles, out_latency):
    """Cycle-exact timing of :class:`PassSequencer` driving a unit, every input always valid and
    every output always ready.

    Parameters
    ----------
    channels : int
        Number of channels of the sequence.
    beats : int or sequence of int
        Beats per pass (``ceil(m/P)``): one number for every channel, or one per channel.
    passes, single
        As :func:`slot_order`.
    mean_delay : int or None
        Three-pass schedules: idle cycles from the final beat of a channel's first pass to the
        first beat of its middle pass when nothing else is streamed (the mean's latency).
    request_delay : int
        Cycles from the final beat of the pass that completes a channel's statistics (multi-pass)
        or from its descriptor handshake (single-pass) to the cycle its coefficient job may
        start. Jobs run one at a time, in channel order.
    job_cycles : int
        Cycles from a job's start to the first cycle the channel's final pass may stream.
    out_latency : int
        Cycles from a final-pass input beat to its output beat.

    Returns
    -------
    dict
        ``total``: cycles from the first descriptor handshake (cycle 0; descriptors are offered
        back to back) to the last output beat, inclusive; ``passes``: ``[(channel, kind, first
        cycle, last cycle)]`` of every pass in stream order.
    """
    beats = [beats] * channels if isinstance(beats, int) else list(beats)
    if len(beats) != channels:
        raise ValueError(f"beats: {len(beats)} values for {channels} channels")
    for b in beats:
        check_int("beats", b, 1)
    order = slot_order(channels, passes, single)
    loads = []                 # descriptor handshake cycles
    free = [0, 0]              # first cycle each context may take a descriptor
    mean_ready, coef_ready, request = {}, {}, {}
    engine = 0                 # first cycle the coefficient engine is idle
    cursor, out, last_out = 0, [], None

    def load_until(c):
        while len(loads) <= c:
            n = len(loads)
            loads.append(max(loads[-1] + 1 if loads else 0, free[n % 2]))
            if single:
                request[n] = loads[n] + request_delay

    def job(c):
        nonlocal engine
        start = max(request[c], engine)
        engine = coef_ready[c] = start + job_cycles

    for i, (c, kind) in enumerate(order):
        load_until(c)
        start = max(cursor, loads[c] + 1)
        if kind == MID:
            start = max(start, mean_ready[c])
        if kind == FINAL:
            if c not in coef_ready:
                job(c)
            start = max(start, coef_ready[c])
            if not single and i == len(order) - 1:
                start = max(start, cursor + 1)     # the skipped first pass of the last round
        end = start + beats[c] - 1
        out.append((c, kind, start, end))
        cursor = end + 1
        if kind == FIRST and mean_delay is not None:
            mean_ready[c] = end + 1 + mean_delay
        if (kind == FIRST and passes == 2) or kind == MID:
            request[c] = end + request_delay
        if kind == FINAL:
            free[c % 2] = (end if single else start) + 1
            last_out = end + out_latency
    return {"total": last_out + 1, "passes": out}


def _get(v, i):
    """Bit ``i`` (a 1-bit value) of the 2-bit ``v``, as a multiplexer (lint: no shift)."""
    return Mux(i, v[1], v[0])


def _greater(v, k):
    """``v > k`` for a constant ``k >= 1``, as a test of the high bits and a compare of the low
    bits with a constant whose top bit is set (lint: no narrowed constant operands)."""
    b = k.bit_length()
    if k == (1 << b) - 1:
        return v[b:].any()
    return v[b:].any() | (v[:b] > k)


class PassSequencer(wiring.Component):
    """Schedule of interleaved passes over two channel contexts, and the configuration handshake.

    Parameters
    ----------
    lanes : int
        Values per beat, P (1..64).
    mbits : int
        Width of the channel size ``m`` (unsigned, ``m >= 1``).
    passes : int
        Passes per channel of a multi-pass sequence, 2 or 3.

    Members
    -------
    cfg_valid, cfg_last, cfg_single, cfg_m : ``In``
        The unit's configuration stream: a channel descriptor is offered (``cfg_valid``);
        ``cfg_last`` marks the final channel of a sequence; ``cfg_single`` requests one pass per
        channel (inference); ``cfg_m`` is the channel size.
    cfg_ready : ``Out(1)``
        A context is free: the descriptor is taken (``load``) into context ``load_ctx``.
    load, load_ctx : ``Out(1)``
        The descriptor handshake of this cycle and the context it fills (the unit latches its own
        per-channel fields there).
    x_valid, x_last, en : ``In(1)``
        Input beat offered, its ``last`` flag, and the datapath's clock enable (global stall).
    dep_mid, dep_final : ``In(2)``
        Per context: the middle pass may start (the mean is known), the final pass may start
        (the coefficients are known). A single-pass channel's final pass also needs
        ``dep_final``.
    x_ready, xfer : ``Out(1)``
        The unit takes a beat; ``xfer = x_valid & x_ready``.
    kind : ``Out(3)``
        One-hot kind of the current pass (valid while ``x_ready``): bit 0 first, bit 1 middle,
        bit 2 final.
    ctx : ``Out(1)``
        The context (channel) of the current pass.
    next_valid : ``Out(1)``
        ``kind`` and ``ctx`` name the pass the sequencer expects next (its channel's descriptor
        is held), whether or not it may start yet; low while it waits for a descriptor.
    first, end : ``Out(1)``
        The beat is the first / the final one of its pass (counted with ``m``).
    lane_ok : ``Out(lanes)``
        Lanes of the beat that hold values (lanes beyond ``m`` of the final beat are 0).
    single : ``Out(1)``
        The current sequence is single-pass.
    m0, m1 : ``Out(mbits)``
        The channel size held by each context.
    err : ``Out(1)``
        Sticky: a beat's ``last`` disagreed with the count, or a channel of a sequence asked for
        the other number of passes (it is run with the sequence's).

    Schedule: :func:`slot_order`. A pass starts when its channel's descriptor has been taken and
    its dependency holds; the next pass may start in the cycle after the previous pass's final
    beat. Skipping a pass that does not exist (the first pass after the final channel) costs one
    cycle. Dependencies are checked for a pass's first beat only. A context is free again once
    its channel's final pass has begun (multi-pass: the pass needs only the coefficients) or
    ended (single-pass: the next descriptor's coefficients are computed at once; a single-pass
    descriptor also waits for the end of a multi-pass channel's final pass in its context).
    Latency: combinational from the inputs to ``x_ready``/``kind``/``first``/``end``/``lane_ok``.
    """

    def __init__(self, *, lanes, mbits, passes):
        self.lanes = check_int("lanes", lanes, 1, 64)
        self.mbits = check_int("mbits", mbits, 1)
        if passes not in (2, 3):
            raise ValueError(f"passes must be 2 or 3, got {passes!r}")
        self.passes = passes
        super().__init__({
            "cfg_valid": In(1), "cfg_last": In(1), "cfg_single": In(1), "cfg_m": In(mbits),
            "cfg_ready": Out(1), "load": Out(1), "load_ctx": Out(1),
            "x_valid": In(1), "x_last": In(1), "en": In(1),
            "dep_mid": In(2), "dep_final": In(2),
            "x_ready": Out(1), "xfer": Out(1), "kind": Out(3), "ctx": Out(1), "next_valid": Out(1),
            "first": Out(1), "end": Out(1), "lane_ok": Out(lanes), "single": Out(1),
            "m0": Out(mbits), "m1": Out(mbits), "err": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        P, three = self.lanes, self.passes == 3

        def _set(v, i, val=1):
            """v[i] <= val for a 1-bit index (per bit: no variable shift in the Verilog)."""
            for j in range(2):
                with m.If(i == j):
                    m.d.sync += v[j].eq(val)

        def _clear(v, i):
            _set(v, i, 0)
        # Contexts: size, final-channel flag, single-pass flag, occupancy.
        ctx_m = [self.m0, self.m1]
        ctx_last = Signal(2)
        ctx_single = Signal(2)
        busy = Signal(2)          # a descriptor is held (until its channel's final pass)
        wr = Signal()             # context of the next descriptor
        # A context whose multi-pass channel is still in its final pass takes only multi-pass
        # descriptors: a single-pass one would start computing its coefficients at once.
        draining = Signal(2)
        m.d.comb += [self.cfg_ready.eq(~_get(busy, wr) & ~(self.cfg_single & _get(draining, wr))),
                     self.load_ctx.eq(wr),
                     self.load.eq(self.cfg_valid & self.cfg_ready)]
        with m.If(self.load):
            m.d.sync += wr.eq(~wr)
        for i in range(2):
            with m.If(self.load & (wr == i)):
                m.d.sync += [busy[i].eq(1), ctx_last[i].eq(self.cfg_last),
                             ctx_single[i].eq(self.cfg_single), ctx_m[i].eq(self.cfg_m)]

        # Round state: cur = context of channel c; slot one-hot (first, final of c - 1, mid).
        cur = Signal()
        s_first = Signal(init=1)
        s_final = Signal()
        s_mid = Signal()
        prev_live = Signal()      # channel c - 1 still needs its final pass
        prev_last = Signal()      # ... and it was the sequence's final channel
        cur_live = Signal()       # channel c has had its first pass in this round
        seq = Signal()            # inside a sequence
        single = Signal()
        m.d.comb += self.single.eq(single)

        cur_busy = _get(busy, cur)
        cur_single = _get(ctx_single, cur)
        cur_last = _get(ctx_last, cur)
        skip = s_first & prev_live & prev_last          # no channel c: go to c - 1's final pass
        start_seq = s_first & ~prev_live & ~seq & cur_busy
        mode_single = Mux(seq, single, cur_single)
        first_ok = s_first & ~skip & cur_busy
        started = Signal()        # a beat of the current pass has been taken
        ready = Signal()
        m.d.comb += ready.eq(
            (first_ok & (started | ~mode_single | _get(self.dep_final, cur)))
            | (s_final & (started | _get(self.dep_final, ~cur)))
            | (s_mid & (started | _get(self.dep_mid, cur))))
        with m.If(start_seq):
            m.d.sync += [seq.eq(1), single.eq(cur_single)]
        with m.If(s_first & seq & cur_busy & (cur_single != single) & ~skip):
            m.d.sync += self.err.eq(1)

        m.d.comb += [
            self.x_ready.eq(self.en & ready),
            self.xfer.eq(self.x_valid & self.x_ready),
            self.ctx.eq(Mux(s_final, ~cur, cur)),
            self.kind.eq(Cat(s_first & ~mode_single, s_mid, s_final | (s_first & mode_single))),
            self.next_valid.eq(first_ok | s_final | s_mid),
        ]
        # Beat counting within the pass.
        rw = max(self.mbits, P.bit_length()) + 1
        remaining = Signal(rw)
        rem_now = Signal(rw)
        m.d.comb += rem_now.eq(Mux(started, remaining,
                                   Mux(self.ctx, ctx_m[1], ctx_m[0])))
        m.d.comb += [self.first.eq(~started), self.end.eq(~_greater(rem_now, P)),
                     self.lane_ok.eq(Cat(C(1, 1), *[_greater(rem_now, i) for i in range(1, P)]))]
        with m.If(self.xfer):
            m.d.sync += [remaining.eq(rem_now - C(P, rw)), started.eq(1)]
            with m.If(self.x_last != self.end):
                m.d.sync += self.err.eq(1)

        done = self.xfer & self.end
        with m.If(done):
            m.d.sync += started.eq(0)

        def round_end(live, last):
            """Next round: channel c (if it ran) becomes c - 1."""
            m.d.sync += [s_first.eq(1), s_final.eq(0), s_mid.eq(0), cur_live.eq(0)]
            with m.If(live):
                m.d.sync += [cur.eq(~cur), prev_live.eq(1), prev_last.eq(last)]
            with m.Else():
                m.d.sync += [prev_live.eq(0), seq.eq(0)]

        with m.If(skip):
            m.d.sync += [s_first.eq(0), s_final.eq(1)]
        with m.If(done & s_first & mode_single):
            # Single pass: the channel is finished.
            m.d.sync += cur.eq(~cur)
            _clear(busy, cur)
            with m.If(cur_last):
                m.d.sync += seq.eq(0)
        with m.Elif(done & s_first):
            m.d.sync += [s_first.eq(0), cur_live.eq(1)]
            with m.If(prev_live):
                m.d.sync += s_final.eq(1)
            with m.Else():
                if three:
                    m.d.sync += s_mid.eq(1)
                else:
                    round_end(C(1, 1), cur_last)
        # A multi-pass channel's context is free once its final pass has begun: that pass needs
        # only the coefficients, which a new descriptor does not touch before its own first pass.
        with m.If(self.xfer & s_final & ~started):
            _clear(busy, ~cur)
            _set(draining, ~cur)
        with m.If(done & s_final):
            m.d.sync += [prev_live.eq(0), s_final.eq(0)]
            _clear(draining, ~cur)
            if three:
                with m.If(cur_live):
                    m.d.sync += s_mid.eq(1)
                with m.Else():
                    round_end(C(0, 1), C(0, 1))
            else:
                round_end(cur_live, cur_last)
        with m.If(done & s_mid):
            round_end(C(1, 1), cur_last)
        return m

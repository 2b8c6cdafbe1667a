"""What the BN units (:class:`l1bn.hdl.bn_unit.BNUnit`,
:class:`l1bn.hdl.bn_backward.BNBackward`) share:
the stream control over a :class:`~l1bn.hdl.bn_sequencer.PassSequencer`, the stage-1 tags, events
along the pipeline, and the handshake of the per-channel job.

A unit's parts share their signals through a :class:`Wires` object ``u`` (``u.seq`` the
sequencer, ``u.en`` the global stall, ``u.s1_<tag>`` the stage-1 tags, ``u.pend``,
``u.pend_ctx`` and ``u.take`` the one-entry job request queue).
"""

from amaranth import Cat, Mux, Signal, unsigned
from amaranth.lib import data, enum
from amaranth.lib.fifo import SyncFIFOBuffered

from .block import Int
from .registers import delay

__all__ = ["Wires", "Pass", "DESC_DEPTH", "STATUS_LAYOUT", "CHANNEL_BITS", "descriptors",
           "status_output", "stream_control", "register_tags", "event", "job_handshake"]


class Pass(enum.Enum, shape=2):
    """A pass of a channel (the ``status`` output's ``pass``)."""
    FIRST = 0
    MID = 1
    FINAL = 2


#: Entries of the units' descriptor FIFO (``desc_depth``; 0: none).
DESC_DEPTH = Int(0, 4096)
#: Bits of the channel number in ``status`` (channels of a sequence are counted modulo 2**16).
CHANNEL_BITS = 16
#: The units' ``status`` output: the pass the unit expects next.
STATUS_LAYOUT = data.StructLayout({"valid": 1, "pass": Pass, "channel": unsigned(CHANNEL_BITS),
                                   "ctx": 1})


class Wires:
    """The signals the parts of a unit's ``elaborate`` share."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def descriptors(m, unit, layout, depth):
    """The descriptor stream the sequencer takes: ``unit.channel`` itself (``depth`` 0), or
    through a :class:`~amaranth.lib.fifo.SyncFIFOBuffered` of ``depth`` entries (instance
    ``desc_fifo``). Returns ``(payload view, valid, ready)``, ``ready`` to be driven."""
    ch = unit.channel
    if not depth:
        return ch.payload, ch.valid, ch.ready
    fifo = SyncFIFOBuffered(width=layout.size, depth=depth)
    m.submodules.desc_fifo = fifo
    m.d.comb += [fifo.w_data.eq(ch.payload), fifo.w_en.eq(ch.valid), ch.ready.eq(fifo.w_rdy)]
    return data.View(layout, fifo.r_data), fifo.r_rdy, fifo.r_en


def status_output(m, u, unit, last):
    """``unit.status``: the sequencer's next pass, its channel's number in its sequence
    (descriptors counted from 0, again after the one with ``last``, ``last`` the descriptor
    stream's flag as the sequencer sees it) and its context (descriptors fill the two contexts
    in turn from reset: the k-th descriptor since reset goes to context k mod 2)."""
    seq = u.seq
    count = Signal(CHANNEL_BITS, name="desc_count")
    number = [Signal(CHANNEL_BITS, name=f"chan_no{i}") for i in range(2)]
    with m.If(seq.load):
        m.d.sync += count.eq(Mux(last, 0, count + 1))
        for i in range(2):
            with m.If(seq.load_ctx == i):
                m.d.sync += number[i].eq(count)
    # A final pass frees its context at its first beat (the next descriptor may load there):
    # its number is kept from that beat on.
    held = Signal(CHANNEL_BITS, name="final_chan_no")
    now = Mux(seq.ctx, number[1], number[0])
    with m.If(seq.xfer & seq.kind[2] & seq.first):
        m.d.sync += held.eq(now)
    st = unit.status
    m.d.comb += [st.valid.eq(seq.next_valid), st.ctx.eq(seq.ctx),
                 st.channel.eq(Mux(seq.kind[2] & ~seq.first, held, now)),
                 st["pass"].as_value().eq(Mux(seq.kind[0], Pass.FIRST,
                                              Mux(seq.kind[1], Pass.MID, Pass.FINAL)))]


def stream_control(m, u, unit, out):
    """``u.en = ~out.valid | out.ready``, the one global stall, and the sequencer's connections
    to ``unit.x`` and ``unit.err``."""
    seq = u.seq
    u.en = en = Signal()
    m.d.comb += en.eq(~out.valid | out.ready)
    m.d.comb += [seq.en.eq(en), seq.x_valid.eq(unit.x.valid),
                 seq.x_last.eq(unit.x.payload.last), unit.x.ready.eq(seq.x_ready),
                 unit.err.eq(seq.err)]


def register_tags(m, u, tags):
    """Stage 1: each ``tags[name]`` (one bit) in a register ``u.s1_<name>`` loaded on ``en``."""
    for name, val in tags.items():
        sig = Signal(name=f"s1_{name}")
        setattr(u, f"s1_{name}", sig)
        with m.If(u.en):
            m.d.sync += sig.eq(val)


def event(m, u, tag, n, name):
    """(pulse, ctx) of stage-1 ``tag`` after ``n`` enabled cycles: one cycle with en high."""
    d = delay(m, Cat(tag, u.s1_ctx), n, u.en, name)
    return d[0] & u.en, d[1]


def job_handshake(m, u, job, free):
    """Start ``job`` on a waiting request (``u.take``); its results are handed over (GO) when it
    is done, or later, as soon as ``free``. Returns ``(go, job_ctx)``, the request's context."""
    job_ctx = Signal(name="job_ctx")
    waiting = Signal(name="job_results_waiting")
    go = Signal(name="go")
    m.d.comb += go.eq((job.done | waiting) & free)
    m.d.comb += u.take.eq(u.pend & ~job.busy & ~job.done & ~waiting)
    with m.If(job.done & ~go):
        m.d.sync += waiting.eq(1)
    with m.If(go):
        m.d.sync += waiting.eq(0)
    with m.If(u.take):
        m.d.sync += job_ctx.eq(u.pend_ctx)
    return go, job_ctx

"""What the BN units (:class:`l1bn.hdl.bn_unit.BNUnit`, :class:`l1bn.hdl.bn_backward.BNBackward`) share:
the stream control over a :class:`~l1bn.hdl.bn_sequencer.PassSequencer`, the stage-1 tags, events
along the pipeline, and the handshake of the per-channel job.

A unit's parts share their signals through a :class:`Wires` object ``u`` (``u.seq`` the
sequencer, ``u.en`` the global stall, ``u.s1_<tag>`` the stage-1 tags, ``u.pend``,
``u.pend_ctx`` and ``u.take`` the one-entry job request queue).
"""

from amaranth import Cat, Signal

from .registers import delay

__all__ = ["Wires", "stream_control", "register_tags", "event", "job_handshake"]


class Wires:
    """The signals the parts of a unit's ``elaborate`` share."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


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

"""Single-stream BN layers: a unit behind a two-channel buffer that replays its passes, so that
the host streams each channel once and receives each result once (:class:`BufferedLayer`), and
the forward layer (:class:`BNLayer`).

Bit for bit the unit (forward: :class:`l1bn.hdl.bn_unit.BNUnit`, :mod:`l1bn.golden.bn_forward`).
"""

from amaranth import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from l1bn.golden.fixed import check_int

from .block import BlockSpec, Int
from .bn_skeleton import Pass
from .bn_unit import BLOCK as UNIT_BLOCK, BNUnit
from .store import Store

__all__ = ["BufferedLayer", "BNLayer", "AREA_GROUPS", "REPLAY_FIFO"]

#: Entries of the FIFO between the buffer's read port and the unit's ``x``.
REPLAY_FIFO = 4
#: Submodule instance-name prefixes of each part of the layer (for area reports).
AREA_GROUPS = {"buffer": ("buffer",), "unit": ("unit",), "replay": ("replay",)}


class BufferedLayer(wiring.Component):
    """A BN unit behind a two-channel buffer that replays its passes: the host streams each
    channel's beats once. The base of :class:`BNLayer` (forward) and
    :class:`~l1bn.hdl.bn_backward_layer.BNBackwardLayer`; a subclass builds the unit.

    Parameters
    ----------
    unit : BNUnit or BNBackward
        The unit (elaborated as submodule ``unit``); the layer has its ports and signature.
    buffer_depth : int
        The largest channel, in values (the unit's ``max_batch``); the buffer holds two
        channels of ``ceil(buffer_depth / P)`` beats of the ``x`` payload without ``last`` (an
        ``amaranth.lib.memory.Memory``: block RAM on ECP5 and iCE40;
        :class:`~l1bn.hdl.store.Store`).

    Protocol
    --------
    * ``x``: the unit's ``x`` payload, every channel's beats **once**, in channel order,
      ``ceil(m/P)`` beats, ``last`` on its final beat (the layer counts beats by ``last``; the
      unit checks them against m and sets ``err``). Channel k (since reset) goes to buffer half
      k mod 2 and is taken once the channel k - 2 there has been replayed for its final pass.
    * Every other port is the unit's, connected through (``status`` names the pass the unit
      replays next).

    The layer follows the unit's ``status``: once the channel it names is in the buffer, it
    reads that pass's beats into a :data:`REPLAY_FIFO`-entry FIFO in front of the unit's ``x``;
    the next pass starts once the unit has taken the last beat. Throughput: one beat per cycle
    within a pass, a few cycles between passes; the outputs as the unit's. A channel's first
    pass starts once all of it is in the buffer: the first channel's ``ceil(m/P)`` beats add
    to the unit's cycles; later channels are written while the unit works on the others.
    """

    def __init__(self, unit, buffer_depth):
        layout = unit.x_layout
        if layout["last"].offset != layout.size - 1:
            raise ValueError("the unit's x payload must end with its last flag")
        self._unit = unit
        self.buffer_depth = buffer_depth
        for attr in ("cfg", "formats", "MULTIPLIERS", "lanes", "LATENCY"):
            setattr(self, attr, getattr(unit, attr))
        self.beats = -(-buffer_depth // unit.lanes)
        super().__init__(dict(unit.signature.members))

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = unit = self._unit
        for name, member in self.signature.members.items():
            ours, theirs = getattr(self, name), getattr(unit, name)
            if name == "x":
                continue
            if member.is_signature:
                pair = (wiring.flipped(ours), theirs) if member.flow == In else \
                    (theirs, wiring.flipped(ours))
                wiring.connect(m, *pair)
            else:
                m.d.comb += ours.eq(theirs) if member.flow == Out else theirs.eq(ours)
        word = len(self.x.payload.as_value()) - 1
        m.submodules.buffer = buf = Store(unsigned(word), 2 * self.beats)
        abits = max(1, (self.beats - 1).bit_length())
        full, count = Signal(2), [Signal(abits + 1, name=f"beats{i}") for i in range(2)]
        freed = Signal(2)
        self._write_side(m, buf, abits, full, count, freed)
        self._replay(m, buf, abits, full, count, freed)
        return m

    def _write_side(self, m, buf, abits, full, count, freed):
        """Host beats into half ``k mod 2`` of the buffer, in order; ``full`` once ``last``."""
        half, addr = Signal(name="w_half"), Signal(abits, name="w_addr")
        busy = Mux(half, full[1], full[0])
        m.d.comb += [self.x.ready.eq(~busy), buf.w_en.eq(self.x.valid & ~busy),
                     buf.w_data.eq(self.x.payload.as_value()[:-1]),
                     buf.w_addr.eq(half * self.beats + addr)]
        with m.If(self.x.valid & ~busy):
            m.d.sync += addr.eq(addr + 1)
            with m.If(self.x.payload.last):
                m.d.sync += [addr.eq(0), half.eq(~half)]
                for i in range(2):
                    with m.If(half == i):
                        m.d.sync += [full[i].eq(1), count[i].eq(addr + 1)]
        for i in range(2):
            with m.If(freed[i]):
                m.d.sync += full[i].eq(0)

    def _replay(self, m, buf, abits, full, count, freed):
        """Read the pass ``status`` names into the FIFO before the unit's ``x``."""
        unit, st = self._unit, self._unit.status
        fifo = SyncFIFOBuffered(width=len(buf.r_data) + 1, depth=REPLAY_FIFO)
        m.submodules.replay = fifo
        half = st.ctx
        ready = st.valid & Mux(half, full[1], full[0])
        n = Mux(half, count[1], count[0])
        active, waiting = Signal(name="replay_active"), Signal(name="replay_wait")
        r, inflight, last_rd = Signal(abits + 1, name="r_addr"), Signal(), Signal()
        final = Signal(name="replay_final")
        # A read issued now is written next cycle, into at most level + inflight entries.
        room = fifo.w_level + inflight < REPLAY_FIFO
        issue = active & room
        m.d.comb += [buf.r_en.eq(1),
                     buf.r_addr.eq(half * self.beats + r[:abits]),
                     fifo.w_en.eq(inflight), fifo.w_data.eq(Cat(buf.r_data, last_rd))]
        m.d.sync += [inflight.eq(issue), last_rd.eq(r + 1 == n)]
        with m.If(~active & ~waiting & ready):
            m.d.sync += [active.eq(1), r.eq(0), final.eq(st["pass"] == Pass.FINAL)]
        with m.If(issue):
            m.d.sync += r.eq(r + 1)
            with m.If(r + 1 == n):
                m.d.sync += [active.eq(0), waiting.eq(1)]
        p = unit.x.payload
        m.d.comb += [unit.x.valid.eq(fifo.r_rdy), fifo.r_en.eq(unit.x.ready),
                     p.as_value().eq(fifo.r_data)]
        done = unit.x.valid & unit.x.ready & p.last
        with m.If(done):
            m.d.sync += waiting.eq(0)
        m.d.comb += freed.eq(Mux(done & final, 1 << half, 0))


class BNLayer(BufferedLayer):
    """Forward BN layer (L1BN or L2BN), training and inference, P lanes, one stream per side:
    the forward unit (:class:`~l1bn.hdl.bn_unit.BNUnit`) in a :class:`BufferedLayer`.

    Parameters
    ----------
    norm, stats, width, frac, lanes, guard, alpha, eps, stats_out
        As :class:`~l1bn.hdl.bn_unit.BNUnit`'s.
    buffer_depth : int
        The largest channel, in values (:class:`BufferedLayer`).

    Ports: the unit's ``channel``, ``x`` (``{data: ArrayLayout(signed(W), P), last}``, each
    channel once), ``y``, ``stats``, ``err`` and ``status``.
    """

    def __init__(self, *, norm, stats="two-pass", width=16, frac=8, lanes=1, buffer_depth=1024,
                 guard=8, alpha=None, eps=None, stats_out=None):
        depth = check_int("buffer_depth", buffer_depth, 1, 1 << 20)
        super().__init__(BNUnit(norm=norm, stats=stats, width=width, frac=frac, lanes=lanes,
                                max_batch=depth, guard=guard, alpha=alpha, eps=eps,
                                stats_out=stats_out), depth)


BLOCK = BlockSpec(BNLayer, ("norm", "stats", "width", "frac", "lanes", "buffer_depth", "guard",
                            "alpha", "eps", "stats_out"),
                  defaults={"stats": "two-pass", "width": 16, "frac": 8, "lanes": 1,
                            "buffer_depth": 1024, "guard": 8, "alpha": None, "eps": None,
                            "stats_out": None},
                  bounds={"buffer_depth": Int(1, 1 << 20),
                          "stats_out": UNIT_BLOCK.bound("stats_out")},
                  summary="single-stream forward BN layer: the forward unit behind a "
                          "two-channel buffer (block RAM) that replays its passes")

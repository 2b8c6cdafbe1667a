"""A single-stream forward BN layer: the forward unit behind a two-channel buffer that replays
its passes, so that the host streams each channel's values once and receives y once.

Bit for bit the forward unit (:class:`l1bn.hdl.bn_unit.BNUnit`, :mod:`l1bn.golden.bn_forward`).
"""

from amaranth import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from l1bn.golden.fixed import check_int

from .block import BlockSpec, Int
from .bn_skeleton import Pass
from .bn_unit import BLOCK as UNIT_BLOCK, BNUnit
from .store import Store

__all__ = ["BNLayer", "AREA_GROUPS", "REPLAY_FIFO"]

#: Entries of the FIFO between the buffer's read port and the unit's ``x``.
REPLAY_FIFO = 4
#: Submodule instance-name prefixes of each part of the layer (for area reports).
AREA_GROUPS = {"buffer": ("buffer",), "unit": ("unit",), "replay": ("replay",)}


class BNLayer(wiring.Component):
    """Forward BN layer (L1BN or L2BN), training and inference, P lanes, one stream per side.

    Parameters
    ----------
    norm, stats, width, frac, lanes, guard, alpha, eps, stats_out
        As :class:`~l1bn.hdl.bn_unit.BNUnit`'s.
    buffer_depth : int
        The largest channel, in values (the unit's ``max_batch``); the buffer holds two
        channels of ``ceil(buffer_depth / P)`` beats (an ``amaranth.lib.memory.Memory``: block
        RAM on ECP5 and iCE40; :class:`~l1bn.hdl.store.Store`).

    Protocol
    --------
    * ``channel``: the unit's descriptors (passed through; :class:`~l1bn.hdl.bn_unit.BNUnit`).
    * ``x``: payload ``{data: ArrayLayout(signed(W), P), last}``: every channel's m values
      **once**, in channel order, ``ceil(m/P)`` beats, ``last`` on its final beat (the layer
      counts beats by ``last``; the unit checks them against m and sets ``err``). Channel k
      (since reset) goes to buffer half k mod 2 and is taken once the channel k - 2 there has
      been replayed for its final pass.
    * ``y``, ``stats``, ``err``, ``status``: the unit's (``status`` names the pass the unit
      replays next).

    The layer follows the unit's ``status``: once the channel it names is in the buffer, it
    reads that pass's beats into a :data:`REPLAY_FIFO`-entry FIFO in front of the unit's ``x``;
    the next pass starts once the unit has taken the last beat. Throughput: one beat per cycle
    within a pass, a few cycles between passes; ``y`` as the unit's.
    """

    def __init__(self, *, norm, stats="two-pass", width=16, frac=8, lanes=1, buffer_depth=1024,
                 guard=8, alpha=None, eps=None, stats_out=None):
        self.buffer_depth = check_int("buffer_depth", buffer_depth, 1, 1 << 20)
        self._unit = BNUnit(norm=norm, stats=stats, width=width, frac=frac, lanes=lanes,
                            max_batch=buffer_depth, guard=guard, alpha=alpha, eps=eps,
                            stats_out=stats_out)
        u = self._unit
        for attr in ("cfg", "formats", "MULTIPLIERS", "lanes"):
            setattr(self, attr, getattr(u, attr))
        self.LATENCY = u.LATENCY
        self.beats = -(-self.buffer_depth // u.lanes)
        super().__init__({
            "channel": In(stream.Signature(u.channel_layout)),
            "x": In(stream.Signature(u.x_layout)),
            "y": Out(stream.Signature(u.y_layout)),
            "stats": Out(stream.Signature(u.stats_layout)),
            "err": Out(1),
            "status": Out(u.status.shape()),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = unit = self._unit
        wiring.connect(m, wiring.flipped(self.channel), unit.channel)
        wiring.connect(m, unit.y, wiring.flipped(self.y))
        wiring.connect(m, unit.stats, wiring.flipped(self.stats))
        m.d.comb += [self.err.eq(unit.err), self.status.eq(unit.status)]
        word = len(self.x.payload.data.as_value())
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
                     buf.w_data.eq(self.x.payload.data.as_value()),
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
        room = fifo.w_level + inflight < REPLAY_FIFO - 1
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
                     p.data.as_value().eq(fifo.r_data[:-1]), p.last.eq(fifo.r_data[-1])]
        done = unit.x.valid & unit.x.ready & p.last
        with m.If(done):
            m.d.sync += waiting.eq(0)
        m.d.comb += freed.eq(Mux(done & final, 1 << half, 0))


BLOCK = BlockSpec(BNLayer, ("norm", "stats", "width", "frac", "lanes", "buffer_depth", "guard",
                            "alpha", "eps", "stats_out"),
                  defaults={"stats": "two-pass", "width": 16, "frac": 8, "lanes": 1,
                            "buffer_depth": 1024, "guard": 8, "alpha": None, "eps": None,
                            "stats_out": None},
                  bounds={"buffer_depth": Int(1, 1 << 20),
                          "stats_out": UNIT_BLOCK.bound("stats_out")},
                  summary="single-stream forward BN layer: the forward unit behind a "
                          "two-channel buffer (block RAM) that replays its passes")

"""A memory in a module of its own, so that area reports see it: one write port and one
synchronous read port (:class:`Store`)."""

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from l1bn.golden.fixed import clog2

__all__ = ["Store"]


class Store(wiring.Component):
    """A :class:`~amaranth.lib.memory.Memory` of ``depth`` entries of ``shape``: block RAM or
    distributed RAM on an FPGA, flip-flops on a cell library without RAM macros.

    Members: ``w_en``, ``w_addr``, ``w_data`` (written at the clock edge); ``r_en``, ``r_addr``,
    ``r_data`` (the entry at ``r_addr`` one cycle later, held while ``r_en`` is low; not
    transparent: a read in the cycle of a write to its address returns the old entry). The
    contents are undefined until written (0 on an FPGA after configuration); reset does not
    clear them.
    """

    def __init__(self, shape, depth):
        self._shape, self._depth = shape, depth
        abits = max(1, clog2(depth))
        super().__init__({"w_en": In(1), "w_addr": In(abits), "w_data": In(shape),
                          "r_en": In(1), "r_addr": In(abits), "r_data": Out(shape)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = Memory(shape=self._shape, depth=self._depth, init=[])
        wr, rd = mem.write_port(), mem.read_port()
        m.d.comb += [wr.en.eq(self.w_en), wr.addr.eq(self.w_addr), wr.data.eq(self.w_data),
                     rd.en.eq(self.r_en), rd.addr.eq(self.r_addr), self.r_data.eq(rd.data)]
        return m

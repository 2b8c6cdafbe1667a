"""Integer square root, one result bit per cycle: the L2BN per-channel ``sqrt(var + eps)``."""

from amaranth import C, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from l1bn.golden.fixed import check_int
from l1bn.golden.isqrt import formats

from .block import BlockSpec
from .sequencer import sequence

__all__ = ["Isqrt"]


class Isqrt(wiring.Component):
    """``root = floor(sqrt(radicand))`` by the non-restoring digit-by-digit method, one bit per cycle.

    Algorithm (non-restoring, radix 2; Li and Chu, 1996): the radicand is zero-extended to ``2R``
    bits, ``R = ceil(width/2)``. Step ``k`` brings down the next two radicand bits ``b`` and
    updates the signed partial remainder ``rem = 4*rem + b - (4*root + 1)`` if ``rem >= 0``, else
    ``rem = 4*rem + b + (4*root + 3)``; the new root bit is ``rem >= 0``. Both cases are one
    ``(R + 2)``-bit adder: the addend is ``{~root, 11}`` or ``{root, 11}``, no carry-in and no
    restoring multiplexer. The root needs no final correction (only the remainder would, and it is
    not an output). Between steps ``rem`` fits ``R + 1`` signed bits; the last step's only needs
    its sign. The first step works on the input payload directly (``rem = root = 0``), during the
    load cycle.

    Fixed-point use: the root of a ``UQ(width, 2f)`` value is the ``UQ(R, f)`` code (truncated:
    error in ``[0, 1)`` LSB, see :mod:`l1bn.golden.isqrt`); e.g. ``sqrt(var + eps)`` of a ``2f``-fraction
    variance. Golden model: :func:`l1bn.golden.isqrt.isqrt`.

    Parameters
    ----------
    width : int
        Radicand width, ``>= 2``.

    Members
    -------
    i : ``In(stream.Signature(StructLayout({"radicand": unsigned(width)})))``
        The radicand.
    o : ``Out(stream.Signature(StructLayout({"root": unsigned(ceil(width/2))})))``
        The root, held until taken.

    Latency: ``o.valid`` rises ``LATENCY = ceil(width/2)`` cycles after the input handshake
    (``R`` steps, the first in the load cycle). Throughput: one root per ``LATENCY`` cycles;
    ``i.ready = idle & (~o.valid | o.ready)`` (combinational in ``o.ready``), so the next
    radicand is taken in the cycle the previous root is taken.
    """

    def __init__(self, *, width):
        self.width = check_int("width", width, 2)
        self.formats = formats(width)
        self.root_width = self.formats["root"].width
        self.LATENCY = self.CYCLES_PER_RESULT = self.root_width
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({"radicand": unsigned(width)}))),
            "o": Out(stream.Signature(data.StructLayout({"root": unsigned(self.root_width)}))),
        })

    def elaborate(self, platform):
        m = Module()
        r = self.root_width
        load, busy, _ = sequence(m, self.i, self.o, r - 1)
        rad = Signal(2 * r)           # radicand bits not yet brought down, left-aligned
        rem = Signal(signed(r + 1))   # partial remainder between steps
        root = Signal(r)
        # Step inputs: the payload during the load cycle, the registers afterwards.
        src_rad = Mux(load, self.i.payload.radicand, rad)
        src_rem = Mux(load, 0, rem)
        src_root = Mux(load, 0, root)
        neg = src_rem[-1]
        # 4*rem + b and the addend -(4*root + 1) = {~root, 11} or 4*root + 3 = {root, 11}. After
        # step k, rem = D - root**2 >= 0 (<= 2*root) or D - (root + 1)**2 < 0 (>= -(2*root + 1)),
        # D the radicand's top 2k bits: |rem| < 2**(k+1), so r + 2 bits (modulo 2**(r+2)) hold it.
        shifted = Signal(r + 2)
        addend = Signal(r + 2)
        total = Signal(signed(r + 2))
        m.d.comb += [
            shifted.eq(Cat(src_rad[2 * r - 2:], src_rem[:r])),
            addend.eq(Cat(C(3, 2), src_root ^ (~neg).replicate(r))),
            total.eq(shifted + addend),
        ]
        with m.If(load | busy):
            m.d.sync += [
                rad.eq(Cat(C(0, 2), src_rad[:2 * r - 2])),
                rem.eq(total[:r + 1]),
                root.eq(Cat(~total[-1], src_root[:r - 1])),
            ]
        m.d.comb += self.o.payload.root.eq(root)
        return m


BLOCK = BlockSpec(Isqrt, ("width",), defaults={"width": 16},
                  summary="floor(sqrt(n)), non-restoring, one root bit per cycle (L2BN only)")

"""Sequential (shift-and-add) signed multiplier for the units' per-channel products."""

from amaranth import C, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.fixed import check_int

from .sequencer import sequence

__all__ = ["SerialMultiplier"]


class SerialMultiplier(wiring.Component):
    """Exact ``p = a * b`` (or ``-(a * b)`` with ``neg``) of two two's-complement values, one bit
    of ``b`` per cycle.

    For per-channel constants, where a full-width array multiplier would be large and slow and
    its throughput unused: the adder is only ``a_width + 1`` bits wide (give the narrower
    operand as ``a``), and nothing wider than an increment is on any path.

    Algorithm: the load cycle takes ``|a|``, ``|b|`` and the product's sign; then ``b_width``
    steps each add ``|a|`` (if the next bit of ``|b|`` is 1) to the high half of the partial
    product and shift the whole right by one (the classic shift-and-add, LSB first); a last
    cycle applies the sign into the output register. Exact, no rounding: ``p`` has
    ``a_width + b_width`` bits, which hold every product (``|p| <= 2**(a_width + b_width - 2)``).

    Parameters
    ----------
    a_width, b_width : int
        Widths of ``a`` and ``b``, both ``>= 2``.

    Members
    -------
    i : ``In(stream.Signature(StructLayout({"a": signed(a_width), "b": signed(b_width),
        "neg": 1})))``
        Factors; ``neg`` negates the product (for free: it flips the sign applied at the end).
    o : ``Out(stream.Signature(StructLayout({"p": signed(a_width + b_width)})))``
        The product, held until taken.

    Latency: ``o.valid`` rises ``LATENCY = b_width + 2`` cycles after the input handshake.
    Throughput: one product per ``LATENCY`` cycles; ``i.ready = idle & (~o.valid | o.ready)``
    (:func:`hdl.sequencer.sequence`).
    """

    def __init__(self, *, a_width, b_width):
        self.a_width = check_int("a_width", a_width, 2)
        self.b_width = check_int("b_width", b_width, 2)
        self.LATENCY = self.CYCLES_PER_RESULT = b_width + 2
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({"a": signed(a_width),
                                                        "b": signed(b_width), "neg": 1}))),
            "o": Out(stream.Signature(data.StructLayout({"p": signed(a_width + b_width)}))),
        })

    def elaborate(self, platform):
        m = Module()
        aw, bw = self.a_width, self.b_width
        load, busy, last = sequence(m, self.i, self.o, bw + 1)
        a, b = self.i.payload.a, self.i.payload.b
        mag_a = Signal(unsigned(aw), name="mag_a")     # |a| <= 2**(aw-1) fits aw bits
        hi = Signal(unsigned(aw), name="hi")           # high half of the partial product
        lo = Signal(unsigned(bw), name="lo")           # remaining bits of |b|, low product bits
        neg = Signal(name="neg")
        with m.If(load):
            m.d.sync += [mag_a.eq(Mux(a[-1], -a, a)), hi.eq(0), lo.eq(Mux(b[-1], -b, b)),
                         neg.eq(a[-1] ^ b[-1] ^ self.i.payload.neg)]
        # hi < |a| before each step, so hi + |a| < 2**aw: aw + 1 bits.
        total = Signal(unsigned(aw + 1), name="total")
        m.d.comb += total.eq(hi + Mux(lo[0], mag_a, C(0, aw)))
        with m.If(busy & ~last):
            m.d.sync += [hi.eq(total[1:]), lo.eq(Cat(lo[1:], total[0]))]
        prod = Cat(lo, hi)
        with m.If(last):
            m.d.sync += self.o.payload.p.eq(Mux(neg, -prod, prod))
        return m

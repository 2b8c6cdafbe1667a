"""Sequential (shift-and-add) signed multiplier for the units' per-channel products."""

from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from l1bn.golden.fixed import check_int

from .sequencer import sequence

__all__ = ["SerialMultiplier"]


class SerialMultiplier(wiring.Component):
    """Exact ``p = a * b`` (or ``-(a * b)`` with ``neg``) of two two's-complement values, one bit
    of ``b`` per cycle.

    For per-channel constants, where a full-width array multiplier would be large and slow and
    its throughput unused: the adder is only ``a_width + 2`` bits wide (give the narrower
    operand as ``a``) and no wide carry chain is on any path.

    Algorithm (signed shift-and-add, LSB first, no magnitudes): the load cycle registers the
    factors; then ``b_width`` steps each add ``a`` (or subtract it, for the sign bit of ``b``,
    whose weight is negative; ``neg`` swaps add and subtract) to the high half of the partial
    product when the next bit of ``b`` is 1, and shift the whole right arithmetically. The
    partial product's registers are the output (no copy): they hold still until the product is
    taken. The only adder is an ``a_width + 2``-bit add/subtract. Exact, no rounding: ``p`` has ``a_width + b_width`` bits,
    which hold every product (``|p| <= 2**(a_width + b_width - 2)``).

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

    Latency: ``o.valid`` rises ``LATENCY = b_width + 1`` cycles after the input handshake.
    Throughput: one product per ``LATENCY`` cycles; ``i.ready = idle & (~o.valid | o.ready)``
    (:func:`l1bn.hdl.sequencer.sequence`).
    """

    def __init__(self, *, a_width, b_width):
        try:
            self.a_width = check_int("a_width", a_width, 2)
            self.b_width = check_int("b_width", b_width, 2)
        except ValueError:
            self._MustUse__silence = True   # never built: no "created but never used" warning
            raise
        self.LATENCY = self.CYCLES_PER_RESULT = b_width + 1
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({"a": signed(a_width),
                                                        "b": signed(b_width), "neg": 1}))),
            "o": Out(stream.Signature(data.StructLayout({"p": signed(a_width + b_width)}))),
        })

    def elaborate(self, platform):
        m = Module()
        aw, bw = self.a_width, self.b_width
        load, busy, _last = sequence(m, self.i, self.o, bw)
        a_r = Signal(signed(aw), name="a_r")
        hi = Signal(signed(aw + 2), name="hi")         # high part of the partial product
        lo = Signal(unsigned(bw), name="lo")           # remaining bits of b, low product bits
        neg = Signal(name="neg")
        left = Signal(range(bw), name="steps_left")    # steps after this one
        with m.If(load):
            m.d.sync += [a_r.eq(self.i.payload.a), hi.eq(0), lo.eq(self.i.payload.b),
                         neg.eq(self.i.payload.neg), left.eq(bw - 1)]
        # Step k adds lo[0] * a * 2**k (the sign bit, k = bw - 1, subtracts), so after bw
        # steps {hi, lo} = a * b. |hi| <= |a| before a step: the sum fits aw + 2 bits.
        sub = neg ^ ~left.any()
        total = Signal(signed(aw + 2), name="total")
        m.d.comb += total.eq(Mux(lo[0], Mux(sub, hi - a_r, hi + a_r), hi))
        with m.If(busy):
            m.d.sync += [hi.eq(total >> 1), lo.eq(Cat(lo[1:], total[0]))]
            with m.If(left.any()):
                m.d.sync += left.eq(left - 1)
        m.d.comb += self.o.payload.p.eq(Cat(lo, hi).as_signed())
        return m

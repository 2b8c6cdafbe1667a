"""Fixed-point division, one quotient bit per cycle: the batch mean and ``1 / (sigma + eps)``."""

from amaranth import C, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from l1bn.golden.divider import formats

from .block import BlockSpec, Int
from .sequencer import sequence

__all__ = ["Divider"]


class Divider(wiring.Component):
    """``quot = round(num * 2**shift / den)``, saturated, by sequential radix-2 restoring division.

    Formats (:func:`l1bn.golden.divider.formats`): ``num = Q(width, frac)`` signed (unsigned with
    ``num_signed=False``),
    ``den = UQ(den_width, den_frac)`` unsigned, ``quot = Q(quot_width, quot_frac)`` signed;
    ``shift = quot_frac + den_frac - frac >= 0`` makes the codes' quotient the real quotient. The
    defaults (``None``) are ``den = UQ(width, frac)`` and ``quot = Q(width, frac)``: division in one
    format (``shift = frac``), e.g. ``1 / (sigma + eps)`` with ``num`` = 1.0. The batch mean
    ``sum / m`` takes ``den_frac = 0`` (an integer count) and ``width`` = the sum's width.

    Rounding: to nearest, ties away from zero (the magnitude is rounded half up, then the sign is
    applied): ``|quot - num * 2**shift / den| <= 1/2`` LSB when ``sat`` is 0. Saturation: a result
    outside ``quot`` becomes ``quot``'s most positive or most negative code with ``sat = 1``;
    ``den = 0`` gives the most positive code for ``num >= 0`` and the most negative for
    ``num < 0``, with ``sat = 1``. Golden model: :func:`l1bn.golden.divider.divide`.

    Algorithm (``Q = quot_width``, ``A = |num| * 2**shift``): the unit computes
    ``k = floor(2*A / den)`` to ``Q + 1`` bits and rounds with ``(k + 1) >> 1``, which equals
    ``floor(A / den + 1/2)``. Load cycle: ``|num|``, the overflow test ``A >> Q >= den`` (then
    ``k >= 2**(Q+1)``: the result saturates; also true for ``den = 0``) and the first partial
    remainder ``A >> Q``. Then ``Q + 1`` restoring steps, one quotient bit each
    (a ``(den_width + 1)``-bit subtractor whose borrow is the quotient bit), and one cycle that
    rounds, applies the sign and saturates into the output register.

    Parameters
    ----------
    width, frac : int
        Numerator format ``Q(width, frac)``; ``width >= 2``.
    den_width, den_frac : int or None
        Denominator format ``UQ(den_width, den_frac)``; default ``width``, ``frac``.
    quot_width, quot_frac : int or None
        Quotient format ``Q(quot_width, quot_frac)``; default ``width``, ``frac``;
        ``quot_width >= 2``.

    Members
    -------
    i : ``In(stream.Signature(StructLayout({"num": signed(width), "den": unsigned(den_width)})))``
        Numerator (``unsigned(width)`` with ``num_signed=False``) and denominator.
    o : ``Out(stream.Signature(StructLayout({"quot": signed(quot_width), "sat": 1})))``
        Quotient and saturation flag, held until taken.

    split_load : bool
        Spread the load cycle's long paths over four cycles, for wide numerators: register the
        inputs, form ``|num|`` in two halves (low half and its carry, then the high half), then
        the overflow test and the first remainder. Three more cycles of latency. Default False.
        Only for a signed numerator (``ValueError`` otherwise: there is no ``|num|`` to split).
    num_signed : bool
        ``num`` is two's complement (default); False: unsigned, ``UQ(width, frac)``, for a
        numerator known to be non-negative (a sum of magnitudes or squares): no sign, no
        ``|num|``, and the load cycle is only the overflow compare.

    Latency: ``o.valid`` rises ``LATENCY = quot_width + 3`` cycles after the input handshake (load,
    ``quot_width + 1`` steps, round), three more with ``split_load``. Throughput: one quotient per ``LATENCY`` cycles;
    ``i.ready = idle & (~o.valid | o.ready)`` (combinational in ``o.ready``), so the next input is
    taken in the cycle the previous result is taken.
    """

    def __init__(self, *, width, frac, den_width=None, den_frac=None, quot_width=None,
                 quot_frac=None, split_load=False, num_signed=True):
        self.formats, self.shift = formats(width, frac, den_width, den_frac, quot_width, quot_frac,
                                           num_signed)
        self.num_signed = bool(num_signed)
        if split_load and not self.num_signed:
            self._MustUse__silence = True   # never built: no "created but never used" warning
            raise ValueError("split_load needs a signed numerator (num_signed=True): an unsigned "
                             "one has no |num| to split")
        self.num_width = self.formats["num"].width
        self.den_width = self.formats["den"].width
        self.quot_width = self.formats["quot"].width
        self.split_load = bool(split_load)
        self.LATENCY = self.CYCLES_PER_RESULT = self.quot_width + 3 + 3 * self.split_load
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({
                "num": signed(self.num_width) if self.num_signed else unsigned(self.num_width),
                "den": unsigned(self.den_width)}))),
            "o": Out(stream.Signature(data.StructLayout({
                "quot": signed(self.quot_width), "sat": 1}))),
        })

    def elaborate(self, platform):
        m = Module()
        q, dw, s = self.quot_width, self.den_width, self.shift
        split = self.split_load
        load, busy, last = sequence(m, self.i, self.o, q + 2 + 3 * split)
        num, den = self.i.payload.num, self.i.payload.den

        # Load: sign, magnitude (num itself when unsigned), the dividend 2*A split into its high
        # part A >> Q (the first partial remainder) and its Q + 1 low bits (shifted in, one per
        # step). With split_load the inputs are registered, |num| = (num ^ s) + s is formed in
        # two halves over the next two cycles, and the rest happens in the third (``start``).
        nw = self.num_width
        dividend = Signal(nw + s + 1)
        if split:
            num_r = Signal(signed(nw), name="num_r")
            den_r = Signal(dw, name="den_r")
            with m.If(load):
                m.d.sync += [num_r.eq(num), den_r.eq(den)]
            d1, d2, start = Signal(name="neg_lo"), Signal(name="neg_hi"), Signal(name="prep")
            m.d.sync += [d1.eq(load), d2.eq(d1), start.eq(d2)]
            neg_in = num_r[-1]
            h = nw // 2
            flipped = num_r.as_unsigned() ^ neg_in.replicate(nw)
            low = Signal(h + 1, name="mag_low")         # low half of |num| and its carry
            high_pre = Signal(nw - h, name="mag_high_pre")
            mag_r = Signal(nw, name="mag_r")
            with m.If(d1):
                m.d.sync += [low.eq(flipped[:h] + neg_in), high_pre.eq(flipped[h:])]
            with m.If(d2):
                m.d.sync += mag_r.eq(Cat(low[:h], high_pre + low[h]))
            den = den_r
            m.d.comb += dividend.eq(Cat(C(0, s + 1), mag_r))
        else:
            start = load
            mag_in = Signal(nw)
            if self.num_signed:
                neg_in = num[-1]
                m.d.comb += mag_in.eq(Mux(neg_in, -num, num))
            else:
                neg_in = C(0, 1)
                m.d.comb += mag_in.eq(num)
            m.d.comb += dividend.eq(Cat(C(0, s + 1), mag_in))
        high = dividend[q + 1:]
        neg, ovf = Signal(), Signal()
        # high >= den, compared at equal widths (the wider operand's extra bits tested apart).
        hw = len(high)
        if hw == 0:
            too_big = ~den.any()
        elif hw < dw:
            too_big = ~den[hw:].any() & (high >= den[:hw])
        else:
            too_big = high[dw:].any() | (high[:dw] >= den)
        divisor = Signal(dw)
        rem = Signal(dw)          # partial remainder, < divisor unless ovf
        bits = Signal(q + 1)      # dividend bits still to bring down, then the quotient bits k
        with m.If(start):
            m.d.sync += [
                neg.eq(neg_in),
                ovf.eq(too_big),
                divisor.eq(den),
                rem.eq(high),
                bits.eq(dividend[:q + 1]),
            ]

        # Steps: bring down the next bit; subtract the divisor when it fits (quotient bit 1).
        # trial - divisor lies in (-divisor, divisor): dw + 1 bits, the top one the borrow.
        trial = Signal(dw + 1)
        diff = Signal(dw + 1)
        m.d.comb += [
            trial.eq(Cat(bits[-1], rem)),
            diff.eq(trial - divisor),
        ]
        fits = ~diff[-1]
        with m.If(busy & ~last & ~start):
            m.d.sync += [
                rem.eq(Mux(fits, diff, trial)),
                bits.eq(Cat(fits, bits[:-1])),
            ]

        # Last busy cycle: round (k + 1) >> 1, apply the sign, saturate.
        mag = Signal(q + 1)
        m.d.comb += mag.eq(bits[1:] + bits[0])
        # mag <= 2**q; it fits if below 2**(q-1), or equal to it with a negative sign.
        over_half = mag[q] | mag[q - 1]
        sat = Signal()
        m.d.comb += sat.eq(ovf | Mux(neg, mag[q] | (mag[q - 1] & mag[:q - 1].any()), over_half))
        quot = Mux(sat, Mux(neg, -(1 << (q - 1)), (1 << (q - 1)) - 1), Mux(neg, -mag, mag))
        with m.If(last):
            m.d.sync += [self.o.payload.quot.eq(quot), self.o.payload.sat.eq(sat)]
        return m


BLOCK = BlockSpec(Divider, ("width", "frac", "den_width", "den_frac", "quot_width", "quot_frac"),
                  defaults={"width": 16, "frac": 8, "den_width": None, "den_frac": None,
                            "quot_width": None, "quot_frac": None},
                  summary="round(n * 2^shift / d), saturated, restoring, one quotient bit per cycle",
                  bounds={"den_width": Int(2, 64),
                          "den_frac": Int(0, ("den_width", -1, ("width", -1))),
                          "quot_width": Int(2, 64),
                          "quot_frac": Int(0, ("quot_width", -1, ("width", -1)))})

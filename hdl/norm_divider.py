"""Quotient with relative precision, ``num / den ~ mant * 2**-exp``: the per-channel scales."""

from amaranth import C, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from l1bn.golden.fixed import check_int, clog2
from l1bn.golden.norm_divider import exp_range

from .block import BlockSpec, Int
from .sequencer import sequence

__all__ = ["NormDivider", "exp_width"]


def exp_width(num_width, den_width, mant_width):
    """The fewest bits (signed) holding every exponent of :func:`l1bn.golden.norm_divider.exp_range`."""
    lo, hi = exp_range(num_width, den_width, mant_width)
    return max((v if v >= 0 else ~v).bit_length() for v in (lo, hi)) + 1


class NormDivider(wiring.Component):
    """``mant = round_half_up(num * 2**exp / den)`` in ``[2**(mant_width-1), 2**mant_width)``,
    with the one exponent ``exp`` that puts it there; sequential restoring division.

    ``num`` and ``den`` are unsigned integers. One rounding (to nearest, ties up): the relative
    error of ``mant * 2**-exp`` is at most ``2**-mant_width``. ``num = 0`` gives ``mant = 0``,
    ``exp = 0``, ``inf = 0``; ``den = 0 < num`` (an infinite quotient) gives ``mant = 0``,
    ``exp = 0``, ``inf = 1``. ``exp`` lies in :func:`l1bn.golden.norm_divider.exp_range`,
    ``[mant_width - 1 - num_width, mant_width + den_width - 1]``. Golden model:
    :func:`l1bn.golden.norm_divider.norm_div`. In the BN units ``num`` and ``den`` are sums and
    spreads of up to ~60 bits and ``mant_width`` is 18.

    Algorithm (``K = max(num_width, den_width)``, ``S = clog2(K)``, ``M = mant_width``). Load
    cycle: both operands into ``K``-bit registers. ``S`` normalize cycles, shifts of
    ``2**(S-1), ..., 2, 1``: each operand is shifted left by the cycle's amount when its top
    bits that many are zero, and the shift is recorded as one bit of its shift count
    (``sn``, ``sd``); after them both leading ones sit at bit ``K - 1`` (a non-zero operand):
    ``num_n = num * 2**sn``, ``den_n = den * 2**sd``, so ``num_n / den_n`` is in ``(1/2, 2)``.
    ``M + 2`` restoring steps (a ``(K + 1)``-bit subtractor whose borrow is the quotient bit)
    give ``q = floor(num_n * 2**(M+1) / den_n)``, whose top bit is ``ge = num_n >= den_n``.
    The last cycle rounds: ``k = q >> ge`` (``floor(2 * num_n * 2**(M-ge) / den_n)``, in
    ``[2**M, 2**(M+1))``), ``mant = (k + 1) >> 1``, and
    ``exp = M - 1 + sn - sd + (1 - ge)``; a mantissa rounded up to ``2**M`` (``k`` all ones)
    becomes ``2**(M-1)`` with ``exp - 1``.

    Parameters
    ----------
    num_width, den_width : int
        Widths of the unsigned numerator and denominator, ``>= 1``. As the registered block
        ``norm_divider``: ``width`` and ``den_width`` (default ``width``).
    mant_width : int
        Width of the mantissa, ``>= 1``.

    Members
    -------
    i : ``In(stream.Signature(StructLayout({"num": unsigned(num_width), "den": unsigned(den_width)})))``
        Numerator and denominator.
    o : ``Out(stream.Signature(StructLayout({"mant": unsigned(mant_width), "exp": signed(exp_width), "inf": 1})))``
        Mantissa, exponent and the infinite-quotient flag, held until taken.

    exp_width : int
        The fewest bits holding every exponent in :func:`l1bn.golden.norm_divider.exp_range`
        (8 for 60-bit operands and an 18-bit mantissa).

    Latency: ``o.valid`` rises ``LATENCY = clog2(max(num_width, den_width)) + mant_width + 4``
    cycles after the input handshake (load, ``S`` normalize cycles, ``mant_width + 2`` steps,
    round): 28 for 60-bit operands and an 18-bit mantissa. Throughput: one quotient per
    ``LATENCY`` cycles; ``i.ready = idle & (~o.valid | o.ready)`` (combinational in
    ``o.ready``), so the next input is taken in the cycle the previous result is taken.
    """

    def __init__(self, *, num_width, den_width, mant_width):
        try:
            self.num_width = check_int("num_width", num_width, 1)
            self.den_width = check_int("den_width", den_width, 1)
            self.mant_width = check_int("mant_width", mant_width, 1)
        except ValueError:
            self._MustUse__silence = True   # never built: no "created but never used" warning
            raise
        self.exp_width = exp_width(num_width, den_width, mant_width)
        self._norm_stages = clog2(max(num_width, den_width))
        self.LATENCY = self.CYCLES_PER_RESULT = self._norm_stages + mant_width + 4
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({
                "num": unsigned(num_width), "den": unsigned(den_width)}))),
            "o": Out(stream.Signature(data.StructLayout({
                "mant": unsigned(mant_width), "exp": signed(self.exp_width), "inf": 1}))),
        })

    def elaborate(self, platform):
        m = Module()
        mw, s = self.mant_width, self._norm_stages
        k = max(self.num_width, self.den_width)
        load, busy, last = sequence(m, self.i, self.o, s + mw + 3)

        # One-hot phase: bit j (j < s) the normalize stage j, bit s (kept) the division steps.
        stage = Signal(s + 1)
        dividing = stage[s]
        m.d.sync += stage.eq(Mux(load, 1, Cat(C(0, 1), stage[:s]) | Cat(C(0, s), dividing)))

        # Normalize: stage j shifts an operand by 2**(s-1-j) when its top bits that many are zero,
        # and sets that bit of its shift count. Each register is written through one enable
        # with a value that does not hold its own output: the emitted Verilog stays lint-clean.
        rem = Signal(k + 1)        # num, normalized, then the partial remainder (shifted left)
        den = Signal(k)            # den, normalized: its top bit is 0 only when den is zero
        num_zero = Signal()
        sn, sd = Signal(s), Signal(s)
        with m.If(load):
            m.d.sync += num_zero.eq(~self.i.payload.num.any())
        shift_den, den_shifted = _normalize(m, stage, den, sd)
        with m.If(load | shift_den):
            m.d.sync += den.eq(Mux(load, self.i.payload.den, den_shifted))

        # Steps: subtract den_n when it fits (quotient bit 1), then double. The first trial is
        # num_n itself (its quotient bit: num_n >= den_n); every trial is below 2 * den_n, so
        # trial - den_n lies in (-den_n, den_n): k + 1 bits, the top one the borrow. The steps
        # run on after the last one (the round uses q in the last busy cycle).
        q = Signal(mw + 2)
        diff = Signal(k + 1)
        m.d.comb += diff.eq(rem - den)
        fits = ~diff[-1]
        step = Cat(C(0, 1), Mux(fits, diff[:k], rem[:k]))
        m.d.sync += q.eq(Cat(fits, q[:-1]))
        shift_num, num_shifted = _normalize(m, stage, rem[:k], sn)
        with m.If(load | dividing | shift_num):
            m.d.sync += rem.eq(Mux(load, self.i.payload.num, Mux(dividing, step, num_shifted)))

        # Last cycle: round, renormalize a mantissa rounded up to 2**mw, special cases.
        ge = q[-1]
        kq = Signal(mw + 1)             # floor(2 * mant_exact), in [2**mw, 2**(mw+1))
        rounded = Signal(mw + 1)
        m.d.comb += [kq.eq(Mux(ge, q[1:], q[:-1])), rounded.eq(kq[1:] + kq[0])]
        carry = rounded[mw]             # rounded up to 2**mw: 2**(mw-1), one exponent less
        mant = Cat(rounded[:mw - 1], rounded[mw - 1] | carry)
        exp = (mw - 1) + sn - sd + ~ge - carry
        finite = ~num_zero & den[-1]
        with m.If(last):
            m.d.sync += [self.o.payload.mant.eq(Mux(finite, mant, 0)),
                         self.o.payload.exp.eq(Mux(finite, exp, 0)),
                         self.o.payload.inf.eq(~num_zero & ~den[-1])]
        return m


def _normalize(m, stage, value, count):
    """Normalize stage ``j`` of ``value`` (while ``stage[j]``, ``s = len(count)`` stages): set bit
    ``s-1-j`` of ``count`` when the top ``2**(s-1-j)`` bits of ``value`` are zero. Returns whether
    to shift now and ``value`` shifted by the current stage's amount.
    """
    s, k = len(count), len(value)
    zero_tops = [~value[k - (1 << (s - 1 - j)):].any() for j in range(s)]
    for j, zero_top in enumerate(zero_tops):
        with m.If(stage[j]):
            m.d.sync += count[s - 1 - j].eq(zero_top)
    return (_one_hot(stage, zero_tops, C(0, 1)),
            _one_hot(stage, [value.shift_left(1 << (s - 1 - j)) for j in range(s)], value))


def _one_hot(stage, values, default):
    """``values[j]`` where ``stage[j]`` is set (one-hot), else ``default``."""
    out = default
    for j, v in enumerate(values):
        out = Mux(stage[j], v, out)
    return out


def _block(*, width, den_width=None, mant_width=18):
    """The registered form: ``num`` is ``width`` bits, ``den`` as wide unless ``den_width``
    is given (``l1bn generate --block norm_divider --width 60 --set mant_width=18``)."""
    return NormDivider(num_width=width, den_width=width if den_width is None else den_width,
                       mant_width=mant_width)


BLOCK = BlockSpec(_block, ("width", "den_width", "mant_width"),
                  defaults={"width": 40, "den_width": None, "mant_width": 18},
                  summary="num/den as mant * 2^-exp, mant rounded half up to mant_width "
                          "significant bits (one rounding), restoring, one quotient bit per cycle",
                  bounds={"width": Int(1, 128), "den_width": Int(1, 128),
                          "mant_width": Int(1, 64)})

"""The RTL of the rounding and saturation rules of :mod:`l1bn.golden.fixed` (expressions, no state).

Every block that drops fraction bits or narrows a result builds it from these functions, so the
hardware has one implementation of each rule, mirrored bit for bit by
:func:`l1bn.golden.fixed.shift_right` (``"half_up"``) and :func:`l1bn.golden.fixed.saturate_flags`.

They are written so that the emitted Verilog stays ``verilator -Wall`` clean after
:func:`l1bn.hdl.emit.emit_verilog`, which trims unused high bits but not unused low bits: every bit an
expression computes is read (the rounding compares the dropped bits with one half instead of
reading only the top one; synthesis reduces that to one bit), and saturation tests the high bits
instead of comparing values of different widths.
"""

from amaranth import Cat, Mux

__all__ = ["add_shifted", "shift_right_half_up", "saturate", "round_saturate"]


def add_shifted(x, y, shift):
    """``x + y * 2**shift`` of signed values, exact; the low ``shift`` bits are ``x``'s, unadded."""
    if shift == 0:
        return x + y
    return Cat(x[:shift], (x >> shift) + y).as_signed()


def shift_right_half_up(value, n):
    """Signed ``value`` shifted right by ``n >= 0`` bits, to nearest with ties up.

    ``floor(value / 2**n)``, plus one when the dropped bits (the remainder, ``0 <= r < 2**n``)
    are at least one half, ``r >= 2**(n-1)``: equal to ``floor((value + 2**(n-1)) / 2**n)``.
    """
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    if n == 0:
        return value
    return (value >> n) + (value[:n] >= (1 << (n - 1)))


def saturate(value, fmt):
    """``(clamped, flag)``: signed ``value`` clamped to signed ``fmt``'s range; 1 where clamped.

    ``value`` fits when its bits from ``fmt.width - 1`` up are all equal (a sign extension);
    otherwise its sign says which bound. ``clamped`` is ``signed(fmt.width)`` (or ``value``
    itself when it is no wider), so it may be assigned to a wider signal.
    """
    if not fmt.signed:
        raise ValueError("saturate needs a signed format")
    w = fmt.width
    if len(value) <= w:
        return value, 0
    top = value[w - 1:]
    fits = top.all() | ~top.any()
    bound = Mux(value[-1], fmt.min_code, fmt.max_code)
    return Mux(fits, value[:w].as_signed(), bound), ~fits


def round_saturate(value, n, fmt):
    """``saturate(shift_right_half_up(value, n), fmt)`` without the wide rounding adder.

    With ``hi = value >> n`` and the rounding bit ``r`` (the dropped bits are at least one half),
    the rounded value is ``hi + r``. Only its low ``w = fmt.width`` bits are ever output, so the
    adder is ``w`` bits wide: ``hi[:w] + r``. Whether the rounded value fits is decided from
    ``hi``'s bits beside it: the carry into bit ``w - 1`` is ``c = r & all(hi[:w-1])``, and
    ``hi + r`` fits when ``(hi >> (w-1)) + c`` is 0 or -1, that is when ``hi``'s bits from
    ``w - 1`` up are all equal (``c = 0``) or those from ``w`` up are all ones (``c = 1``: ``hi``
    is -1 or -2 there). Out of range, the rounded value has ``hi``'s sign. Bit for bit the same
    ``(clamped, flag)`` as the two-step form; the logic depth is a ``w``-bit adder beside an
    AND tree, instead of an adder as wide as ``hi`` followed by the range test.

    ``value`` must be signed and ``n >= 0`` (``ValueError`` otherwise); ``clamped`` is
    ``signed(fmt.width)``, or narrower when ``hi + r`` always fits.
    """
    if not fmt.signed:
        raise ValueError("round_saturate needs a signed format")
    if not value.shape().signed:
        raise ValueError("round_saturate needs a signed value")
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    if n == 0:
        return saturate(value, fmt)
    w = fmt.width
    hi = value[n:].as_signed()
    r = value[:n] >= (1 << (n - 1))
    if len(hi) < w:
        return saturate(hi + r, fmt)
    if len(hi) == w:
        hi = Cat(hi, hi[-1]).as_signed()     # one sign bit more: the general test below applies
    low = (hi[:w] + r)[:w].as_signed()
    c = r & hi[:w - 1].all()
    top = hi[w - 1:]
    fits = Mux(c, hi[w:].all(), top.all() | ~top.any())
    bound = Mux(hi[-1], fmt.min_code, fmt.max_code)
    return Mux(fits, low, bound), ~fits

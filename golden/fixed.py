"""Fixed-point formats and the integer arithmetic every bit-accurate model and RTL block uses.

Every rounding and saturation rule of the project is stated here, once:

* A value is a **code**: a two's-complement (``signed=True``) or unsigned integer of
  ``width`` bits, of which ``frac`` are fraction bits; its real value is ``code * 2**-frac``.
* **Rounding** (:data:`ROUNDINGS`), applied when fraction bits are dropped:

  - ``"floor"``: toward minus infinity (an arithmetic right shift; costs nothing in RTL);
  - ``"half_up"``: to nearest, ties toward plus infinity (add half an LSB, then floor; one adder);
  - ``"half_even"``: to nearest, ties to even (used only to quantize float inputs on the host).

* **Saturation** clamps a code to ``[fmt.min_code, fmt.max_code]`` and is always *counted*:
  every function that can saturate returns ``(codes, n_saturated)`` so callers must look at it.
* Integer division and square root floor (``div_floor``, ``isqrt``); where a model rounds a
  quotient to nearest it says so and does it with :func:`div_round` (ties up) or
  :func:`div_round_away` (ties away from zero).

Codes are NumPy arrays of ``int64`` when every intermediate fits in 62 bits, else ``object``
arrays of Python ints (exact at any width). Nothing here imports Amaranth: the HDL generators
import :class:`Fmt` from this module, so widths are never restated elsewhere.
"""

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ROUNDINGS", "Fmt", "clog2", "codes", "quantize", "dequantize", "saturate", "saturate_flags",
    "shift_right",
    "abs_", "sign", "mul", "div_floor", "div_round", "div_round_away",
    "isqrt", "sum_width", "check_int",
]

ROUNDINGS = ("floor", "half_up", "half_even")

#: Largest bit width held in int64 arrays; wider values use Python ints.
_INT64_BITS = 62


def check_int(name, value, minimum=None, maximum=None):
    """Return ``value`` as an int, or raise ``ValueError`` naming ``name`` and the allowed range."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if ok and minimum is not None and value < minimum:
        ok = False
    if ok and maximum is not None and value > maximum:
        ok = False
    if not ok:
        rng = (f" >= {minimum}" if maximum is None else f" in [{minimum}, {maximum}]") \
            if minimum is not None else ""
        raise ValueError(f"{name} must be an integer{rng}, got {value!r}")
    return int(value)


def clog2(n):
    """Smallest k with ``2**k >= n`` (``clog2(1) == 0``); ``n`` must be a positive int."""
    return (check_int("n", n, 1) - 1).bit_length()


@dataclass(frozen=True)
class Fmt:
    """A fixed-point format: ``width`` bits in all, ``frac`` of them fraction bits.

    Parameters
    ----------
    width : int
        Total bits, sign included; ``width >= 1``.
    frac : int
        Fraction bits, ``0 <= frac <= width``.
    signed : bool
        Two's complement when True (default), unsigned otherwise.

    Raises
    ------
    ValueError
        ``width`` not a positive integer, or ``frac`` outside ``[0, width]``.
    """
    width: int
    frac: int
    signed: bool = True

    def __post_init__(self):
        object.__setattr__(self, "width", check_int("width", self.width, 1))
        object.__setattr__(self, "frac", check_int("frac", self.frac, 0))
        if self.frac > self.width:
            raise ValueError(f"width ({self.width}) must be at least frac ({self.frac})")

    @property
    def min_code(self):
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_code(self):
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def lsb(self):
        """Real value of one code step, ``2**-frac``."""
        return 2.0 ** -self.frac

    @property
    def min_value(self):
        return self.min_code * self.lsb

    @property
    def max_value(self):
        return self.max_code * self.lsb

    @property
    def name(self):
        """``q8_8`` / ``uq16_0``: integer bits (sign included) and fraction bits."""
        return f"{'q' if self.signed else 'uq'}{self.width - self.frac}_{self.frac}"

    def as_dict(self):
        return {"width": self.width, "frac": self.frac, "signed": self.signed,
                "min": self.min_value, "max": self.max_value, "lsb": self.lsb}


def codes(values, bits=64):
    """Integer array for codes needing up to ``bits`` bits: int64 when it fits, else object."""
    a = np.asarray(values)
    if bits <= _INT64_BITS:
        return a.astype(np.int64)
    return np.vectorize(int, otypes=[object])(a) if a.size else a.astype(object)


def _check_rounding(rounding):
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding must be one of {', '.join(ROUNDINGS)}, got {rounding!r}")


def saturate(values, fmt):
    """Clamp integer ``values`` to ``fmt``'s code range. Returns ``(codes, n_saturated)``."""
    a = codes(values, max(fmt.width, _bits_of(values)))
    low, high = a < fmt.min_code, a > fmt.max_code
    n = int(np.count_nonzero(low) + np.count_nonzero(high))
    if n:
        a = np.where(low, fmt.min_code, np.where(high, fmt.max_code, a))
    return codes(a, fmt.width), n


def saturate_flags(values, fmt):
    """:func:`saturate` with the clamped elements flagged: ``(codes, flags)``.

    ``flags`` is a bool array, True where the value was outside ``fmt`` (the ``sat`` output of a
    block); ``flags.sum()`` is the count :func:`saturate` returns.
    """
    a = np.asarray(values)
    out, _ = saturate(a, fmt)
    return out, (a < fmt.min_code) | (a > fmt.max_code)


def _bits_of(values):
    a = np.asarray(values)
    if a.size == 0:
        return 1
    m = max(abs(int(np.max(a))), abs(int(np.min(a))))
    return m.bit_length() + 1


def quantize(x, fmt, rounding="half_even"):
    """Float array -> codes of ``fmt``, rounded as named, saturated and counted.

    Returns
    -------
    (codes, n_saturated)

    Raises
    ------
    ValueError
        Non-finite input (NaN or infinity) or an unknown rounding mode.
    """
    _check_rounding(rounding)
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("x must be finite (found NaN or infinity)")
    scaled = np.ldexp(x, fmt.frac)
    if rounding == "floor":
        r = np.floor(scaled)
    elif rounding == "half_up":
        r = np.floor(scaled + 0.5)
    else:
        r = np.rint(scaled)
    # Clamp in float first so that huge inputs cannot overflow the integer conversion.
    big = float(2 ** (fmt.width + 1))
    r = np.clip(r, -big, big)
    return saturate(codes(r, fmt.width + 2), fmt)


def dequantize(c, fmt):
    """Codes of ``fmt`` -> float64 values (exact for ``width <= 53``)."""
    return np.ldexp(np.asarray(c, dtype=np.float64), -fmt.frac)


def shift_right(values, n, rounding="floor"):
    """Arithmetic right shift by ``n >= 0`` bits with rounding (the RTL's only rounding step)."""
    _check_rounding(rounding)
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    a = np.asarray(values)
    if n == 0:
        return a
    if rounding == "floor":
        return a >> n
    if rounding == "half_up":
        return (a + (1 << (n - 1))) >> n
    q = a >> n
    rem = a - (q << n)
    half = 1 << (n - 1)
    return q + ((rem > half) | ((rem == half) & ((q & 1) == 1)))


def abs_(values):
    """|d| of signed codes; the result needs one bit fewer than ``d`` has, read as unsigned."""
    return np.abs(np.asarray(values))


def sign(values):
    """sgn(d) in {-1, 0, +1}, with sgn(0) = 0 (the convention of autograd)."""
    return np.sign(np.asarray(values)).astype(np.int64)


def mul(a, fa, b, fb, out, rounding="half_up"):
    """Product of codes ``a`` (frac ``fa``) and ``b`` (frac ``fb``) in format ``out``.

    The exact product has ``fa + fb`` fraction bits; it is shifted to ``out.frac`` with
    ``rounding`` (or shifted left, exactly, if ``out`` has more fraction bits) and saturated.
    Returns ``(codes, n_saturated)``.
    """
    p = codes(a, 128) * codes(b, 128)
    shift = fa + fb - out.frac
    p = shift_right(p, shift, rounding) if shift >= 0 else p * (1 << -shift)
    return saturate(p, out)


def div_floor(num, den):
    """floor(num / den) of integer codes; ``den`` must be positive."""
    den = np.asarray(den)
    if np.any(den <= 0):
        raise ValueError("den must be positive")
    return np.asarray(num) // den


def div_round(num, den):
    """num / den rounded to nearest, ties toward plus infinity: floor((2*num + den) / (2*den))."""
    den = np.asarray(den)
    if np.any(den <= 0):
        raise ValueError("den must be positive")
    return (2 * np.asarray(num) + den) // (2 * den)


def div_round_away(num, den):
    """num / den rounded to nearest, ties away from zero (rounds the magnitude half up).

    ``sgn(num) * floor((2*|num| + den) / (2*den))`` for integer codes, ``den`` positive; exact
    at any width (object arrays stay Python ints). ``|result - num/den| <= 1/2``, with equality
    only at ties. This is the rule of a sign-magnitude divider that adds half an LSB to the
    magnitude of its quotient (:mod:`l1bn.golden.divider`).
    """
    den = np.asarray(den)
    if np.any(den <= 0):
        raise ValueError("den must be positive")
    num = np.asarray(num)
    mag = (2 * np.abs(num) + den) // (2 * den)
    return np.where(num < 0, -mag, mag)


def isqrt(values):
    """floor(sqrt(n)) of non-negative integer codes, exact at any width."""
    a = np.asarray(values)
    if np.any(a < 0):
        raise ValueError("isqrt needs non-negative values")
    out = np.vectorize(lambda v: math.isqrt(int(v)), otypes=[object])(a) if a.size else a
    return codes(out, _bits_of(a) // 2 + 2)


def sum_width(term_width, max_count):
    """Bits that hold the sum of ``max_count`` unsigned terms of ``term_width`` bits, exactly.

    ``max_count * (2**w - 1) <= 2**(w + clog2(max_count)) - 1``, so the sum never overflows.
    For signed terms add nothing: the same bound holds for the magnitude and the sign bit is
    already counted in ``term_width``.
    """
    return term_width + clog2(max_count)

"""Argument types of the command lines (``argparse`` ``type=`` callables): one line each on a
bad value, never a traceback. A utility floor: any command may use it."""

import argparse
import math

__all__ = ["short", "integer", "real"]


def short(text, limit=40):
    """``text`` cut to ``limit`` characters for an error message."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def integer(text, lo, hi):
    """``text`` as a decimal integer in ``[lo, hi]``; ``argparse.ArgumentTypeError`` otherwise."""
    try:
        v = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {short(text)!r}") from None
    if not lo <= v <= hi:
        raise argparse.ArgumentTypeError(f"expected an integer in [{lo}, {hi}], got "
                                         f"{short(str(v))}")
    return v


def real(text):
    """``text`` as a finite real number; ranges are the caller's to check."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {short(text)!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {short(text)!r}")
    return v

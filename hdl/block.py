"""How a block module declares itself to the registry (:mod:`l1bn.hdl.registry`), and the bounds of
its parameters.

Every parameter of every block has one bound (:class:`Int`, :class:`Real` or :class:`Choice`),
checked by :func:`l1bn.hdl.registry.resolve` before anything is built and listed by ``l1bn generate
--help``. A block takes the bound of :data:`COMMON` for a parameter of that name unless its
:class:`BlockSpec` declares its own in ``bounds``.
"""

import math
import numbers
from dataclasses import dataclass, field

__all__ = ["BlockSpec", "COMMON", "Choice", "Int", "Real"]


def _end(end, params):
    """A bound's end: an int, or ``(name, offset)`` = the parameter ``name`` plus ``offset``, or
    ``(name, offset, fallback)`` with the end ``fallback`` where ``name`` is derived (None).
    None where it cannot be known."""
    if not isinstance(end, tuple):
        return end
    base = params.get(end[0])
    if base is not None:
        return base + end[1]
    return _end(end[2], params) if len(end) > 2 else None


def _show(end):
    if isinstance(end, tuple):
        name, off = end[:2]
        return name if off == 0 else f"{name} {'+' if off > 0 else '-'} {abs(off)}"
    return str(end)


@dataclass(frozen=True)
class Int:
    """An integer in ``[lo, hi]``; an end may be ``(other_parameter, offset)``."""
    lo: object
    hi: object

    def check(self, name, value, params):
        """``value`` as an int; ``ValueError`` naming ``name`` and the range otherwise."""
        lo, hi = _end(self.lo, params), _end(self.hi, params)
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        if ok and (lo is None or value >= lo) and (hi is None or value <= hi):
            return int(value)
        rng = f"[{_show(self.lo)}, {_show(self.hi)}]"
        if isinstance(self.lo, tuple) or isinstance(self.hi, tuple):
            rng += f" = [{lo}, {hi}]"
        got = f"an integer of {len(str(abs(value)))} digits" if ok and abs(value) >= 10**12 \
            else repr(value)
        raise ValueError(f"{name} must be an integer in {rng}, got {got}")

    def describe(self):
        return f"{_show(self.lo)}..{_show(self.hi)}"


@dataclass(frozen=True)
class Real:
    """A finite real number in ``[lo, hi]`` (``hi`` may be ``math.inf``)."""
    lo: float
    hi: float = math.inf

    def check(self, name, value, params):
        """``value`` as a float; ``ValueError`` naming ``name`` and the range otherwise."""
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool) \
            and math.isfinite(value) and self.lo <= value <= self.hi
        if not ok:
            raise ValueError(f"{name} must be a finite {self.describe()}, got {value!r}")
        return float(value)

    def describe(self):
        if math.isfinite(self.hi):
            return f"real in [{self.lo:g}, {self.hi:g}]"
        return f"real >= {self.lo:g}"


@dataclass(frozen=True)
class Choice:
    """One of the strings ``options``."""
    options: tuple

    def check(self, name, value, params):
        """``value``; ``ValueError`` naming ``name`` and the options otherwise."""
        if not isinstance(value, str) or value not in self.options:
            raise ValueError(f"{name} must be one of {', '.join(self.options)}, got {value!r}")
        return value

    def describe(self):
        return "|".join(self.options)


#: Bounds of the parameters most blocks share (the units' own limits, those of
#: ``l1bn.golden.bn_unit.UnitConfig``).
COMMON = {
    "norm": Choice(("l1", "l2")),
    "stats": Choice(("two-pass", "one-pass")),
    "width": Int(2, 64),
    "frac": Int(0, ("width", -1)),
    "lanes": Int(1, 64),
    "max_batch": Int(1, 1 << 32),
    "max_count": Int(1, 1 << 32),
    "guard": Int(3, 32),                  # l1bn.golden.bn_config.MIN_GUARD
    "alpha": Real(0.0, 1.0),
    "eps": Real(0.0),
    "stages": Int(1, 2),
}


@dataclass(frozen=True)
class BlockSpec:
    """A generatable block.

    A module of ``hdl/`` that defines ``BLOCK = BlockSpec(...)`` is found by the registry; the
    block's name is the module's name (``hdl/abs_sign.py`` -> ``abs_sign``).

    Parameters
    ----------
    cls : callable
        The ``wiring.Component`` (or a function returning one); called with keyword arguments only.
    params : tuple of str
        Its constructor's parameters, in the order they appear in module names.
    defaults : dict
        Values for parameters the user does not give (e.g. ``{"frac": 8}``). A default of ``None``
        means "derived from the other parameters" (the block's docstring says how); such a
        parameter is left out of the module name while it is ``None``.
    summary : str
        One line for ``l1bn generate --help`` and the report.
    bounds : dict
        Bounds of parameters that differ from :data:`COMMON` or are not in it; every parameter
        must have one (``ValueError`` at construction otherwise).
    """
    cls: type
    params: tuple
    defaults: dict = field(default_factory=dict)
    summary: str = ""
    bounds: dict = field(default_factory=dict)

    def __post_init__(self):
        unbounded = [p for p in self.params if p not in self.bounds and p not in COMMON]
        if unbounded:
            raise ValueError(f"no bound for parameter {', '.join(unbounded)}")

    def bound(self, name):
        """The bound of parameter ``name``."""
        return self.bounds.get(name) or COMMON[name]

    def check(self, params):
        """``params`` (every parameter, None = derived) with each value checked against its
        bound, in the order of ``self.params``; ``ValueError`` naming the first bad one."""
        out = dict(params)
        for p in self.params:
            if out[p] is not None:
                out[p] = self.bound(p).check(p, out[p], out)
        return out

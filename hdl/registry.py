"""Block names -> constructors, their parameters and the names of the modules they generate.

The single place the ``l1bn generate`` command, the testbenches and the report look blocks up.
"""

from dataclasses import dataclass

from amaranth.back import rtlil

from . import manifest as _manifest
from .stats_accumulator import StatsAccumulator

__all__ = ["BLOCKS", "Design", "design"]


@dataclass(frozen=True)
class BlockSpec:
    cls: type
    params: tuple          # constructor keyword arguments, in naming order
    summary: str


BLOCKS = {
    "stats_accumulator": BlockSpec(
        StatsAccumulator, ("norm", "width", "frac", "max_count"),
        "sum |x - mu| (l1) or sum (x - mu)^2 (l2) over a channel"),
}

_ABBREV = {"width": "w", "frac": "f", "max_count": "m"}


@dataclass(frozen=True)
class Design:
    """An elaborated block: its module name, component, manifest and RTLIL text."""
    name: str
    component: object
    manifest: dict
    rtlil: str


def module_name(block, **params):
    """``stats_accumulator_l1_w16f8_m65536``: the block name and every parameter, in order."""
    spec = BLOCKS[block]
    parts = [block]
    tails = []
    for p in spec.params:
        v = params[p]
        if p in _ABBREV:
            tails.append(f"{_ABBREV[p]}{v}")
        else:
            parts.append(str(v))
    return "_".join(parts + tails)


def design(block, **params):
    """Build ``block`` with ``params``; raises ``ValueError`` for unknown blocks or bad parameters."""
    if block not in BLOCKS:
        raise ValueError(f"block must be one of {', '.join(sorted(BLOCKS))}, got {block!r}")
    spec = BLOCKS[block]
    missing = [p for p in spec.params if p not in params]
    extra = [p for p in params if p not in spec.params]
    if missing or extra:
        raise ValueError(f"{block} takes parameters {', '.join(spec.params)}; "
                         f"missing {missing or 'none'}, unknown {extra or 'none'}")
    component = spec.cls(**params)
    name = module_name(block, **params)
    return Design(name=name, component=component,
                  manifest=_manifest.manifest(component, name=name, block=block, parameters=params),
                  rtlil=rtlil.convert(component, name=name))

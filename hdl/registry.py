"""Block names -> constructors, their parameters and the names of the modules they generate.

The single place the ``l1bn generate`` command, the testbenches and the report look blocks up.
Blocks are found, not listed: every module of this package that defines ``BLOCK`` (a
:class:`~l1bn.hdl.block.BlockSpec`) is a block named after the module. The modules that turn
blocks into Verilog (:data:`TOOLING`) are not searched: they import this one.
"""

import importlib
import pkgutil
from dataclasses import dataclass

from amaranth.back import rtlil

from . import manifest as _manifest
from .axis import INTERFACES, AxiStream
from .block import BlockSpec, Choice

__all__ = ["BLOCKS", "BlockSpec", "Design", "design", "module_name"]


#: Modules of the package that are not blocks and import the registry.
TOOLING = ("emit", "generate", "registry")


def _discover():
    blocks = {}
    for info in pkgutil.iter_modules(importlib.import_module(__package__).__path__):
        if info.name in TOOLING:
            continue
        module = importlib.import_module(f"{__package__}.{info.name}")
        spec = getattr(module, "BLOCK", None)
        if isinstance(spec, BlockSpec):
            blocks[info.name] = spec
    return dict(sorted(blocks.items()))


BLOCKS = _discover()

#: Parameters written as a letter and a number in module names (``w16``); others as their value.
_ABBREV = {"width": "w", "frac": "f", "max_count": "m", "lanes": "p", "stages": "s",
           "b_width": "b", "coef_width": "cw", "coef_frac": "cf"}


@dataclass(frozen=True)
class Design:
    """An elaborated block: its module name, component, manifest and RTLIL text."""
    name: str
    component: object
    manifest: dict
    rtlil: str


def _float_tag(v):
    """``v`` as Verilog identifier characters: ``1e-05`` -> ``1em05``, ``0.9`` -> ``0p9``."""
    return repr(v).replace(".", "p").replace("-", "m").replace("+", "")


def module_name(block, **params):
    """``stats_accumulator_l1_w16_f8_m65536``: the block name and every parameter, in order.

    A parameter that is ``None`` (derived by the block from the others) is left out; a real
    (``eps``, ``alpha``) is written with ``p`` for the point and ``m`` for a minus sign.
    """
    parts, tails = [block], []
    for p in BLOCKS[block].params:
        v = params[p]
        if v is None:
            continue
        if isinstance(v, float):
            tails.append(f"{p.replace('_', '')}{_float_tag(v)}")
        elif p in _ABBREV:
            tails.append(f"{_ABBREV[p]}{v}")
        elif isinstance(v, str):
            parts.append(v.replace("-", ""))
        else:
            tails.append(f"{p.replace('_', '')}{v}")
    if params.get("interface", "stream") != "stream":
        tails.append(params["interface"])
    return "_".join(parts + tails)


def resolve(block, **given):
    """The full parameter set of ``block``: ``given`` (None values ignored) over its defaults.

    Every block also takes ``interface``: "stream" (the default: Amaranth stream ports, left
    out of the result) or "axis" (AXI4-Stream ports, :class:`l1bn.hdl.axis.AxiStream`; kept in
    the result and in the module name).

    Raises ``ValueError`` naming an unknown block, a parameter the block does not take, one it
    needs and was not given, or one outside its bound (:meth:`l1bn.hdl.block.BlockSpec.check`).
    """
    if block not in BLOCKS:
        raise ValueError(f"block must be one of {', '.join(BLOCKS)}, got {block!r}")
    spec = BLOCKS[block]
    given = {k: v for k, v in given.items() if v is not None}
    interface = Choice(INTERFACES).check("interface", given.pop("interface", "stream"), {})
    extra = [p for p in given if p not in spec.params]
    if extra:
        raise ValueError(f"{block} takes no parameter {', '.join(extra)} "
                         f"(its parameters: {', '.join(spec.params)})")
    params = dict(spec.defaults, **given)
    missing = [p for p in spec.params if p not in params]
    if missing:
        raise ValueError(f"{block} needs parameter {', '.join(missing)}")
    params = spec.check({p: params[p] for p in spec.params})
    if "eps" in params:
        _check_unit(params)
    if interface != "stream":
        params["interface"] = interface
    return params


def _check_unit(params):
    """A BN unit's numeric parameters together (eps must fit the statistics format of its
    width, frac and guard): :class:`l1bn.golden.bn_unit.UnitConfig` checks them, as the unit will."""
    from l1bn.golden.bn_unit import UnitConfig
    given = {k: params[k] for k in ("guard", "max_batch", "alpha", "eps")
             if params.get(k) is not None}
    UnitConfig(norm=params["norm"], stats=params.get("stats", "two-pass"), width=params["width"],
               frac=params["frac"], **given)


def design(block, **params):
    """Build ``block``; raises ``ValueError`` for unknown blocks or bad parameters."""
    params = resolve(block, **params)
    component = BLOCKS[block].cls(**{k: v for k, v in params.items() if k != "interface"})
    if params.get("interface") == "axis":
        component = AxiStream(component)
        if not component.streams:
            raise ValueError(f"interface axis: {block} has no stream ports")
    name = module_name(block, **params)
    return Design(name=name, component=component,
                  manifest=_manifest.manifest(component, name=name, block=block, parameters=params),
                  rtlil=rtlil.convert(component, name=name))

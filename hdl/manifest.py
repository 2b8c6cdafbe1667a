"""What a generated block looks like from outside: its ports, payload layouts and formats.

The manifest is what the testbenches, the report and users' own flows read; it is derived from
the component's signature, so it cannot disagree with the Verilog.
"""

import enum
from pathlib import Path

from amaranth import Shape
from amaranth.lib import data, wiring

__all__ = ["SCHEMA", "CLOCK", "RESET", "describe", "ports", "numerics", "manifest"]


#: The JSON Schema every manifest validates against (published with the package).
SCHEMA = Path(__file__).with_name("manifest.schema.json")
#: How every generated design is clocked and reset (Amaranth's default domain, emitted flat).
CLOCK = {"port": "clk", "edge": "rising"}
RESET = {"port": "rst", "kind": "synchronous", "active": "high",
         "effect": "every register to its initial value; sticky flags cleared"}


def describe(shape):
    """``{"width", "signed"}`` of a shape, plus what a layout or an enum says about its bits:
    ``fields`` (a struct: name, offset and the same description, lowest bits first),
    ``elements`` (an array: count, and the description of one element; element i at bits
    ``[i*width, (i+1)*width)``) or ``encoding`` (an enum: name -> value)."""
    s = Shape.cast(shape)
    out = {"width": s.width, "signed": s.signed}
    if isinstance(shape, data.StructLayout):
        out["fields"] = [{"name": str(name), "offset": field.offset, **describe(field.shape)}
                         for name, field in shape]
    elif isinstance(shape, data.ArrayLayout):
        out["elements"] = {"count": shape.length, **describe(shape.elem_shape)}
    elif isinstance(shape, type) and issubclass(shape, enum.Enum):
        out["encoding"] = {member.name.lower(): member.value for member in shape}
    return out


def ports(component):
    """Ports, clock and reset first, then the signature's members: ``[{"name", "dir", "width",
    "signed", ...}]`` (:func:`describe`)
    plus clk and rst (unless the component has clock and reset ports of its own, ``CLOCK``)."""
    out = [] if hasattr(component, "CLOCK") else [
        {"name": "clk", "dir": "in", "width": 1, "signed": False},
        {"name": "rst", "dir": "in", "width": 1, "signed": False}]
    for path, member, _value in component.signature.flatten(component):
        out.append({"name": "__".join(map(str, path)),
                    "dir": "in" if member.flow == wiring.In else "out", **describe(member.shape)})
    return out


def numerics(cfg, names=("eps", "alpha", "guard")):
    """eps, alpha and guard (those of ``names``) of a unit's :class:`l1bn.golden.bn_unit.UnitConfig`
    ``cfg``: for each, ``asked`` (the value given, or the default), ``code`` (the integer the
    hardware holds), ``value`` (the code dequantized: the value in effect) and the code's
    ``format`` (guard: the number of guard bits itself)."""
    from l1bn.golden.bn_unit import ALPHA_FMT
    out = {"eps": {"asked": cfg.eps, "code": cfg.eps_q,
                   "value": cfg.eps_q * 2.0 ** -cfg.stat.frac, "format": cfg.stat.name},
           "alpha": {"asked": cfg.alpha, "code": cfg.alpha_q,
                     "value": cfg.alpha_q * 2.0 ** -ALPHA_FMT.frac, "format": ALPHA_FMT.name},
           "guard": {"asked": cfg.guard, "code": cfg.guard, "value": cfg.guard,
                     "format": "bits"}}
    return {k: v for k, v in out.items() if k in names}


def manifest(component, *, name, block, parameters):
    """JSON-ready description of a generated block.

    A unit (a component with a ``cfg``, :class:`l1bn.golden.bn_unit.UnitConfig`) also gets
    ``numerics`` (:func:`numerics`), and its ``parameters`` give the eps, alpha and guard in
    effect instead of None for "the default".
    """
    cfg = getattr(component, "cfg", None)
    extra = {}
    if cfg is not None and hasattr(cfg, "eps_q"):
        extra["numerics"] = numerics(cfg, [k for k in ("eps", "alpha", "guard")
                                           if k in parameters])
        parameters = {k: extra["numerics"][k]["asked"] if k in extra["numerics"] else v
                      for k, v in parameters.items()}
    return {
        "name": name,
        "block": block,
        "parameters": dict(parameters),
        **extra,
        "latency": component.LATENCY,
        # Cycles between results at full rate: 1 for pipelines, LATENCY for iterative units.
        "cycles_per_result": getattr(component, "CYCLES_PER_RESULT", 1),
        "formats": {k: f.as_dict() for k, f in getattr(component, "formats", {}).items()},
        "clock": getattr(component, "CLOCK", CLOCK),
        "reset": getattr(component, "RESET", RESET),
        "ports": ports(component),
        # Units: multipliers per lane, lanes, and scalar (per-channel) multipliers.
        **({"multipliers": component.MULTIPLIERS} if hasattr(component, "MULTIPLIERS") else {}),
        "doc": (component.__doc__ or "").strip().splitlines()[0],
    }

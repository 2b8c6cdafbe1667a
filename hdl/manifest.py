"""What a generated block looks like from outside: its ports, payload layouts and formats.

The manifest is what the testbenches, the report and users' own flows read; it is derived from
the component's signature, so it cannot disagree with the Verilog.
"""

from amaranth import Shape
from amaranth.lib import data, wiring

__all__ = ["ports", "manifest"]


def _layout_fields(shape):
    if not isinstance(shape, data.Layout):
        return None
    fields = []
    for name, field in shape:
        s = Shape.cast(field.shape)
        fields.append({"name": str(name), "offset": field.offset, "width": s.width, "signed": s.signed})
    return fields


def ports(component):
    """Ports in Verilog order: ``[{"name", "dir", "width", "signed", "fields"?}]`` plus clk/rst."""
    out = [{"name": "clk", "dir": "in", "width": 1, "signed": False},
           {"name": "rst", "dir": "in", "width": 1, "signed": False}]
    for path, member, _value in component.signature.flatten(component):
        shape = member.shape
        s = Shape.cast(shape)
        port = {"name": "__".join(map(str, path)),
                "dir": "in" if member.flow == wiring.In else "out",
                "width": s.width, "signed": s.signed}
        fields = _layout_fields(shape)
        if fields is not None:
            port["fields"] = fields
        out.append(port)
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
        "ports": ports(component),
        # Units: multipliers per lane, lanes, and scalar (per-channel) multipliers.
        **({"multipliers": component.MULTIPLIERS} if hasattr(component, "MULTIPLIERS") else {}),
        "doc": (type(component).__doc__ or "").strip().splitlines()[0],
    }

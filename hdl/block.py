"""How a block module declares itself to the registry (:mod:`hdl.registry`)."""

from dataclasses import dataclass, field

__all__ = ["BlockSpec"]


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
    """
    cls: type
    params: tuple
    defaults: dict = field(default_factory=dict)
    summary: str = ""

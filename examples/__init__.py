"""Plain Verilog examples for integrators (no Python needed to use them): the testbench of the
forward unit and the layer (``bn_unit_tb.v``), and the ECP5 board top level of the
inference-only unit (``ecp5_top.v``, ``ecp5_top.lpf``, ``ecp5_top_tb.v``). Package data, so
that ``make report`` builds the board top level from an installed package too (:func:`path`).
"""

from pathlib import Path

__all__ = ["path"]


def path(name):
    """The example file ``name`` (a :class:`pathlib.Path`); ``FileNotFoundError`` if absent."""
    p = Path(__file__).parent / name
    if not p.is_file():
        raise FileNotFoundError(f"no example {name!r}")
    return p

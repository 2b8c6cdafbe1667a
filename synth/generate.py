"""Generate a block: Amaranth design -> lint-clean Verilog and JSON manifest in a directory."""

import json
import tempfile
from pathlib import Path

from hdl.registry import design

from .tools import write_atomic
from .yosys import emit_verilog

__all__ = ["generate"]


def generate(block, out_dir, **params):
    """Write ``out_dir/<name>.v`` and ``out_dir/<name>.json`` for ``block``; return both paths.

    Parameters are validated and the Verilog is produced in a scratch directory first, so on
    any error (``ValueError`` for bad parameters, :class:`~synth.tools.ToolMissing` or
    :class:`~synth.tools.ToolFailed` from Yosys) nothing is written to ``out_dir``.
    """
    d = design(block, **params)
    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory(prefix="l1bn-emit-") as scratch:
        staged = emit_verilog(d.rtlil, d.name, Path(scratch) / f"{d.name}.v", Path(scratch))
        out_dir.mkdir(parents=True, exist_ok=True)
        verilog = _update(out_dir / f"{d.name}.v", staged.read_text())
    manifest = _update(out_dir / f"{d.name}.json",
                       json.dumps(dict(d.manifest, verilog=verilog.name), indent=2) + "\n")
    return verilog, manifest


def _update(path, text):
    """Write ``text`` atomically unless ``path`` already holds it (keeps mtimes for rebuilds)."""
    if not (path.is_file() and path.read_text() == text):
        write_atomic(path, text)
    return path

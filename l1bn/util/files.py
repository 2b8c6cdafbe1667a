"""Output paths and atomic file writes for every output of the project (reports, dumps, designs).

A file is written under a temporary name in its target directory, then renamed over the target
(``os.replace``), so a reader never sees it half-written and an error leaves nothing behind. The
result gets the mode a plain ``open`` would give it (0o666 less the umask), not the 0o600 of
:func:`tempfile.mkstemp`, so reports stay readable by others.

Path rules, checked by :func:`check_output_file` and :func:`check_output_dir` before any work
starts, and again by :func:`atomic_open` when it writes:

* an output file may be created or replace an existing regular file; a path that exists and is
  not a regular file (a directory, FIFO, device or socket) is refused, and so is a path that is
  a symbolic link (even one pointing at a regular file): a rename would replace the link, not
  its target;
* an output directory may exist (a directory, or a symbolic link to one) or is created, with
  its missing parents, under the nearest existing ancestor, which must be a writable directory;
* an empty path, a name longer than the file system allows (less the room the temporary name
  needs) and a path under a regular file are refused.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from pathlib import Path

__all__ = ["PathError", "atomic_open", "check_output_dir", "check_output_file", "write_bytes",
           "write_json", "write_text"]

#: Characters the temporary name adds to a file's name (".NAME.xxxxxxxx.tmp").
_TMP_EXTRA = 14


class PathError(ValueError):
    """An output path that must not or cannot be written; the message says which and why."""


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _kind(mode):
    for test, name in ((stat.S_ISREG, "a regular file"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _name_max(directory):
    try:
        return os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def _check_names(path, existing):
    """Refuse components of ``path`` below ``existing`` that are too long to be created."""
    limit = _name_max(existing)
    for part in path.parts[len(existing.parts):]:
        if len(part.encode()) > limit - _TMP_EXTRA:
            raise PathError(f"{path}: name too long ({len(part.encode())} bytes, at most "
                            f"{limit - _TMP_EXTRA})")


def _existing_ancestor(path):
    """The nearest ancestor of ``path`` that exists; :class:`PathError` unless a writable
    directory (``path`` itself excluded)."""
    parent = path.parent
    while not os.path.lexists(parent):
        parent = parent.parent
    if not os.path.isdir(parent):
        raise PathError(f"{path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PathError(f"{path}: directory {parent} is not writable")
    return parent


def _nonempty(path):
    if path is None or str(path) == "":
        raise PathError("empty path")
    return Path(os.path.abspath(path))


def _stat(path, follow):
    """``os.stat`` (``follow``) or ``os.lstat`` of ``path``, or None where there is nothing
    (or the name cannot exist: too long, under a file)."""
    try:
        return os.stat(path) if follow else os.lstat(path)
    except OSError:
        return None


def check_output_file(path, *, create_parents=False):
    """Check that ``path`` can be written by :func:`atomic_open`; nothing is created.

    Parameters
    ----------
    path : str or os.PathLike
    create_parents : bool
        The writer creates missing parent directories (else the parent must exist).

    Returns
    -------
    pathlib.Path
        ``path`` made absolute.

    Raises
    ------
    PathError
        Empty, a symbolic link, existing and not a regular file, under a non-directory, in a
        missing (unless ``create_parents``) or read-only directory, or a name too long.
    """
    p = _nonempty(path)
    st = _stat(p, follow=False)
    if st is not None and stat.S_ISLNK(st.st_mode):
        raise PathError(f"{p} is a symbolic link (give the target's path)")
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise PathError(f"{p} exists and is {_kind(st.st_mode)}, not a regular file")
    if not create_parents and not os.path.isdir(p.parent):
        what = "does not exist" if not os.path.lexists(p.parent) else "is not a directory"
        raise PathError(f"{p}: directory {p.parent} {what}")
    _check_names(p, _existing_ancestor(p))
    return p


def check_output_dir(path):
    """Check that ``path`` is, or can be created as, a writable directory; nothing is created.

    Returns ``path`` made absolute; raises :class:`PathError` (empty, exists and is not a
    directory, a dangling symbolic link, under a non-directory, read-only, or a name too long).
    """
    p = _nonempty(path)
    st = _stat(p, follow=True)
    if st is not None:
        if not stat.S_ISDIR(st.st_mode):
            raise PathError(f"{p} exists and is {_kind(st.st_mode)}, not a directory")
        if not os.access(p, os.W_OK | os.X_OK):
            raise PathError(f"directory {p} is not writable")
        return p
    if os.path.islink(p):
        raise PathError(f"{p} is a dangling symbolic link")
    _check_names(p, _existing_ancestor(p))
    return p


def _check_target(path):
    """Refuse to replace a symbolic link or anything that is not a regular file."""
    st = _stat(path, follow=False)
    if st is not None and stat.S_ISLNK(st.st_mode):
        raise PathError(f"{path} is a symbolic link (give the target's path)")
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise PathError(f"{path} exists and is {_kind(st.st_mode)}, not a regular file")


@contextlib.contextmanager
def atomic_open(path, mode="wb"):
    """Open a temporary file next to ``path`` for writing; on a clean exit it replaces ``path``.

    ``mode`` is ``"wb"`` or ``"w"`` (UTF-8). On an exception the temporary file is removed and
    ``path`` is left as it was. A ``path`` that is a symbolic link or exists and is not a
    regular file raises :class:`PathError`, both before writing and before the rename.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    _check_target(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as f:
            yield f
        os.chmod(tmp, 0o666 & ~_umask())
        _check_target(path)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_bytes(path, data):
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_open(path, "wb") as f:
        f.write(data)
    return Path(path)


def write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path, obj):
    """Write ``obj`` as indented JSON (keys sorted, paths as strings) to ``path`` atomically."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")

"""l1bn/files.py: atomic writes leave the target whole or untouched, with a normal file mode."""

import os
import stat

import pytest

from l1bn.files import atomic_open, write_text


def test_written_file_has_the_umask_mode(tmp_path):
    old = os.umask(0o022)
    try:
        p = write_text(tmp_path / "a.txt", "hello\n")
    finally:
        os.umask(old)
    assert p.read_text() == "hello\n"
    assert stat.S_IMODE(p.stat().st_mode) == 0o644
    assert [q.name for q in tmp_path.iterdir()] == ["a.txt"]


def test_error_leaves_the_old_file_and_no_temporary(tmp_path):
    p = write_text(tmp_path / "a.txt", "old")
    with pytest.raises(RuntimeError):
        with atomic_open(p, "w") as f:
            f.write("new, half written")
            raise RuntimeError("tool failed")
    assert p.read_text() == "old"
    assert [q.name for q in tmp_path.iterdir()] == ["a.txt"]


def test_bad_mode():
    with pytest.raises(ValueError, match="mode"):
        with atomic_open("x", "a"):
            pass

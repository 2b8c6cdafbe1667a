"""l1bn/files.py: atomic writes leave the target whole or untouched, with a normal file mode;
output paths that are not regular files, symbolic links, or cannot be created are refused."""

import os
import stat

import pytest

from l1bn.util.files import PathError, atomic_open, check_output_dir, check_output_file, write_text


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


def test_non_regular_target_is_never_replaced(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(PathError, match="is a FIFO, not a regular file"):
        write_text(fifo, "x")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    (tmp_path / "dir").mkdir()
    with pytest.raises(PathError, match="is a directory"):
        write_text(tmp_path / "dir", "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "fifo"]


def test_symlink_target_is_refused(tmp_path):
    real = write_text(tmp_path / "real", "keep")
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(PathError, match="symbolic link"):
        write_text(tmp_path / "link", "x")
    with pytest.raises(PathError, match="symbolic link"):
        check_output_file(tmp_path / "link")
    assert os.path.islink(tmp_path / "link") and real.read_text() == "keep"


def test_target_turned_fifo_while_writing_is_not_replaced(tmp_path):
    p = tmp_path / "out"
    with pytest.raises(PathError, match="FIFO"):
        with atomic_open(p, "w") as f:
            f.write("data")
            os.mkfifo(p)
    assert stat.S_ISFIFO(os.lstat(p).st_mode)
    assert [q.name for q in tmp_path.iterdir()] == ["out"]


@pytest.mark.parametrize("case, message", [
    ("empty", "empty path"),
    ("missing_dir", "does not exist"),
    ("under_file", "is not a directory"),
    ("long_name", "name too long"),
    ("dir", "is a directory, not a regular file"),
])
def test_check_output_file(tmp_path, case, message):
    (tmp_path / "f").write_text("")
    (tmp_path / "d").mkdir()
    path = {"empty": "", "missing_dir": tmp_path / "no" / "out",
            "under_file": tmp_path / "f" / "out",
            "long_name": tmp_path / ("n" * 250), "dir": tmp_path / "d"}[case]
    with pytest.raises(PathError, match=message):
        check_output_file(path)


def test_check_output_dir(tmp_path):
    (tmp_path / "f").write_text("")
    assert check_output_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert check_output_dir(tmp_path / "link") == tmp_path / "link"
    for bad, message in (("", "empty path"), (tmp_path / "f", "is a regular file"),
                         (tmp_path / "f" / "sub", "is not a directory"),
                         (tmp_path / ("n" * 250), "name too long")):
        with pytest.raises(PathError, match=message):
            check_output_dir(bad)

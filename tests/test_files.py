"""cvae.files: atomic writes, which leave the old file or the whole new one and never a temporary one."""
import os
import stat

import pytest

from cvae import files
from cvae.files import atomic_file, atomic_path, write_atomic


def test_a_write_cut_short_leaves_the_old_file_and_no_temporary_one(tmp_path):
    write_atomic(tmp_path / "a.txt", "old")
    with pytest.raises(RuntimeError):
        with atomic_file(tmp_path / "a.txt") as f:
            f.write(b"half of the new")
            raise RuntimeError("interrupted")
    assert (tmp_path / "a.txt").read_text() == "old" and os.listdir(tmp_path) == ["a.txt"]
    # A file is created with the mode open() would give it, and an explicit one is kept.
    write_atomic(tmp_path / "b.txt", "x", mode=0o640)
    assert stat.S_IMODE((tmp_path / "b.txt").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o666 & ~files._UMASK


def test_write_atomic_leaves_the_whole_new_file_and_no_temporary_one(tmp_path):
    write_atomic(tmp_path / "a.txt", "old")
    write_atomic(tmp_path / "a.txt", "new")
    assert (tmp_path / "a.txt").read_text() == "new" and os.listdir(tmp_path) == ["a.txt"]


def test_atomic_path_leaves_the_old_file_or_the_whole_new_one(tmp_path):
    target = tmp_path / "figure.gif"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as written:
            written.write_bytes(b"half")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["figure.gif"]
    with atomic_path(target) as written:
        assert written.parent != tmp_path and written.name == "figure.gif"
        written.write_bytes(b"new")
    assert target.read_bytes() == b"new" and sorted(p.name for p in tmp_path.iterdir()) == ["figure.gif"]

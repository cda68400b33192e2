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


@pytest.mark.parametrize("kind", ["link to /dev/zero", "fifo", "folder", "too large"])
def test_a_small_file_is_read_only_when_it_is_a_regular_file_of_its_size(kind, tmp_path):
    """A config.json that is a link to /dev/zero filled memory (MemoryError after 6.8 GB), and a FIFO blocked
    forever: every file a run holds is read this way (issue 36, 9)."""
    path = tmp_path / "config.json"
    if kind == "link to /dev/zero":
        path.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    else:
        path.write_bytes(b"x" * 101)
    with pytest.raises(files.NotARegularFile, match="is not a regular file|101 bytes, more than such a file holds"):
        files.read_small_file(path, 100)
    if kind != "folder":
        with pytest.raises(files.NotARegularFile):
            files.check_small_file(path, 100)
    (tmp_path / "ok.json").write_bytes(b"{}")
    assert files.read_small_file(tmp_path / "ok.json", 100) == b"{}"


@pytest.mark.parametrize("name", ["config.json", "metrics.csv"])
def test_a_run_file_that_is_a_fifo_or_a_device_is_named_as_damaged(name, tmp_path):
    from cvae.config import RunIdentity
    from cvae.rundir import DamagedFile
    from conftest import run_on_disk
    run_dir = run_on_disk(tmp_path, RunIdentity("vae", 2, subset=300), epochs=1)
    (run_dir.path / name).unlink()
    (run_dir.path / name).symlink_to("/dev/zero")
    with pytest.raises(DamagedFile, match=f"{name} is damaged .*is not a regular file"):
        run_dir.read_config() if name == "config.json" else run_dir.read_metrics()


def test_a_folder_left_by_a_killed_writer_is_removed_by_the_next_and_a_running_writers_is_kept(tmp_path):
    """Issue 36, item 24: SIGKILL during export.py left hidden .NAME.XXXX.tmp folders that were never removed."""
    import os
    from cvae.files import replace_folder
    out = tmp_path / "export"
    dead = [tmp_path / ".export.999999999.k2j3.tmp", tmp_path / ".export.999999999.old.a1b2.tmp"]  # no such pid
    alive = tmp_path / f".export.{os.getpid()}.zz9.tmp"  # this process runs
    other = tmp_path / ".exports.999999999.k2j3.tmp"  # another output's
    for folder in (*dead, alive, other):
        folder.mkdir()
        (folder / "half-written").write_text("x")
    replace_folder(out, lambda folder: (folder / "export.json").write_text("{}"), "an export", lambda _: None)
    assert (out / "export.json").read_text() == "{}"
    assert not any(folder.exists() for folder in dead) and alive.exists() and other.exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([".exports.999999999.k2j3.tmp", alive.name,
                                                                       "export"])

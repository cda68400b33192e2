"""Files: writing them whole without following a link planted where they go, checking them against recorded
digests, and replacing a tool's output folder without touching what is not the tool's own.

Every file the repository writes goes through atomic_file (or write_atomic): its contents go to a new file
of a random name beside it, created with O_EXCL (tempfile.mkstemp), so no link planted under a temporary
name is ever written through; it is flushed to the disk and renamed into place, so an interruption, a full
disk or a power cut leaves the old file or the new one, never half of one, and no temporary file behind.
"""
import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path

from cvae.errors import UsageError, UserFacingError

# Files are created as open() would create them: 0o666 less the process's umask (mkstemp makes them 0o600).
_UMASK = os.umask(0)
os.umask(_UMASK)
TEMPORARY = ".tmp"  # what every temporary name ends in: .NAME.RANDOM.tmp beside the file it becomes


@contextlib.contextmanager
def atomic_file(path, mode=None):
    """A binary file object to write `path`'s new contents into; when the block ends they are flushed and
    renamed into place (then the directory is flushed). When it fails, the temporary file is removed and
    `path` is left as it was. mode: the file's permission bits (default: 0o666 less the umask)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMPORARY)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK if mode is None else mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    sync_directory(path.parent)


@contextlib.contextmanager
def atomic_path(path):
    """A path to have a library write `path`'s new contents to by name (Pillow's GIF writer takes a file name,
    and reads the format from it): NAME inside a new private folder beside `path` (.NAME.RANDOM.tmp, made by
    tempfile.mkdtemp, so nothing planted is written through). When the block ends the file is flushed and
    renamed into place; when it fails, the folder is removed and `path` is left as it was."""
    path = Path(path)
    folder = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMPORARY))
    written = folder / path.name
    try:
        yield written
        fd = os.open(written, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(written, 0o666 & ~_UMASK)
        os.replace(written, path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    sync_directory(path.parent)


def write_atomic(path, data, mode=None):
    """Write `data` (text or bytes) to `path` whole (atomic_file)."""
    with atomic_file(path, mode) as f:
        f.write(data.encode() if isinstance(data, str) else data)


def sync_directory(directory):
    """Flush a directory's entries to the disk, so that a rename into it survives a power cut."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_writable(path):
    """(the file `path` names, its permission bits); UsageError when the user's own permission bits say read-only
    (so a tool can refuse before it writes anything else)."""
    real = Path(path).resolve()
    mode = stat.S_IMODE(real.stat().st_mode)
    if not mode & stat.S_IWUSR:
        raise UsageError(f"{path} is read-only (mode {mode:o}); make it writable (chmod u+w) to update it")
    return real, mode


def rewrite_file(path, text):
    """Replace the contents of a file of the user's (the file a symbolic link names, when `path` is one)
    whole, keeping its permission bits. UsageError for a file without write permission, UserFacingError for
    one the system will not let us replace (immutable, a read-only file system); `path` is then untouched."""
    real, mode = check_writable(path)
    try:
        write_atomic(real, text, mode)
    except OSError as err:
        raise UserFacingError(f"cannot write {real} ({err.strerror}); it is left as it was") from err


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def changed_file(directory, recorded, listed_in):
    """What is wrong with the first of `recorded`'s files ({name: sha256}, names relative to `directory`)
    that is missing or whose sha256 differs, or None when all are as recorded; `listed_in` names the list."""
    for name, digest in sorted(recorded.items()):
        path = Path(directory) / name
        if not path.is_file():
            return f"{path} is missing (listed in {listed_in})"
        if sha256_of(path.read_bytes()) != digest:
            return f"{path} does not match its sha256 in {listed_in}: it was changed or damaged"
    return None


def files_in(folder):
    """(every regular file under `folder` as a path relative to it, in POSIX form, sorted; what else is there:
    links and special files, relative too). Links are not followed."""
    found, other = [], []
    for root, directories, names in os.walk(folder):
        for name in directories + names:
            path = Path(root) / name
            relative = path.relative_to(folder).as_posix()
            if path.is_symlink() or not (path.is_dir() or path.is_file()):
                other.append(relative)
            elif path.is_file():
                found.append(relative)
    return sorted(found), sorted(other)


def disk_full(err):
    """Whether an exception says the disk (or a quota) is full: OSError's ENOSPC, or TensorFlow's
    ResourceExhaustedError, which is how TensorFlow's writers report it."""
    return (isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT)) or \
        type(err).__name__ == "ResourceExhaustedError" or "No space left on device" in str(err)


def replace_folder(out, write, what, why_not_ours):
    """Make the folder `out` hold what write(folder) puts into a new, empty folder. The new one is written
    beside `out` first and then takes its place, so an interruption or a full disk leaves `out` as it was.

    `out` may be missing, empty, or hold an earlier output of the same tool: why_not_ours(out) returns None for
    one (which is then replaced whole), else why `out` may not be written, and nothing is. `what` names the
    output ("an export"). Returns True when an earlier output was replaced. UsageError for a link or a file
    at `out`; UserFacingError when the disk fills up."""
    out = Path(out)
    if out.is_symlink():
        raise UsageError(f"--out {out} is a symbolic link; give a folder of its own (nothing is written through "
                         f"a link)")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a directory")
    earlier = out.exists() and any(out.iterdir())
    if earlier:
        why_not = why_not_ours(out)
        if why_not:
            raise UsageError(why_not)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_orphans(out)
    # The writer's process id in the name: a folder left by a process that was killed (SIGKILL runs no cleanup) is
    # known for an orphan by the next one, and removed; one whose process still runs is another writer's.
    new = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.{os.getpid()}.", suffix=TEMPORARY))
    try:
        os.chmod(new, 0o777 & ~_UMASK)
        write(new)
        for name in files_in(new)[0]:
            with open(new / name, "rb") as f:
                os.fsync(f.fileno())
        if out.exists():
            old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.{os.getpid()}.old.", suffix=TEMPORARY))
            os.replace(out, old)  # onto the empty folder just made: out's name is free for the new one
            os.replace(new, out)
            shutil.rmtree(old)
        else:
            os.replace(new, out)
        sync_directory(out.parent)
    except BaseException as err:
        shutil.rmtree(new, ignore_errors=True)
        if disk_full(err):
            raise UserFacingError(f"no space left on device while writing {what} to {out}; "
                                  + ("the earlier one there is left as it was" if earlier else "nothing was written")
                                  + ". Free some space and run the same command again") from err
        raise
    return earlier


def remove_orphans(out):
    """Remove the temporary folders that replace_folder left beside `out` in a process that no longer runs
    (.NAME.PID.RANDOM.tmp and .NAME.PID.old.RANDOM.tmp: killed while writing). A folder whose process runs, or
    that is not a folder, or that has another name, is left alone."""
    pattern = re.compile(rf"\.{re.escape(out.name)}\.(\d+)\.(old\.)?[A-Za-z0-9_]+{re.escape(TEMPORARY)}")
    for path in out.parent.iterdir():
        match = pattern.fullmatch(path.name)
        if match and path.is_dir() and not path.is_symlink() and not process_runs(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)


def process_runs(pid):
    """Whether a process of this id runs (one of another user's counts as running)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # OverflowError: a number no process id can be
        return False
    except PermissionError:
        return True
    return True


def parse_json(text):
    """json.loads, with nesting too deep for Python's parser (a file of 100,000 "[") a ValueError like any other
    text that is no JSON, instead of a RecursionError."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("it is nested too deeply to be JSON this repository wrote") from None


class NotARegularFile(ValueError):
    """A file the repository reads is a device, a FIFO, a folder, or larger than such a file can be."""


def read_small_file(path, max_bytes):
    """The bytes of the regular file at `path` (a link is followed) of at most max_bytes; NotARegularFile (whose
    message the caller puts after the file's name) for a device, FIFO or folder, or a larger file, found before
    anything is read: a link to /dev/zero would fill memory, a FIFO would block forever. FileNotFoundError as
    open() gives it."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO opens at once, so that fstat can say what it is
    try:
        check_small_stat(os.fstat(fd), max_bytes)
    except NotARegularFile:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:  # grown since it was looked at
        raise NotARegularFile(f"it is more than {max_bytes:,} bytes, more than such a file holds")
    return data


def check_small_file(path, max_bytes):
    """NotARegularFile unless `path` is a regular file of at most max_bytes (for readers that open it themselves)."""
    check_small_stat(os.stat(path), max_bytes)


def check_small_stat(found, max_bytes):
    """NotARegularFile unless the os.stat_result `found` is a regular file's of at most max_bytes."""
    if not stat.S_ISREG(found.st_mode):
        raise NotARegularFile("it is not a regular file")
    if found.st_size > max_bytes:
        raise NotARegularFile(f"it is {found.st_size:,} bytes, more than such a file holds ({max_bytes:,})")

"""Files: writing them whole, checking them against recorded digests, and preparing a tool's output
folder without touching what is not the tool's own."""
import hashlib
import os
from pathlib import Path

from cvae.errors import UsageError


def write_atomic(path, text):
    """Write to a temporary name, flush it to the disk, and rename it into place (then flush the
    directory): an interruption or a power cut leaves the old file or the new one, never half of one."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


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


def prepare_output_folder(out, written, what, refusal):
    """Make `out` ready for a tool's files: a new or empty folder, or one the tool wrote before, whose
    `written` files (and nothing else it holds) are removed. refusal(out) -> why a non-empty `out` is not
    the tool's own, or None; `what` names the tool's output ("an export"). UsageError otherwise."""
    import shutil
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a directory")
    if out.exists() and any(out.iterdir()):
        why_not = refusal(out)
        if why_not:
            raise UsageError(why_not)
        foreign = sorted(p.name for p in out.iterdir() if p.name not in written)
        if foreign:
            raise UsageError(f"--out {out} holds files {what} does not write ({', '.join(foreign)}); refusing to "
                             f"write there")
        for name in written:
            path = out / name
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)

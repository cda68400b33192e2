"""Refreshing pretrained/, the weights that ship with the repository, from the runs of the same name in
log/: `python pretrained.py`, the end of `make figures`. What a shipped run holds, and how it is checked and
read, is cvae.rundir's PretrainedRun."""
import fnmatch

from cvae.checkpoints import make_checkpoint
from cvae.errors import UsageError, UserFacingError
from cvae.files import files_in, replace_folder, sha256_of
from cvae.rundir import SUMS, WEIGHTS, RunDir

MAX_WEIGHT_BYTES = 1_000_000
SHIPPED_FILES = ("config.json", "metrics.csv", f"{WEIGHTS}.index", f"{WEIGHTS}.data-*", SUMS)


def earlier_shipped_run_or_why_not(out):
    """None when `out` holds a shipped run's files and nothing else (it may be replaced), else why not."""
    files, other = files_in(out)
    foreign = other + [name for name in files if not any(fnmatch.fnmatch(name, pattern) for pattern in SHIPPED_FILES)]
    if foreign:
        return f"{out} holds {', '.join(foreign[:5])}, which a shipped run does not; refusing to replace it"
    return None


def publish(run_dir: RunDir, out, log=print):
    """Write the weights of run_dir's latest checkpoint, its config and metrics, and SHA256SUMS to `out`,
    replacing what was there whole (cvae.files.replace_folder): an interruption leaves the old files whole."""
    import tensorflow as tf
    run = run_dir.load(log=log)
    if run.identity.subset is not None:
        raise UsageError(f"{run_dir} trained on --subset {run.identity.subset}; only full runs are shipped")
    weight_bytes = 0

    def write(folder):
        nonlocal weight_bytes
        (folder / "config.json").write_text(run.config.to_json())
        RunDir(folder).write_metrics([row for row in run_dir.read_metrics() if row["epoch"] <= run.epoch])
        make_checkpoint(run.model, epoch=tf.Variable(run.epoch, dtype=tf.int64)).write(str(folder / WEIGHTS))
        weight_bytes = sum(p.stat().st_size for p in folder.glob(f"{WEIGHTS}.*"))
        if weight_bytes > MAX_WEIGHT_BYTES:
            raise UserFacingError(f"{run_dir}'s weights take {weight_bytes / 1e6:.1f} MB, more than the "
                                  f"{MAX_WEIGHT_BYTES / 1e6:g} MB a pretrained run may")
        names = sorted(p.name for p in folder.iterdir())
        (folder / SUMS).write_text("".join(f"{sha256_of((folder / name).read_bytes())}  {name}\n" for name in names))

    replace_folder(out, write, "a shipped run", earlier_shipped_run_or_why_not)
    log(f"wrote {out}: epoch {run.epoch} of {run_dir}, weights {weight_bytes / 1e3:.0f} kB")

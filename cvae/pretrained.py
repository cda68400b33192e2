"""Refreshing pretrained/, the weights that ship with the repository, from the runs of the same name in
log/: `python pretrained.py`, the end of `make figures`. What a shipped run holds, and how it is checked and
read, is cvae.rundir's PretrainedRun."""
import shutil

from cvae.checkpoints import make_checkpoint
from cvae.errors import UsageError, UserFacingError
from cvae.files import sha256_of
from cvae.rundir import SUMS, WEIGHTS, RunDir

MAX_WEIGHT_BYTES = 1_000_000


def publish(run_dir: RunDir, out, log=print):
    """Write the weights of run_dir's latest checkpoint, its config and metrics, and SHA256SUMS to `out`.
    Written beside `out` and renamed into place: an interruption leaves the old files whole."""
    import tensorflow as tf
    run = run_dir.load(log=log)
    if run.identity.subset is not None:
        raise UsageError(f"{run_dir} trained on --subset {run.identity.subset}; only full runs are shipped")
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "config.json").write_text(run.config.to_json())
    rows = [row for row in run_dir.read_metrics() if row["epoch"] <= run.epoch]
    RunDir(tmp).write_metrics(rows)
    make_checkpoint(run.model, epoch=tf.Variable(run.epoch, dtype=tf.int64)).write(str(tmp / WEIGHTS))
    weight_bytes = sum(p.stat().st_size for p in tmp.glob(f"{WEIGHTS}.*"))
    if weight_bytes > MAX_WEIGHT_BYTES:
        shutil.rmtree(tmp)
        raise UserFacingError(f"{run_dir}'s weights take {weight_bytes / 1e6:.1f} MB, more than the "
                              f"{MAX_WEIGHT_BYTES / 1e6:g} MB a pretrained run may")
    files = sorted(p.name for p in tmp.iterdir())
    (tmp / SUMS).write_text("".join(f"{sha256_of((tmp / name).read_bytes())}  {name}\n" for name in files))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    log(f"wrote {out}: epoch {run.epoch} of {run_dir}, weights {weight_bytes / 1e3:.0f} kB")

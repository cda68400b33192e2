"""What is checked before a run is trained, and before anything is written: the labels m2 would draw, data
that changed under a run of the same path, and a folder that is no run's or whose history training would
replace. cvae.training.train_run asks each, in that order."""
from cvae.batches import labelled_subset
from cvae.config import RunIdentity
from cvae.errors import UsageError
from cvae.rundir import DamagedFile, ForeignFiles, RunDir, foreign_paths, runs_trained_on


class LostHistory(Exception):
    """Training would replace metrics of earlier epochs that no checkpoint can resume."""


def refuse_to_overwrite(run_dir: RunDir, restart):
    """Before the run's lock is taken (which leaves its file): a folder that holds files no run writes (a shipped
    run of pretrained/: SHA256SUMS, weights.*) is no run to train; and without restart, a folder without a
    checkpoint, which training writes from epoch 0, may not hold the metrics of epochs past the first (a killed
    first epoch leaves one row at most): they would be replaced. ForeignFiles or LostHistory."""
    if not run_dir.path.is_dir() or run_dir.path.is_symlink():
        return  # a linked run folder is refused by its lock and by --restart, each saying so
    # Links where a run writes are refused where each is opened, saying so; here, files of other names.
    foreign = [path for path in foreign_paths(run_dir.path) if not path.is_symlink()]
    shipped = (run_dir.path / "SHA256SUMS").exists()
    if foreign and (shipped or not restart):  # --restart's own refusal (RunDir.clear) names them otherwise
        raise ForeignFiles(f"{run_dir} holds files a run does not write ({', '.join(path.name for path in foreign)})"
                           f"{': it is a shipped run' if shipped else ''}")
    if restart or run_dir.latest_checkpoint() is not None:
        return  # restarted, or resumed from its checkpoint: no history is replaced
    try:
        epochs = [row["epoch"] for row in run_dir.read_metrics()]
    except (DamagedFile, KeyError):
        epochs = []  # a damaged metrics.csv is said so when the run resumes; here nothing of value is lost
    if epochs and max(epochs) > 1:
        raise LostHistory(f"{run_dir} holds the metrics of {len(epochs)} epochs but no checkpoint to resume them from")


def check_labels(identity: RunIdentity, train_labels):
    """UsageError unless a semi-supervised run's --labels can be drawn from `train_labels` (the training
    set, --subset applied): the same number of each class, fewer than the training images, and no class
    short of its share (the draw training makes, made here first)."""
    if identity.labels is None:
        return
    names = identity.class_names()
    if identity.labels % len(names):
        raise UsageError(f"--labels must be a multiple of the {len(names)} classes (the same number of each), got "
                         f"{identity.labels}")
    if identity.labels >= len(train_labels):
        raise UsageError(f"--labels {identity.labels} leaves no unlabelled image among the {len(train_labels):,} "
                         f"training images")
    try:
        labelled_subset(train_labels, identity.labels, identity.seed, names)
    except ValueError as err:
        raise UsageError(str(err)) from err


def refuse_changed_data(identity: RunIdentity, run_dir: RunDir, restart):
    """A run of the same model and flags on an earlier version of the same path, asked at the same image size
    (its sibling, named with the old hash), cannot resume on the changed files: UsageError with both hashes,
    unless --restart starts the new run (the old one is left as it is). A run at another --image-size is
    another run, not a change of the data."""
    info = identity.data
    if info is None or restart or run_dir.latest_checkpoint() is not None:
        return
    stem = info["name"][:-len("_" + info["sha256"][:8])]
    for other in runs_trained_on(run_dir.path.parent, identity, stem, info["path"]):
        saved = other.read_config().identity.data
        if other.path == run_dir.path or saved.get("image_size") != info.get("image_size"):
            continue
        if saved.get("sha256") != info["sha256"]:
            raise UsageError(f"{other} trained on {info['path']} when its contents had sha256 {saved['sha256'][:16]}; "
                             f"they have changed (sha256 {info['sha256'][:16]} now), so that run cannot resume on "
                             f"them. Pass --restart to train a new run on them in {run_dir} ({other} stays)")

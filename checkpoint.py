"""A training run's directory, log/MODEL_N/: what is in it, and how to write and read it.

  config.json   the run's configuration (RunConfig), so later commands rebuild the model from it
  ckpt/         the latest checkpoint: weights, optimizer state, noise-generator state, epoch
  kept/         checkpoints kept every KEEP_EVERY epochs (epoch-0050, ...)
  metrics.csv   one row per epoch
  tb/           TensorBoard event files
  lock          held by the training that writes here (its PID inside)
"""
import csv
import dataclasses
import fcntl
import json
import os
from pathlib import Path

import tensorflow as tf

from cli import UsageError, UserFacingError
from model import MODELS, build_model

KEEP_EVERY = 50
# Two latest checkpoints, so a damaged newest one can fall back to the one before.
KEEP_LATEST = 2
# Changing these would change the weights' shapes: a run directory keeps them for life.
ARCHITECTURE_FIELDS = ("model", "latent_dim")


@dataclasses.dataclass
class RunConfig:
    model: str
    latent_dim: int | None  # None for the classifier
    batch_size: int = 100
    epochs: int = 150
    learning_rate: float = 0.001
    clip: float | None = None  # global-norm gradient clipping; None is off
    seed: int = 0
    subset: int | None = None  # train on the first `subset` images only (quick checks)
    binarize: bool = False  # dynamic binarization (pixels resampled from Bernoulli(gray level) each pass)
    dataset: str = "mnist"  # or "fashion_mnist"
    labels: int | None = None  # m2: how many training labels it may use (None: all, for the other models)
    # One entry per train.py invocation: the epoch it started from and the hyper-parameters it used.
    history: list = dataclasses.field(default_factory=list)

    @classmethod
    def from_json(cls, text):
        """Parse and type-check; ValueError says which key is missing or wrong."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("config is not a JSON object")
        checks = {"model": (str,), "latent_dim": (int, type(None)), "batch_size": (int,), "epochs": (int,),
                  "learning_rate": (float, int), "clip": (float, int, type(None)), "seed": (int,),
                  "subset": (int, type(None))}
        for key, types in checks.items():
            if key not in data:
                raise ValueError(f"config has no '{key}'")
            if not isinstance(data[key], types) or isinstance(data[key], bool):
                raise ValueError(f"config '{key}' is {data[key]!r}, of the wrong type")
        if data["model"] not in MODELS:
            raise ValueError(f"config names an unknown model '{data['model']}'")
        binarize = data.get("binarize", False)  # absent from runs made before the flag existed
        if not isinstance(binarize, bool):
            raise ValueError(f"config 'binarize' is {binarize!r}, of the wrong type")
        # Keys added after the first runs were made; absent means their default.
        optional = {"dataset": ((str,), "mnist"), "labels": ((int, type(None)), None)}
        extra = {key: data.get(key, default) for key, (_, default) in optional.items()}
        for key, (types, _) in optional.items():
            if not isinstance(extra[key], types) or isinstance(extra[key], bool):
                raise ValueError(f"config '{key}' is {extra[key]!r}, of the wrong type")
        history = data.get("history", [])
        if not isinstance(history, list) or not all(isinstance(entry, dict) for entry in history):
            raise ValueError("config 'history' is not a list of objects")
        return cls(**{key: data[key] for key in checks}, binarize=binarize, **extra, history=history)

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2) + "\n"


def run_dir_name(model, latent_dim, binarize=False, dataset="mnist", labels=None):
    """log/ subfolder of a run: MODEL_N, or MODEL for the classifier, then _bin when binarized,
    _fashion_mnist on Fashion-MNIST, and _labelsL for m2 with L labels. Raises UsageError for a
    combination no run can have."""
    if binarize and latent_dim is None:
        raise UsageError("--binarize applies to the VAEs; the classifier trains on gray levels")
    if (model == "m2") != (labels is not None):
        raise UsageError("m2 needs --labels (how many training labels it may use, e.g. 100)" if model == "m2"
                         else "--labels is for the semi-supervised m2; the other models use every label")
    if labels is not None and labels % 10:
        raise UsageError(f"--labels must be a multiple of 10 (the same number of each class), got {labels}")
    name = model if latent_dim is None else f"{model}_{latent_dim}"
    name += "_bin" if binarize else ""
    name += "" if dataset == "mnist" else f"_{dataset}"
    return name + (f"_labels{labels}" if labels is not None else "")


def write_atomic(path, text):
    """Write to a temporary name and rename into place: an interrupted write never leaves half a file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_config(run_dir) -> RunConfig:
    return RunConfig.from_json((Path(run_dir) / "config.json").read_text())


def write_metrics(run_dir, rows):
    """rows: list of dicts with the same keys, in epoch order."""
    if not rows:
        return
    lines = [",".join(rows[0])] + [",".join(_format(row[k]) for k in rows[0]) for row in rows]
    write_atomic(Path(run_dir) / "metrics.csv", "\n".join(lines) + "\n")


def _format(value):
    return str(value) if isinstance(value, int) else f"{value:.6g}"


def read_metrics(run_dir):
    """metrics.csv as a list of dicts of numbers ([] if there is none yet)."""
    path = Path(run_dir) / "metrics.csv"
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [{k: (int(v) if k == "epoch" else float(v)) for k, v in row.items()} for row in csv.DictReader(f)]


class RunInUse(UserFacingError):
    """Another process is training into the same run directory."""


class RunLock:
    """An exclusive lock on a run directory, held while training writes there.

    flock is released by the kernel when its holder exits, however it exits (SIGKILL included), so
    a lock left by a dead process never blocks; the PID in the file only names the holder.
    """

    def __init__(self, run_dir):
        self.path = Path(run_dir) / "lock"
        self.fd = None

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 100).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunInUse(f"{self.path.parent} is being trained by process {holder}; wait for it to finish "
                           f"or stop it (kill {holder}), or train elsewhere with --log-dir")
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def __exit__(self, *exc):
        os.close(self.fd)  # releases the lock; the file stays, harmless once unlocked
        return False


def make_checkpoint(model, optimizer=None):
    """Everything a resumed run needs; `epoch` counts completed epochs.

    Variables are listed by position: tf.train.Checkpoint cannot see Keras 3 layers kept in Python
    lists, nor the noise generators' states, so handing it the model object would drop them.
    """
    parts = dict(model=_by_position(model.variables), epoch=tf.Variable(0, dtype=tf.int64, trainable=False))
    if optimizer is not None:
        parts["optimizer"] = _by_position(optimizer.variables)
    return tf.train.Checkpoint(**parts)


def _by_position(variables):
    return tf.train.Checkpoint(**{f"v{i:03d}": v for i, v in enumerate(variables)})


def restore_latest_good(checkpoint, manager, log=print):
    """Restore the newest checkpoint that reads back whole; returns its path, or None if there is none.

    Raises ValueError when every checkpoint present is damaged.
    """
    failures = []
    for path in reversed(manager.checkpoints):
        try:
            checkpoint.restore(path).assert_consumed()
        # Damage shows as many exception types (a truncated file raises IndexError); all mean "unusable",
        # and the older checkpoint restores every variable again.
        except Exception as err:
            failures.append(f"{path}: {str(err).splitlines()[0]}")
            log(f"warning: checkpoint {path} is damaged ({str(err).splitlines()[0]}); trying an older one")
            continue
        return path
    if failures:
        raise ValueError("every checkpoint is damaged: " + "; ".join(failures))
    return None


def kept_checkpoint_path(run_dir, epoch):
    return str(Path(run_dir) / "kept" / f"epoch-{epoch:04d}")


def kept_epochs(run_dir):
    """Epochs that have a kept checkpoint, ascending."""
    return sorted(int(p.name[len("epoch-"):-len(".index")]) for p in (Path(run_dir) / "kept").glob("epoch-*.index"))


def open_run(log_dir, model_name, latent_dim, binarize=False, epoch=None, dataset="mnist", labels=None):
    """(model, config, epoch, run_dir) of the run these flags name, for plot.py and evaluate.py.

    A missing run, a missing kept epoch or a damaged one raises an error naming the command to run.
    """
    run_dir = Path(log_dir) / run_dir_name(model_name, latent_dim, binarize, dataset, labels)
    train_command = (f"python train.py {model_name}" + (f" -n {latent_dim}" if latent_dim else "")
                     + (" --binarize" if binarize else "") + (f" --dataset {dataset}" if dataset != "mnist" else "")
                     + (f" --labels {labels}" if labels is not None else ""))
    if tf.train.latest_checkpoint(str(run_dir / "ckpt")) is None:
        raise UserFacingError(f"no trained model in {run_dir}; train one first: {train_command}")
    if epoch is not None and epoch not in kept_epochs(run_dir):
        kept = ", ".join(map(str, kept_epochs(run_dir))) or "none yet (one is kept every 50 epochs)"
        raise UsageError(f"no checkpoint kept at epoch {epoch} in {run_dir}; kept epochs: {kept}")
    try:
        return (*load_trained_model(run_dir, epoch), run_dir)
    except (OSError, ValueError, tf.errors.OpError, AssertionError) as err:
        raise UserFacingError(f"cannot load the model in {run_dir} ({str(err).splitlines()[0]}); "
                              f"retrain with: {train_command} --restart")


def load_trained_model(run_dir, epoch=None):
    """(model, config, epoch) from a run directory: the latest checkpoint, or the kept one of `epoch`.

    Raises FileNotFoundError when the checkpoint is missing.
    """
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    model = build_model(config.model, config.latent_dim, config.seed)
    checkpoint = make_checkpoint(model)
    if epoch is None:
        path = tf.train.latest_checkpoint(str(run_dir / "ckpt"))
        if path is None:
            raise FileNotFoundError(f"no checkpoint in {run_dir / 'ckpt'}")
    else:
        path = kept_checkpoint_path(run_dir, epoch)
        if epoch not in kept_epochs(run_dir):
            raise FileNotFoundError(f"no kept checkpoint for epoch {epoch} in {run_dir / 'kept'}")
    # The optimizer's slots are in the file but not needed here.
    checkpoint.read(path).expect_partial().assert_existing_objects_matched()
    return model, config, int(checkpoint.epoch.numpy())

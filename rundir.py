"""A training run's directory, log/MODEL_N/: what is in it, and how to write and read it.

  config.json   the run's configuration (RunConfig), so later commands rebuild the model from it
  ckpt/         the latest checkpoints: weights, optimizer state, noise-generator state, epoch
  kept/         checkpoints kept every KEEP_EVERY epochs (epoch-0050, ...)
  metrics.csv   one row per epoch
  tb/           TensorBoard event files
  lock          held by the training that writes here (its PID inside)

Errors raised here state what is wrong with which file; the command-line tools add what to do.
"""
import csv
import dataclasses
import fcntl
import json
import os
import shutil
from pathlib import Path

import tensorflow as tf

from model import NAMES
from model.registry import build_model

KEEP_EVERY = 50
# Two latest checkpoints, so a damaged newest one can fall back to the one before.
KEEP_LATEST = 2
# A resumed run must keep these; epochs, learning rate, batch size and clipping may change.
FIXED_ON_RESUME = ("model", "latent_dim", "seed", "subset", "binarize", "dataset", "labels")


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
        if data["model"] not in NAMES:
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

    def fixed_settings_that_differ(self, other):
        """['field: saved A, asked B', ...] for the FIXED_ON_RESUME fields where `other` differs from self."""
        return [f"{f}: saved {getattr(self, f)}, asked {getattr(other, f)}"
                for f in FIXED_ON_RESUME if getattr(self, f) != getattr(other, f)]


def run_dir_name(model, latent_dim, binarize=False, dataset="mnist", labels=None):
    """log/ subfolder of a run: MODEL_N, or MODEL for a model without latent space, then _bin when
    binarized, _fashion_mnist on Fashion-MNIST, and _labelsL for a semi-supervised run with L labels."""
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


class RunInUse(Exception):
    """Another process holds the run directory's lock; `holder` is its PID as written in the lock."""

    def __init__(self, run_dir, holder):
        super().__init__(f"{run_dir} is being trained by process {holder}")
        self.holder = holder


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
            raise RunInUse(self.path.parent, holder)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def __exit__(self, *exc):
        os.close(self.fd)  # releases the lock; the file stays, harmless once unlocked
        return False


class RunDir:
    """The files of one run, by what they hold."""

    def __init__(self, path):
        self.path = Path(path)
        self.name = self.path.name

    def __str__(self):
        return str(self.path)

    @property
    def config_path(self):
        return self.path / "config.json"

    @property
    def metrics_path(self):
        return self.path / "metrics.csv"

    @property
    def checkpoint_dir(self):
        return self.path / "ckpt"

    @property
    def tensorboard_dir(self):
        return self.path / "tb"

    def lock(self) -> RunLock:
        return RunLock(self.path)

    def clear(self):
        """Delete everything of the run but its lock (held by the caller): train.py --restart."""
        for path in self.path.iterdir():
            if path.name != "lock":
                shutil.rmtree(path) if path.is_dir() else path.unlink()

    def read_config(self) -> RunConfig:
        return RunConfig.from_json(self.config_path.read_text())

    def write_config(self, config: RunConfig):
        write_atomic(self.config_path, config.to_json())

    def read_metrics(self):
        """metrics.csv as a list of dicts of numbers ([] if there is none yet)."""
        if not self.metrics_path.exists():
            return []
        with open(self.metrics_path, newline="") as f:
            return [{k: (int(v) if k == "epoch" else float(v)) for k, v in row.items()} for row in csv.DictReader(f)]

    def write_metrics(self, rows):
        """rows: list of dicts with the same keys, in epoch order."""
        if not rows:
            return
        lines = [",".join(rows[0])] + [",".join(_format(row[k]) for k in rows[0]) for row in rows]
        write_atomic(self.metrics_path, "\n".join(lines) + "\n")

    def latest_checkpoint(self):
        """Path prefix of the newest checkpoint in ckpt/, or None."""
        return tf.train.latest_checkpoint(str(self.checkpoint_dir))

    def checkpoint_manager(self, checkpoint) -> tf.train.CheckpointManager:
        return tf.train.CheckpointManager(checkpoint, str(self.checkpoint_dir), max_to_keep=KEEP_LATEST)

    def kept_checkpoint_path(self, epoch):
        return str(self.path / "kept" / f"epoch-{epoch:04d}")

    def kept_epochs(self):
        """Epochs that have a kept checkpoint, ascending."""
        return sorted(int(p.name[len("epoch-"):-len(".index")]) for p in (self.path / "kept").glob("epoch-*.index"))

    def load_model(self, epoch=None):
        """(model, config, epoch): the model rebuilt from config.json with the weights of the latest
        checkpoint, or of the one kept at `epoch`. Raises FileNotFoundError when that checkpoint is missing."""
        config = self.read_config()
        model = build_model(config.model, config.latent_dim, config.seed)
        checkpoint = make_checkpoint(model)
        if epoch is None:
            path = self.latest_checkpoint()
            if path is None:
                raise FileNotFoundError(f"no checkpoint in {self.checkpoint_dir}")
        else:
            if epoch not in self.kept_epochs():
                raise FileNotFoundError(f"no kept checkpoint for epoch {epoch} in {self.path / 'kept'}")
            path = self.kept_checkpoint_path(epoch)
        # The optimizer's slots are in the file but not needed here.
        checkpoint.read(path).expect_partial().assert_existing_objects_matched()
        return model, config, int(checkpoint.epoch.numpy())


def _format(value):
    return str(value) if isinstance(value, int) else f"{value:.6g}"


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

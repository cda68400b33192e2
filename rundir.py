"""A training run's directory, log/MODEL_N/: what is in it, and how to write and read it.

  config.json   the run's configuration (RunConfig), so later commands rebuild the model from it
  ckpt/         the latest checkpoints: weights, optimizer state, noise-generator state, epoch
  kept/         checkpoints kept every KEEP_EVERY epochs (epoch-0050, ...)
  metrics.csv   one row per epoch
  tb/           TensorBoard event files
  lock          held by the training that writes here (its PID inside)

Errors raised here state what is wrong with which file; the command-line tools add what to do.
Nothing here deletes or overwrites a file that a run does not write itself (RUN_FILES).
TensorFlow is imported inside the functions that need it, so results.py can read runs without it.
"""
import csv
import dataclasses
import fnmatch
import json
import os
import re
import shutil
from pathlib import Path

from model import NAMES

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
    # A data set of one's own (owndata.py): its path, sha256, name, classes, class names, image counts and
    # split; None for MNIST and Fashion-MNIST. `dataset` is then its name (digits_3fa9c2d1).
    data: dict | None = None
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
        optional = {"dataset": ((str,), "mnist"), "labels": ((int, type(None)), None), "data": ((dict, type(None)), None)}
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
        """['field: saved A, asked B', ...] for the FIXED_ON_RESUME fields where `other` differs from self,
        and the data's sha256 when either trained on data of its own."""
        differ = [f"{f}: saved {getattr(self, f)}, asked {getattr(other, f)}"
                  for f in FIXED_ON_RESUME if getattr(self, f) != getattr(other, f)]
        saved, asked = ((config.data or {}).get("sha256") for config in (self, other))
        if saved != asked:
            differ.append(f"data: saved sha256 {saved}, asked {asked}")
        return differ

    def class_names(self):
        """The names of the run's classes, label 0 first; their count is the models' `classes`."""
        if self.data is not None:
            return list(self.data["class_names"])
        from dataset import CLASS_NAMES
        return CLASS_NAMES[self.dataset]


def run_dir_name(model, latent_dim, binarize=False, dataset="mnist", labels=None, subset=None):
    """log/ subfolder of a run: MODEL_N, or MODEL for a model without latent space, then _bin when
    binarized, _fashion_mnist on Fashion-MNIST, _labelsL for a semi-supervised run with L labels, and
    _subsetS for a quick run on the first S images (so it never occupies the full run's directory)."""
    name = model if latent_dim is None else f"{model}_{latent_dim}"
    name += "_bin" if binarize else ""
    name += "" if dataset == "mnist" else f"_{dataset}"
    name += f"_labels{labels}" if labels is not None else ""
    return name + (f"_subset{subset}" if subset is not None else "")


def write_atomic(path, text):
    """Write to a temporary name, flush it to the disk, and rename it into place (then flush the
    directory): an interruption or a power cut leaves the old file or the new one, never half of one.
    The flushes cost 0.65 ms per write on the 2-core test machine, about 1 ms per epoch."""
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


class DamagedFile(ValueError):
    """A file of the run cannot be read back; the message names it and says what is wrong."""


class NotOurs(OSError):
    """A path where the run directory expects a file of its own holds something else (a link, a file a
    run never writes): it is left alone, and the command refuses to go on."""


class ForeignFiles(NotOurs):
    """The run directory holds files that no run writes, so --restart deletes nothing there."""


# What a run writes, by name: the only files --restart deletes. Patterns are matched against paths
# relative to the run directory; a directory listed here may hold only what its own patterns allow.
RUN_FILES = {
    ".": ["config.json", "config.json.tmp", "metrics.csv", "metrics.csv.tmp", "eval.json", "eval.json.tmp",
          "samples.npz", "lock", "ckpt", "kept", "tb"],
    "ckpt": ["checkpoint", "checkpoint.tmp*", "ckpt-*.index", "ckpt-*.data-*", "ckpt-*_temp*"],
    "kept": ["epoch-*.index", "epoch-*.data-*", "epoch-*_temp*"],
    "tb": ["events.out.tfevents.*"],
}


def foreign_paths(run_dir):
    """Paths under run_dir that a run does not write (or that are links where a run writes files),
    at most 5: what makes --restart refuse."""
    found = []
    for folder, patterns in RUN_FILES.items():
        directory = Path(run_dir) / folder
        if folder != "." and (directory.is_symlink() or not directory.is_dir()):
            continue
        for path in sorted(directory.iterdir()):
            if path.is_symlink() or not any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns):
                found.append(path)
    return found[:5]


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
        import fcntl  # POSIX only: imported here so that reading runs (results.py, plot.py) works anywhere
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # O_NOFOLLOW: a link planted as the lock must not make us truncate the file it points to.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as err:
            if self.path.is_symlink():
                raise NotOurs(f"{self.path} is a symbolic link, not the run's own lock file; "
                              f"refusing to open it (remove the link)") from err
            raise
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

    def size_and_epochs(self):
        """(bytes in the run's own files, epochs in metrics.csv): what --restart is about to delete."""
        size = sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file() and not p.is_symlink())
        try:
            epochs = len(self.read_metrics())
        except DamagedFile:
            epochs = 0
        return size, epochs

    def clear(self):
        """Delete the run's own files but its lock (held by the caller): train.py --restart. Refuses
        (NotOurs, deleting nothing) when the directory holds anything a run does not write."""
        foreign = foreign_paths(self.path)
        if foreign:
            raise ForeignFiles(f"{self.path} holds files that no run writes ({', '.join(map(str, foreign))}); "
                          f"refusing to delete anything there")
        for path in self.path.iterdir():
            if path.name != "lock":
                shutil.rmtree(path) if path.is_dir() else path.unlink()

    def remove(self):
        """Delete the run directory itself, when it holds only a run's own files (a run that failed
        before its first epoch was saved): nothing of it stays behind."""
        if not self.path.is_dir() or self.path.is_symlink() or foreign_paths(self.path):
            return
        shutil.rmtree(self.path)

    def read_config(self) -> RunConfig:
        """The run's config; DamagedFile when it is missing keys, mistyped or not JSON."""
        try:
            return RunConfig.from_json(self.config_path.read_text())
        except (UnicodeDecodeError, ValueError) as err:
            raise DamagedFile(f"{self.config_path} is damaged ({err})") from err

    def write_config(self, config: RunConfig):
        write_atomic(self.config_path, config.to_json())

    def read_metrics(self):
        """metrics.csv as a list of dicts of numbers ([] if there is none yet); DamagedFile when it
        cannot be parsed (garbage bytes, a row cut short)."""
        if not self.metrics_path.exists():
            return []
        try:
            with open(self.metrics_path, newline="") as f:
                rows = list(csv.DictReader(f))
            return [{k: (int(v) if k == "epoch" else float(v)) for k, v in row.items()} for row in rows]
        except (UnicodeDecodeError, ValueError, TypeError, csv.Error) as err:
            raise DamagedFile(f"{self.metrics_path} is damaged ({str(err).splitlines()[0]})") from err

    def write_metrics(self, rows):
        """rows: list of dicts with the same keys, in epoch order."""
        if not rows:
            return
        lines = [",".join(rows[0])] + [",".join(_format(row[k]) for k in rows[0]) for row in rows]
        write_atomic(self.metrics_path, "\n".join(lines) + "\n")

    def checkpoint_paths(self):
        """Path prefixes of the checkpoints in ckpt/, oldest first, found from the files themselves (the
        state file ckpt/checkpoint is not needed: it may be damaged while the checkpoints are whole)."""
        found = []
        for index in self.checkpoint_dir.glob("ckpt-*.index"):
            number = re.fullmatch(r"ckpt-(\d+)\.index", index.name)
            if number:
                found.append((int(number.group(1)), str(index)[:-len(".index")]))
        return [path for _, path in sorted(found)]

    def latest_checkpoint(self):
        """Path prefix of the newest checkpoint in ckpt/, or None."""
        paths = self.checkpoint_paths()
        return paths[-1] if paths else None

    def checkpoint_manager(self, checkpoint, log=print):
        """A CheckpointManager over ckpt/ that keeps KEEP_LATEST checkpoints. A state file it cannot
        read is rewritten from the checkpoint files first (with a warning)."""
        import tensorflow as tf
        state = self.checkpoint_dir / "checkpoint"
        if state.exists():
            try:
                tf.train.get_checkpoint_state(str(self.checkpoint_dir))
            except Exception as err:  # garbage bytes raise UnicodeDecodeError, bad text a parse error
                paths = self.checkpoint_paths()
                log(f"warning: {state} is unreadable ({str(err).splitlines()[0][:80]}); rebuilt it from the "
                    f"{len(paths)} checkpoint file(s) there")
                names = [Path(path).name for path in paths]
                write_atomic(state, "".join([f'model_checkpoint_path: "{names[-1]}"\n'] if names else [])
                             + "".join(f'all_model_checkpoint_paths: "{name}"\n' for name in names))
        return tf.train.CheckpointManager(checkpoint, str(self.checkpoint_dir), max_to_keep=KEEP_LATEST)

    def kept_checkpoint_path(self, epoch):
        return str(self.path / "kept" / f"epoch-{epoch:04d}")

    def kept_epochs(self):
        """Epochs that have a kept checkpoint, ascending."""
        return sorted(int(p.name[len("epoch-"):-len(".index")]) for p in (self.path / "kept").glob("epoch-*.index"))

    def load_model(self, epoch=None, log=print):
        """(model, config, epoch): the model rebuilt from config.json with the weights of the newest
        checkpoint that reads back whole (an older one, with a warning, when the newest is damaged),
        or of the one kept at `epoch`. FileNotFoundError when there is none; DamagedFile when config.json
        is damaged; ValueError when every checkpoint is."""
        from model.registry import build_model
        config = self.read_config()
        model = build_model(config.model, config.latent_dim, config.seed, len(config.class_names()))
        checkpoint = make_checkpoint(model)
        if epoch is None:
            paths = self.checkpoint_paths()
            if not paths:
                raise FileNotFoundError(f"no checkpoint in {self.checkpoint_dir}")
        else:
            if epoch not in self.kept_epochs():
                raise FileNotFoundError(f"no kept checkpoint for epoch {epoch} in {self.path / 'kept'}")
            paths = [self.kept_checkpoint_path(epoch)]
        # The optimizer's slots are in the file but not needed here.
        restore_latest_good(restorer(checkpoint, model, partial=True), paths, log)
        return model, config, int(checkpoint.epoch.numpy())


def _format(value):
    return str(value) if isinstance(value, int) else f"{value:.6g}"


def make_checkpoint(model, optimizer=None, epoch=None, layout="named"):
    """Everything a resumed run needs; `epoch` (a variable, made here unless given) counts completed epochs.

    Variables are listed explicitly, because tf.train.Checkpoint cannot see Keras 3 layers kept in Python
    lists, nor the noise generators' states. layout "named" (what is written) keys each by what it is,
    model/encoder_conv_1:kernel, optimizer/encoder_conv_1_kernel_momentum, ...; "positional"
    reads checkpoints written before 2026-11-27, keyed model/v000, v001, ... in model.variables' order.
    """
    import tensorflow as tf
    group = _by_name if layout == "named" else _by_position
    parts = dict(model=group(model.variables, model.variable_names()),
                 epoch=epoch if epoch is not None else tf.Variable(0, dtype=tf.int64, trainable=False))
    if optimizer is not None:
        # Without the optimizer's own name, which Keras numbers per process (adam, adam_1, ...).
        parts["optimizer"] = group(optimizer.variables, [v.path.split("/", 1)[-1] for v in optimizer.variables])
    return tf.train.Checkpoint(**parts)


def _by_name(variables, names):
    import tensorflow as tf
    return tf.train.Checkpoint(**{name.replace("/", ":"): v for name, v in zip(names, variables)})


def _by_position(variables, names):
    import tensorflow as tf
    return tf.train.Checkpoint(**{f"v{i:03d}": v for i, v in enumerate(variables)})


def checkpoint_layout(path):
    """"positional" for a checkpoint written before variables were named (its keys model/v000, ...),
    else "named"."""
    import tensorflow as tf
    return "positional" if any(key.startswith("model/v000/") for key, _ in tf.train.list_variables(path)) \
        else "named"


def restorer(checkpoint, model, optimizer=None, partial=False):
    """path -> restore `checkpoint` (a make_checkpoint of model and optimizer) from the checkpoint at
    path, whichever layout it was written in; raises when anything is missing or damaged. partial: the
    optimizer's slots in the file are not needed (plot.py, evaluate.py)."""
    def restore(path):
        source = checkpoint
        if checkpoint_layout(path) == "positional":
            source = make_checkpoint(model, optimizer, epoch=checkpoint.epoch, layout="positional")
        if partial:
            source.read(path).expect_partial().assert_existing_objects_matched()
        else:
            source.restore(path).assert_consumed()
    return restore


def restore_latest_good(restore, paths, log=print):
    """Call restore(path) on the newest of `paths` (oldest first) that reads back whole, warning about
    each damaged one it skips; returns that path, or None when `paths` is empty. Raises ValueError
    when every checkpoint is damaged. train.py, plot.py and evaluate.py all load through this."""
    failures = []
    for path in reversed(paths):
        try:
            restore(path)
        # Damage shows as many exception types (a truncated file raises IndexError); all mean "unusable",
        # and the older checkpoint restores every variable again.
        except Exception as err:
            failures.append(f"{path}: {str(err).splitlines()[0]}")
            log(f"warning: checkpoint {path} is damaged ({str(err).splitlines()[0]}); trying an older one")
            continue
        if failures:
            log(f"using checkpoint {path}")
        return path
    if failures:
        raise ValueError("every checkpoint is damaged: " + "; ".join(failures))
    return None

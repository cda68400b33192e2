"""A run's directory: log/RUN as train.py writes it, or pretrained/RUN as the repository ships it, and
opening either for use (TrainedRun).

  config.json   the run's configuration (cvae.config.RunConfig), so later commands rebuild the model from it
  ckpt/         the latest checkpoints: weights, optimizer state, noise-generator state, epoch
  kept/         checkpoints kept every KEEP_EVERY epochs (epoch-0050, ...)
  metrics.csv   one row per epoch
  tb/           TensorBoard event files
  lock          held by the training that writes here (its PID inside)

A shipped run (pretrained/RUN) holds config.json, metrics.csv, the model's variables as one checkpoint
(weights.index, weights.data-*, no optimizer state) and SHA256SUMS, against which every file is checked
before it is used.

Errors raised here state what is wrong with which file; the command-line tools add what to do.
Nothing here deletes or overwrites a file that a run does not write itself (RUN_FILES).
TensorFlow is imported inside the functions that need it, so results.py can read runs without it.
"""
import csv
import io
import dataclasses
import fnmatch
import os
import re
import shutil
from pathlib import Path

from cvae import ROOT
from cvae.checkpoints import make_checkpoint, restore_latest_good, restorer, shape_mismatch
from cvae.config import RunConfig
from cvae.errors import UsageError, UserFacingError
from cvae.files import changed_file, files_in, read_small_file, write_atomic
from cvae.readme_runs import SHIPPED
from cvae.trainedrun import TrainedRun

# What a run's own files can hold, and far more: a larger one is not the run's (a link to /dev/zero, say).
MAX_CONFIG_BYTES = 10_000_000  # config.json: an own-data record and one entry per invocation
MAX_METRICS_BYTES = 100_000_000  # metrics.csv: a row of about 300 bytes per epoch
KEEP_EVERY = 50
# Two latest checkpoints, so a damaged newest one can fall back to the one before.
KEEP_LATEST = 2
PRETRAINED_DIR = ROOT / "pretrained"
SUMS = "SHA256SUMS"  # a shipped run's list of its files' sha256s, as `sha256sum` writes it
WEIGHTS = "weights"  # a shipped run's checkpoint prefix: weights.index, weights.data-00000-of-00001


class DamagedFile(ValueError):
    """A file of the run cannot be read back; the message names it and says what is wrong."""


class ConfigDisagrees(Exception):
    """config.json describes another model than the one the run's checkpoints hold: it was changed after they
    were written. The checkpoints may be whole; the message names a weight whose shape differs."""


class NotOurs(OSError):
    """A path where the run directory expects a file of its own holds something else (a link, a file a
    run never writes): it is left alone, and the command refuses to go on."""


class ForeignFiles(NotOurs):
    """The run directory holds files that no run writes, so --restart deletes nothing there."""


# What a run writes, by name: the only files --restart deletes. Patterns are matched against paths
# relative to the run directory; a directory listed here may hold only what its own patterns allow.
RUN_FILES = {
    ".": ["config.json", "metrics.csv", "eval.json", "samples.npz", "sampler_gmm.npz", "lock", "ckpt", "kept", "tb",
          # what cvae.files.atomic_file leaves when a write is cut short by SIGKILL or a power cut, and what
          # earlier versions named their temporary files
          ".config.json.*.tmp", ".metrics.csv.*.tmp", ".eval.json.*.tmp", ".samples.npz.*.tmp",
          ".sampler_gmm.npz.*.tmp",
          "config.json.tmp", "metrics.csv.tmp", "eval.json.tmp"],
    "ckpt": ["checkpoint", "checkpoint.tmp*", ".checkpoint.*.tmp", "ckpt-*.index", "ckpt-*.data-*", "ckpt-*_temp*"],
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

    read_only = False  # a shipped run: tools write what they make of it elsewhere

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
            return RunConfig.from_json(read_small_file(self.config_path, MAX_CONFIG_BYTES).decode())
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
            text = read_small_file(self.metrics_path, MAX_METRICS_BYTES).decode()
            rows = list(csv.DictReader(io.StringIO(text, newline="")))
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
                # With each checkpoint's time, as TensorFlow records it: without, the manager would never
                # delete the older ones again.
                names = [Path(path).name for path in paths]
                times = [os.stat(f"{path}.index").st_mtime for path in paths]
                write_atomic(state, "".join([f'model_checkpoint_path: "{names[-1]}"\n'] if names else [])
                             + "".join(f'all_model_checkpoint_paths: "{name}"\n' for name in names)
                             + "".join(f"all_model_checkpoint_timestamps: {t!r}\n" for t in times)
                             + "last_preserved_timestamp: 0.0\n")
        return tf.train.CheckpointManager(checkpoint, str(self.checkpoint_dir), max_to_keep=KEEP_LATEST)

    def check_config_fits(self, model, path):
        """ConfigDisagrees when the checkpoint at `path` holds weights of other shapes than `model`, built from
        config.json."""
        mismatch = shape_mismatch(path, model)
        if mismatch:
            name, stored, built = mismatch
            raise ConfigDisagrees(f"{self.config_path} disagrees with the run's checkpoints: {name} is {stored} in "
                                  f"{path}, {built} in the model config.json describes. config.json was changed after "
                                  f"they were written: set back what it records (the checkpoints are whole; --restart "
                                  f"would delete them)")

    def kept_checkpoint_path(self, epoch):
        return str(self.path / "kept" / f"epoch-{epoch:04d}")

    def kept_epochs(self):
        """Epochs that have a kept checkpoint, ascending."""
        return sorted(int(p.name[len("epoch-"):-len(".index")]) for p in (self.path / "kept").glob("epoch-*.index"))

    def load(self, epoch=None, log=print) -> TrainedRun:
        """The run with the model rebuilt from config.json and the weights of the newest checkpoint that
        reads back whole (an older one, with a warning, when the newest is damaged), or of the one kept at
        `epoch`. FileNotFoundError when there is none; DamagedFile when config.json is damaged; ValueError
        when every checkpoint is."""
        from model.registry import build_model_for
        config = self.read_config()
        identity = config.identity
        model = build_model_for(identity)
        checkpoint = make_checkpoint(model)
        if epoch is None:
            paths = self.checkpoint_paths()
            if not paths:
                raise FileNotFoundError(f"no checkpoint in {self.checkpoint_dir}")
        else:
            if epoch not in self.kept_epochs():
                raise FileNotFoundError(f"no kept checkpoint for epoch {epoch} in {self.path / 'kept'}")
            paths = [self.kept_checkpoint_path(epoch)]
        self.check_config_fits(model, paths[-1])
        # The optimizer's slots are in the file but not needed here.
        path = restore_latest_good(restorer(checkpoint, model, partial=True), paths, log)
        return TrainedRun(model, config, int(checkpoint.epoch.numpy()), self, path)


def _format(value):
    return str(value) if isinstance(value, int) else f"{value:.6g}"

class PretrainedRun(RunDir):
    """A run of pretrained/: read like a run of log/, after every file is checked against SHA256SUMS."""

    read_only = True

    def checkpoint_paths(self):
        return [str(self.path / WEIGHTS)] if (self.path / f"{WEIGHTS}.index").exists() else []

    def kept_epochs(self):
        return []

    def verify(self):
        """DamagedFile naming the first file that is missing or whose sha256 is not the recorded one."""
        try:
            lines = (self.path / SUMS).read_text().splitlines()
            recorded = {name: sha for sha, name in (line.split(maxsplit=1) for line in lines if line.strip())}
        except (OSError, UnicodeDecodeError, ValueError) as err:
            raise DamagedFile(f"{self.path / SUMS} is missing or damaged ({err})") from err
        strange = next((name for name in recorded if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name in (".", "..")),
                       None)
        if strange is not None:
            raise DamagedFile(f"{self.path / SUMS} lists {strange[:60]!r}, not a file of the run's folder")
        for required in ("config.json", f"{WEIGHTS}.index"):
            if required not in recorded:
                raise DamagedFile(f"{self.path / SUMS} lists no {required}")
        files, other = files_in(self.path)
        unlisted = other + sorted(set(files) - set(recorded) - {SUMS})
        if unlisted:
            raise DamagedFile(f"{self.path / SUMS} does not list {unlisted[0]}, which {self.path} holds: every file "
                              f"of a shipped run is checked before it is used")
        wrong = changed_file(self.path, recorded, SUMS)
        if wrong:
            raise DamagedFile(wrong)

    def load(self, epoch=None, log=print):
        self.verify()
        return super().load(epoch, log)


def runs_trained_on(log_dir, identity, stem, path):
    """The run directories in log_dir named as `identity` is but for its data set's hash, whose config.json
    records the data at `path` (whatever its files held then): the runs of the same model and flags on any
    version of that folder or file. `stem`: the start of the data set's name (sources.short_stem), the part its
    hash follows. The one lookup of earlier runs on a path of one's own, for opening a run and for refusing to
    resume one on changed data."""
    pattern = dataclasses.replace(identity, dataset=f"{stem}_{'[0-9a-f]' * 8}", data=None).directory_name()
    found = []
    for candidate in sorted(Path(log_dir).glob(pattern)):
        try:
            data = RunDir(candidate).read_config().identity.data or {}
        except (DamagedFile, OSError):
            continue
        if data.get("path") == str(path):
            found.append(RunDir(candidate))
    return found


def shipped_run(name):
    """The PretrainedRun called `name` (MODEL_N); UsageError when the repository ships no such weights."""
    run = PretrainedRun(PRETRAINED_DIR / name)
    if name not in SHIPPED or not run.path.is_dir():
        available = ", ".join(n for n in SHIPPED if (PRETRAINED_DIR / n).is_dir()) or "none"
        raise UsageError(f"no pretrained weights for {name}; {PRETRAINED_DIR.name}/ has: {available}")
    return run


def run_dir_at(path):
    """The run directory at `path` (resolved, so that its name is the folder's own, never ".." or "."): a shipped
    run where it holds SHA256SUMS, else a run of log/."""
    path = Path(path).resolve()
    return PretrainedRun(path) if (path / SUMS).is_file() else RunDir(path)


def load_shipped(run: PretrainedRun, command):
    """run.load(), a damaged or changed file named in one line with what to do (`command` trains one's own)."""
    try:
        return run.load()
    except DamagedFile as err:
        raise UserFacingError(f"{err}; restore it with `git checkout -- {run.path}`, or train your own: {command}")

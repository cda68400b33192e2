"""Training a run: the one entry every trainer calls (train.py, cvae.train, the classifier that judges
class-consistency), the run directory's life while it trains, and the loop.

    train_run(identity, settings, run_dir)   check the data, hold the run's lock (or, on a worker of a
                                             cluster, train a throw-away copy), train; every failure raised
                                             as one line that says what to do (UserFacingError, UsageError)
    resume(identity, settings, run_dir)      open the run for training: new, or restored from its latest
                                             good checkpoint; every refusal happens here, before an epoch
    train(identity, settings, run_dir)       resume, decide how an epoch's steps run (cvae.steps), loop to
                                             settings.epochs

Where gradients are clipped follows from the strategy, in one line of resume(). What an epoch's data are (every
image once, or m2's mix of unlabelled and labelled images) is chosen once too (epoch_data). The precision, XLA
and the strategy are cvae.devices'; the TensorBoard images cvae.epoch_images'.
"""
import contextlib
import dataclasses
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from model.registry import build_model_for
from cvae.batches import binarize_fixed, labelled_subset, semi_supervised_epoch, shuffled
from cvae.checkpoints import make_checkpoint, restore_latest_good, restorer
from cvae.config import RunConfig, RunIdentity, TrainingSettings
from cvae.data import DATA_DIR
from cvae.datasets import load_for
from cvae.devices import dtype_policy, is_chief, make_strategy, precision_note, run_precision, step_uses_xla, xla_note
from cvae.epoch_images import EpochImages
from cvae.errors import UsageError, UserFacingError
from cvae.preflight import LostHistory, check_labels, refuse_changed_data, refuse_to_overwrite
from cvae.rundir import KEEP_EVERY, ConfigDisagrees, DamagedFile, ForeignFiles, RunDir, RunInUse
from cvae.steps import (DistributedSteps, InMemorySteps, NonFiniteLoss, chunks_in_memory, make_eval_step, run_epoch,
                        several_steps)

EVAL_BATCH = 1000


class ConfigUnreadable(Exception):
    """The run's config.json cannot be read back, so the run cannot be resumed."""


class SettingsDiffer(Exception):
    """The run directory holds a run whose fixed settings differ from the ones asked for."""

    def __init__(self, run_dir, differences):
        super().__init__(f"{run_dir} holds a run with other settings ({'; '.join(differences)})")


class DiskFull(Exception):
    """Writing a checkpoint ran out of disk space; its partial files were removed."""


class RunDamaged(Exception):
    """Every checkpoint of the run is damaged."""


class MetricsDamaged(Exception):
    """The run's metrics.csv cannot be read back."""


def prepare_run_dir(identity: RunIdentity, run_dir: RunDir, restart, log=print):
    """Start or resume `run_dir` for `identity` (its lock already held); returns the training entries of the
    run's earlier invocations ([] for a new run). restart deletes the run's own files first (RunDir.clear,
    which refuses a directory holding others)."""
    run_dir.path.mkdir(parents=True, exist_ok=True)
    if restart:
        size, epochs = run_dir.size_and_epochs()
        run_dir.clear()
        if size:
            log(f"started over: deleted {epochs} epoch(s) of metrics and {size / 1e6:.1f} MB of checkpoints, "
                f"config and events from {run_dir}")
    if run_dir.latest_checkpoint() is None:
        return []
    try:
        saved = run_dir.read_config()
    except DamagedFile as err:
        raise ConfigUnreadable(str(err)) from err
    except OSError as err:
        raise ConfigUnreadable(f"{run_dir.config_path} is unreadable ({err})") from err
    differ = saved.identity.differences(identity)
    if differ:
        # A config.json changed by hand (latent_dim 2 -> 3) is no other run: its checkpoints say so.
        saved_model = build_model_for(saved.identity)
        run_dir.check_config_fits(saved_model, run_dir.latest_checkpoint())
        raise SettingsDiffer(run_dir, differ)
    return saved.training


def record_start(config: RunConfig, settings: TrainingSettings, run_dir: RunDir, epoch, xla, precision):
    """Note in config.json the settings this invocation trains with, from `epoch` on (XLA and precision as
    decided)."""
    config.training.append({"from_epoch": epoch, "epochs": settings.epochs, "batch_size": settings.batch_size,
                            "learning_rate": settings.learning_rate, "clip": settings.clip, "xla": xla,
                            "precision": precision, "strategy": settings.strategy, "schedule": settings.schedule,
                            "kl_warmup": settings.kl_warmup})
    run_dir.write_config(config)


def save_checkpoints(checkpoint, manager, run_dir: RunDir, epoch):
    """The checkpoint of `epoch` in ckpt/ (and in kept/ every KEEP_EVERY epochs). When the disk fills up,
    TensorFlow leaves a partial ckpt-N_temp/ folder behind, and may have begun the epoch's own files (a 0-byte
    ckpt-N.index): they are removed, so that the last good checkpoint is the newest again, and DiskFull names it."""
    try:
        manager.save(checkpoint_number=epoch)
        if epoch % KEEP_EVERY == 0:
            checkpoint.write(run_dir.kept_checkpoint_path(epoch))
    except (tf.errors.OpError, OSError) as err:
        if not (isinstance(err, tf.errors.ResourceExhaustedError) or "No space left" in str(err)):
            raise
        kept = Path(run_dir.kept_checkpoint_path(epoch)).name
        for partial in [*run_dir.checkpoint_dir.glob("*_temp*"), *(run_dir.path / "kept").glob("*_temp*"),
                        *run_dir.checkpoint_dir.glob(f"ckpt-{epoch}.*"), *(run_dir.path / "kept").glob(f"{kept}.*")]:
            shutil.rmtree(partial, ignore_errors=True) if partial.is_dir() else partial.unlink(missing_ok=True)
        latest = run_dir.latest_checkpoint()
        raise DiskFull(f"no space left on device while writing the checkpoint of epoch {epoch} in {run_dir}; "
                       + (f"the last good checkpoint is {latest}" if latest else "no checkpoint was saved")) from err


def epoch_data(seed, batch_size, train_x, train_y, labelled):
    """The function epoch -> that epoch's training (x, y) in order: every image once, shuffled with
    (seed, epoch); or for a semi-supervised run, batches of batch_size unlabelled images and as many
    labelled ones (semi_supervised_epoch)."""
    if labelled is None:
        return lambda epoch: shuffled(train_x, train_y, shuffle_seed=(seed, epoch))
    return lambda epoch: semi_supervised_epoch(train_x, train_y, labelled, batch_size, shuffle_seed=(seed, epoch))


@dataclasses.dataclass
class Session:
    """A run opened for training: its directory prepared, its model and optimizer built and, when it resumes,
    restored from its latest good checkpoint; the data in memory. What resume() gives and train()'s loop uses."""
    config: RunConfig
    history: list  # the training entries of the run's earlier invocations ([] for a new run)
    precision: str
    model: keras.Model
    optimizer: keras.optimizers.Optimizer
    checkpoint: tf.train.Checkpoint
    manager: tf.train.CheckpointManager
    start: int  # the epoch the checkpoint holds (0: a new run)
    rows: list  # metrics.csv's rows up to `start`
    arrays: tuple  # (training images, labels, test images, labels) as the run sees them (--subset, binarized test)
    labelled: np.ndarray | None  # m2: the indices of the labelled training images
    step_clip: float | None  # the distributed step's clipping (the optimizer clips on one device)


def resume(identity: RunIdentity, settings: TrainingSettings, run_dir: RunDir, restart=False, data_dir=DATA_DIR,
           strategy=None, log=print, data=None) -> Session:
    """Open `run_dir` (whose lock the caller holds) for training `identity`: a new run, or the run there resumed
    from its latest good checkpoint. Every refusal (other settings, damaged files) is raised here, before an
    epoch. settings.precision None: run_precision's choice. data: the run's ImageSet, when the caller has
    loaded it (else it is loaded here)."""
    history = prepare_run_dir(identity, run_dir, restart, log)
    config = RunConfig(identity, list(history))
    precision = run_precision(settings.precision, history)
    keras.utils.set_random_seed(identity.seed)
    data = data if data is not None else load_for(identity, data_dir, log)
    train_images, train_labels, test_images, test_labels = (a[:identity.subset] for a in data.arrays())
    if identity.binarize:
        test_images = binarize_fixed(test_images)

    # Gradient clipping must see the whole batch's gradient. On one device the optimizer's own clipping
    # does; under tf.distribute it would see one replica's part, so the distributed step clips instead.
    optimizer_clip, step_clip = (settings.clip, None) if strategy is None else (None, settings.clip)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        with dtype_policy(precision):
            model = build_model_for(identity)
        optimizer = keras.optimizers.Adam(learning_rate=settings.learning_rate, global_clipnorm=optimizer_clip)
        optimizer.build(model.trainable_variables)
    labelled = None
    if model.semi_supervised:
        labelled = labelled_subset(train_labels, identity.labels, identity.seed, identity.class_names())
        model.set_data_sizes(len(labelled), len(train_images) - len(labelled))

    checkpoint = make_checkpoint(model, optimizer)
    manager = run_dir.checkpoint_manager(checkpoint, log)
    if history:
        run_dir.check_config_fits(model, run_dir.checkpoint_paths()[-1])
        try:
            restore_latest_good(restorer(checkpoint, model, optimizer), run_dir.checkpoint_paths(), log)
        except ValueError as err:
            raise RunDamaged(f"cannot resume {run_dir}: {err}")
        optimizer.learning_rate.assign(settings.learning_rate)
    start = int(checkpoint.epoch.numpy())
    try:
        rows = [row for row in run_dir.read_metrics() if row["epoch"] <= start]
    except DamagedFile as err:
        raise MetricsDamaged(str(err)) from err
    except KeyError as err:  # a file without an epoch column
        raise MetricsDamaged(f"{run_dir.metrics_path} is damaged ({err})") from err
    return Session(config, history, precision, model, optimizer, checkpoint, manager, start, rows,
                   (train_images, train_labels, test_images, test_labels), labelled, step_clip)


def step_runner(session, settings, identity, step_images, steps_per_epoch, xla, strategy):
    """How an epoch's training steps run (cvae.steps): in memory on one device, or split by `strategy`."""
    warmup_steps = settings.kl_warmup * steps_per_epoch or None
    if strategy is None:
        return InMemorySteps(session.model, session.optimizer, step_images, identity.binarize, xla, warmup_steps)
    return DistributedSteps(session.model, session.optimizer, step_images, strategy, identity.binarize,
                            session.step_clip, xla, warmup_steps)


def train(identity: RunIdentity, settings: TrainingSettings, run_dir: RunDir, restart=False, data_dir=DATA_DIR,
          strategy=None, log=print, data=None):
    """Train into `run_dir` (whose lock the caller holds) until settings.epochs: resume(), one decision (how an
    epoch's steps run, cvae.steps), then one loop. data: as resume() takes it.

    settings.xla and settings.precision None: step_uses_xla's and run_precision's choice. strategy: a
    tf.distribute strategy (made from settings.strategy by train_run), or None for one device."""
    session = resume(identity, settings, run_dir, restart, data_dir, strategy, log, data)
    model, start, labelled = session.model, session.start, session.labelled
    train_images, train_labels, test_images, test_labels = session.arrays
    train_x, train_y, test_x, test_y = map(tf.convert_to_tensor, session.arrays)
    epoch_xy = epoch_data(identity.seed, settings.batch_size, train_x, train_y, labelled)
    if start >= settings.epochs:
        log(f"{run_dir} is already trained to epoch {start}; ask for more epochs to continue.")
        return
    if settings.kl_warmup and not model.weighs_kl:
        raise UsageError(f"--kl-warmup weighs a VAE's KL term, and {identity.model} has none it can weigh")
    asked, xla = settings.xla is not None, step_uses_xla(settings.xla, session.history, model, strategy)
    record_start(session.config, settings, run_dir, start, xla, session.precision)
    log(f"{'resuming' if session.history else 'training'} {identity.model} in {run_dir} from epoch {start}: "
        f"{len(train_x):,} training images" + (f" ({len(labelled)} labelled)" if labelled is not None else "")
        + f", {len(test_x):,} test images; {xla_note(xla, asked)}; {precision_note(session.precision)}")
    if model.has_latent_space and model.image_shape[2] == 3 and model.likelihood.spec.on_colour:
        log(f"note: {model.likelihood.spec.on_colour}")
    # A semi-supervised step takes batch_size unlabelled images and as many labelled ones.
    step_images = settings.batch_size * (2 if model.semi_supervised else 1)
    runner = step_runner(session, settings, identity, step_images, -(-len(train_x) // step_images), xla, strategy)
    if strategy is not None:
        log(runner.describe())

    eval_steps = several_steps(make_eval_step(model))
    test_x, test_y = shuffled(test_x, test_y)
    writer = tf.summary.create_file_writer(str(run_dir.tensorboard_dir))
    # The first test images, before the shuffle (so every resume shows the same ones).
    epoch_images = (EpochImages(model, test_images, test_labels, len(identity.class_names()))
                    if model.has_latent_space else None)
    for epoch in range(start + 1, settings.epochs + 1):
        began = time.perf_counter()
        if settings.schedule != "constant":
            session.optimizer.learning_rate.assign(epoch_learning_rate(settings, epoch))
        pixels, y = epoch_xy(epoch)
        try:
            train_means, images = run_epoch(runner.chunks(pixels, y), -(-int(y.shape[0]) // step_images),
                                            label=f"epoch {epoch}/{settings.epochs}")
        except NonFiniteLoss as err:
            raise NonFiniteLoss(f"{err} of epoch {epoch}", epoch, last_saved=epoch - 1)
        seconds = time.perf_counter() - began
        del pixels, y  # so that the next epoch's copy is made without this one alive
        test_means, _ = run_epoch(chunks_in_memory(eval_steps, test_x, test_y, EVAL_BATCH), 0)
        row = {"epoch": epoch,
               **{f"train_{k}": v for k, v in train_means.items()},
               **{f"test_{k}": v for k, v in test_means.items()},
               **{f"test_{k}": v for k, v in model.derived_metrics(test_means).items()},
               "images_per_s": images / seconds, "seconds": seconds}
        end_epoch(session, run_dir, row, writer, epoch_images)
        log(progress_line(row, settings.epochs))
        sys.stdout.flush()
    writer.close()


def epoch_learning_rate(settings: TrainingSettings, epoch):
    """The learning rate of epoch `epoch` (1 to settings.epochs) under settings.schedule (cvae.config)."""
    if settings.schedule == "cosine":
        return settings.learning_rate * 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / settings.epochs))
    return settings.learning_rate


def end_epoch(session, run_dir, row, writer, epoch_images):
    """Save an epoch: its metrics row, then its checkpoint (a run killed between the two redoes this epoch on
    resume), then its TensorBoard scalars and images."""
    epoch = row["epoch"]
    session.rows.append(row)
    run_dir.write_metrics(session.rows)
    session.checkpoint.epoch.assign(epoch)
    save_checkpoints(session.checkpoint, session.manager, run_dir, epoch)
    with writer.as_default(step=epoch):
        for key, value in row.items():
            if key != "epoch":
                tf.summary.scalar(key, value)
        if epoch_images is not None:
            epoch_images.write(epoch)


def progress_line(row, epochs):
    train = "  ".join(f"{k[6:]} {v:.4g}" for k, v in row.items() if k.startswith("train_"))
    test = "  ".join(f"{k[5:]} {v:.4g}" for k, v in row.items() if k.startswith("test_"))
    return (f"epoch {row['epoch']:>{len(str(epochs))}}/{epochs}  train: {train}  |  test: {test}  |  "
            f"{row['images_per_s']:,.0f} img/s  {row['seconds']:.1f} s")


def explained(err, run_dir, learning_rate):
    """A failure of the training loop or the run directory as one line that says what to do (UserFacingError or
    UsageError); None for other exceptions."""
    if isinstance(err, ConfigDisagrees):
        return UserFacingError(str(err))
    if isinstance(err, ForeignFiles):
        return UserFacingError(f"{err}; move them away, or train elsewhere with --log-dir")
    if isinstance(err, RunInUse):
        return UserFacingError(f"{err}; wait for it to finish or stop it (kill {err.holder}), or train elsewhere "
                               f"with --log-dir")
    if isinstance(err, ConfigUnreadable):
        return UserFacingError(f"{err}; it records the run's settings: repair it, or pass --restart to discard "
                               f"the run, checkpoints included")
    if isinstance(err, DiskFull):
        return UserFacingError(f"{err}. Free some space and run the same command to resume.")
    if isinstance(err, SettingsDiffer):
        return UsageError(f"{err}; pass --restart to replace it, or --log-dir to train elsewhere")
    if isinstance(err, LostHistory):
        return UsageError(f"{err}: pass --restart to start over (they are deleted), or --log-dir to train elsewhere")
    if isinstance(err, MetricsDamaged):
        return UserFacingError(f"{err}; move it away to resume without the earlier epochs' metrics, or pass --restart")
    if isinstance(err, RunDamaged):
        return UserFacingError(f"{err}; pass --restart to start over")
    if isinstance(err, NonFiniteLoss):
        saved = (f"nothing of this epoch was saved, the last good checkpoint is epoch {err.last_saved} in {run_dir}"
                 if err.last_saved else f"no epoch had finished, so nothing was saved in {run_dir}")
        return UserFacingError(f"{err}; {saved}. Try gradient clipping (-c 1.0) or a lower learning rate "
                               f"(-l {learning_rate / 10:g}).")
    return None


def train_run(identity: RunIdentity, settings: TrainingSettings, run_dir: RunDir, restart=False, data_dir=DATA_DIR,
              log=print, data=None):
    """What train.py does once its flags are read: check m2's labels against the data and refuse a run whose
    data changed (before anything is written), then train `run_dir` under its lock. A run directory this
    call created is removed again when it fails before its first checkpoint: a failed start leaves nothing
    behind. A multi-worker run's other workers take part in every step but must not write the run: each
    trains in a throw-away copy of it (resuming from the chief's checkpoint, read from a shared file
    system, unless restart) and deletes the copy at the end. The data are loaded once (or given as `data`, the
    run's ImageSet) and passed down. A failure the user can act on is raised as one line that says what to do
    (explained())."""
    try:
        return _train_run(identity, settings, run_dir, restart, data_dir, log, data)
    except Exception as err:
        better = explained(err, run_dir, settings.learning_rate)
        if better is None:
            raise
        raise better from err


def _train_run(identity, settings, run_dir, restart, data_dir, log, data):
    data = data if data is not None else load_for(identity, data_dir, log)
    check_labels(identity, data.train_labels[:identity.subset])
    refuse_changed_data(identity, run_dir, restart)
    refuse_to_overwrite(run_dir, restart)
    strategy = make_strategy(settings.strategy)
    if is_chief(strategy):
        created = not run_dir.path.exists()
        try:
            with run_dir.lock():
                return train(identity, settings, run_dir, restart, data_dir, strategy, log, data)
        except BaseException:
            if created and run_dir.latest_checkpoint() is None:
                run_dir.remove()
            raise
    with tempfile.TemporaryDirectory(prefix="cvae-worker-") as scratch:
        own_dir = RunDir(Path(scratch) / run_dir.name)
        if not restart and run_dir.config_path.exists():
            shutil.copytree(run_dir.path, own_dir.path, ignore=shutil.ignore_patterns("lock", "tb", "kept"))
        with own_dir.lock():
            return train(identity, settings, own_dir, restart, data_dir, strategy, log, data)

"""The training loop behind train.py: one decision (how an epoch's steps run), then one loop.

    train_run(identity, settings, run_dir)   what train.py does: check the data, hold the run's lock (or,
                                             on a worker of a cluster, train a throw-away copy), train
    train(identity, settings, run_dir)       train the run in `run_dir` until settings.epochs, resuming
                                             where it stopped

How a pass over the data runs is decided once in train(), by picking one of two runners with the
same method, chunks(x, y), which yields (per-step losses, per-step batch sizes) for run_epoch() to sum:
  InMemorySteps      one device: the epoch held in memory, STEPS_PER_CALL steps per call into the graph
  DistributedSteps   a tf.distribute strategy: batches split across replicas, one step per call
Where gradients are clipped follows from the same choice, in one line at the top of train(). What an
epoch's data are (every image once, or m2's mix of unlabelled and labelled images) is chosen once
too (epoch_data).

Errors are raised as the classes below, with what went wrong; train.py adds what to do.
"""
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from model.base import this_replicas_rows
from model.registry import build_model_for
from cvae.batches import binarize_fixed, labelled_subset, semi_supervised_epoch, shuffled, unit_batches
from cvae.checkpoints import make_checkpoint, restore_latest_good, restorer
from cvae.config import RunConfig, RunIdentity, TrainingSettings
from cvae.data import DATA_DIR
from cvae.datasets import load_for
from cvae.errors import UsageError
from cvae.generation import decode, reconstruct, to_input
from cvae.rundir import KEEP_EVERY, DamagedFile, RunDir, runs_trained_on

EVAL_BATCH = 1000
# Batches per call into the compiled graph: calling it once per step costs Python and a wait for each
# step's losses, a large share of the images/s on 2 cores (bench/README.md).
STEPS_PER_CALL = 50


class NonFiniteLoss(Exception):
    """The training loss became NaN or infinite; nothing of the epoch was saved."""

    def __init__(self, message, epoch=None, last_saved=None):
        super().__init__(message)
        self.epoch, self.last_saved = epoch, last_saved


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


def make_train_step(model, optimizer, binarize=False, xla=False):
    """The compiled training step on one device: (x, y) -> dict of batch-mean losses.

    xla compiles it with XLA: train() decides (step_uses_xla), and bench/README.md measures it per model."""
    @tf.function(input_signature=batch_signature(model), jit_compile=xla)
    def train_step(x, y):
        if binarize:
            x = binarized(model, x)
        with tf.GradientTape() as tape:
            losses = model.compute_losses(x, y, training=True)
        gradients = tape.gradient(losses["loss"], model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return losses

    return train_step


def make_distributed_step(model, optimizer, strategy, binarize=False, clip=None, xla=False):
    """A training step over a batch that `strategy` has split across its replicas.

    Each replica scales its batch-mean loss by its share of the global batch, so the gradients the
    optimizer sums over replicas are those of the global batch's mean. Clipping must see that sum, not
    one replica's part, so it happens here (the optimizer is built without clipping): all-reduce, clip,
    divide by the replica count, and the optimizer's own sum gives back the clipped gradient."""
    def replica_step(x, y):
        replica = tf.distribute.get_replica_context()
        if binarize:
            x = binarized(model, x)
        local = tf.cast(tf.shape(x)[0], tf.float32)
        share = local / replica.all_reduce(tf.distribute.ReduceOp.SUM, local)
        with tf.GradientTape() as tape:
            losses = model.compute_losses(x, y, training=True)
            scaled = losses["loss"] * share
        gradients = tape.gradient(scaled, model.trainable_variables)
        if clip is not None:
            total = replica.all_reduce(tf.distribute.ReduceOp.SUM, gradients)
            clipped, _ = tf.clip_by_global_norm(total, clip)
            gradients = [g / replica.num_replicas_in_sync for g in clipped]
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return {k: v * share for k, v in losses.items()}

    @tf.function(jit_compile=xla)
    def train_step(x, y):
        per_replica = strategy.run(replica_step, args=(x, y))
        return {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in per_replica.items()}

    return train_step


def make_eval_step(model):
    """The compiled evaluation step: (x, y) -> dict of batch-mean losses, no dropout, no updates."""
    @tf.function(input_signature=batch_signature(model))
    def eval_step(x, y):
        return model.compute_losses(x, y, training=False)

    return eval_step


def batch_signature(model):
    """A batch as the compiled steps take it: x [B, H, W, C] float32 in [0, 1] of the model's shape, y [B]."""
    return [tf.TensorSpec([None, *model.image_shape], tf.float32), tf.TensorSpec([None], tf.int32)]




def binarized(model, x):
    """Pixels drawn from Bernoulli(x). The model's noise generator is checkpointed, so a resumed run
    draws the same pixels."""
    uniform = this_replicas_rows(lambda shape: keras.random.uniform(shape, seed=model.noise), tf.shape(x))
    return tf.cast(uniform < x, tf.float32)


def several_steps(step):
    """`step` (x, y) -> {name: batch-mean loss} run over consecutive batches of an epoch in one call:
    (pixels [N, H, W, C] uint8, y [N], starts [k], batch_size) -> {name: [k] losses}, batch i being rows
    starts[i] to starts[i] + batch_size (fewer at the end of the epoch), scaled to [0, 1] as it is sliced."""
    names = list(step.get_concrete_function().structured_outputs)
    # An epoch's pixels stay uint8 until each batch is sliced off (batches.shuffled); images of the step's shape.
    image_shape = step.input_signature[0].shape[1:]
    epoch = [tf.TensorSpec([None, *image_shape], tf.uint8), tf.TensorSpec([None], tf.int32)]

    @tf.function(input_signature=[*epoch, tf.TensorSpec([None], tf.int32), tf.TensorSpec([], tf.int32)])
    def run(pixels, y, starts, batch_size):
        rows = tf.TensorArray(tf.float32, size=tf.size(starts))
        for i in tf.range(tf.size(starts)):
            losses = step(to_input(pixels[starts[i]:starts[i] + batch_size]), y[starts[i]:starts[i] + batch_size])
            rows = rows.write(i, tf.stack([losses[name] for name in names]))
        stacked = rows.stack()
        return {name: stacked[:, j] for j, name in enumerate(names)}

    return run


def chunks_in_memory(steps, pixels, y, batch_size):
    """Per-step losses and batch sizes of one pass over (pixels [N, H, W, C] uint8, y), STEPS_PER_CALL steps
    per call of `steps` (a several_steps function)."""
    count = int(y.shape[0])
    starts = np.arange(0, count, batch_size, dtype=np.int32)
    sizes = np.minimum(batch_size, count - starts)
    for first in range(0, len(starts), STEPS_PER_CALL):
        losses = steps(pixels, y, starts[first:first + STEPS_PER_CALL], batch_size)
        yield {k: v.numpy() for k, v in losses.items()}, sizes[first:first + STEPS_PER_CALL]


class InMemorySteps:
    """One device: the epoch's tensors in memory, STEPS_PER_CALL training steps per call into the graph."""

    def __init__(self, model, optimizer, batch_size, binarize=False, xla=False):
        self.steps = several_steps(make_train_step(model, optimizer, binarize, xla))
        self.batch_size = batch_size

    def chunks(self, pixels, y):
        return chunks_in_memory(self.steps, pixels, y, self.batch_size)


class DistributedSteps:
    """A tf.distribute strategy: each global batch split across the replicas, one step per call."""

    def __init__(self, model, optimizer, batch_size, strategy, binarize=False, clip=None, xla=False):
        self.step = make_distributed_step(model, optimizer, strategy, binarize, clip, xla)
        self.batch_size = batch_size
        self.strategy = strategy

    def chunks(self, pixels, y):
        for xb, yb in distribute(self.strategy, pixels, y, self.batch_size):
            losses = self.step(xb, yb)
            images = int(yb.shape[0]) if isinstance(yb, tf.Tensor) else sum(int(part.shape[0]) for part in yb.values)
            yield {k: np.array([float(v)]) for k, v in losses.items()}, np.array([images])

    def describe(self):
        # TF 2 names MultiWorkerMirroredStrategy's class after its all-reduce.
        kind = {"CollectiveAllReduceStrategy": "MultiWorkerMirroredStrategy"}.get(type(self.strategy).__name__,
                                                                                  type(self.strategy).__name__)
        replicas = self.strategy.num_replicas_in_sync
        return (f"tf.distribute: {kind}, {replicas} replica{'s' if replicas != 1 else ''}, "
                f"{self.batch_size / replicas:g} images per replica per step")


def distribute(strategy, pixels, y, batch_size):
    """Batches (x [B, H, W, C] float32 in [0, 1], y) of the global batch size over (pixels uint8, y),
    each split across the strategy's replicas. Workers of a multi-worker run each take their share of
    every batch (the data are in memory, not in files)."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dataset = unit_batches(pixels, y, batch_size)
    return strategy.experimental_distribute_dataset(dataset.with_options(options))


def run_epoch(chunks, steps_in_epoch, label=""):
    """(means over all images of each loss, number of images), from `chunks` of per-step losses and
    batch sizes; raises NonFiniteLoss naming the first bad step."""
    sums, count, done = {}, 0, 0
    show_progress = label and sys.stdout.isatty()
    last_shown = time.perf_counter()
    for losses, sizes in chunks:
        bad = np.flatnonzero(~np.isfinite(losses["loss"]))
        if len(bad):
            raise NonFiniteLoss(f"loss became {losses['loss'][bad[0]]} at step {done + bad[0] + 1}")
        for k, v in losses.items():
            sums[k] = sums.get(k, 0.0) + float(np.dot(v.astype(np.float64), sizes))
        count += int(sizes.sum())
        done += len(sizes)
        if show_progress and time.perf_counter() - last_shown > 0.5:
            print(f"\r{label} step {done}/{steps_in_epoch}  loss {sums['loss'] / count:.4g}", end="", flush=True)
            last_shown = time.perf_counter()
    if show_progress:
        print("\r" + " " * 60 + "\r", end="")
    return {k: v / count for k, v in sums.items()}, count


def progress_line(row, epochs):
    train = "  ".join(f"{k[6:]} {v:.4g}" for k, v in row.items() if k.startswith("train_"))
    test = "  ".join(f"{k[5:]} {v:.4g}" for k, v in row.items() if k.startswith("test_"))
    return (f"epoch {row['epoch']:>{len(str(epochs))}}/{epochs}  train: {train}  |  test: {test}  |  "
            f"{row['images_per_s']:,.0f} img/s  {row['seconds']:.1f} s")


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
                            "precision": precision, "strategy": settings.strategy})
    run_dir.write_config(config)


def save_checkpoints(checkpoint, manager, run_dir: RunDir, epoch):
    """The checkpoint of `epoch` in ckpt/ (and in kept/ every KEEP_EVERY epochs). When the disk fills up,
    TensorFlow leaves a partial ckpt-N_temp/ folder behind: it is removed, and DiskFull names the last
    good checkpoint."""
    try:
        manager.save(checkpoint_number=epoch)
        if epoch % KEEP_EVERY == 0:
            checkpoint.write(run_dir.kept_checkpoint_path(epoch))
    except (tf.errors.OpError, OSError) as err:
        if not (isinstance(err, tf.errors.ResourceExhaustedError) or "No space left" in str(err)):
            raise
        for partial in [*run_dir.checkpoint_dir.glob("*_temp*"), *(run_dir.path / "kept").glob("*_temp*")]:
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


def bf16_hardware():
    """The CPU's bfloat16 matrix instructions named as /proc/cpuinfo names them ("amx_bf16 avx512_bf16"),
    or "" when it has none (or is not Linux): there TensorFlow emulates bfloat16, which is slower."""
    try:
        flags = next((line.split(":", 1)[1].split() for line in open("/proc/cpuinfo") if line.startswith("flags")), [])
    except OSError:
        return ""
    return " ".join(flag for flag in ("amx_bf16", "avx512_bf16") if flag in flags)


def precision_note(precision):
    """What the start-up line says about the arithmetic: which precision runs, and on what hardware."""
    hardware = bf16_hardware()
    if precision == "bf16":
        return ("precision bf16 (mixed_bfloat16: float32 weights and losses" +
                (f"; this CPU has {hardware})" if hardware else "; this CPU has no bf16 instructions, so it is "
                                                               "emulated and slower than fp32)"))
    return "precision fp32" + (f" (this CPU has {hardware}: --precision bf16 may be faster)" if hardware else "")


@contextlib.contextmanager
def dtype_policy(precision):
    """Layers built inside compute in bfloat16 for precision "bf16" (Keras' mixed_bfloat16 policy, read
    when a layer is made), float32 otherwise; the global policy is restored on the way out."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if precision == "bf16" else "float32")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def run_precision(precision, history):
    """The precision to train with: `precision` when train.py was told (--precision); otherwise what a
    resumed run was last trained with (its earlier invocations' entries, `history`); "fp32" for a new run.
    So resuming a bf16 run without the flag does not quietly go on in fp32."""
    if precision is not None:
        return precision
    return history[-1]["precision"] if history else "fp32"


def step_uses_xla(xla, history, model, strategy):
    """Whether the training step is compiled with XLA: `xla` when train.py was told (--xla / --no-xla);
    otherwise what a resumed run was last trained with (so it goes on with the same arithmetic);
    otherwise the model's default, on one device. Under tf.distribute XLA stays off unless asked: it is
    not measured there."""
    if xla is not None:
        return xla
    if history:
        return history[-1]["xla"]
    return model.xla_by_default and strategy is None


def xla_note(xla, asked):
    """What the start-up line says about XLA."""
    if not xla:
        return "plain graph" + ("" if asked else " (--xla compiles it with XLA)")
    return "step compiled with XLA" + ("" if asked else " (--no-xla for the plain graph)")


def train(identity: RunIdentity, settings: TrainingSettings, run_dir: RunDir, restart=False, data_dir=DATA_DIR,
          strategy=None, log=print):
    """Train into `run_dir` (whose lock the caller holds) until settings.epochs.

    settings.xla and settings.precision None: step_uses_xla's and run_precision's choice. strategy: a
    tf.distribute strategy (made from settings.strategy by train_run), or None for one device."""
    history = prepare_run_dir(identity, run_dir, restart, log)
    config = RunConfig(identity, list(history))
    precision = run_precision(settings.precision, history)
    keras.utils.set_random_seed(identity.seed)
    data = load_for(identity, data_dir, log)
    classes = len(identity.class_names())
    train_images, train_labels, test_images, test_labels = (a[:identity.subset] for a in data.arrays())
    if identity.binarize:
        test_images = binarize_fixed(test_images)
    train_x, train_y, test_x, test_y = map(tf.convert_to_tensor, (train_images, train_labels, test_images, test_labels))

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
    epoch_xy = epoch_data(identity.seed, settings.batch_size, train_x, train_y, labelled)

    checkpoint = make_checkpoint(model, optimizer)
    manager = run_dir.checkpoint_manager(checkpoint, log)
    resuming = bool(history)
    if resuming:
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
    if start >= settings.epochs:
        log(f"{run_dir} is already trained to epoch {start}; ask for more epochs to continue.")
        return
    asked, xla = settings.xla is not None, step_uses_xla(settings.xla, history, model, strategy)
    record_start(config, settings, run_dir, start, xla, precision)
    log(f"{'resuming' if resuming else 'training'} {identity.model} in {run_dir} from epoch {start}: "
        f"{len(train_x):,} training images" + (f" ({len(labelled)} labelled)" if labelled is not None else "")
        + f", {len(test_x):,} test images; {xla_note(xla, asked)}; {precision_note(precision)}")
    # A semi-supervised step takes batch_size unlabelled images and as many labelled ones.
    step_images = settings.batch_size * (2 if model.semi_supervised else 1)
    if strategy is None:
        runner = InMemorySteps(model, optimizer, step_images, identity.binarize, xla)
    else:
        runner = DistributedSteps(model, optimizer, step_images, strategy, identity.binarize, step_clip, xla)
        log(runner.describe())

    eval_steps = several_steps(make_eval_step(model))
    test_x, test_y = shuffled(test_x, test_y)
    writer = tf.summary.create_file_writer(str(run_dir.tensorboard_dir))
    # The first test images, before the shuffle (so every resume shows the same ones).
    epoch_images = EpochImages(model, test_images, test_labels, classes) if model.has_latent_space else None
    for epoch in range(start + 1, settings.epochs + 1):
        began = time.perf_counter()
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

        # Metrics before the checkpoint: a run killed between the two redoes this epoch on resume.
        rows.append(row)
        run_dir.write_metrics(rows)
        checkpoint.epoch.assign(epoch)
        save_checkpoints(checkpoint, manager, run_dir, epoch)
        with writer.as_default(step=epoch):
            for key, value in row.items():
                if key != "epoch":
                    tf.summary.scalar(key, value)
            if epoch_images is not None:
                epoch_images.write(epoch)
        log(progress_line(row, settings.epochs))
        sys.stdout.flush()
    writer.close()


class EpochImages:
    """What TensorBoard shows of a generative run each epoch, beside the scalars: the first test images over
    their reconstructions, and images decoded from fixed codes and labels (a row per class), so that one epoch
    compares with the next. Drawn with the model's deterministic paths (encoder means, decoder means) and a
    numpy generator of its own: the training's random streams, and so its weights, are untouched."""
    COLUMNS = 8
    SEED = 2014

    def __init__(self, model, test_images, test_labels, classes):
        self.model = model
        self.images, self.labels = test_images[:self.COLUMNS], test_labels[:self.COLUMNS]
        rows = classes if model.conditional else 4
        self.z_labels = np.repeat(np.arange(rows), self.COLUMNS) if model.conditional else np.zeros(rows * self.COLUMNS, int)
        self.z = model.prior.draw(self.z_labels, np.random.default_rng(self.SEED))

    @staticmethod
    def grid(images, rows):
        """[rows * N, H, W, C] in [0, 1] -> [1, rows * (H + 1), N * (W + 1), C] uint8: as the data (MNIST: white
        ink on black), with a grey line after each tile."""
        tiles = np.pad(np.asarray(images, np.float32).reshape(rows, -1, *images.shape[1:]),
                       ((0, 0), (0, 0), (0, 1), (0, 1), (0, 0)), constant_values=0.5)
        r, c, h, w, channels = tiles.shape
        return np.round(255 * tiles.transpose(0, 2, 1, 3, 4).reshape(1, r * h, c * w, channels)).astype(np.uint8)

    def write(self, step):
        """Two tf.summary.image at `step` (into the default writer)."""
        rebuilt = reconstruct(self.model, self.images, self.labels)
        shown = np.concatenate([self.images / 255.0, rebuilt])
        tf.summary.image("test_reconstructions", self.grid(shown, 2), step=step,
                         description="the first test images (top) over their reconstructions")
        drawn = decode(self.model, self.z, self.z_labels)
        rows = len(self.z) // self.COLUMNS
        tf.summary.image("samples_fixed_z", self.grid(drawn, rows), step=step,
                         description=f"decoded from the same z from the prior {self.model.prior.title} every epoch"
                                     + (", a row per class" if self.model.conditional else ""))


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


def make_strategy(name):
    """The tf.distribute strategy `name` (TrainingSettings.strategy) names; None for "none"."""
    if name == "none":
        return None
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if "TF_CONFIG" not in os.environ:
        raise UsageError("--strategy multi_worker reads the cluster from the TF_CONFIG environment variable, "
                         "which is not set (README: Multi-device training)")
    try:
        json.loads(os.environ["TF_CONFIG"])
    except ValueError as err:
        raise UsageError(f"TF_CONFIG is not valid JSON ({err})")
    return tf.distribute.MultiWorkerMirroredStrategy()


def is_chief(strategy):
    """Whether this process writes the run: always, except on workers other than the first of a cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0)


def train_run(identity: RunIdentity, settings: TrainingSettings, run_dir: RunDir, restart=False, data_dir=DATA_DIR,
              log=print):
    """What train.py does once its flags are read: check m2's labels against the data and refuse a run whose
    data changed (before anything is written), then train `run_dir` under its lock. A run directory this
    call created is removed again when it fails before its first checkpoint: a failed start leaves nothing
    behind. A multi-worker run's other workers take part in every step but must not write the run: each
    trains in a throw-away copy of it (resuming from the chief's checkpoint, read from a shared file
    system, unless restart) and deletes the copy at the end."""
    check_labels(identity, load_for(identity, data_dir, log).train_labels[:identity.subset])
    refuse_changed_data(identity, run_dir, restart)
    strategy = make_strategy(settings.strategy)
    if is_chief(strategy):
        created = not run_dir.path.exists()
        try:
            with run_dir.lock():
                return train(identity, settings, run_dir, restart, data_dir, strategy, log)
        except BaseException:
            if created and run_dir.latest_checkpoint() is None:
                run_dir.remove()
            raise
    with tempfile.TemporaryDirectory(prefix="cvae-worker-") as scratch:
        own_dir = RunDir(Path(scratch) / run_dir.name)
        if not restart and run_dir.config_path.exists():
            shutil.copytree(run_dir.path, own_dir.path, ignore=shutil.ignore_patterns("lock", "tb", "kept"))
        with own_dir.lock():
            return train(identity, settings, own_dir, restart, data_dir, strategy, log)

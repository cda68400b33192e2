"""Train a model on MNIST (or Fashion-MNIST) and checkpoint it to log/MODEL_N/.

    python train.py cvae_cnn3 -n 2 -e 400
    python train.py m2 -n 50 --labels 100        # semi-supervised: 100 labels, the rest unlabelled

Running the same command again resumes from the last checkpoint; --restart starts over.
"""
import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from model import MODELS, VAEBase, build_model  # first: it imports TensorFlow without its start-up noise
from model.base import this_replicas_rows

import keras
import numpy as np
import tensorflow as tf

from cli import HelpFormatter, UsageError, UserFacingError, add_debug_flag, positive_float, positive_int, report_errors
from checkpoint import (KEEP_EVERY, KEEP_LATEST, RunConfig, RunLock, kept_checkpoint_path,
                        make_checkpoint, read_config, read_metrics, restore_latest_good, run_dir_name,
                        write_atomic, write_metrics)
from dataset import DATA_DIR, DATASETS, binarize_fixed, labelled_subset, load_dataset, semi_supervised_epoch, shuffled

# A resumed run must keep these; epochs, learning rate, batch size and clipping may change.
FIXED_ON_RESUME = ("model", "latent_dim", "seed", "subset", "binarize", "dataset", "labels")
EVAL_BATCH = 1000
# Batches per call into the compiled graph: calling it once per step costs Python and a wait for each
# step's losses, 15-22% of the images/s on 2 cores (bench/README.md).
STEPS_PER_CALL = 50
TRAINING_IMAGES = 60000  # MNIST's and Fashion-MNIST's


class NonFiniteLoss(UserFacingError):
    pass


class RunDamaged(UserFacingError):
    """A file of the run directory cannot be read back."""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Train a model on MNIST; checkpoints, config.json, metrics.csv and TensorBoard "
                    "events go to LOG_DIR/MODEL_N/ (LOG_DIR/cnn/ for the classifier; suffixes _bin, "
                    "_fashion_mnist, _labelsL name the options below). Running the same command again resumes.",
        formatter_class=HelpFormatter)
    parser.add_argument("model", choices=list(MODELS), metavar="MODEL",
                        help=f"one of: {', '.join(MODELS)}")
    parser.add_argument("-n", "--latent-dim", type=positive_int, default=20,
                        help="latent dimensions (ignored by cnn)")
    parser.add_argument("-b", "--batch-size", type=positive_int, default=100,
                        help="images per step, split across replicas under --strategy; m2 takes this many "
                             "unlabelled plus as many labelled")
    parser.add_argument("-e", "--epochs", type=positive_int, default=150, help="train until this epoch")
    parser.add_argument("-l", "--learning-rate", type=positive_float, default=0.001, help="Adam's learning rate")
    parser.add_argument("-c", "--clip", type=positive_float, default=None,
                        help="clip gradients to this global norm (default: off)")
    parser.add_argument("--seed", type=int, default=0, help="seed for weights, shuffling and noise")
    parser.add_argument("--restart", action="store_true", help="delete the run's directory and start over")
    parser.add_argument("--subset", type=positive_int, default=None,
                        help="use only the first SUBSET training and test images (quick checks)")
    parser.add_argument("--binarize", action="store_true",
                        help="dynamic binarization: train on pixels drawn from Bernoulli(gray level) each pass, "
                             "test on one fixed binarization (the data published MNIST likelihoods use)")
    parser.add_argument("--dataset", choices=DATASETS, default="mnist",
                        help="fashion_mnist: Zalando's 10 kinds of clothing in MNIST's format")
    parser.add_argument("--labels", type=positive_int, default=None,
                        help="m2 only: train with this many labelled images (a multiple of 10, the same number "
                             "of each class, drawn with --seed); the rest are used without their labels")
    parser.add_argument("--deterministic", action="store_true",
                        help="enable TensorFlow's op determinism: a rerun or a resumed run gives bit-identical "
                             "weights on the same machine (a little slower)")
    parser.add_argument("--strategy", choices=("none", "mirrored", "multi_worker"), default="none",
                        help="mirrored: tf.distribute.MirroredStrategy over every local GPU (every CPU device when "
                             "there is no GPU); multi_worker: MultiWorkerMirroredStrategy over the cluster in "
                             "TF_CONFIG. The global batch (-b) is split across replicas")
    parser.add_argument("--xla", action="store_true",
                        help="compile the training step with XLA. Measured on two 2-core CPUs: 1.1-1.2x for "
                             "cvae_cnn3; 1.4-1.5x on one and about even on the other for vae and cvae_fc3; much "
                             "slower for cvae_cnn2, cnn and m2 (bench/README.md)")
    parser.add_argument("--log-dir", type=Path, default=Path("log"))
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="where MNIST is cached")
    add_debug_flag(parser)
    return parser.parse_args(argv)


def make_steps(model, optimizer, binarize=False, xla=False, strategy=None, clip=None):
    """The compiled training and evaluation steps: (x, y) -> dict of batch-mean losses.

    xla compiles the training step with XLA (train.py --xla; its effect per model is measured in
    bench/README.md). Off by default, so the README's numbers come from the plain graph.
    With a tf.distribute `strategy`, the training step takes distributed batches (make_distributed_step)."""
    signature = [tf.TensorSpec([None, 28, 28, 1], tf.float32), tf.TensorSpec([None], tf.int32)]

    def binarized(x):
        # The model's noise generator is checkpointed, so a resumed run draws the same pixels.
        uniform = this_replicas_rows(lambda shape: keras.random.uniform(shape, seed=model.noise), tf.shape(x))
        return tf.cast(uniform < x, tf.float32)

    @tf.function(input_signature=signature, jit_compile=xla)
    def train_step(x, y):
        if binarize:
            x = binarized(x)
        with tf.GradientTape() as tape:
            losses = model.compute_losses(x, y, training=True)
        gradients = tape.gradient(losses["loss"], model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return losses

    if strategy is not None:
        train_step = make_distributed_step(model, optimizer, strategy, binarized if binarize else None, clip, xla)

    @tf.function(input_signature=signature)
    def eval_step(x, y):
        return model.compute_losses(x, y, training=False)

    return train_step, eval_step


def make_distributed_step(model, optimizer, strategy, binarized=None, clip=None, xla=False):
    """A training step over a batch that `strategy` has split across its replicas.

    Each replica scales its batch-mean loss by its share of the global batch, so the gradients the
    optimizer sums over replicas are those of the global batch's mean. Clipping must see that sum, not
    one replica's part, so it happens here (the optimizer is built without clipping): all-reduce, clip,
    divide by the replica count, and the optimizer's own sum gives back the clipped gradient."""
    def replica_step(x, y):
        replica = tf.distribute.get_replica_context()
        if binarized is not None:
            x = binarized(x)
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


def several_steps(step):
    """`step` (x, y) -> {name: batch-mean loss} run over consecutive batches of an epoch in one call:
    (x [N, ...], y [N], starts [k], batch_size) -> {name: [k] losses}, batch i being rows starts[i]
    to starts[i] + batch_size (fewer at the end of the epoch)."""
    names = list(step.get_concrete_function().structured_outputs)

    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32), tf.TensorSpec([None], tf.int32),
                                  tf.TensorSpec([None], tf.int32), tf.TensorSpec([], tf.int32)])
    def run(x, y, starts, batch_size):
        rows = tf.TensorArray(tf.float32, size=tf.size(starts))
        for i in tf.range(tf.size(starts)):
            losses = step(x[starts[i]:starts[i] + batch_size], y[starts[i]:starts[i] + batch_size])
            rows = rows.write(i, tf.stack([losses[name] for name in names]))
        stacked = rows.stack()
        return {name: stacked[:, j] for j, name in enumerate(names)}

    return run


def chunks_in_memory(steps, x, y, batch_size):
    """Per-step losses and batch sizes of one pass over (x, y), STEPS_PER_CALL steps per call of
    `steps` (a several_steps function)."""
    count = int(y.shape[0])
    starts = np.arange(0, count, batch_size, dtype=np.int32)
    sizes = np.minimum(batch_size, count - starts)
    for first in range(0, len(starts), STEPS_PER_CALL):
        losses = steps(x, y, starts[first:first + STEPS_PER_CALL], batch_size)
        yield {k: v.numpy() for k, v in losses.items()}, sizes[first:first + STEPS_PER_CALL]


def chunks_distributed(step, dataset):
    """Per-step losses and batch sizes of one pass of a tf.distribute step over a distributed dataset,
    one step per call."""
    for x, y in dataset:
        losses = step(x, y)
        images = int(y.shape[0]) if isinstance(y, tf.Tensor) else sum(int(part.shape[0]) for part in y.values)
        yield {k: np.array([float(v)]) for k, v in losses.items()}, np.array([images])


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


def prepare_run_dir(config, run_dir, restart):
    """Start or resume `run_dir` for `config` (its lock already held); returns True when resuming."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if restart:
        for path in run_dir.iterdir():
            if path.name != "lock":
                shutil.rmtree(path) if path.is_dir() else path.unlink()
    resuming = tf.train.latest_checkpoint(str(run_dir / "ckpt")) is not None
    if resuming:
        try:
            saved = read_config(run_dir)
        except (OSError, ValueError) as err:
            raise UsageError(f"{run_dir / 'config.json'} is unreadable ({err}); "
                             f"pass --restart to start the run over")
        differ = [f"{f}: saved {getattr(saved, f)}, asked {getattr(config, f)}"
                  for f in FIXED_ON_RESUME if getattr(saved, f) != getattr(config, f)]
        if differ:
            raise UsageError(f"{run_dir} holds a run with other settings ({'; '.join(differ)}); "
                             f"pass --restart to replace it, or --log-dir to train elsewhere")
        config.history = saved.history
    return resuming


def record_start(config, run_dir, epoch, xla=False):
    """Note in config.json the hyper-parameters this invocation trains with, from `epoch` on."""
    config.history.append({"from_epoch": epoch, "epochs": config.epochs, "batch_size": config.batch_size,
                           "learning_rate": config.learning_rate, "clip": config.clip, "xla": xla})
    write_atomic(run_dir / "config.json", config.to_json())


def train(config: RunConfig, run_dir: Path, restart=False, data_dir=DATA_DIR, xla=False, strategy=None):
    """Train into `run_dir` (whose lock the caller holds) until config.epochs; returns the exit status.

    strategy: a tf.distribute strategy, or None for the plain one-device loop."""
    resuming = prepare_run_dir(config, run_dir, restart)
    keras.utils.set_random_seed(config.seed)
    data = load_dataset(config.dataset, data_dir)
    train_images, train_labels, test_images, test_labels = (a[:config.subset] for a in data.arrays())
    if config.binarize:
        test_images = binarize_fixed(test_images)
    train_x, train_y, test_x, test_y = map(tf.convert_to_tensor, (train_images, train_labels, test_images, test_labels))

    distributed = strategy is not None and strategy.num_replicas_in_sync > 1
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = build_model(config.model, config.latent_dim, config.seed)
        optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate,
                                          global_clipnorm=None if distributed else config.clip)
        optimizer.build(model.trainable_variables)
    labelled = None
    if config.labels is not None:
        labelled = labelled_subset(train_labels, config.labels, config.seed)
        model.set_data_sizes(len(labelled), len(train_images) - len(labelled))
    checkpoint = make_checkpoint(model, optimizer)
    manager = tf.train.CheckpointManager(checkpoint, str(run_dir / "ckpt"), max_to_keep=KEEP_LATEST)
    if resuming:
        try:
            restore_latest_good(checkpoint, manager)
        except ValueError as err:
            raise RunDamaged(f"cannot resume {run_dir}: {err}. Pass --restart to start over")
        optimizer.learning_rate.assign(config.learning_rate)
    start = int(checkpoint.epoch.numpy())
    try:
        rows = [row for row in read_metrics(run_dir) if row["epoch"] <= start]
    except (ValueError, KeyError, TypeError) as err:
        raise RunDamaged(f"{run_dir / 'metrics.csv'} is damaged ({err}); move it away to resume without "
                         f"the earlier epochs' metrics, or pass --restart")
    if start >= config.epochs:
        print(f"{run_dir} is already trained to epoch {start}; pass -e with more epochs to continue.")
        return 0
    record_start(config, run_dir, start, xla)
    print(f"{'resuming' if resuming else 'training'} {config.model} in {run_dir} from epoch {start}: "
          f"{len(train_x):,} training images" + (f" ({len(labelled)} labelled)" if labelled is not None else "")
          + f", {len(test_x):,} test images")

    train_step, eval_step = make_steps(model, optimizer, config.binarize, xla, strategy,
                                       config.clip if distributed else None)
    train_steps = several_steps(train_step) if strategy is None else None
    eval_steps = several_steps(eval_step)
    test_x, test_y = shuffled(test_x, test_y)
    step_images = config.batch_size * (2 if labelled is not None else 1)  # m2: as many labelled as unlabelled
    if strategy is not None:
        # TF 2 names MultiWorkerMirroredStrategy's class after its all-reduce.
        kind = {"CollectiveAllReduceStrategy": "MultiWorkerMirroredStrategy"}.get(type(strategy).__name__,
                                                                                  type(strategy).__name__)
        print(f"tf.distribute: {kind}, {strategy.num_replicas_in_sync} replicas, "
              f"{step_images / strategy.num_replicas_in_sync:g} images per replica per step")
    writer = tf.summary.create_file_writer(str(run_dir / "tb"))
    for epoch in range(start + 1, config.epochs + 1):
        began = time.perf_counter()
        try:
            if labelled is None:
                x, y = shuffled(train_x, train_y, shuffle_seed=(config.seed, epoch))
            else:  # m2: each batch is batch_size unlabelled images and as many labelled ones
                x, y = semi_supervised_epoch(train_x, train_y, labelled, config.batch_size,
                                             shuffle_seed=(config.seed, epoch))
            if strategy is None:
                chunks = chunks_in_memory(train_steps, x, y, step_images)
            else:
                chunks = chunks_distributed(train_step, distribute(strategy, x, y, step_images))
            train_means, images = run_epoch(chunks, -(-int(y.shape[0]) // step_images),
                                            label=f"epoch {epoch}/{config.epochs}")
        except NonFiniteLoss as err:
            raise NonFiniteLoss(f"{err} of epoch {epoch}; nothing of this epoch was saved, the last good "
                                f"checkpoint is epoch {epoch - 1} in {run_dir}. Try gradient clipping "
                                f"(-c 1.0) or a lower learning rate (-l {config.learning_rate / 10:g}).")
        seconds = time.perf_counter() - began
        test_means, _ = run_epoch(chunks_in_memory(eval_steps, test_x, test_y, EVAL_BATCH), 0)
        row = {"epoch": epoch,
               **{f"train_{k}": v for k, v in train_means.items()},
               **{f"test_{k}": v for k, v in test_means.items()}}
        if isinstance(model, VAEBase):
            row["test_elbo"] = -(test_means["reconstruction"] + test_means["kl"])
        row.update(images_per_s=images / seconds, seconds=seconds)

        # Metrics before the checkpoint: a run killed between the two redoes this epoch on resume.
        rows.append(row)
        write_metrics(run_dir, rows)
        checkpoint.epoch.assign(epoch)
        manager.save(checkpoint_number=epoch)
        if epoch % KEEP_EVERY == 0:
            checkpoint.write(kept_checkpoint_path(run_dir, epoch))
        with writer.as_default(step=epoch):
            for key, value in row.items():
                if key != "epoch":
                    tf.summary.scalar(key, value)
        print(progress_line(row, config.epochs), flush=True)
    writer.close()
    return 0


def distribute(strategy, x, y, batch_size):
    """Batches of the global batch size over (x, y), each split across the strategy's replicas. Workers
    of a multi-worker run each take their share of every batch (the data are in memory, not in files)."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
    return strategy.experimental_distribute_dataset(dataset.with_options(options))


def make_strategy(name):
    """The tf.distribute strategy --strategy names; None for "none"."""
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


def raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def train_as_other_worker(config, run_dir, args, strategy):
    """A multi-worker run's other workers take part in every step but must not write the run: each
    trains in a throw-away copy of it (resuming from the chief's checkpoint, read from a shared file
    system, unless --restart) and deletes the copy at the end."""
    with tempfile.TemporaryDirectory(prefix="cvae-worker-") as scratch:
        own_dir = Path(scratch) / run_dir.name
        if not args.restart and (run_dir / "config.json").exists():
            shutil.copytree(run_dir, own_dir, ignore=shutil.ignore_patterns("lock", "tb", "kept"))
        with RunLock(own_dir):
            return train(config, own_dir, args.restart, args.data_dir, args.xla, strategy)


def main(argv=None):
    args = parse_args(argv)
    config = RunConfig(model=args.model, latent_dim=None if args.model == "cnn" else args.latent_dim,
                       batch_size=args.batch_size, epochs=args.epochs, learning_rate=args.learning_rate,
                       clip=args.clip, seed=args.seed, subset=args.subset, binarize=args.binarize,
                       dataset=args.dataset, labels=args.labels)
    if args.deterministic:
        tf.config.experimental.enable_op_determinism()
    signal.signal(signal.SIGTERM, raise_keyboard_interrupt)  # `kill` stops as cleanly as Ctrl-C
    run_dir = None

    def locked_train():
        nonlocal run_dir
        training_images = min(args.subset or TRAINING_IMAGES, TRAINING_IMAGES)
        if args.labels is not None and args.labels >= training_images:
            raise UsageError(f"--labels {args.labels} leaves no unlabelled image among the {training_images:,} "
                             f"training images")
        run_dir = args.log_dir / run_dir_name(config.model, config.latent_dim, config.binarize, config.dataset,
                                              config.labels)
        strategy = make_strategy(args.strategy)
        if not is_chief(strategy):
            return train_as_other_worker(config, run_dir, args, strategy)
        with RunLock(run_dir):
            return train(config, run_dir, args.restart, args.data_dir, args.xla, strategy)

    def interrupted():
        latest = run_dir and tf.train.latest_checkpoint(str(run_dir / "ckpt"))
        saved = f"the last checkpoint is {latest}" if latest else "no epoch had finished, nothing was saved"
        return f"interrupted; the unfinished epoch was dropped and {saved}. Run the same command to resume."

    return report_errors(locked_train, args.debug, interrupted)


if __name__ == "__main__":
    sys.exit(main())

"""How a training epoch runs, decided once: the compiled steps, and the two runners with one method,
chunks(x, y), which yields (per-step losses, per-step batch sizes) for run_epoch() to sum:

  InMemorySteps      one device: the epoch held in memory, STEPS_PER_CALL steps per call into the graph
  DistributedSteps   a tf.distribute strategy: batches split across replicas, one step per call
"""
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from model.base import this_replicas_rows
from cvae.batches import unit_batches
from cvae.generation import to_input

# Batches per call into the compiled graph: calling it once per step costs Python and a wait for each
# step's losses, a large share of the images/s on 2 cores (bench/README.md).
STEPS_PER_CALL = 50


class NonFiniteLoss(Exception):
    """The training loss became NaN or infinite; nothing of the epoch was saved."""

    def __init__(self, message, epoch=None, last_saved=None):
        super().__init__(message)
        self.epoch, self.last_saved = epoch, last_saved


def kl_weighed(optimizer, warmup_steps):
    """compute_losses' keyword arguments for a KL warm-up over `warmup_steps` steps (None: none): the KL's weight
    rises linearly from 1 / warmup_steps at the run's first step to 1, read from the optimizer's step count, which
    checkpoints keep, so a resumed run goes on where it stopped."""
    if not warmup_steps:
        return {}
    return {"kl_weight": tf.minimum(1.0, tf.cast(optimizer.iterations + 1, tf.float32) / float(warmup_steps))}


def make_train_step(model, optimizer, binarize=False, xla=False, kl_warmup_steps=None):
    """The compiled training step on one device: (x, y) -> dict of batch-mean losses.

    xla compiles it with XLA: train() decides (step_uses_xla), and bench/README.md measures it per model.
    kl_warmup_steps: weigh the KL by kl_weighed's weight (a model that weighs_kl)."""
    @tf.function(input_signature=batch_signature(model), jit_compile=xla)
    def train_step(x, y):
        if binarize:
            x = binarized(model, x)
        with tf.GradientTape() as tape:
            losses = model.compute_losses(x, y, training=True, **kl_weighed(optimizer, kl_warmup_steps))
        gradients = tape.gradient(losses["loss"], model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return losses

    return train_step


def make_distributed_step(model, optimizer, strategy, binarize=False, clip=None, xla=False, kl_warmup_steps=None):
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
            losses = model.compute_losses(x, y, training=True, **kl_weighed(optimizer, kl_warmup_steps))
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


def chunks_in_memory(steps, pixels, y, batch_size, steps_per_call=STEPS_PER_CALL):
    """Per-step losses and batch sizes of one pass over (pixels [N, H, W, C] uint8, y), steps_per_call steps
    per call of `steps` (a several_steps function)."""
    count = int(y.shape[0])
    starts = np.arange(0, count, batch_size, dtype=np.int32)
    sizes = np.minimum(batch_size, count - starts)
    for first in range(0, len(starts), steps_per_call):
        losses = steps(pixels, y, starts[first:first + steps_per_call], batch_size)
        yield {k: v.numpy() for k, v in losses.items()}, sizes[first:first + steps_per_call]


class InMemorySteps:
    """One device: the epoch's tensors in memory, STEPS_PER_CALL training steps per call into the graph."""

    def __init__(self, model, optimizer, batch_size, binarize=False, xla=False, kl_warmup_steps=None):
        self.steps = several_steps(make_train_step(model, optimizer, binarize, xla, kl_warmup_steps))
        self.batch_size = batch_size

    def chunks(self, pixels, y):
        return chunks_in_memory(self.steps, pixels, y, self.batch_size)


class DistributedSteps:
    """A tf.distribute strategy: each global batch split across the replicas, one step per call."""

    def __init__(self, model, optimizer, batch_size, strategy, binarize=False, clip=None, xla=False,
                 kl_warmup_steps=None):
        self.step = make_distributed_step(model, optimizer, strategy, binarize, clip, xla, kl_warmup_steps)
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

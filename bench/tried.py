"""Speed-ups tried for the training step, each beside the plain step they were measured against.

    python -m bench.tried              # every experiment, one table (from the repository's root)
    python -m bench.tried --threads    # also intra/inter-op thread settings (one process each)

Rows (batch 100, -n 20, synthetic data, images/s as medians of --repeats timed runs):
  cvae_fc3, plain step           the step as a tf.function graph with Keras' Adam (train.py --no-xla)
  cvae_fc3, XLA step             the same step compiled with XLA: train.py's default for cvae_fc3 and vae
  cvae_fc3, fused Adam           tf.raw_ops.ResourceApplyAdam (one kernel per variable) in place of
                                 Keras 3's Adam, which updates each variable with several elementwise ops
  cvae_fc3, XLA Adam             Keras' Adam update alone compiled with XLA (jit_compile), the rest of
                                 the plain step
  cvae_fc3, gradients only       the step without the optimizer: what Adam costs
  cvae_fc3, batch B              the plain step on batches of B images (train.py -b B) instead of 100:
                                 larger matrix products, and Adam's cost shared by more images; at
                                 batch 1, images/s = steps/s: the step's fixed cost per call
  cvae_cnn3, Keras convolutions  its layers with kernel size == stride as Keras' general Conv2D and
                                 Conv2DTranspose instead of train.py's patch convolutions (one matmul
                                 each, model/patch_conv.py), which were kept
  cvae_cnn3, epoch inputs        one pass over 10,000 real MNIST images, reading back every loss: a
                                 tf.data pipeline with one step per call (train.py before), the epoch
                                 tensor sliced in Python, and train.py's 50 steps per call
                                 (several_steps), which was kept
  cvae_fc3, threads I/J          the step with intra-op I and inter-op J threads (--threads)
"""
import argparse
import os
import subprocess
import sys

from bench.throughput import (BATCH, ROOT, build_for_training, median_rate, steps_rate, synthetic_batch,
                              use_keras_convolutions)
from cvae.batches import batches, shuffled
from cvae import import_tensorflow_quietly
from cvae.cli import positive_int
from cvae.generation import to_input
from cvae.mnist import load_mnist

# TensorFlow is imported inside the functions that use it, so --help answers before it loads.


def fused_adam_step(network):
    """The training step with one ResourceApplyAdam kernel per variable (same update as Keras' Adam)."""
    import tensorflow as tf
    variables = network.trainable_variables
    first = [tf.Variable(tf.zeros_like(v)) for v in variables]
    second = [tf.Variable(tf.zeros_like(v)) for v in variables]
    iterations = tf.Variable(0.0)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            losses = network.compute_losses(x, y, training=True)
        gradients = tape.gradient(losses["loss"], variables)
        iterations.assign_add(1.0)
        for v, m, s, g in zip(variables, first, second, gradients):
            tf.raw_ops.ResourceApplyAdam(var=v.value.handle, m=m.handle, v=s.handle,
                                         beta1_power=tf.pow(0.9, iterations), beta2_power=tf.pow(0.999, iterations),
                                         lr=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-7, grad=g)
        return losses
    return step


def xla_adam_step(network, optimizer):
    """The training step with Keras' own Adam update compiled by XLA on its own (the rest as before)."""
    import tensorflow as tf
    variables = network.trainable_variables

    @tf.function(jit_compile=True)
    def apply(gradients):
        optimizer.apply_gradients(zip(gradients, variables))

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            losses = network.compute_losses(x, y, training=True)
        apply(tape.gradient(losses["loss"], variables))
        return losses
    return step


def gradients_only_step(network):
    import tensorflow as tf

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            losses = network.compute_losses(x, y, training=True)
        gradients = tape.gradient(losses["loss"], network.trainable_variables)
        return {"loss": losses["loss"] + 0.0 * tf.add_n([tf.reduce_sum(g) for g in gradients])}
    return step


def read_back(losses):
    """Each step's losses as Python floats, as a loop that logs them reads them: it waits for the step."""
    return {k: float(v) for k, v in losses.items()}


def sliced_epoch_rate(step, images, labels, repeats):
    def run():
        x_epoch, y_epoch = shuffled(images, labels, (0, 1))
        for start in range(0, len(images), BATCH):
            read_back(step(to_input(x_epoch[start:start + BATCH]), y_epoch[start:start + BATCH]))
    return median_rate(run, len(images), repeats)


def tf_data_epoch_rate(step, images, labels, repeats):
    def run():
        for x, y in batches(images, labels, BATCH, (0, 1)):
            read_back(step(x, y))
    return median_rate(run, len(images), repeats)


def several_steps_epoch_rate(step, images, labels, repeats):
    from cvae import steps as cvae_steps
    steps = cvae_steps.several_steps(step)

    def run():
        for losses, sizes in cvae_steps.chunks_in_memory(steps, *shuffled(images, labels, (0, 1)), BATCH):
            pass
    return median_rate(run, len(images), repeats)


def experiments(repeats, steps):
    import tensorflow as tf
    from cvae import steps as cvae_steps
    x, y = synthetic_batch()
    rows = []
    network, optimizer = build_for_training("cvae_fc3")
    plain = cvae_steps.make_train_step(network, optimizer)
    rows.append(("cvae_fc3", "plain step (Keras Adam; train.py --no-xla)", steps_rate(plain, x, y, repeats, steps)))
    xla = cvae_steps.make_train_step(network, optimizer, xla=True)
    rows.append(("cvae_fc3", "XLA step (train.py's default)", steps_rate(xla, x, y, repeats, steps)))
    rows.append(("cvae_fc3", "fused Adam", steps_rate(fused_adam_step(network), x, y, repeats, steps)))
    rows.append(("cvae_fc3", "Keras' Adam compiled by XLA", steps_rate(xla_adam_step(network, optimizer), x, y, repeats, steps)))
    rows.append(("cvae_fc3", "gradients only (no optimizer)", steps_rate(gradients_only_step(network), x, y, repeats, steps)))
    # Batch 1: the step's fixed cost (graph executor, optimizer, loss), which no batch size shares out.
    for batch in (1, 300, 1000):  # about as many images per timed run as `steps` batches of 100 (batch 1: 10x steps)
        rate = steps_rate(plain, *synthetic_batch(size=batch), repeats, max(5, min(10 * steps, steps * BATCH // batch)))
        rows.append(("cvae_fc3", f"plain step, batch {batch}", rate))

    network, optimizer = build_for_training("cvae_cnn3")
    patches = cvae_steps.make_train_step(network, optimizer)
    rows.append(("cvae_cnn3", "train.py step (patch convolutions)", steps_rate(patches, x, y, repeats, steps)))
    use_keras_convolutions(network)  # same weights, the general kernels
    general = cvae_steps.make_train_step(network, optimizer)
    rows.append(("cvae_cnn3", "Keras' Conv2D / Conv2DTranspose", steps_rate(general, x, y, repeats, steps)))

    network, optimizer = build_for_training("cvae_cnn3")
    plain = cvae_steps.make_train_step(network, optimizer)
    mnist = load_mnist()
    images, labels = tf.constant(mnist.train_images[:10000]), tf.constant(mnist.train_labels[:10000], tf.int32)
    rows.append(("cvae_cnn3", "tf.data epoch, one step per call", tf_data_epoch_rate(plain, images, labels, repeats)))
    rows.append(("cvae_cnn3", "sliced epoch tensor, one step per call", sliced_epoch_rate(plain, images, labels, repeats)))
    rows.append(("cvae_cnn3", "50 steps per call (train.py)", several_steps_epoch_rate(plain, images, labels, repeats)))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=positive_int, default=5)
    parser.add_argument("--steps", type=positive_int, default=100, help="training steps per timed run")
    parser.add_argument("--threads", action="store_true", help="also time cvae_fc3 under thread settings")
    parser.add_argument("--one-thread-setting", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    import_tensorflow_quietly()
    import tensorflow as tf
    from cvae import steps as cvae_steps
    if args.one_thread_setting:
        intra, inter = args.one_thread_setting
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
        network, optimizer = build_for_training("cvae_fc3")
        print(steps_rate(cvae_steps.make_train_step(network, optimizer), *synthetic_batch(), args.repeats, args.steps))
        return 0

    rows = experiments(args.repeats, args.steps)
    if args.threads:
        for intra, inter in [(0, 0), (2, 1), (1, 2), (2, 2)]:
            out = subprocess.run([sys.executable, "-m", "bench.tried", "--one-thread-setting", str(intra), str(inter),
                                  "--repeats", str(args.repeats), "--steps", str(args.steps)],
                                 capture_output=True, text=True, check=True, env=os.environ, cwd=ROOT)
            label = "TensorFlow's default threads" if intra == 0 else f"intra-op {intra}, inter-op {inter} threads"
            rows.append(("cvae_fc3", label, float(out.stdout.strip().splitlines()[-1])))
    print("| model | variant | train img/s |\n|---|---|---|")
    for name, variant, rate in rows:
        print(f"| `{name}` | {variant} | {rate:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

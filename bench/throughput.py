"""Training and evaluation throughput of every model on this machine, beside a measured matmul ceiling.

    python -m bench.throughput                 # all models, one table (from the repository's root)
    python -m bench.throughput --models cvae_fc3 cvae_cnn3 --repeats 5

Each model runs in its own process (so peak memory is its own). Per model:
  train FLOP/img   MatMul and convolution FLOPs of one training step (forward and backward), from the
                   compiled graph's op shapes, per image
  step             the compiled training step of train.py on synthetic MNIST-shaped data (batch 100)
  matmuls alone    images/s of the step's MatMul ops alone, at the step's shapes (an upper bound for the
                   step: everything else costs nothing); fully connected models only
  step / reference the step over the straightforward step of the same layers (for cvae_cnn2 and cvae_cnn3,
                   which fuse their label channels into the first convolution: the label channels
                   concatenated to the image instead, and Keras' Conv2D / Conv2DTranspose in place of
                   cvae_cnn3's patch convolutions; 1.00x for the other models)
  step+XLA         the same step with jit_compile=True (train.py --xla), and its ratio to the reference
  pipeline         the step called once per batch of dataset.batches() over real MNIST
  train.py         epochs 2-4 of training.train(), end to end: its in-graph loop over STEPS_PER_CALL batches
                   per call, test metrics, CSV, checkpoint, TensorBoard
  train.py / reference   train.py's images/s over the reference step's
  eval             forward pass (compute_losses without gradients) at batch 1000
images/s are medians of --repeats timed runs after a warm-up. m2's batches of 100 hold 50 unlabelled and
50 labelled images, as `train.py m2 --labels 100 -b 50` makes them.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

from cvae import import_tensorflow_quietly
from cvae.cli import positive_int
from model import UNLABELLED, names as model_names

# TensorFlow is imported inside the functions that use it, so --help answers before it loads.

ROOT = Path(__file__).resolve().parents[1]
BATCH = 100
M2_LABELS = 100
LATENT = 20


def median_rate(run, images_per_run, repeats):
    """Median images/s of `run()` over `repeats` timed calls, after one untimed warm-up call."""
    run()
    rates = []
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        rates.append(images_per_run / (time.perf_counter() - began))
    return statistics.median(rates)


def build_for_training(name):
    """(network, optimizer) seeded and built as train.py builds them, with -n LATENT (when it has a latent space)."""
    import keras
    from model.registry import build_model, model_class
    keras.utils.set_random_seed(0)
    network = build_model(name, LATENT if model_class(name).has_latent_space else None)
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(network.trainable_variables)
    return network, optimizer


def synthetic_batch(name=None, size=BATCH):
    """One MNIST-shaped batch: random pixels in [0, 1) and random digit labels. For a semi-supervised
    model, as train.py batches it: every other image unlabelled, so size / 2 of each."""
    import tensorflow as tf
    from model.registry import model_class
    x, y = tf.random.uniform([size, 28, 28, 1]), tf.random.uniform([size], 0, 10, tf.int32)
    if name is not None and model_class(name).semi_supervised:
        y = tf.where(tf.range(size) % 2 == 0, UNLABELLED, y)
    return x, y


def steps_rate(step, x, y, repeats, steps):
    """Training images/s of `step` called `steps` times on the batch (x, y), reading back the last loss."""
    def run():
        for _ in range(steps):
            losses = step(x, y)
        float(losses["loss"])
    return median_rate(run, steps * int(x.shape[0]), repeats)


def matmul_ceiling(repeats, size=1024):
    """GFLOP/s of a compiled fp32 [size, size] x [size, size] matmul, repeated 20 times per timed run."""
    import tensorflow as tf
    a = tf.random.normal([size, size])
    b = tf.random.normal([size, size])

    @tf.function
    def twenty():
        c = a
        for _ in range(20):
            c = tf.matmul(c, b) * 1e-3
        return c

    seconds_per_run = 1.0 / median_rate(lambda: twenty().numpy(), 1, repeats)
    return 20 * 2 * size ** 3 / seconds_per_run / 1e9


def matmuls_alone_rate(python_function, args, repeats, steps):
    """Steps/s of only the MatMul ops of `python_function(*args)`'s graph, at their shapes, on random
    inputs: what the step could reach if everything else in it (activations, loss, optimizer) were
    free. None when the graph also convolves (the bound would leave the convolutions out)."""
    import tensorflow as tf
    graph = tf.function(python_function).get_concrete_function(*args).graph
    if any(op.type.startswith("Conv2D") for op in graph.get_operations()):
        return None
    products = [(tf.random.normal(op.inputs[0].shape), tf.random.normal(op.inputs[1].shape),
                 op.get_attr("transpose_a"), op.get_attr("transpose_b"))
                for op in graph.get_operations() if op.type == "MatMul"]

    @tf.function
    def all_matmuls():
        return tf.add_n([tf.matmul(a, b, transpose_a=ta, transpose_b=tb)[0, 0] for a, b, ta, tb in products])

    def run():
        for _ in range(steps):
            total = all_matmuls()
        float(total)
    return median_rate(run, steps, repeats)


def layer_flops(python_function, *args):
    """MatMul and convolution FLOPs of `python_function(*args)`, from its graph's op shapes (TensorFlow's
    FLOP registry). Traced afresh with these concrete tensors: with a [None, ...] batch the shapes are
    unknown and the registry counts nothing."""
    import tensorflow as tf
    from tensorflow.python.profiler import model_analyzer, option_builder
    graph = tf.function(python_function).get_concrete_function(*args).graph
    options = option_builder.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    options["account_type_regexes"] = ["MatMul", "BatchMatMul.*", "Conv2D.*"]
    return model_analyzer.profile(graph, options=options).total_float_ops


class EpochClock:
    """A stand-in for stdout that notes when each of training.train()'s epoch lines is printed."""

    def __init__(self):
        self.times = []

    def write(self, text):
        if text.startswith("epoch"):
            self.times.append(time.perf_counter())

    def flush(self):
        pass

    def isatty(self):
        return False


def features_with_label_channels(network, x, y_onehot, training=False):
    """ConvCVAE.features without its fused first convolution: [x, label planes] through every layer."""
    from model.base import with_label_channels
    h = with_label_channels(x, y_onehot)
    for layer in network.encoder_layers:
        h = layer(h)
    return h


def use_keras_convolutions(network):
    """Switch the network's patch convolutions (model/patch_conv.py) to the Keras layers they subclass,
    which hold the same weights and compute the same function the general way. Returns a function
    that switches them back."""
    from model.patch_conv import PatchConv2D, PatchConv2DTranspose
    swapped = [(layer, type(layer)) for layer in [*network.encoder_layers, *network.decoder_layers]
               if isinstance(layer, (PatchConv2D, PatchConv2DTranspose))]
    for layer, patch_class in swapped:
        layer.__class__ = patch_class.__bases__[0]

    def switch_back():
        for layer, patch_class in swapped:
            layer.__class__ = patch_class
    return switch_back


def bench_one(name, repeats, steps):
    import tensorflow as tf
    from cvae import steps as cvae_steps
    from cvae import training
    from cvae.batches import batches, labelled_subset, semi_supervised_batches
    from cvae.mnist import CLASS_NAMES, load_mnist
    from model.base import ConvCVAE
    from cvae.config import RunIdentity, TrainingSettings
    from cvae.rundir import RunDir

    network, optimizer = build_for_training(name)
    train_step, eval_step = cvae_steps.make_train_step(network, optimizer), cvae_steps.make_eval_step(network)
    x, y = synthetic_batch(name)
    result = {"model": name,
              # m2 picks its labelled and unlabelled rows with boolean masks, whose shapes the FLOP
              # registry cannot know: its count would leave most of the step out.
              "train_flops": None if network.semi_supervised else layer_flops(train_step.python_function, x, y) / BATCH}

    result["step"] = steps_rate(train_step, x, y, repeats, steps)
    matmul_steps = matmuls_alone_rate(train_step.python_function, (x, y), repeats, steps)
    result["matmuls_alone"] = matmul_steps and matmul_steps * BATCH
    xla_step = cvae_steps.make_train_step(network, optimizer, xla=True)
    result["step_xla"] = steps_rate(xla_step, x, y, repeats, steps)
    if isinstance(network, ConvCVAE):
        # The straightforward step of the same layers: label channels concatenated to the image, and
        # Keras' general convolutions.
        network.features = types.MethodType(features_with_label_channels, network)
        switch_back = use_keras_convolutions(network)
        reference_step = cvae_steps.make_train_step(network, optimizer)
        result["reference_step"] = steps_rate(reference_step, x, y, repeats, steps)
        del network.features
        switch_back()
    else:
        result["reference_step"] = result["step"]

    mnist = load_mnist()
    images, labels = tf.constant(mnist.train_images[:steps * BATCH]), tf.constant(mnist.train_labels[:steps * BATCH])
    if network.semi_supervised:  # 100 labels, as `train.py m2 --labels 100 -b 50`: 50 unlabelled + 50 labelled a step
        labelled = labelled_subset(mnist.train_labels, M2_LABELS, 0, CLASS_NAMES["mnist"])
        pipeline = lambda: semi_supervised_batches(images, labels, labelled[labelled < len(labels)], BATCH // 2, (0, 1))
    else:
        pipeline = lambda: batches(images, labels, BATCH, (0, 1))
    images_per_run = sum(int(yb.shape[0]) for _, yb in pipeline())
    result["pipeline"] = median_rate(lambda: [train_step(xb, yb) for xb, yb in pipeline()], images_per_run, repeats)

    big_x = tf.random.uniform([1000, 28, 28, 1])
    big_y = tf.random.uniform([1000], 0, 10, tf.int32)
    result["eval"] = median_rate(lambda: [float(eval_step(big_x, big_y)["loss"]) for _ in range(10)], 10000, repeats)

    # train.py: the time between the progress lines of epochs 1 and 4, each printed after that epoch's
    # test metrics, CSV, checkpoint and TensorBoard writes; start-up (building, tracing) is left out.
    with tempfile.TemporaryDirectory() as log_dir:
        stamps = EpochClock()
        stdout, sys.stdout = sys.stdout, stamps
        try:
            semi = network.semi_supervised
            training.train(RunIdentity(name, network.latent_dim, labels=M2_LABELS if semi else None),
                           TrainingSettings(epochs=4, batch_size=BATCH // 2 if semi else BATCH),
                           RunDir(Path(log_dir) / "run"))
        finally:
            sys.stdout = stdout
        # The images an epoch trains on, as train.py counted them (m2's epoch is not the data set's size).
        last = RunDir(Path(log_dir) / "run").read_metrics()[-1]
        images_per_epoch = last["images_per_s"] * last["seconds"]
        result["train_py"] = 3 * images_per_epoch / (stamps.times[3] - stamps.times[0])
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=model_names(), default=list(model_names()))
    parser.add_argument("--repeats", type=positive_int, default=5)
    parser.add_argument("--steps", type=positive_int, default=100, help="training steps per timed run")
    parser.add_argument("--one", choices=model_names(), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    import_tensorflow_quietly()
    import tensorflow as tf
    if args.one:
        print(json.dumps(bench_one(args.one, args.repeats, args.steps)))
        return 0

    ceiling = matmul_ceiling(args.repeats)
    print(f"fp32 matmul ceiling: {ceiling:.0f} GFLOP/s ({os.cpu_count()} cores, TensorFlow {tf.__version__})")
    results = []
    for name in args.models:
        print(f"measuring {name} ...", file=sys.stderr, flush=True)
        out = subprocess.run([sys.executable, "-m", "bench.throughput", "--one", name, "--repeats", str(args.repeats),
                              "--steps", str(args.steps)], capture_output=True, text=True, check=True, cwd=ROOT)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))

    header = ("model", "train MFLOP/img", "step img/s", "GFLOP/s", "% ceiling", "matmuls alone img/s",
              "step / reference", "step+XLA img/s", "XLA / reference", "pipeline img/s", "train.py img/s", "train.py/step",
              "train.py / reference",
              "eval img/s", "peak RSS MB")
    print("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for r in results:
        flops = "-" if r["train_flops"] is None else f"{r['train_flops'] / 1e6:.2f}"
        gflops = "-" if r["train_flops"] is None else f"{r['train_flops'] * r['step'] / 1e9:.1f}"
        share = "-" if r["train_flops"] is None else f"{r['train_flops'] * r['step'] / 1e9 / ceiling:.0%}"
        matmuls_alone = "-" if r["matmuls_alone"] is None else f"{r['matmuls_alone']:,.0f}"
        print(f"| `{r['model']}` | {flops} | {r['step']:,.0f} | {gflops} | "
              f"{share} | {matmuls_alone} | {r['step'] / r['reference_step']:.2f}x | {r['step_xla']:,.0f} | "
              f"{r['step_xla'] / r['reference_step']:.2f}x | {r['pipeline']:,.0f} | {r['train_py']:,.0f} | "
              f"{r['train_py'] / r['step']:.0%} | {r['train_py'] / r['reference_step']:.2f}x | {r['eval']:,.0f} | "
              f"{r['peak_rss_mb']:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

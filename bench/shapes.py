"""Training speed and memory on images of other sizes and colour (issue 26), beside MNIST's 28 x 28 x 1.

    python -m bench.shapes                  # the table in bench/README.md (from the repository's root)
    python -m bench.shapes --repeats 5 --no-memory --models cvae_resnet

Per model (cvae_cnn3, cvae_fc3, cvae_resnet; n = 20) and image shape, with each likelihood:
  images/s         train.py's compiled training step (its XLA default) on synthetic images of that shape, batch
                   100, the median of --repeats timed passes of STEPS steps after a warm-up
  epoch, s         an epoch at that rate: MNIST's 60,000 images on 28 x 28 x 1, else 50,000 images
  / MNIST epoch    its ratio to the MNIST epoch of the same model (Bernoulli): the target is 3x or less for
                   cvae_cnn3 on 32 x 32 x 3
  likelihood, ms   what the likelihood alone costs a step: its NLL of a batch and the NLL's gradient with respect
                   to the decoder's parameters (random ones, of that shape), the median of --repeats
Then the peak resident memory of `python train.py cvae_cnn3 -n 20` for one epoch, on 50,000 synthetic
32 x 32 x 3 images (an .npz written to a temporary folder) and on MNIST, each in its own process.
Speeds differ from machine to machine: compare the ratios, which the same run measures.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cvae import import_tensorflow_quietly
from cvae.cli import positive_int

ROOT = Path(__file__).resolve().parents[1]
BATCH, STEPS, LATENT = 100, 30, 20
CASES = [((28, 28, 1), "bernoulli"), ((32, 32, 3), "bernoulli"), ((32, 32, 3), "logistic"), ((32, 32, 3), "mixture"),
         ((64, 64, 3), "bernoulli"), ((64, 64, 3), "logistic"), ((64, 64, 3), "mixture")]
MODELS = ("cvae_cnn3", "cvae_fc3", "cvae_resnet")


def likelihood_ms(shape, likelihood, repeats):
    """Median milliseconds of the likelihood's NLL of a batch and its gradient, on random parameters."""
    import tensorflow as tf
    from model.likelihoods import LIKELIHOODS
    kind = LIKELIHOODS[likelihood](shape)
    rng = np.random.default_rng(0)
    parameters = tf.Variable(rng.normal(0, 1, (BATCH, *shape[:2], kind.decoder_channels)).astype(np.float32))
    x = tf.constant(rng.integers(0, 256, (BATCH, *shape)) / 255, tf.float32)

    @tf.function
    def nll_and_gradient():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(kind.nll(x, parameters))
        return tape.gradient(loss, parameters)

    nll_and_gradient()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        for _ in range(10):
            gradient = nll_and_gradient()
        gradient.numpy()
        times.append((time.perf_counter() - began) / 10 * 1000)
    return statistics.median(times)


def step_rate(name, shape, likelihood, repeats):
    """Median images/s of the compiled training step of `name` on synthetic uint8 images of `shape`."""
    import keras
    import tensorflow as tf
    from cvae.generation import to_input
    from cvae.steps import make_train_step
    from model.registry import build_model, model_class
    keras.utils.set_random_seed(0)
    model = build_model(name, LATENT, 0, 10, shape, likelihood)
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    step = make_train_step(model, optimizer, xla=model_class(name).xla_by_default)
    rng = np.random.default_rng(0)
    batches = [(to_input(rng.integers(0, 256, (BATCH, *shape), dtype=np.uint8)), tf.constant(rng.integers(0, 10, BATCH),
                                                                                              tf.int32))
               for _ in range(4)]

    def run():
        for i in range(STEPS):
            losses = step(*batches[i % len(batches)])
        float(losses["loss"])  # wait for the last step

    run()
    rates = []
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        rates.append(STEPS * BATCH / (time.perf_counter() - began))
    return statistics.median(rates)


def write_synthetic_npz(path, shape, images, test_images):
    """An .npz of one's own that train.py reads (--dataset): seeded random uint8 images of `shape` and labels of
    10 classes, `images` for training and `test_images` for test. Returns `path`."""
    rng = np.random.default_rng(0)
    np.savez(path, images=rng.integers(0, 256, (images, *shape), dtype=np.uint8), labels=rng.integers(0, 10, images),
             test_images=rng.integers(0, 256, (test_images, *shape), dtype=np.uint8),
             test_labels=rng.integers(0, 10, test_images))
    return path


def peak_rss_of_training(args, log_dir):
    """Peak resident memory (MB) of `python train.py ARGS -e 1` in a process of its own."""
    command = [sys.executable, str(ROOT / "train.py"), *args, "-e", "1", "--log-dir", str(log_dir)]
    script = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
              "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", script, *command], capture_output=True, text=True, cwd=ROOT,
                         check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return int(out.stdout.split()[-1]) / 1024


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=positive_int, default=3)
    parser.add_argument("--no-memory", action="store_true", help="leave out the two train.py runs (a few minutes)")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=MODELS, help="the models to time")
    args = parser.parse_args(argv)
    import_tensorflow_quietly()
    print("| model | images | likelihood | images/s | epoch, s | / MNIST epoch | likelihood, ms a step |")
    print("|---|---|---|---|---|---|---|")
    likelihood_cost = {}
    for name in args.models:
        mnist_epoch = None
        for shape, likelihood in CASES:
            rate = step_rate(name, shape, likelihood, args.repeats)
            epoch = (60000 if mnist_epoch is None else 50000) / rate
            mnist_epoch = mnist_epoch or epoch
            images = f"{shape[0]} x {shape[1]} x {shape[2]}" + (" (MNIST, 60,000)" if epoch == mnist_epoch else
                                                                 " (50,000)")
            if (shape, likelihood) not in likelihood_cost:
                likelihood_cost[shape, likelihood] = likelihood_ms(shape, likelihood, args.repeats)
            print(f"| `{name}` | {images} | {likelihood} | {rate:,.0f} | {epoch:.1f} | {epoch / mnist_epoch:.2f}x "
                  f"| {likelihood_cost[shape, likelihood]:.1f} |", flush=True)
    if args.no_memory:
        return 0
    with tempfile.TemporaryDirectory() as folder:
        npz = write_synthetic_npz(Path(folder) / "synthetic.npz", (32, 32, 3), 50000, 10000)
        print("\n| train.py cvae_cnn3 -n 20, one epoch | peak resident memory, MB |\n|---|---|")
        for what, extra in (("MNIST, 60,000 of 28 x 28 x 1", []),
                            ("50,000 of 32 x 32 x 3 (synthetic .npz), Bernoulli",
                             ["--dataset", str(npz), "--data-dir", folder]),
                            ("50,000 of 32 x 32 x 3 (synthetic .npz), logistic",
                             ["--dataset", str(npz), "--data-dir", folder, "--likelihood", "logistic"])):
            print(f"| {what} | {peak_rss_of_training(['cvae_cnn3', '-n', '20', *extra], Path(folder) / 'log'):,.0f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

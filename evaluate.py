"""Numbers for a trained run: `python evaluate.py cvae_cnn3 -n 2` prints a table and writes log/MODEL_N/eval.json.

  ELBO, reconstruction and KL    nats per test image (mean over the 10,000 test images)
  NLL                            -log p(x) (-log p(x | y) for conditional models), importance-sampled
                                 with k samples from the encoder (Burda et al. 2015)
  class-consistency              conditional models: the fraction of images generated for each digit
                                 that the trained classifier (log/cnn) reads as that digit
  test accuracy                  the classifier
"""
import argparse
import json
import sys
import time
from pathlib import Path

from model import MODELS, count_parameters  # first: it imports TensorFlow without its start-up noise

import numpy as np
import tensorflow as tf

from checkpoint import RunConfig, RunLock, load_trained_model, open_run, run_dir_name, write_atomic
from cli import HelpFormatter, add_debug_flag, positive_int, report_errors
from dataset import DATA_DIR, DATASETS, TEST_BINARIZATION_SEED, batches, binarize_fixed, load_dataset
from model.losses import bernoulli_nll, gaussian_log_density, log_mean_exp

CLASSIFIER_EPOCHS = 20
# Images x samples decoded at once while importance sampling: bounds memory at about 30 MB of pixels.
DECODE_CHUNK = 10000


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Evaluate a run trained by train.py: print a table, write LOG_DIR/MODEL_N/eval.json.",
        formatter_class=HelpFormatter)
    parser.add_argument("model", choices=list(MODELS), metavar="MODEL", help=f"one of: {', '.join(MODELS)}")
    parser.add_argument("-n", "--latent-dim", type=positive_int, default=20, help="latent dimensions of the run")
    parser.add_argument("-k", "--importance-samples", type=positive_int, default=5000,
                        help="samples per test image for the NLL estimate (5000 is the literature's standard)")
    parser.add_argument("--samples", type=positive_int, default=1000,
                        help="generated images per digit for class-consistency")
    parser.add_argument("--test-images", type=positive_int, default=None,
                        help="evaluate on the first N test images only (quick checks; the table says N)")
    parser.add_argument("--binarize", action="store_true", help="evaluate the binarized run (MODEL_N_bin)")
    parser.add_argument("--dataset", choices=DATASETS, default="mnist", help="the data set the run trained on")
    parser.add_argument("--labels", type=positive_int, default=None, help="m2: the run's number of labels")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampling noise")
    parser.add_argument("--log-dir", type=Path, default=Path("log"))
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    add_debug_flag(parser)
    return parser.parse_args(argv)


def elbo_terms(model, images, labels, batch=1000):
    """Mean reconstruction, KL and ELBO (nats / image) over uint8 images [N, 28, 28]."""
    sums, count = {"reconstruction": 0.0, "kl": 0.0}, 0
    for x, y in batches(images, labels, batch):
        losses = model.compute_losses(x, y)
        for key in sums:
            sums[key] += float(losses[key]) * len(x)
        count += len(x)
    terms = {key: value / count for key, value in sums.items()}
    terms["elbo"] = -(terms["reconstruction"] + terms["kl"])
    return terms


def log_importance_weights(model, x, y, k, generator):
    """[B, k]: log p(x, z_i | y) - log q(z_i | x, y) with z_i ~ q(z | x, y) for x [B, 28, 28, 1]."""
    mean, log_var = model.encode(x, y)
    batch, n = tf.shape(mean)[0], tf.shape(mean)[1]
    z = mean[:, None] + tf.exp(0.5 * log_var)[:, None] * generator.normal(tf.stack([batch, k, n]))
    flat_z = tf.reshape(z, [-1, n])
    logits = model.decode(flat_z, tf.repeat(y, k))
    log_px = -tf.reshape(bernoulli_nll(tf.repeat(x, k, axis=0), logits), [batch, k])
    log_pz = gaussian_log_density(z, 0.0, 0.0)
    log_qz = gaussian_log_density(z, mean[:, None], log_var[:, None])
    return log_px + log_pz - log_qz


def importance_sampled_nll(model, images, labels, k, seed=0, log=print):
    """Mean over images of -log p(x | y) estimated as -log mean_i w_i over k importance samples.

    The decoder sees at most DECODE_CHUNK images x samples at once, so any k fits in memory.
    """
    generator = tf.random.Generator.from_seed(seed)
    chunk = min(k, DECODE_CHUNK)
    per_batch = max(1, DECODE_CHUNK // chunk)
    weights_fn = tf.function(lambda x, y, count: log_importance_weights(model, x, y, count, generator),
                             reduce_retracing=True)
    total, count, began = 0.0, 0, time.perf_counter()
    for i, (x, y) in enumerate(batches(images, labels, per_batch)):
        weights = tf.concat([weights_fn(x, y, tf.constant(min(chunk, k - start))) for start in range(0, k, chunk)],
                            axis=1)
        log_px = log_mean_exp(weights, axis=1)
        total -= float(tf.reduce_sum(log_px))
        count += len(x)
        if log and time.perf_counter() - began > 10 and i % 20 == 0:
            log(f"  NLL: {count:,}/{len(images):,} images, running mean {total / count:.2f} nats")
    return total / count


def class_consistency(predicted, requested):
    """(per-digit fraction [10], overall fraction) of predictions equal to the requested digit."""
    predicted, requested = np.asarray(predicted), np.asarray(requested)
    per_digit = [float(np.mean(predicted[requested == d] == d)) for d in range(10)]
    return per_digit, float(np.mean(predicted == requested))


def generate_per_digit(model, samples, seed):
    """(images uint8 [10 * samples, 28, 28], labels [10 * samples]) decoded from z ~ N(0, I)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(10), samples)
    images = []
    for start in range(0, len(labels), 1000):
        y = tf.constant(labels[start:start + 1000], tf.int32)
        z = tf.constant(rng.standard_normal((len(y), model.latent_dim)), tf.float32)
        images.append(tf.sigmoid(model.decode(z, y)).numpy()[..., 0])
    return np.round(np.concatenate(images) * 255).astype(np.uint8), labels


def classify(classifier, images, batch=1000):
    labels = np.zeros(len(images), np.int32)
    return np.concatenate([tf.argmax(classifier.classify(x), axis=1).numpy() for x, _ in batches(images, labels, batch)])


def trained_classifier(log_dir, data_dir, dataset="mnist"):
    """The classifier of log_dir/cnn (cnn_fashion_mnist for Fashion-MNIST), trained first (with a
    message) when there is none."""
    run_dir = log_dir / run_dir_name("cnn", None, dataset=dataset)
    if tf.train.latest_checkpoint(str(run_dir / "ckpt")) is None:
        option = f" --dataset {dataset}" if dataset != "mnist" else ""
        print(f"class-consistency needs the classifier and {run_dir} has none: training it first "
              f"(python train.py cnn{option} -e {CLASSIFIER_EPOCHS}, a few minutes on 2 cores)")
        import train
        with RunLock(run_dir):
            train.train(RunConfig(model="cnn", latent_dim=None, epochs=CLASSIFIER_EPOCHS, dataset=dataset), run_dir,
                        data_dir=data_dir)
    classifier, _, _ = load_trained_model(run_dir)
    return classifier


def evaluate(args):
    latent_dim = None if args.model == "cnn" else args.latent_dim
    model, config, epoch, run_dir = open_run(args.log_dir, args.model, latent_dim, args.binarize, None, args.dataset,
                                             args.labels)
    data = load_dataset(config.dataset, args.data_dir)
    images, labels = data.test_images[:args.test_images], data.test_labels[:args.test_images]
    if config.binarize:
        images = binarize_fixed(images)
    result = {"model": config.model, "latent_dim": config.latent_dim, "epoch": epoch,
              "parameters": count_parameters(model), "test_images": len(images),
              "binarized": config.binarize, "dataset": config.dataset, "labels": config.labels,
              "test_binarization_seed": TEST_BINARIZATION_SEED if config.binarize else None}
    rows = []
    if latent_dim is None or config.labels is not None:
        accuracy = float(np.mean(classify(model, images) == labels))
        result["test_accuracy"] = accuracy
        rows.append(("test accuracy", f"{accuracy:.2%}"))
    if latent_dim is not None:
        result.update(elbo_terms(model, images, labels))
        rows += [("test ELBO", f"{result['elbo']:.2f} nats"), ("  reconstruction", f"{result['reconstruction']:.2f} nats"),
                 ("  KL", f"{result['kl']:.2f} nats")]
        k = args.importance_samples
        began = time.perf_counter()
        result["nll"] = importance_sampled_nll(model, images, labels, k, args.seed)
        result["nll_k"] = k
        given = " | y" if model.conditional else ""
        rows.append((f"NLL -log p(x{given}), k = {k}", f"{result['nll']:.2f} nats  ({time.perf_counter() - began:.0f} s)"))
        if model.conditional:
            classifier = trained_classifier(args.log_dir, args.data_dir, config.dataset)
            generated, requested = generate_per_digit(model, args.samples, args.seed)
            per_digit, overall = class_consistency(classify(classifier, generated), requested)
            result["class_consistency"] = {"overall": overall, "per_digit": per_digit, "samples_per_digit": args.samples}
            np.savez_compressed(run_dir / "samples.npz", images=generated, labels=requested)
            rows.append((f"class-consistency ({args.samples} / digit)", f"{overall:.2%}"))
            rows.append(("  per digit 0-9", " ".join(f"{p:.0%}" for p in per_digit)))
    write_atomic(run_dir / "eval.json", json.dumps(result, indent=2) + "\n")
    title = f"{config.model}" + (f", n = {latent_dim}" if latent_dim else "") + f", epoch {epoch}, " \
            f"{len(images):,} test images" + (" (binarized)" if config.binarize else "")
    width = max(len(name) for name, _ in rows)
    print(title)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    print(f"wrote {run_dir / 'eval.json'}")
    return 0


def main(argv=None):
    args = parse_args(argv)
    return report_errors(lambda: evaluate(args), args.debug, interrupted=lambda: "interrupted; nothing was written")


if __name__ == "__main__":
    sys.exit(main())

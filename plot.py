"""Figures from a trained run: `python plot.py cvae_cnn3 -n 2` writes figure/cvae_cnn3_2/*.png.

The model is rebuilt from log/MODEL_N/config.json and its checkpoint, so no training flag is repeated.
"""
import argparse
import sys
from pathlib import Path

from model import MODELS  # first: it imports TensorFlow without its start-up noise

import numpy as np
import tensorflow as tf
from scipy.stats import norm

import figures
from checkpoint import open_run, read_metrics
from cli import HelpFormatter, UsageError, add_debug_flag, digit, positive_float, positive_int, report_errors
from dataset import CLASS_NAMES, DATA_DIR, DATASETS, load_dataset

KINDS = ("re", "gen_ave", "gen_rand", "embed", "manifold", "analogy", "curve")
SAMPLES_PER_DIGIT = 10
MANIFOLD_GRID = 15


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Plot figures of a model trained by train.py into FIGURE_DIR/MODEL_N/. "
                    "Without -m, every figure that applies to the model.",
        formatter_class=HelpFormatter)
    parser.add_argument("model", choices=list(MODELS), metavar="MODEL", help=f"one of: {', '.join(MODELS)}")
    parser.add_argument("-n", "--latent-dim", type=positive_int, default=20, help="latent dimensions of the run")
    parser.add_argument("-m", "--mode", choices=KINDS, default=None,
                        help="re: reconstructions; gen_ave: decoded class-mean codes; gen_rand: class-mean "
                             "code plus noise, and prior samples; embed: 2-D latent means; manifold: decoded "
                             "latent grid (n = 2); analogy: one style, every digit; curve: learning curves")
    parser.add_argument("-s", "--std", type=positive_float, default=0.1, help="noise std for gen_rand")
    parser.add_argument("-t", "--target", type=digit, default=None, help="digit for gen_rand (default: all)")
    parser.add_argument("-p", "--epoch", type=positive_int, default=None,
                        help="use the checkpoint kept at this epoch instead of the latest")
    parser.add_argument("--seed", type=int, default=0, help="seed for the noise in generated figures")
    parser.add_argument("--binarize", action="store_true", help="plot the binarized run (MODEL_N_bin)")
    parser.add_argument("--dataset", choices=DATASETS, default="mnist", help="the data set the run trained on")
    parser.add_argument("--labels", type=positive_int, default=None, help="m2: the run's number of labels")
    parser.add_argument("--log-dir", type=Path, default=Path("log"))
    parser.add_argument("--figure-dir", type=Path, default=Path("figure"))
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    add_debug_flag(parser)
    return parser.parse_args(argv)


def why_not(kind, model, latent_dim):
    """None if figure `kind` applies to the model, else the reason it does not."""
    if kind == "curve":
        return None
    if latent_dim is None:
        return "the classifier has only a learning curve (-m curve)"
    if kind in ("gen_ave", "gen_rand", "analogy") and not model.conditional:
        return f"-m {kind} needs a conditional model; the plain vae ignores labels"
    if kind == "manifold" and latent_dim != 2:
        return f"-m manifold needs a 2-D latent space (-n 2), this run has n = {latent_dim}"
    return None


def encode_means(model, images, labels, batch=1000):
    """Means of q(z | x, y) for uint8 images [N, 28, 28]: [N, n]."""
    return np.concatenate([model.encode(to_input(images[i:i + batch]), tf.constant(labels[i:i + batch], tf.int32))[0]
                           for i in range(0, len(images), batch)])


def class_mean_codes(codes, labels):
    """[10, n]: the mean latent code of each digit's images (codes [N, n], labels [N])."""
    return np.stack([codes[labels == d].mean(axis=0) for d in range(10)])


def pca_2d(codes):
    """Project [N, n] codes on their two leading principal components."""
    centred = codes - codes.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    return centred @ components[:2].T


def to_input(images):
    return tf.constant(images[..., None] / 255.0, tf.float32)


def decode(model, z, digits):
    """Pixel means [N, 28, 28] decoded from codes z [N, n] with labels digits [N]."""
    logits = model.decode(tf.constant(z, tf.float32), tf.constant(digits, tf.int32))
    return tf.sigmoid(logits).numpy()[..., 0]


def make_figure(kind, model, config, epoch, test, out_dir, args):
    """Write the figure `kind`; returns its path. test: (images, labels) of the test set, or None for "curve"."""
    n = config.latent_dim
    name = config.model + (f", n = {n}" if n else "") + (f", {config.labels} labels" if config.labels else "") \
        + (", Fashion-MNIST" if config.dataset == "fashion_mnist" else "") + f", epoch {epoch}"
    class_names = CLASS_NAMES[config.dataset]
    if kind == "curve":
        path = out_dir / "learning_curve.png"
        figures.plot_learning_curve(read_metrics(args.run_dir)[:epoch], path, f"{name}: learning curves")
        return path
    images, labels = test
    rng = np.random.default_rng(args.seed)
    if kind == "re":
        path = out_dir / "reconstruction.png"
        count = 30
        recon = model.reconstruct(to_input(images[:count]), tf.constant(labels[:count], tf.int32)).numpy()[..., 0]
        figures.plot_reconstruction(images[:count] / 255.0, recon, labels[:count], path,
                                    f"{name}: test images and their reconstructions", class_names)
        return path
    codes = encode_means(model, images, labels)
    if kind == "embed":
        path = out_dir / "embedding.png"
        shown = codes if n == 2 else pca_2d(codes)
        how = "latent means" if n == 2 else f"latent means projected on 2 principal components (PCA of {n} dims)"
        figures.plot_embedding(shown, labels, path, f"{name}: test {how}", class_names)
        return path
    if kind == "manifold":
        path = out_dir / "manifold.png"
        # Equal steps of probability under the prior, as in Kingma & Welling's figure 4.
        axis = norm.ppf(np.linspace(0.05, 0.95, MANIFOLD_GRID))
        zx, zy = np.meshgrid(axis, axis[::-1])
        grid_z = np.stack([zx.ravel(), zy.ravel()], axis=1)
        digits = range(10) if model.conditional else [0]
        panels = np.stack([decode(model, grid_z, np.full(len(grid_z), d)).reshape(MANIFOLD_GRID, MANIFOLD_GRID, 28, 28)
                           for d in digits])
        titles = [f"label {class_names[d]}" for d in digits] if model.conditional else [""]
        figures.plot_manifolds(panels, titles, path, f"{name}: decoded grid over the latent plane "
                                                     f"(z from the prior's 5%-95% quantiles)")
        return path
    means = class_mean_codes(codes, labels)
    if kind == "gen_ave":
        path = out_dir / "generated_image_mean.png"
        figures.plot_digit_row(decode(model, means, np.arange(10)), path,
                               f"{name}: decoded mean code of each class's test images", class_names)
        return path
    if kind == "gen_rand":
        digits = [args.target] if args.target is not None else list(range(10))
        path = out_dir / f"generated_image_rand_{args.target if args.target is not None else 'all'}_{args.std:.3f}.png"
        k = SAMPLES_PER_DIGIT
        z = np.repeat(means[digits], k, axis=0) + args.std * rng.standard_normal((len(digits) * k, n))
        samples = decode(model, z, np.repeat(digits, k)).reshape(len(digits), k, 28, 28)
        figures.plot_digit_samples(samples, digits, path, f"{name}: class-mean code + N(0, {args.std:g}²) noise",
                                   class_names)
        prior_path = out_dir / "generated_image_prior.png"
        z = rng.standard_normal((10 * k, n))
        prior = decode(model, z, np.repeat(np.arange(10), k)).reshape(10, k, 28, 28)
        figures.plot_digit_samples(prior, range(10), prior_path, f"{name}: samples with z from the prior N(0, I)",
                                   class_names)
        print(f"wrote {prior_path}")
        return path
    if kind == "analogy":
        path = out_dir / "analogy.png"
        rows = 8
        style = codes[:rows]
        how = "one test image's code"
        if config.labels is not None:
            # m2 needs no label to find a style: encode with the label its classifier q(y | x) reads.
            read = tf.argmax(model.classify(to_input(images[:rows])), axis=1).numpy()
            style = encode_means(model, images[:rows], read)
            how = "the code of one test image encoded with its classifier's label"
        z = np.repeat(style, 10, axis=0)
        generated = decode(model, z, np.tile(np.arange(10), rows)).reshape(rows, 10, 28, 28)
        figures.plot_analogy(images[:rows] / 255.0, generated, path,
                             f"{name}: each row keeps {how}, columns change the label", class_names)
        return path
    raise ValueError(kind)


def plot(args):
    latent_dim = None if args.model == "cnn" else args.latent_dim
    model, config, epoch, args.run_dir = open_run(args.log_dir, args.model, latent_dim, args.binarize, args.epoch,
                                                  args.dataset, args.labels)
    if args.mode is not None and why_not(args.mode, model, latent_dim):
        raise UsageError(why_not(args.mode, model, latent_dim))
    kinds = [args.mode] if args.mode else [k for k in KINDS if why_not(k, model, latent_dim) is None]
    out_dir = args.figure_dir / args.run_dir.name
    if args.epoch is not None:
        out_dir = out_dir / f"epoch-{args.epoch:04d}"
    out_dir.mkdir(parents=True, exist_ok=True)
    test = None
    if any(k != "curve" for k in kinds):
        data = load_dataset(config.dataset, args.data_dir)
        test = (data.test_images, data.test_labels)
    for kind in kinds:
        print(f"wrote {make_figure(kind, model, config, epoch, test, out_dir, args)}")
    return 0


def main(argv=None):
    args = parse_args(argv)
    return report_errors(lambda: plot(args), args.debug)


if __name__ == "__main__":
    sys.exit(main())

"""Figures from a trained run: `python plot.py cvae_cnn3 -n 2` writes figure/cvae_cnn3_2/*.png.

The model is rebuilt from log/MODEL_N/config.json and its checkpoint, so no training flag is repeated.
FIGURES maps each kind (-m) to the function that makes it from a PlottedRun.
"""
import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

import figures
from cli import (HelpFormatter, UsageError, UserFacingError, add_debug_flag, add_run_flags, class_index, import_tensorflow_quietly, open_run,
                 positive_float, report_errors, random_seed)

SAMPLES_PER_DIGIT = 10
MANIFOLD_GRID = 15


@dataclasses.dataclass
class PlottedRun:
    """What the figures of a run are made from."""
    model: object  # a model of model.registry, with its trained weights
    title: str  # "cvae_cnn3, n = 2, epoch 50": the start of every figure's title
    class_names: list
    metrics: list  # metrics.csv's rows up to the plotted epoch
    test_images: np.ndarray = None  # uint8 [N, 28, 28]; None when only the learning curve is plotted
    test_labels: np.ndarray = None  # [N]
    _codes: np.ndarray = None

    @property
    def codes(self):
        """Means of q(z | x, y) of the test images, [N, n] (encoded once, shared by the figures)."""
        if self._codes is None:
            self._codes = encode_means(self.model, self.test_images, self.test_labels)
        return self._codes


@dataclasses.dataclass(frozen=True)
class FigureOptions:
    seed: int = 0  # noise of the generated figures
    std: float = 0.1  # gen_rand: std of the noise around each class-mean code
    target: int = None  # gen_rand: one digit, or None for all


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Plot figures of a model trained by train.py into FIGURE_DIR/MODEL_N/. "
                    "Without -m, every figure that applies to the model.",
        formatter_class=HelpFormatter)
    add_run_flags(parser)
    parser.add_argument("-m", "--mode", choices=list(FIGURES), default=None,
                        help="re: reconstructions; gen_ave: decoded class-mean codes; gen_rand: class-mean "
                             "code plus noise, and prior samples; embed: 2-D latent means; manifold: decoded "
                             "latent grid (n = 2); analogy: one style, every digit; curve: learning curves")
    parser.add_argument("-s", "--std", type=positive_float, default=0.1, help="noise std for gen_rand")
    parser.add_argument("-t", "--target", type=class_index, default=None,
                        help="class (digit) for gen_rand (default: all)")
    parser.add_argument("--seed", type=random_seed, default=0, help="seed for the noise in generated figures")
    parser.add_argument("--figure-dir", type=Path, default=Path("figure"))
    add_debug_flag(parser)
    return parser.parse_args(argv)


def why_not(kind, model):
    """None if figure `kind` applies to the model, else the reason it does not."""
    if kind == "curve":
        return None
    if not model.has_latent_space:
        return "the classifier has only a learning curve (-m curve)"
    if kind in ("gen_ave", "gen_rand", "analogy") and not model.conditional:
        return f"-m {kind} needs a conditional model; the plain vae ignores labels"
    if kind == "manifold" and model.latent_dim != 2:
        return f"-m manifold needs a 2-D latent space (-n 2), this run has n = {model.latent_dim}"
    return None


def encode_means(model, images, labels, batch=1000):
    """Means of q(z | x, y) for uint8 images [N, 28, 28]: [N, n]."""
    return np.concatenate([model.encode(to_input(images[i:i + batch]), labels[i:i + batch].astype(np.int32))[0]
                           for i in range(0, len(images), batch)])


def class_mean_codes(codes, labels, classes):
    """[classes, n]: the mean latent code of each class's images (codes [N, n], labels [N]); 0, the prior's
    mean, for a class with no test image."""
    return np.stack([codes[labels == d].mean(axis=0) if np.any(labels == d) else np.zeros(codes.shape[1])
                     for d in range(classes)])


def pca_2d(codes):
    """Project [N, n] codes on their two leading principal components."""
    centred = codes - codes.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    return centred @ components[:2].T


def to_input(images):
    """uint8 [N, 28, 28] -> float32 [N, 28, 28, 1] in [0, 1], the models' input."""
    return (images[..., None] / 255.0).astype(np.float32)


def decode(model, z, digits):
    """Pixel means [N, 28, 28] decoded from codes z [N, n] with labels digits [N]."""
    return np.asarray(model.generate(np.asarray(z, np.float32), np.asarray(digits, np.int32)))[..., 0]


def learning_curve(run, out_dir, options):
    path = out_dir / "learning_curve.png"
    figures.plot_learning_curve(run.metrics, path, f"{run.title}: learning curves")
    return [path]


def reconstruction(run, out_dir, options):
    path = out_dir / "reconstruction.png"
    count = 30
    images, labels = run.test_images[:count], run.test_labels[:count]
    recon = np.asarray(run.model.reconstruct(to_input(images), labels.astype(np.int32)))[..., 0]
    figures.plot_reconstruction(images / 255.0, recon, labels, path,
                                f"{run.title}: test images and their reconstructions", run.class_names)
    return [path]


def embedding(run, out_dir, options):
    path = out_dir / "embedding.png"
    n = run.model.latent_dim
    shown = run.codes if n == 2 else pca_2d(run.codes)
    how = "latent means" if n == 2 else f"latent means projected on 2 principal components (PCA of {n} dims)"
    figures.plot_embedding(shown, run.test_labels, path, f"{run.title}: test {how}", run.class_names)
    return [path]


def manifold(run, out_dir, options):
    from scipy.stats import norm
    path = out_dir / "manifold.png"
    # Equal steps of probability under the prior, as in Kingma & Welling's figure 4.
    axis = norm.ppf(np.linspace(0.05, 0.95, MANIFOLD_GRID))
    zx, zy = np.meshgrid(axis, axis[::-1])
    grid_z = np.stack([zx.ravel(), zy.ravel()], axis=1)
    conditional = run.model.conditional
    digits = range(len(run.class_names)) if conditional else [0]
    panels = np.stack([decode(run.model, grid_z, np.full(len(grid_z), d)).reshape(MANIFOLD_GRID, MANIFOLD_GRID, 28, 28)
                       for d in digits])
    titles = [f"label {run.class_names[d]}" for d in digits] if conditional else [""]
    figures.plot_manifolds(panels, titles, path, f"{run.title}: decoded grid over the latent plane "
                                                 f"(z from the prior's 5%-95% quantiles)")
    return [path]


def class_means(run, out_dir, options):
    path = out_dir / "generated_image_mean.png"
    classes = len(run.class_names)
    means = class_mean_codes(run.codes, run.test_labels, classes)
    figures.plot_digit_row(decode(run.model, means, np.arange(classes)), path,
                           f"{run.title}: decoded mean code of each class's test images", run.class_names)
    return [path]


def noisy_class_means_and_prior(run, out_dir, options):
    rng = np.random.default_rng(options.seed)
    n, k, classes = run.model.latent_dim, SAMPLES_PER_DIGIT, len(run.class_names)
    means = class_mean_codes(run.codes, run.test_labels, classes)
    digits = [options.target] if options.target is not None else list(range(classes))
    which = options.target if options.target is not None else "all"
    path = out_dir / f"generated_image_rand_{which}_{options.std:.3f}.png"
    z = np.repeat(means[digits], k, axis=0) + options.std * rng.standard_normal((len(digits) * k, n))
    samples = decode(run.model, z, np.repeat(digits, k)).reshape(len(digits), k, 28, 28)
    figures.plot_digit_samples(samples, digits, path, f"{run.title}: class-mean code + N(0, {options.std:g}²) noise",
                               run.class_names)
    prior_path = out_dir / "generated_image_prior.png"
    z = rng.standard_normal((classes * k, n))
    prior = decode(run.model, z, np.repeat(np.arange(classes), k)).reshape(classes, k, 28, 28)
    figures.plot_digit_samples(prior, range(classes), prior_path, f"{run.title}: samples with z from the prior N(0, I)",
                               run.class_names)
    return [prior_path, path]


def analogy(run, out_dir, options):
    path = out_dir / "analogy.png"
    rows = 8
    images = run.test_images[:rows]
    style = run.codes[:rows]
    how = "one test image's code"
    if run.model.semi_supervised:
        # m2 needs no label to find a style: encode with the label its classifier q(y | x) reads.
        read = np.argmax(np.asarray(run.model.classify(to_input(images))), axis=1)
        style = encode_means(run.model, images, read)
        how = "the code of one test image encoded with its classifier's label"
    classes = len(run.class_names)
    z = np.repeat(style, classes, axis=0)
    generated = decode(run.model, z, np.tile(np.arange(classes), rows)).reshape(rows, classes, 28, 28)
    figures.plot_analogy(images / 255.0, generated, path,
                         f"{run.title}: each row keeps {how}, columns change the label", run.class_names)
    return [path]


# kind (-m) -> function(PlottedRun, out_dir, FigureOptions) -> paths written; in the order plot.py makes them
FIGURES = {
    "re": reconstruction,
    "gen_ave": class_means,
    "gen_rand": noisy_class_means_and_prior,
    "embed": embedding,
    "manifold": manifold,
    "analogy": analogy,
    "curve": learning_curve,
}


def plot(args):
    from dataset import load_for
    from rundir import DamagedFile
    model, config, epoch, run_dir = open_run(args, args.epoch)
    class_names = config.class_names()
    if args.target is not None and args.target >= len(class_names):
        raise UsageError(f"-t {args.target}: this run has {len(class_names)} classes, 0 to {len(class_names) - 1}")
    if args.mode is not None and why_not(args.mode, model):
        raise UsageError(why_not(args.mode, model))
    kinds = [args.mode] if args.mode else [k for k in FIGURES if why_not(k, model) is None]
    out_dir = args.figure_dir / run_dir.name
    if args.epoch is not None:
        out_dir = out_dir / f"epoch-{args.epoch:04d}"
    out_dir.mkdir(parents=True, exist_ok=True)
    n = config.latent_dim
    title = config.model + (f", n = {n}" if n else "") + (f", {config.labels} labels" if config.labels else "") \
        + (", Fashion-MNIST" if config.dataset == "fashion_mnist" else "") \
        + (f", data {Path(config.data['path']).name}" if config.data else "") + f", epoch {epoch}"
    try:
        metrics = run_dir.read_metrics()[:epoch] if "curve" in kinds else []
    except DamagedFile as err:
        if args.mode == "curve":
            raise UserFacingError(f"{err}; the learning curve is drawn from it (the other figures are not)")
        print(f"warning: {err}; the learning curve is left out")
        kinds.remove("curve")
        metrics = []
    run = PlottedRun(model, title, class_names, metrics)
    if any(k != "curve" for k in kinds):
        data = load_for(config, args.data_dir)
        run.test_images, run.test_labels = data.test_images, data.test_labels
    options = FigureOptions(seed=args.seed, std=args.std, target=args.target)
    for kind in kinds:
        for path in FIGURES[kind](run, out_dir, options):
            print(f"wrote {path}")
    return 0


def main(argv=None):
    args = parse_args(argv)
    import_tensorflow_quietly()
    return report_errors(lambda: plot(args), args.debug)


if __name__ == "__main__":
    sys.exit(main())

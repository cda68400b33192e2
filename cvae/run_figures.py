"""The figures of a trained run, by kind (plot.py -m): each kind is a function that makes its PNG(s) from
a PlottedRun and returns the paths it wrote. FIGURES lists them in the order plot.py makes them."""
import dataclasses
from pathlib import Path

import numpy as np

from cvae import figures
from cvae.generation import classify, decode, encode_means, reconstruct

SAMPLES_PER_CLASS = 10
MANIFOLD_GRID = 15
RECONSTRUCTED = 30  # test images in the reconstruction figure
ANALOGY_ROWS = 8


@dataclasses.dataclass
class PlottedRun:
    """What the figures of a run are made from."""
    model: object  # a model of model.registry, with its trained weights
    title: str  # "cvae_cnn3, n = 2, epoch 50": the start of every figure's title
    class_names: list
    metrics: list  # metrics.csv's rows up to the plotted epoch
    # () -> ImageSet of the run's data: loaded by the first figure that shows test images, so that the others
    # (the latent grid, the learning curve) are made from the run alone.
    load_data: object = None
    _data: object = None
    _codes: np.ndarray = None

    @property
    def test_images(self):
        """uint8 [N, 28, 28]"""
        return self._test_set().test_images

    @property
    def test_labels(self):
        """[N]"""
        return self._test_set().test_labels

    def _test_set(self):
        if self._data is None:
            self._data = self.load_data()
        return self._data

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
    target: int = None  # gen_rand: one class, or None for all


def title_of(run):
    """The start of every figure's title for a TrainedRun: "cvae_cnn3, n = 2, epoch 50" and what else names it."""
    identity = run.identity
    n = identity.latent_dim
    return (identity.model + (f", n = {n}" if n else "") + (f", {identity.labels} labels" if identity.labels else "")
            + (", Fashion-MNIST" if identity.dataset == "fashion_mnist" else "")
            + (f", data {Path(identity.data['path']).name}" if identity.data else "")
            + f", epoch {run.epoch}")


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


def learning_curve(run, out_dir, options):
    path = out_dir / "learning_curve.png"
    figures.plot_learning_curve(run.metrics, path, f"{run.title}: learning curves")
    return [path]


def reconstruction(run, out_dir, options):
    path = out_dir / "reconstruction.png"
    images, labels = run.test_images[:RECONSTRUCTED], run.test_labels[:RECONSTRUCTED]
    figures.plot_reconstruction(images / 255.0, reconstruct(run.model, images, labels), labels, path,
                                f"{run.title}: test images and their reconstructions", run.class_names)
    return [path]


def embedding(run, out_dir, options):
    path = out_dir / "embedding.png"
    n = run.model.latent_dim
    if n == 2:
        shown, how, axes = run.codes, "latent means", ("z[0]", "z[1]")
    else:
        shown, how = pca_2d(run.codes), f"latent means projected on 2 principal components (PCA of {n} dims)"
        axes = ("PC 1", "PC 2")
    figures.plot_embedding(shown, run.test_labels, path, f"{run.title}: test {how}", run.class_names, axes)
    return [path]


def manifold(run, out_dir, options):
    from scipy.stats import norm
    path = out_dir / "manifold.png"
    # Equal steps of probability under the prior, as in Kingma & Welling's figure 4.
    axis = norm.ppf(np.linspace(0.05, 0.95, MANIFOLD_GRID))
    zx, zy = np.meshgrid(axis, axis[::-1])
    grid_z = np.stack([zx.ravel(), zy.ravel()], axis=1)
    conditional = run.model.conditional
    labels = range(len(run.class_names)) if conditional else [0]
    panels = np.stack([decode(run.model, grid_z, np.full(len(grid_z), label)).reshape(MANIFOLD_GRID, MANIFOLD_GRID,
                                                                                       28, 28)
                       for label in labels])
    titles = [f"label {run.class_names[label]}" for label in labels] if conditional else [""]
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
    n, k, classes = run.model.latent_dim, SAMPLES_PER_CLASS, len(run.class_names)
    means = class_mean_codes(run.codes, run.test_labels, classes)
    shown = [options.target] if options.target is not None else list(range(classes))
    which = options.target if options.target is not None else "all"
    path = out_dir / f"generated_image_rand_{which}_{options.std:.3f}.png"
    z = np.repeat(means[shown], k, axis=0) + options.std * rng.standard_normal((len(shown) * k, n))
    samples = decode(run.model, z, np.repeat(shown, k)).reshape(len(shown), k, 28, 28)
    figures.plot_digit_samples(samples, shown, path, f"{run.title}: class-mean code + N(0, {options.std:g}²) noise",
                               run.class_names)
    prior_path = out_dir / "generated_image_prior.png"
    z = rng.standard_normal((classes * k, n))
    prior = decode(run.model, z, np.repeat(np.arange(classes), k)).reshape(classes, k, 28, 28)
    figures.plot_digit_samples(prior, range(classes), prior_path, f"{run.title}: samples with z from the prior N(0, I)",
                               run.class_names)
    return [prior_path, path]


def analogy(run, out_dir, options):
    path = out_dir / "analogy.png"
    images = run.test_images[:ANALOGY_ROWS]  # fewer when the test set is smaller
    rows = len(images)
    style = run.codes[:rows]
    how = "one test image's code"
    if run.model.semi_supervised:
        # m2 needs no label to find a style: encode with the label its classifier q(y | x) reads.
        style = encode_means(run.model, images, classify(run.model, images))
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

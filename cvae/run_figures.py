"""The figures of a trained run, by kind (plot.py -m): each kind is a function that makes its PNG(s) (and
GIFs) from a PlottedRun and returns the paths it wrote. FIGURES lists them in the order plot.py makes them;
those of ON_REQUEST only when asked for by name."""
import dataclasses
from pathlib import Path

import numpy as np

from model import LIKELIHOODS
from cvae import figures
from cvae.generation import classify, decode, draw, encode_distribution, encode_means, reconstruct

SAMPLES_PER_CLASS = 10
MANIFOLD_GRID = 15
RECONSTRUCTED = 30  # test images in the reconstruction figure
ANALOGY_ROWS = 8
CONFUSION_SAMPLES = 1000  # per class: evaluate.py's default, so the prior's diagonal is its class-consistency
INTERPOLATED_PAIRS = 4  # of each kind: same class and across classes (8 pairs of any images for the vae)
INTERPOLATION_STEPS = 10
TRAVERSED_DIMENSIONS = 8
TRAVERSE_SIGMAS = np.linspace(-3, 3, 13)  # around the test code, in each dimension's spread over the test codes
GIF_STEPS = 16  # frames one way; the GIFs go there and back


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
    # () -> the run's fitted cvae.samplers.Mixture; () -> (the classifier that judges its images, where it is from).
    # Called only by the figures that need them (gen_rand with --sampler gmm; confusion).
    load_mixture: object = None
    load_judge: object = None
    _data: object = None
    _codes: tuple = None

    @property
    def test_images(self):
        """uint8 [N, H, W, C]"""
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
        return self.code_distribution[0]

    @property
    def code_distribution(self):
        """(means, log-variances) of q(z | x, y) of the test images, each [N, n]."""
        if self._codes is None:
            self._codes = encode_distribution(self.model, self.test_images, self.test_labels)
        return self._codes


@dataclasses.dataclass(frozen=True)
class FigureOptions:
    seed: int = 0  # noise of the generated figures
    std: float = 0.1  # gen_rand: std of the noise around each class-mean code
    target: int = None  # gen_rand: one class, or None for all
    sampler: str = "prior"  # gen_rand: "gmm" also draws from the fitted mixtures (generated_image_gmm.png)


def title_of(run):
    """The start of every figure's title for a TrainedRun: "cvae_cnn3, n = 2, epoch 50" and what else names it."""
    identity = run.identity
    n = identity.latent_dim
    return (identity.model + (f", n = {n}" if n else "") + (f", {identity.labels} labels" if identity.labels else "")
            + (", Fashion-MNIST" if identity.dataset == "fashion_mnist" else "")
            + (f", data {Path(identity.data['path']).name}" if identity.data else "")
            + likelihood_shown(identity) + f", epoch {run.epoch}")


def likelihood_shown(identity):
    """What a figure's images are when the likelihood is not the default (model.LikelihoodSpec.shown_as: ",
    discretized logistic, images are its means"; a Bernoulli run's images are its pixel means too, as every MNIST
    figure has always said nothing of)."""
    return LIKELIHOODS[identity.likelihood].shown_as


def why_not(kind, model):
    """None if figure `kind` applies to the model, else the reason it does not."""
    if kind == "curve":
        return None
    if not model.has_latent_space:
        return "the classifier has only a learning curve (-m curve)"
    if kind in ("gen_ave", "analogy", "confusion") and not model.conditional:
        return f"-m {kind} needs a conditional model; the plain vae ignores labels"
    if kind == "pseudo" and not hasattr(model.prior, "pseudo_inputs"):
        return f"-m pseudo shows a VampPrior's pseudo-inputs (the *_vamp models); this run's prior is {model.prior.title}"
    if kind == "manifold" and model.latent_dim != 2:
        return f"-m manifold needs a 2-D latent space (-n 2), this run has n = {model.latent_dim}"
    if kind == "traverse" and model.latent_dim <= 2:
        return "-m traverse sweeps the most-used of many latent dimensions (n > 2); with n = 2, -m manifold shows both"
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
    path = out_dir / "manifold.png"
    # Equal steps of probability under the prior, as in Kingma & Welling's figure 4.
    axis = run.model.prior.quantile(np.linspace(0.05, 0.95, MANIFOLD_GRID))
    zx, zy = np.meshgrid(axis, axis[::-1])
    grid_z = np.stack([zx.ravel(), zy.ravel()], axis=1)
    conditional = run.model.conditional
    labels = range(len(run.class_names)) if conditional else [0]
    panels = np.stack([decode(run.model, grid_z, np.full(len(grid_z), label)).reshape(MANIFOLD_GRID, MANIFOLD_GRID,
                                                                                       *run.model.image_shape)
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
    if not run.model.conditional:
        return unconditional_samples(run, out_dir, options)
    rng = np.random.default_rng(options.seed)
    n, k, classes = run.model.latent_dim, SAMPLES_PER_CLASS, len(run.class_names)
    means = class_mean_codes(run.codes, run.test_labels, classes)
    shown = [options.target] if options.target is not None else list(range(classes))
    which = options.target if options.target is not None else "all"
    path = out_dir / f"generated_image_rand_{which}_{options.std:.3f}.png"
    z = np.repeat(means[shown], k, axis=0) + options.std * rng.standard_normal((len(shown) * k, n))
    samples = decode(run.model, z, np.repeat(shown, k)).reshape(len(shown), k, *run.model.image_shape)
    figures.plot_digit_samples(samples, shown, path, f"{run.title}: class-mean code + N(0, {options.std:g}²) noise",
                               run.class_names)
    prior_path = out_dir / "generated_image_prior.png"
    labels = np.repeat(np.arange(classes), k)
    prior = decode(run.model, run.model.prior.draw(labels, rng), labels).reshape(classes, k, *run.model.image_shape)
    figures.plot_digit_samples(prior, range(classes), prior_path,
                               f"{run.title}: samples with z from the prior {run.model.prior.title}",
                               run.class_names)
    if options.sampler != "gmm":
        return [prior_path, path]
    mixture = run.load_mixture()
    gmm_path = out_dir / "generated_image_gmm.png"
    labels = np.repeat(np.arange(classes), k)
    z = mixture.draw(labels, np.random.default_rng(options.seed))
    fitted = decode(run.model, z, labels).reshape(classes, k, *run.model.image_shape)
    figures.plot_digit_samples(fitted, range(classes), gmm_path,
                               f"{run.title}: samples with z from mixtures of {mixture.components} Gaussians fitted "
                               f"to each class's training codes", run.class_names)
    return [prior_path, gmm_path, path]


def unconditional_samples(run, out_dir, options):
    """gen_rand of a model that ignores labels: a grid of samples with z from its prior (and from the fitted
    mixture with --sampler gmm), as many as a conditional model's figure holds."""
    labels = np.zeros(len(run.class_names) * SAMPLES_PER_CLASS, int)
    unnamed = [""] * len(run.class_names)
    samplers = [("generated_image_prior.png", run.model.prior, f"the prior {run.model.prior.title}")]
    if options.sampler == "gmm":
        mixture = run.load_mixture()
        samplers.append(("generated_image_gmm.png", mixture,
                         f"a mixture of {mixture.components} Gaussians fitted to the training codes"))
    paths = []
    for name, sampler, what in samplers:
        z = sampler.draw(labels, np.random.default_rng(options.seed))
        images = decode(run.model, z, labels).reshape(len(unnamed), SAMPLES_PER_CLASS, *run.model.image_shape)
        figures.plot_digit_samples(images, range(len(unnamed)), out_dir / name, f"{run.title}: samples with z from "
                                   f"{what}", unnamed)
        paths.append(out_dir / name)
    return paths


def pseudo_inputs(run, out_dir, options):
    """The learned pseudo-inputs of a VampPrior, whose encodings are its mixture's components: a row per class of
    a conditional model (its first SAMPLES_PER_CLASS), or the first rows of an unconditional one's."""
    images, labels = run.model.prior.pseudo_inputs()
    classes = len(run.class_names)
    if run.model.conditional:
        rows = np.stack([images[labels == label][:SAMPLES_PER_CLASS] for label in range(classes)])
        names = run.class_names
    else:
        rows = images[:classes * SAMPLES_PER_CLASS].reshape(classes, SAMPLES_PER_CLASS, *images.shape[1:])
        names = [""] * classes
    path = out_dir / "pseudo_inputs.png"
    figures.plot_digit_samples(rows, range(classes), path, f"{run.title}: its prior's learned pseudo-inputs, "
                               f"{SAMPLES_PER_CLASS * classes} of {len(images)}", names)
    return [path]


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
    generated = decode(run.model, z, np.tile(np.arange(classes), rows)).reshape(rows, classes, *run.model.image_shape)
    figures.plot_analogy(images / 255.0, generated, path,
                         f"{run.title}: each row keeps {how}, columns change the label", run.class_names)
    return [path]


def confusion_matrix(requested, read, classes):
    """[classes, classes]: the fraction of the images asked for as class r (row) that were read as class c."""
    counts = np.zeros((classes, classes))
    np.add.at(counts, (np.asarray(requested), np.asarray(read)), 1)
    return counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)


def confusion(run, out_dir, options):
    path = out_dir / "confusion.png"
    classifier, judged_by = run.load_judge()
    mixture = run.load_mixture()
    classes = len(run.class_names)
    matrices, titles = [], []
    samplers = ((f"prior {run.model.prior.title}", None), (f"mixtures of {mixture.components} Gaussians", mixture))
    for name, source in samplers:
        generated, requested, _ = draw(run.model, range(classes), CONFUSION_SAMPLES, seed=options.seed, mixture=source)
        matrix = confusion_matrix(requested, classify(classifier, generated), classes)
        matrices.append(matrix)
        titles.append(f"z from the {name}: {np.mean(np.diag(matrix)):.1%} read as asked")
    figures.plot_confusions(np.stack(matrices), titles, path,
                            f"{run.title}: {CONFUSION_SAMPLES:,} generated images per class, read by the "
                            f"classifier of {Path(judged_by).name} (percent of each row)", run.class_names)
    return [path]


def there_and_back(start, stop):
    """The GIFs' positions: GIF_STEPS from start to stop, then back, so that the loop has no jump."""
    there = np.linspace(start, stop, GIF_STEPS)
    return np.concatenate([there, there[::-1]])


def interpolation_pairs(labels, classes, conditional):
    """[(index a, index b)] of test images to join: for a conditional model INTERPOLATED_PAIRS of two images of
    one class, then as many of two classes; for the vae, pairs of consecutive test images."""
    if not conditional:
        return [(2 * i, 2 * i + 1) for i in range(min(2 * INTERPOLATED_PAIRS, len(labels) // 2))]
    of_class = [np.flatnonzero(labels == c) for c in range(classes)]
    pairs = []
    for i in range(INTERPOLATED_PAIRS):
        c = i * classes // INTERPOLATED_PAIRS
        if len(of_class[c]) >= 2:
            pairs.append((of_class[c][0], of_class[c][1]))
    for i in range(INTERPOLATED_PAIRS):
        a, b = (2 * i + 1) % classes, (2 * i + 2) % classes
        if a != b and len(of_class[a]) and len(of_class[b]) and (of_class[a][0], of_class[b][0]) not in pairs:
            pairs.append((of_class[a][0], of_class[b][0]))  # with few classes, (a, b) comes round again
    return pairs


def interpolate(run, out_dir, options):
    path, gif_path = out_dir / "interpolation.png", out_dir / "interpolation.gif"
    conditional = run.model.conditional
    labels = run.test_labels if conditional else np.zeros(len(run.test_labels), int)
    pairs = interpolation_pairs(labels, len(run.class_names), conditional)
    if not pairs:
        raise ValueError("the test set has too few images to pair")
    a, b = (np.array(indices) for indices in zip(*pairs))

    def decoded_at(steps):  # [len(steps), pairs, H, W, C]: each pair's straight line at each t
        t = np.repeat(steps, len(pairs))[:, None]
        z = (1 - t) * np.tile(run.codes[a], (len(steps), 1)) + t * np.tile(run.codes[b], (len(steps), 1))
        # A conditional decoder takes one label: the first image's up to halfway, then the second's.
        y = np.where(t[:, 0] < 0.5, np.tile(labels[a], len(steps)), np.tile(labels[b], len(steps)))
        return decode(run.model, z, y).reshape(len(steps), len(pairs), *run.model.image_shape)

    steps = np.linspace(0, 1, INTERPOLATION_STEPS)
    rows = np.concatenate([run.test_images[a][:, None] / 255.0, decoded_at(steps).transpose(1, 0, 2, 3, 4),
                           run.test_images[b][:, None] / 255.0], axis=1)
    names = [f"{run.class_names[labels[i]]} to {run.class_names[labels[j]]}" if conditional else "" for i, j in pairs]
    how = (" (a conditional decoder takes the first image's label up to halfway, then the second's)"
           if conditional else "")
    figures.plot_grid(rows, path, f"{run.title}: decoded straight lines between the codes of two test images, "
                                  f"from t = 0 to 1{how}", names,
                      ["image"] + [f"{t:.1f}" for t in steps] + ["image"])
    both_ways = there_and_back(0, 1)
    frames = decoded_at(both_ways)[:, None]  # one row of pairs a frame
    figures.animate_grid(frames, [f"t = {t:.2f}" for t in both_ways], gif_path,
                         f"{run.title}: between two test images' codes" + (f" ({', '.join(names)})" if conditional else ""))
    return [path, gif_path]


def dimensions_by_kl(means, log_vars):
    """(latent dimensions, most used first; their average KL(q(z_j | x) || N(0, 1)) in nats) over codes [N, n]."""
    kl = 0.5 * np.mean(means ** 2 + np.exp(log_vars) - 1 - log_vars, axis=0)
    order = np.argsort(-kl, kind="stable")
    return order, kl[order]


def traverse(run, out_dir, options):
    path, gif_path = out_dir / "traversal.png", out_dir / "traversal.gif"
    means, log_vars = run.code_distribution
    order, kl = dimensions_by_kl(means, log_vars)
    dims, kl = order[:TRAVERSED_DIMENSIONS], kl[:TRAVERSED_DIMENSIONS]
    spread = means.std(axis=0)
    base = means[0]
    label = int(run.test_labels[0]) if run.model.conditional else 0

    def decoded_at(sigmas):  # [len(sigmas), dims, H, W, C]
        z = np.tile(base, (len(sigmas), len(dims), 1))
        z[:, np.arange(len(dims)), dims] += sigmas[:, None] * spread[dims]
        return decode(run.model, z.reshape(-1, len(base)), np.full(z.shape[0] * len(dims), label)).reshape(
            len(sigmas), len(dims), *run.model.image_shape)

    rows = np.concatenate([np.repeat(run.test_images[:1][None] / 255.0, len(dims), axis=0),
                           decoded_at(TRAVERSE_SIGMAS).transpose(1, 0, 2, 3, 4)], axis=1)
    row_names = [f"z[{d}], KL {k:.1f}" for d, k in zip(dims, kl)]
    given = f" with label {run.class_names[label]}" if run.model.conditional else ""
    figures.plot_grid(rows, path, f"{run.title}: the first test image's code{given}, one dimension at a time moved "
                                  f"-3 to +3 of its spread over the test codes; the {len(dims)} dimensions with the "
                                  f"largest average KL, largest first", row_names,
                      ["image"] + [f"{s:+g}" for s in TRAVERSE_SIGMAS])
    both_ways = there_and_back(-3, 3)
    figures.animate_grid(decoded_at(both_ways)[:, None], [f"{s:+.1f} spread in each of z{list(map(int, dims))}"
                                                          for s in both_ways], gif_path,
                         f"{run.title}: the {len(dims)} most-used dimensions swept one at a time")
    return [path, gif_path]


# kind (-m) -> function(PlottedRun, out_dir, FigureOptions) -> paths written; in the order plot.py makes them
FIGURES = {
    "re": reconstruction,
    "gen_ave": class_means,
    "gen_rand": noisy_class_means_and_prior,
    "embed": embedding,
    "manifold": manifold,
    "analogy": analogy,
    "pseudo": pseudo_inputs,
    "interpolate": interpolate,
    "traverse": traverse,
    "confusion": confusion,
    "curve": learning_curve,
}
# Made only when -m names them: the confusion figure needs the classifier that judges the run (trained first
# when there is none) and the fitted mixtures.
ON_REQUEST = ("confusion",)

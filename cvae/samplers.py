"""Where a run's codes come from when it generates: the prior N(0, I), or Gaussian mixtures fitted to the
codes its encoder gives the training images ("ex-post density estimation", Ghosh et al. 2020), one mixture
per class for a conditional model, one for the plain vae.

Why: with many latent dimensions the prior puts mass where the encoder never puts a code, and the decoder
draws something between classes there. A mixture fitted to the codes the encoder does give stays where the
decoder was trained. The fit is scikit-learn's GaussianMixture (full covariances, seeded); it is cached beside
the run (sampler_gmm.npz), keyed by the checkpoint it was fitted on and the number of components, and fitted
again when either changes or the file does not read back whole.
"""
import dataclasses
import json
import time
import zipfile

import numpy as np

from cvae.errors import UsageError, UserFacingError
from cvae.files import atomic_file, check_small_file, sha256_of

SAMPLERS = ("prior", "gmm")
COMPONENTS = 10  # per class: --components' default
PROGRESS_EVERY = 5.0  # seconds between the lines that say how far a fit has gone
CACHE = "sampler_gmm.npz"
FIT_SEED = 0


@dataclasses.dataclass
class Mixture:
    """Gaussian mixtures of codes, one per class (a single one for an unconditional model): weights [C, K],
    means [C, K, n], cholesky [C, K, n, n] (lower factors of the covariances)."""
    weights: np.ndarray
    means: np.ndarray
    cholesky: np.ndarray

    @property
    def components(self):
        return self.weights.shape[1]

    def draw(self, labels, rng):
        """Codes z [N, n] float32, each from the mixture of its label (labels [N]; all 0 for an unconditional
        model), drawn with the numpy Generator `rng`: a component by its weight, then its Gaussian."""
        labels = np.asarray(labels) if len(self.weights) > 1 else np.zeros(len(labels), int)
        cumulative = np.cumsum(self.weights[labels], axis=1)
        picked = np.minimum((rng.random(len(labels))[:, None] > cumulative).sum(axis=1), self.components - 1)
        eps = rng.standard_normal((len(labels), self.means.shape[2]))
        z = self.means[labels, picked] + np.einsum("bij,bj->bi", self.cholesky[labels, picked], eps)
        return z.astype(np.float32)

    def draw_in_graph(self, labels, seed):
        """Codes z [B, n] for labels int32 [B] drawn inside a TensorFlow graph, the same for the same seed
        (stateless): the exported SavedModel's `sample`, which holds the mixture as constants and runs without
        numpy or this module. The same distribution as draw(), not the same numbers."""
        import tensorflow as tf
        weights, means, cholesky = (tf.constant(a, tf.float32) for a in (self.weights, self.means, self.cholesky))
        if len(self.weights) == 1:
            labels = tf.zeros(tf.shape(labels), tf.int32)
        logits = tf.math.log(tf.gather(weights, labels))  # a weight of 0: -inf, never picked
        picked = tf.cast(tf.random.stateless_categorical(logits, 1, seed=tf.stack([seed, 1]))[:, 0], tf.int32)
        index = tf.stack([labels, picked], axis=1)
        eps = tf.random.stateless_normal(tf.stack([tf.shape(labels)[0], self.means.shape[2]]), seed=tf.stack([seed, 0]))
        return tf.gather_nd(means, index) + tf.einsum("bij,bj->bi", tf.gather_nd(cholesky, index), eps)


def mixture_flaw(mixture, groups, components, latent_dim):
    """Why `mixture` is not mixtures of `components` Gaussians in `latent_dim` dimensions for `groups` classes
    (weights [C, K] >= 0 summing to 1, finite means [C, K, n], lower Cholesky factors [C, K, n, n] with a positive
    diagonal), or None. A cache can be rewritten with a valid key: NaN means would draw black images, a [1, K]
    weight array would draw every class from class 0."""
    weights, means, cholesky = (np.asarray(a) for a in (mixture.weights, mixture.means, mixture.cholesky))
    if (weights.shape != (groups, components) or means.shape != (groups, components, latent_dim)
            or cholesky.shape != (groups, components, latent_dim, latent_dim)):
        return (f"its arrays are {list(weights.shape)}, {list(means.shape)} and {list(cholesky.shape)}, not "
                f"{components} components of {latent_dim} dimensions for {groups} class(es)")
    if not all(np.all(np.isfinite(a)) for a in (weights, means, cholesky)):
        return "it holds NaN or infinite numbers"
    if np.any(weights < 0) or not np.allclose(weights.sum(axis=1), 1.0, atol=1e-6):
        return "its weights are not each class's shares (0 or more, summing to 1)"
    diagonal = np.diagonal(cholesky, axis1=2, axis2=3)
    if np.any(np.triu(cholesky, k=1) != 0) or np.any(diagonal <= 0):
        return "its factors are not lower-triangular with a positive diagonal"
    return None


def checkpoint_key(run, components):
    """What a fit belongs to: the checkpoint's index file (its sha256) and the number of components."""
    with open(f"{run.checkpoint}.index", "rb") as f:
        return {"checkpoint_sha256": sha256_of(f.read()), "epoch": run.epoch, "components": components}


def fit_mixtures(run, components=COMPONENTS, data_dir=None, log=print):
    """Mixtures of `components` Gaussians fitted to the encoder's means of the run's training images (--subset
    applied), one per class of a conditional model (m2's classes: those its classifier reads, since it may use
    a few labels only). UsageError for a model without a latent space, or a class with fewer training images
    than components."""
    model = run.model
    if not model.has_latent_space:
        raise UsageError(f"{run.identity.model} is a classifier: it has no latent space to fit a sampler to")
    data = run.data(data_dir)
    images, labels = data.train_images[:run.identity.subset], data.train_labels[:run.identity.subset]
    if model.semi_supervised:  # m2 may use a few labels only: the classes its classifier reads
        labels = run.classify(images)
    names = run.class_names()
    groups = range(len(names)) if model.conditional else [None]
    for group in groups:
        count = len(images) if group is None else int(np.count_nonzero(labels == group))
        if count == 0:  # no --components helps: say what is missing
            raise UserFacingError(
                f"{run.identity.model}'s classifier reads none of the {len(images):,} training images as class "
                f"{names[group]}, so no mixture can be fitted to that class's codes; train it longer or with more labels "
                f"(--labels)" if model.semi_supervised else
                f"the run has no training images of class {names[group]} (a --subset too small?), so no mixture can "
                f"be fitted to that class's codes")
        if count < components:
            which = "the run" if group is None else f"class {names[group]}"
            read = " (as its classifier reads them)" if model.semi_supervised else ""
            raise UsageError(f"--components {components}: {which} has {count} training images{read}, and a mixture "
                             f"needs at least as many images as components; ask for {count} or fewer")
    began = last_shown = time.perf_counter()
    codes = run.encode(images, labels if model.conditional else None)
    fitted = []
    for done, group in enumerate(groups, 1):
        which = "the codes" if group is None else f"class {names[group]}'s codes"
        mixture = fit_gaussians(codes if group is None else codes[labels == group], components, which, log)
        fitted.append((mixture.weights_, mixture.means_, np.linalg.cholesky(mixture.covariances_)))
        now = time.perf_counter()
        if done < len(groups) and now - last_shown > PROGRESS_EVERY:  # a first fit can take minutes
            log(f"  fitting the sampler: {done}/{len(groups)} classes done, about "
                f"{(now - began) / done * (len(groups) - done):,.0f} s left")
            last_shown = now
    weights, means, cholesky = (np.stack(parts).astype(np.float64) for parts in zip(*fitted))
    log(f"fitted a mixture of {components} Gaussians " + ("to each class's" if model.conditional else "to the")
        + f" codes of {len(images):,} training images")
    return Mixture(weights, means, cholesky)


def fit_gaussians(codes, components, which, log=print):
    """scikit-learn's GaussianMixture of `components` full-covariance Gaussians fitted to codes [N, n], seeded. When
    codes collapse (a component on a few identical codes), its fit fails with an ill-defined covariance: the fit
    is tried again with more added to each covariance's diagonal (reg_covar: 1e-4, then 1e-2 of the codes' mean
    variance), saying so; UserFacingError when even that fails."""
    from sklearn.mixture import GaussianMixture
    scale = float(np.mean(np.var(codes, axis=0))) or 1.0
    failure = None
    for regularisation in (1e-6, 1e-4 * scale, 1e-2 * scale):  # scikit-learn's default first
        try:
            mixture = GaussianMixture(components, covariance_type="full", random_state=FIT_SEED,
                                      reg_covar=regularisation).fit(codes)
        except ValueError as err:
            failure = failure or err
            continue
        if failure is not None:
            log(f"the mixture of {which} failed ({str(failure).splitlines()[0][:60]}...): fitted with "
                f"{regularisation:.2g} added to each covariance's diagonal instead")
        return mixture
    raise UserFacingError(f"no mixture of {components} Gaussians fits {which}, even regularised ({failure}); ask for "
                          f"fewer with --components")


def fitted(run, folder, components=COMPONENTS, data_dir=None, log=print):
    """The run's Mixture, from its cache in `folder` when that was fitted on the run's checkpoint with this many
    components, else fitted now (fit_mixtures) and cached, saying why."""
    path = folder / CACHE
    key = checkpoint_key(run, components)
    if path.exists():
        try:
            # A fit of these components holds its arrays and a short key: a larger file, or one that is no regular
            # file (a link to /dev/zero, a FIFO), is not a cache of this run.
            n, groups = run.model.latent_dim, len(run.class_names()) if run.model.conditional else 1
            check_small_file(path, 8 * groups * components * (1 + n + n * n) + 1_000_000)
            with np.load(path, allow_pickle=False) as cache:
                cached_key = json.loads(str(cache["key"]))
                mixture = Mixture(cache["weights"], cache["means"], cache["cholesky"])
            if cached_key == key:
                why = mixture_flaw(mixture, groups, components, n)
                if why is None:
                    return mixture
                raise ValueError(why)
            log(f"{path} was fitted on another checkpoint or number of components: fitting it again")
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as err:  # a damaged zip or array raises many kinds
            log(f"warning: {path} does not read back ({str(err).splitlines()[0][:80]}): fitting it again")
    mixture = fit_mixtures(run, components, data_dir, log)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as f:
        np.savez(f, key=json.dumps(key), weights=mixture.weights, means=mixture.means, cholesky=mixture.cholesky)
    log(f"cached in {path}")
    return mixture

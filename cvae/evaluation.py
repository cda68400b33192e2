"""How good a trained run is, in numbers: what evaluate.py computes and writes to eval.json.

  ELBO, reconstruction and KL    nats per test image
  NLL                            -log p(x) (-log p(x | y) for conditional models), importance-sampled
                                 with k samples from the encoder (Burda et al. 2015)
  class-consistency              conditional models: the fraction of images generated for each class from
                                 the prior that a classifier trained on the same data reads as that class
  sample quality                 for each sampler (the prior, the fitted mixtures of cvae.samplers): the
                                 Fréchet distance between generated and test images on that classifier's
                                 penultimate features, and precision and recall in the same space
                                 (Kynkäänniemi et al. 2019, k = 3); the FD of the training images against the
                                 test images beside it, as the floor a model can hope for
  test accuracy                  the models that classify

The Fréchet distance here is the FID's formula (Heusel et al. 2017) on the features of a 4-layer MNIST cnn,
not of Inception: its numbers are comparable between runs judged by the same classifier, not with any
published FID.

Images come as uint8 [N, H, W, C], labels as ints [N]; results in nats per image.
"""
import json
import math
import subprocess
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from model.registry import count_parameters
from cvae.batches import TEST_BINARIZATION_SEED, binarize_fixed
from cvae.config import RunIdentity, TrainingSettings, train_command
from cvae.data import check_fits
from cvae.datasets import load_for
from cvae.errors import UsageError
from cvae.evalrecord import check_result
from cvae.files import atomic_file, write_atomic
from cvae.generation import classify, draw, in_batches, penultimate_features
from cvae.samplers import COMPONENTS, fitted
from cvae.rundir import PRETRAINED_DIR, PretrainedRun, RunDir, load_shipped
from cvae import training

CLASSIFIER_EPOCHS = 20

# Images x samples decoded at once while importance sampling: bounds memory at about 30 MB of pixels.
DECODE_CHUNK = 10000

PRECISION_RECALL_K = 3  # the neighbour whose distance makes a sample's ball (Kynkäänniemi et al. 2019)
FEATURES = "cnn penultimate layer (256)"


def elbo_terms(model, images, labels):
    """Mean reconstruction, KL and ELBO (nats / image) over uint8 images [N, H, W, C]."""
    sums, count = {"reconstruction": 0.0, "kl": 0.0}, 0
    for x, y in in_batches(images, labels):
        losses = model.compute_losses(x, y)
        for key in sums:
            sums[key] += float(losses[key]) * len(x)
        count += len(x)
    terms = {key: value / count for key, value in sums.items()}
    terms["elbo"] = -(terms["reconstruction"] + terms["kl"])
    return terms


class TooLong(ValueError):
    """The estimate would take longer than allowed; `seconds` is the estimate."""

    def __init__(self, seconds, limit, k, images):
        super().__init__(f"the NLL with k = {k} on {images:,} test images would take about {seconds / 3600:,.1f} hours "
                         f"on this machine (the limit is {limit / 3600:,.0f} hours)")
        self.seconds = seconds


def importance_sampled_nll(model, images, labels, k, seed=0, log=print, max_seconds=None, progress_every=10.0,
                           decode_chunk=DECODE_CHUNK):
    """Mean over images of -log p(x | y) estimated as -log mean_i w_i over k importance samples.

    The decoder sees at most decode_chunk images x samples at once, so any k fits in memory: each
    image's log mean weight is accumulated chunk by chunk (a running logsumexp). After the second
    chunk the whole run's time is estimated: TooLong is raised when it exceeds max_seconds (None: no
    limit). Progress (images, percent, time left) is logged every `progress_every` seconds.
    """
    generator = tf.random.Generator.from_seed(seed)
    chunk = min(k, decode_chunk)
    per_batch = max(1, decode_chunk // chunk)
    chunks_per_batch = -(-k // chunk)
    total_chunks = chunks_per_batch * -(-len(images) // per_batch)
    weights_fn = tf.function(lambda x, y, count: tf.reduce_logsumexp(
        model.log_importance_weights(x, y, count, generator), axis=1), reduce_retracing=True)
    total, count, done = 0.0, 0, 0
    began = last_shown = time.perf_counter()
    for x, y in in_batches(images, labels, per_batch):
        log_sum = tf.fill([tf.shape(x)[0]], -float("inf"))
        for start in range(0, k, chunk):
            chunk_began = time.perf_counter()
            log_sum = tf.reduce_logsumexp(tf.stack([log_sum, weights_fn(x, y, tf.constant(min(chunk, k - start)))]),
                                          axis=0)
            done += 1
            now = time.perf_counter()
            if done == 2 and max_seconds is not None:
                estimate = (now - chunk_began) * (total_chunks - 2) + (now - began)
                if estimate > max_seconds:
                    raise TooLong(estimate, max_seconds, k, len(images))
            if log and now - last_shown > progress_every:
                left = (now - began) / done * (total_chunks - done)
                log(f"  NLL: {count:,}/{len(images):,} images done, {done / total_chunks:.1%}, about {left:,.0f} s "
                    f"left" + (f", running mean {total / count:.2f} nats" if count else ""))
                last_shown = now
        log_px = log_sum - tf.math.log(tf.cast(k, tf.float32))
        total -= float(tf.reduce_sum(log_px))
        count += len(x)
    return total / count


def class_consistency(predicted, requested, classes):
    """(per-class fraction [classes], overall fraction) of predictions equal to the requested class."""
    predicted, requested = np.asarray(predicted), np.asarray(requested)
    per_class = [float(np.mean(predicted[requested == c] == c)) for c in range(classes)]
    return per_class, float(np.mean(predicted == requested))


def frechet_distance(a, b):
    """The Fréchet distance between Gaussians fitted to two sets of features [N, F] and [M, F]:
    |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # Tr (S_a S_b)^(1/2) = Tr (R S_b R)^(1/2) with R = S_a^(1/2): a symmetric matrix whose eigenvalues are
    # those of S_a S_b. Unlike a general matrix square root (scipy.linalg.sqrtm), this stays exact when the
    # covariances are singular, as they are when some ReLU features are never on.
    values, vectors = np.linalg.eigh(cov_a)
    root_a = (vectors * np.sqrt(np.maximum(values, 0.0))) @ vectors.T
    trace_root = np.sqrt(np.maximum(np.linalg.eigvalsh(root_a @ cov_b @ root_a), 0.0)).sum()
    distance = np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root
    return float(max(distance, 0.0))


def squared_distances(a, b):
    """|a_i - b_j|^2 [len(a), len(b)] in float64."""
    return np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T, 0.0)


def neighbour_radii(points, k, chunk=1000):
    """The squared distance from each point [N, F] to its k-th nearest other point: [N]."""
    radii = np.empty(len(points))
    for start in range(0, len(points), chunk):
        distances = squared_distances(points[start:start + chunk], points)
        radii[start:start + chunk] = np.partition(distances, k, axis=1)[:, k]  # index 0 is the point itself
    return radii


def covered(queries, points, radii, chunk=1000):
    """For each query [Q, F]: whether it lies in the ball of any point ([N, F] with squared radii [N])."""
    inside = np.empty(len(queries), bool)
    for start in range(0, len(queries), chunk):
        distances = squared_distances(queries[start:start + chunk], points)
        inside[start:start + chunk] = (distances <= radii[None, :]).any(axis=1)
    return inside


def precision_recall(real, generated, k=PRECISION_RECALL_K):
    """(precision, recall) of generated features against real ones (Kynkäänniemi et al. 2019): precision, the
    fraction of generated samples inside the real manifold (the union of balls reaching each real sample's k-th
    nearest real neighbour); recall, the fraction of real samples inside the generated manifold."""
    real, generated = np.asarray(real, np.float64), np.asarray(generated, np.float64)
    if min(len(real), len(generated)) <= k:
        raise ValueError(f"precision and recall with k = {k} need more than {k} samples of each")
    precision = covered(generated, real, neighbour_radii(real, k)).mean()
    recall = covered(real, generated, neighbour_radii(generated, k)).mean()
    return float(precision), float(recall)


def judge(identity: RunIdentity, log_dir, data_dir, log=print):
    """(classifier, where it came from) for the class-consistency of a run of `identity`: the `cnn` trained on
    the same data in log_dir; when there is none, the shipped MNIST classifier of pretrained/cnn (said so),
    or else one trained first (said so)."""
    classifier = RunIdentity("cnn", None, dataset=identity.dataset, data=identity.data)
    run_dir = RunDir(Path(log_dir) / classifier.directory_name())
    command = f"{train_command(classifier, log_dir)} -e {CLASSIFIER_EPOCHS}"
    shipped = PretrainedRun(PRETRAINED_DIR / classifier.directory_name())
    if run_dir.latest_checkpoint() is None and shipped.latest_checkpoint() is not None:
        run = load_shipped(shipped, command)
        log(f"class-consistency: {run_dir} has no classifier, so the pretrained one in {shipped} (epoch {run.epoch}) "
            f"judges the images; {command} trains your own")
        return run.model, str(shipped)
    if run_dir.latest_checkpoint() is None:
        log(f"class-consistency needs the classifier and {run_dir} has none: training it first "
            f"({command}, a few minutes on 2 cores)")
        training.train_run(classifier, TrainingSettings(epochs=CLASSIFIER_EPOCHS), run_dir, data_dir=data_dir, log=log)
    return run_dir.load(log=log).model, str(run_dir)


def code_commit():
    """The git commit this code is at ("+" appended when files differ from it), or None outside a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                                 capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if commit.returncode != 0:
        return None
    return commit.stdout.strip() + ("+" if changed.stdout.strip() else "")


def sample_quality(run, classifier, test_images, train_images, samples, seed, mixture):
    """How the run's generated images compare with the test images, from each sampler: {"fd_floor", "prior":
    {...}, "gmm": {...}}; each sampler's numbers are "fd", "precision", "recall" and, for a conditional model,
    "class_consistency" and "per_class". `samples` images per class (all of them from one sampler for an
    unconditional model); (that dict, the prior's generated images and their labels)."""
    model = run.model
    classes = len(run.class_names())
    real = penultimate_features(classifier, test_images)
    result = {"features": FEATURES, "samples_per_class": samples, "images_per_sampler": samples * classes,
              "k": PRECISION_RECALL_K,
              "fd_floor": frechet_distance(penultimate_features(classifier, train_images), real),
              "fd_floor_images": len(train_images)}
    drawn = {}
    for sampler, source in (("prior", None), ("gmm", mixture)):
        labels, count = (range(classes), samples) if model.conditional else ([0], samples * classes)
        generated, requested, _ = draw(model, labels, count, seed=seed, mixture=source)
        fake = penultimate_features(classifier, generated)
        precision, recall = precision_recall(real, fake)
        numbers = {"fd": frechet_distance(fake, real), "precision": precision, "recall": recall}
        if model.conditional:
            per_class, overall = class_consistency(classify(classifier, generated), requested, classes)
            numbers |= {"class_consistency": overall, "per_class": per_class}
        if source is not None:
            numbers["components"] = source.components
        result[sampler] = numbers
        drawn[sampler] = generated, requested
    return result, drawn


def evaluate(run, out_dir, log_dir, data_dir, k, samples, test_images=None, seed=0, max_nll_seconds=None, log=print,
             components=COMPONENTS):
    """Evaluate a TrainedRun: write out_dir/eval.json (and, for a conditional model, the images its
    class-consistency was measured on, out_dir/samples.npz) and return (result, [(name, value)] to show).
    The fitted sampler (cvae.samplers, `components` Gaussians per class) is read from out_dir, or fitted and
    cached there. TooLong when the NLL would take more than max_nll_seconds."""
    model, identity = run.model, run.identity
    classes = len(identity.class_names())
    if model.has_latent_space:
        check_fits(2 * samples * classes * math.prod(model.image_shape),
                   f"{samples:,} generated images for each of the {classes} classes, from each of two samplers",
                   "ask for fewer with --samples")
    data = load_for(identity, data_dir, log)
    images, labels = data.test_images[:test_images], data.test_labels[:test_images]
    if model.has_latent_space and len(images) <= PRECISION_RECALL_K:
        # Found now, not after the NLL: precision and recall would fail last, losing every number before them.
        raise UsageError(f"sample quality's precision and recall (k = {PRECISION_RECALL_K}) need more than "
                         f"{PRECISION_RECALL_K} test images, and {len(images)} are asked for; give --test-images "
                         f"{PRECISION_RECALL_K + 1} or more (the data set has {len(data.test_images):,})")
    if identity.binarize:
        images = binarize_fixed(images)
    # Everything that makes two evaluations comparable (results.py refuses to let a partial one replace
    # a README row): how the run was trained, on what, and how it was evaluated.
    result = {"model": identity.model, "latent_dim": identity.latent_dim, "conditional": bool(model.conditional),
              "epoch": run.epoch, "parameters": count_parameters(model), "test_images": len(images),
              "test_images_in_data_set": len(data.test_images), "training_subset": identity.subset,
              "binarized": identity.binarize, "dataset": identity.dataset, "labels": identity.labels,
              "test_binarization_seed": TEST_BINARIZATION_SEED if identity.binarize else None,
              "image_shape": list(model.image_shape), "options": dict(identity.options),
              "seed": seed, "code_commit": code_commit()}
    nll_seconds = None
    if model.classifies:
        result["test_accuracy"] = float(np.mean(classify(model, images) == labels))
    if model.has_latent_space:
        terms, nll_seconds = likelihood_terms(model, images, labels, k, seed, log, max_nll_seconds, identity.binarize)
        result.update(terms)
        classifier, judged_by = judge(identity, log_dir, data_dir, log)
        mixture = fitted(run, Path(out_dir), components, data_dir, log)
        # Every test image, whatever --test-images cut the NLL to (the classifier's features are cheap): the FD
        # floor compares as many training images with them, and a floor of fewer images than the samples is
        # none, its FD biased upward by the smaller sample (colour MNIST: 25.3 on 1,000 images, 1.70 on
        # 10,000, with a model's 10,000 samples at 12 to 34). As they are: generated images are grey pixel means.
        real_images = data.test_images
        quality, drawn = sample_quality(run, classifier, real_images, data.train_images[:len(real_images)],
                                        samples, seed, mixture)
        # How well the judge reads real test images: a class-consistency is worth what its judge is.
        judge_accuracy = float(np.mean(classify(classifier, real_images) == data.test_labels))
        result["sample_quality"] = quality | {"classifier": judged_by, "classifier_test_accuracy": judge_accuracy}
        if model.conditional:
            prior = quality["prior"]
            result["class_consistency"] = {"overall": prior["class_consistency"], "per_class": prior["per_class"],
                                           "samples_per_class": samples, "classifier": judged_by}
            # samples.npz: the prior's images class-consistency was measured on, for a look or a reuse.
            generated, requested = drawn["prior"]
            with atomic_file(Path(out_dir) / "samples.npz") as f:
                np.savez_compressed(f, images=generated, labels=requested)
    check_result(result)  # what the README's tables will take from it (cvae.evalrecord): checked as it is written
    write_atomic(Path(out_dir) / "eval.json", json.dumps(result, indent=2) + "\n")
    return result, shown(result, model, identity.class_names(), nll_seconds)


def likelihood_terms(model, images, labels, k, seed, log, max_nll_seconds, binarized):
    """(the ELBO's terms, the importance-sampled NLL with k samples (and in bits/dim where the likelihood is a
    distribution over the data's values), and the likelihood's name, as eval.json records them; the seconds the
    NLL took, which the table shows)."""
    terms = elbo_terms(model, images, labels)
    began = time.perf_counter()
    terms["nll"] = importance_sampled_nll(model, images, labels, k, seed, log, max_seconds=max_nll_seconds)
    seconds = time.perf_counter() - began
    terms |= {"nll_k": k, "likelihood": model.likelihood.name}
    per_dim = model.likelihood.bits_per_dimension(terms["nll"], binarized)
    if per_dim is not None:
        terms["nll_bits_per_dim"] = per_dim
    return terms, seconds


def shown(result, model, names, nll_seconds):
    """[(name, value)]: an evaluation's numbers as evaluate.py's table shows them."""
    rows = []
    if "test_accuracy" in result:
        rows.append(("test accuracy", f"{result['test_accuracy']:.2%}"))
    if "elbo" not in result:
        return rows
    rows += [("test ELBO", f"{result['elbo']:.2f} nats"), ("  reconstruction", f"{result['reconstruction']:.2f} nats"),
             ("  KL", f"{result['kl']:.2f} nats")]
    per_dim = f" = {result['nll_bits_per_dim']:.3f} bits/dim" if "nll_bits_per_dim" in result else ""
    rows.append((f"NLL -log p(x{' | y' if model.conditional else ''}), k = {result['nll_k']}",
                 f"{result['nll']:.2f} nats{per_dim}  ({nll_seconds:.0f} s)"))
    quality = result["sample_quality"]
    rows.append((f"sample quality, {quality['images_per_sampler']:,} images",
                 f"judged by {quality['classifier']} ({quality['classifier_test_accuracy']:.2%} of the test images "
                 f"read right)"))
    rows.append(("  FD (cnn features), training images", f"{quality['fd_floor']:.2f}  (the floor)"))
    for sampler in ("prior", "gmm"):
        numbers = quality[sampler]
        title = f"prior {model.prior.title}" if sampler == "prior" else f"gmm ({numbers['components']} components)"
        text = f"FD {numbers['fd']:.2f}, precision {numbers['precision']:.3f}, recall {numbers['recall']:.3f}"
        if model.conditional:
            text += f", class-consistency {numbers['class_consistency']:.2%}"
        rows.append((f"  {title}", text))
        if model.conditional:
            rows.append(("    per class", ", ".join(f"{name} {p:.0%}" for name, p in zip(names, numbers["per_class"]))))
    return rows

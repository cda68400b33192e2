"""Numbers for a trained run: `python evaluate.py cvae_cnn3 -n 2` prints a table and writes log/MODEL_N/eval.json.

  ELBO, reconstruction and KL    nats per test image (mean over the 10,000 test images)
  NLL                            -log p(x) (-log p(x | y) for conditional models), importance-sampled
                                 with k samples from the encoder (Burda et al. 2015)
  class-consistency              conditional models: the fraction of images generated for each digit
                                 that the trained classifier (log/cnn, else pretrained/cnn) reads as that digit
  test accuracy                  the classifier
"""
import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from cli import (HelpFormatter, UsageError, add_debug_flag, add_run_flags, import_tensorflow_quietly, open_pretrained,
                 open_run, positive_int, random_seed, report_errors)

CLASSIFIER_EPOCHS = 20
CLASSIFIER_SUBSET = None  # train the classifier on every training image (tests use fewer)
MAX_NLL_SECONDS = 24 * 3600  # longer NLL estimates need --force


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Evaluate a run trained by train.py: print a table, write LOG_DIR/MODEL_N/eval.json.",
        formatter_class=HelpFormatter)
    add_run_flags(parser, kept_epoch=False)  # it evaluates the latest checkpoint
    parser.add_argument("-k", "--importance-samples", type=positive_int, default=5000,
                        help="samples per test image for the NLL estimate (5000 is the literature's standard)")
    parser.add_argument("--samples", type=positive_int, default=1000,
                        help="generated images per digit for class-consistency")
    parser.add_argument("--test-images", type=positive_int, default=None,
                        help="evaluate on the first N test images only (quick checks; the table says N)")
    parser.add_argument("--seed", type=random_seed, default=0, help="seed of the sampling noise")
    parser.add_argument("--force", action="store_true",
                        help="run an NLL estimate even when it would take more than a day (it is refused otherwise)")
    add_debug_flag(parser)
    return parser.parse_args(argv)


def class_consistency(predicted, requested, classes=10):
    """(per-class fraction [classes], overall fraction) of predictions equal to the requested class."""
    predicted, requested = np.asarray(predicted), np.asarray(requested)
    per_digit = [float(np.mean(predicted[requested == d] == d)) for d in range(classes)]
    return per_digit, float(np.mean(predicted == requested))


def generate_per_digit(model, samples, seed, classes=10):
    """(images uint8 [classes * samples, 28, 28], labels [classes * samples]) decoded from z ~ N(0, I)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), samples)
    images = []
    for start in range(0, len(labels), 1000):
        y = labels[start:start + 1000].astype(np.int32)
        z = rng.standard_normal((len(y), model.latent_dim)).astype(np.float32)
        images.append(np.asarray(model.generate(z, y))[..., 0])
    return np.round(np.concatenate(images) * 255).astype(np.uint8), labels


def classify(classifier, images, batch=1000):
    """The class each uint8 image [N, 28, 28] is read as: [N]."""
    from model.likelihood import in_batches
    unused_labels = np.zeros(len(images), np.int32)
    return np.concatenate([np.argmax(classifier.classify(x), axis=1) for x, _ in in_batches(images, unused_labels, batch)])


def trained_classifier(log_dir, data_dir, dataset="mnist", data=None):
    """(classifier, where it came from): the one in log_dir/cnn (cnn_fashion_mnist for Fashion-MNIST);
    when there is none, the pretrained MNIST classifier of pretrained/cnn (said so), or else one trained
    first (with a message)."""
    import training
    from pretrained import PRETRAINED_DIR, PretrainedRun
    from rundir import RunConfig, RunDir, run_dir_name
    name = run_dir_name("cnn", None, dataset=dataset, subset=CLASSIFIER_SUBSET)
    run_dir = RunDir(log_dir / name)
    option = f" --dataset {shlex.quote(data['path'] if data else dataset)}" if dataset != "mnist" else ""
    command = f"python train.py cnn{option} -e {CLASSIFIER_EPOCHS}"
    if run_dir.latest_checkpoint() is None and PretrainedRun(PRETRAINED_DIR / name).latest_checkpoint() is not None:
        classifier, _, epoch, shipped = open_pretrained(name, command)  # its files checked, as --pretrained does
        print(f"class-consistency: {run_dir} has no classifier, so the pretrained one in {shipped} (epoch {epoch}) "
              f"judges the images; {command} trains your own")
        return classifier, str(shipped)
    if run_dir.latest_checkpoint() is None:
        print(f"class-consistency needs the classifier and {run_dir} has none: training it first "
              f"({command}, a few minutes on 2 cores)")
        with run_dir.lock():
            config = RunConfig(model="cnn", latent_dim=None, epochs=CLASSIFIER_EPOCHS, subset=CLASSIFIER_SUBSET,
                               dataset=dataset, data=data)
            training.train(config, run_dir, data_dir=data_dir)
    classifier, _, _ = run_dir.load_model()
    return classifier, str(run_dir)


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


def evaluate(args):
    from dataset import TEST_BINARIZATION_SEED, binarize_fixed, load_for
    from model.likelihood import TooLong, elbo_terms, importance_sampled_nll
    from model.registry import count_parameters
    from rundir import write_atomic
    model, config, epoch, run_dir = open_run(args)
    # pretrained/ stays as git has it: the numbers of shipped weights go to LOG_DIR/pretrained/RUN/.
    out_dir = args.log_dir / "pretrained" / run_dir.name if args.pretrained else run_dir.path
    out_dir.mkdir(parents=True, exist_ok=True)
    data = load_for(config, args.data_dir)
    classes = len(config.class_names())
    images, labels = data.test_images[:args.test_images], data.test_labels[:args.test_images]
    if config.binarize:
        images = binarize_fixed(images)
    # Everything that makes two evaluations comparable (results.py refuses to let a partial one replace
    # a README row): how the run was trained, on what, and how it was evaluated.
    result = {"model": config.model, "latent_dim": config.latent_dim, "epoch": epoch,
              "parameters": count_parameters(model), "test_images": len(images),
              "test_images_in_data_set": len(data.test_images), "training_subset": config.subset,
              "binarized": config.binarize, "dataset": config.dataset, "labels": config.labels,
              "test_binarization_seed": TEST_BINARIZATION_SEED if config.binarize else None,
              "seed": args.seed, "code_commit": code_commit()}
    rows = []
    if model.classifies:
        accuracy = float(np.mean(classify(model, images) == labels))
        result["test_accuracy"] = accuracy
        rows.append(("test accuracy", f"{accuracy:.2%}"))
    if model.has_latent_space:
        result.update(elbo_terms(model, images, labels))
        rows += [("test ELBO", f"{result['elbo']:.2f} nats"), ("  reconstruction", f"{result['reconstruction']:.2f} nats"),
                 ("  KL", f"{result['kl']:.2f} nats")]
        k = args.importance_samples
        began = time.perf_counter()
        try:
            result["nll"] = importance_sampled_nll(model, images, labels, k, args.seed,
                                                   max_seconds=None if args.force else MAX_NLL_SECONDS)
        except TooLong as err:
            raise UsageError(f"the NLL with -k {k} on {len(images):,} test images {err}; lower -k or --test-images, "
                             f"or pass --force")
        result["nll_k"] = k
        given = " | y" if model.conditional else ""
        rows.append((f"NLL -log p(x{given}), k = {k}", f"{result['nll']:.2f} nats  ({time.perf_counter() - began:.0f} s)"))
        if model.conditional:
            classifier, judge = trained_classifier(args.log_dir, args.data_dir, config.dataset, config.data)
            generated, requested = generate_per_digit(model, args.samples, args.seed, classes)
            per_digit, overall = class_consistency(classify(classifier, generated), requested, classes)
            result["class_consistency"] = {"overall": overall, "per_digit": per_digit, "samples_per_digit": args.samples,
                                           "classifier": judge}
            # samples.npz: the generated images class-consistency was measured on, for a look or a reuse.
            np.savez_compressed(out_dir / "samples.npz", images=generated, labels=requested)
            rows.append((f"class-consistency ({args.samples} / class)", f"{overall:.2%}"))
            rows.append((f"  per class 0-{classes - 1}", " ".join(f"{p:.0%}" for p in per_digit)))
    write_atomic(out_dir / "eval.json", json.dumps(result, indent=2) + "\n")
    n = config.latent_dim
    title = f"{config.model}" + (f", n = {n}" if n else "") + (" (pretrained)" if args.pretrained else "") \
        + f", epoch {epoch}, " \
            f"{len(images):,} test images" + (" (binarized)" if config.binarize else "")
    width = max(len(name) for name, _ in rows)
    print(title)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    print(f"wrote {out_dir / 'eval.json'}")
    return 0


def main(argv=None):
    args = parse_args(argv)
    import_tensorflow_quietly()
    return report_errors(lambda: evaluate(args), args.debug, interrupted=lambda: "interrupted; nothing was written")


if __name__ == "__main__":
    sys.exit(main())

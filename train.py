"""Train a model on MNIST (or Fashion-MNIST, or data of one's own) and checkpoint it to log/MODEL_N/.

    python train.py cvae_cnn3 -n 2 -e 400
    python train.py m2 -n 50 --labels 100        # semi-supervised: 100 labels, the rest unlabelled
    python train.py cvae_cnn3 -n 2 --dataset my_digits/   # a class-per-folder tree (or an .npz file)

Running the same command again resumes from the last checkpoint; --restart starts over.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from cli import (HelpFormatter, UsageError, UserFacingError, add_debug_flag, import_tensorflow_quietly,
                 positive_float, positive_int, report_errors, run_settings, random_seed)
from dataset import DATA_DIR, dataset_argument
from model import NAMES

TRAINING_IMAGES = 60000  # MNIST's and Fashion-MNIST's


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Train a model on MNIST or data of your own; checkpoints, config.json, metrics.csv and TensorBoard "
                    "events go to LOG_DIR/MODEL_N/ (LOG_DIR/cnn/ for the classifier; suffixes _bin, "
                    "_fashion_mnist, _labelsL name the options below). Running the same command again resumes.",
        formatter_class=HelpFormatter)
    parser.add_argument("model", choices=NAMES, metavar="MODEL", help=f"one of: {', '.join(NAMES)}")
    parser.add_argument("-n", "--latent-dim", type=positive_int, default=20,
                        help="latent dimensions (ignored by the classifier cnn)")
    parser.add_argument("-b", "--batch-size", type=positive_int, default=100,
                        help="images per step, split across replicas under --strategy; m2 takes this many "
                             "unlabelled plus as many labelled")
    parser.add_argument("-e", "--epochs", type=positive_int, default=150, help="train until this epoch")
    parser.add_argument("-l", "--learning-rate", type=positive_float, default=0.001, help="Adam's learning rate")
    parser.add_argument("-c", "--clip", type=positive_float, default=None,
                        help="clip gradients to this global norm (default: off)")
    parser.add_argument("--seed", type=random_seed, default=0, help="seed for weights, shuffling and noise")
    parser.add_argument("--restart", action="store_true", help="delete the run's directory and start over")
    parser.add_argument("--subset", type=positive_int, default=None,
                        help="use only the first SUBSET training and test images (quick checks)")
    parser.add_argument("--binarize", action="store_true",
                        help="dynamic binarization: train on pixels drawn from Bernoulli(gray level) each pass, "
                             "test on one fixed binarization (the data published MNIST likelihoods use)")
    parser.add_argument("--dataset", type=dataset_argument, default="mnist", metavar="DATASET",
                        help="mnist; fashion_mnist (Zalando's 10 kinds of clothing in MNIST's format); or the path "
                             "of an image folder with one sub-folder per class, or of an .npz file (README: Your "
                             "own data). A path's runs go to LOG_DIR/MODEL_N_NAME_HASH/")
    parser.add_argument("--labels", type=positive_int, default=None,
                        help="m2 only: train with this many labelled images (a multiple of the number of classes, "
                             "the same number of each class, drawn with --seed); the rest are used without labels")
    parser.add_argument("--deterministic", action="store_true",
                        help="enable TensorFlow's op determinism: a rerun or a resumed run gives bit-identical "
                             "weights on the same machine (a little slower)")
    parser.add_argument("--strategy", choices=("none", "mirrored", "multi_worker"), default="none",
                        help="mirrored: tf.distribute.MirroredStrategy over every local GPU (every CPU device when "
                             "there is no GPU); multi_worker: MultiWorkerMirroredStrategy over the cluster in "
                             "TF_CONFIG. The global batch (-b) is split across replicas")
    parser.add_argument("--xla", action=argparse.BooleanOptionalAction, default=None,
                        help="compile the training step with XLA, or not. Default: on for vae and cvae_fc3 (1.4x on "
                             "a 2-core Xeon, about even on a 2-core EPYC), off for the others (XLA is 1.1x for "
                             "cvae_cnn3, much slower for cvae_cnn2, cnn and m2) and under --strategy; a resumed run "
                             "keeps the setting it last trained with (bench/README.md)")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default=None,
                        help="bf16: Keras' mixed_bfloat16 policy (weights, noise and losses in float32, the other "
                             "layers' products in bfloat16): faster where the CPU has AMX or AVX512-BF16, slower "
                             "elsewhere; measured per model in bench/README.md (bfloat16). Default: fp32, or for a "
                             "resumed run the precision it last trained with")
    parser.add_argument("--log-dir", type=Path, default=Path("log"))
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="where the data sets are cached")
    add_debug_flag(parser)
    return parser.parse_args(argv)


def make_strategy(name):
    """The tf.distribute strategy --strategy names; None for "none"."""
    import tensorflow as tf
    if name == "none":
        return None
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if "TF_CONFIG" not in os.environ:
        raise UsageError("--strategy multi_worker reads the cluster from the TF_CONFIG environment variable, "
                         "which is not set (README: Multi-device training)")
    try:
        json.loads(os.environ["TF_CONFIG"])
    except ValueError as err:
        raise UsageError(f"TF_CONFIG is not valid JSON ({err})")
    return tf.distribute.MultiWorkerMirroredStrategy()


def is_chief(strategy):
    """Whether this process writes the run: always, except on workers other than the first of a cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0)


def own_data(args):
    """(arrays, info) of --dataset PATH, or None for a named data set. UsageError for data that cannot train
    the model asked for (m2's --labels against the classes' sizes)."""
    import owndata
    from dataset import labelled_subset
    if not owndata.is_own(args.dataset):
        return None
    data, info = owndata.load(args.dataset, args.data_dir)
    if args.labels is not None:
        classes = info["classes"]
        if args.labels % classes:
            raise UsageError(f"--labels must be a multiple of the {classes} classes (the same number of each), "
                             f"got {args.labels}")
        try:  # the draw training makes, made here first so that a class too small is a usage error
            labelled_subset(data.train_labels[:args.subset], args.labels, args.seed, info["class_names"])
        except ValueError as err:
            raise UsageError(str(err)) from err
    return data, info


def refuse_changed_data(run_dir, info, restart):
    """A run of the same model on an earlier version of the same path (its sibling, named with the old
    hash) cannot resume on the changed files: refuse with both hashes, unless --restart starts the new
    run (the old one is left as it is)."""
    import re

    from rundir import DamagedFile, RunDir
    if restart or run_dir.latest_checkpoint() is not None:
        return
    stem = run_dir.name[:-len(info["sha256"][:8])]
    for other in sorted(run_dir.path.parent.glob(f"{stem}*")):
        if other == run_dir.path or not re.fullmatch(re.escape(stem) + "[0-9a-f]{8}", other.name):
            continue
        try:
            saved = RunDir(other).read_config().data or {}
        except (DamagedFile, OSError):
            continue
        if saved.get("path") == info["path"] and saved.get("sha256") != info["sha256"]:
            raise UsageError(f"{other} trained on {info['path']} when its contents had sha256 {saved['sha256'][:16]}; "
                             f"they have changed (sha256 {info['sha256'][:16]} now), so that run cannot resume on "
                             f"them. Pass --restart to train a new run on them in {run_dir} ({other} stays)")


def train_in_run_dir(config, run_dir, args, strategy):
    """Train the run into `run_dir` under its lock. A run directory this call created is removed again
    when it fails before its first checkpoint: a failed start leaves nothing behind. A multi-worker
    run's other workers take part in every step but must not write the run: each trains in a throw-away
    copy of it (resuming from the chief's checkpoint, read from a shared file system, unless --restart)
    and deletes the copy at the end."""
    from rundir import RunDir
    from training import train
    if is_chief(strategy):
        created = not run_dir.path.exists()
        try:
            with run_dir.lock():
                return train(config, run_dir, args.restart, args.data_dir, args.xla, strategy, precision=args.precision)
        except BaseException:
            if created and run_dir.latest_checkpoint() is None:
                run_dir.remove()
            raise
    with tempfile.TemporaryDirectory(prefix="cvae-worker-") as scratch:
        own_dir = RunDir(Path(scratch) / run_dir.name)
        if not args.restart and run_dir.config_path.exists():
            shutil.copytree(run_dir.path, own_dir.path, ignore=shutil.ignore_patterns("lock", "tb", "kept"))
        with own_dir.lock():
            return train(config, own_dir, args.restart, args.data_dir, args.xla, strategy, precision=args.precision)


def explained(err, run_dir, learning_rate):
    """A failure of the training loop or the run directory, as one line that says what to do; None for
    other exceptions."""
    import training
    from rundir import ForeignFiles, RunInUse
    if isinstance(err, ForeignFiles):
        return UserFacingError(f"{err}; move them away, or train elsewhere with --log-dir")
    if isinstance(err, RunInUse):
        return UserFacingError(f"{err}; wait for it to finish or stop it (kill {err.holder}), or train elsewhere "
                               f"with --log-dir")
    if isinstance(err, training.ConfigUnreadable):
        return UserFacingError(f"{err}; it records the run's settings: repair it, or pass --restart to discard "
                               f"the run, checkpoints included")
    if isinstance(err, training.DiskFull):
        return UserFacingError(f"{err}. Free some space and run the same command to resume.")
    if isinstance(err, training.SettingsDiffer):
        return UsageError(f"{err}; pass --restart to replace it, or --log-dir to train elsewhere")
    if isinstance(err, training.MetricsDamaged):
        return UserFacingError(f"{err}; move it away to resume without the earlier epochs' metrics, or pass --restart")
    if isinstance(err, training.RunDamaged):
        return UserFacingError(f"{err}; pass --restart to start over")
    if isinstance(err, training.NonFiniteLoss):
        saved = (f"nothing of this epoch was saved, the last good checkpoint is epoch {err.last_saved} in {run_dir}"
                 if err.last_saved else f"no epoch had finished, so nothing was saved in {run_dir}")
        return UserFacingError(f"{err}; {saved}. Try gradient clipping (-c 1.0) or a lower learning rate "
                               f"(-l {learning_rate / 10:g}).")
    return None


def main(argv=None):
    args = parse_args(argv)
    import_tensorflow_quietly()
    if args.deterministic:
        import tensorflow as tf
        tf.config.experimental.enable_op_determinism()
    run_dir = None

    def locked_train():
        nonlocal run_dir
        from rundir import RunConfig, RunDir
        own = own_data(args)  # decoded and checked before anything is written
        training_images = min(args.subset or TRAINING_IMAGES, TRAINING_IMAGES) if own is None else \
            len(own[0].train_images[:args.subset])
        if args.labels is not None and args.labels >= training_images:
            raise UsageError(f"--labels {args.labels} leaves no unlabelled image among the {training_images:,} "
                             f"training images")
        latent_dim, name = run_settings(args.model, args.latent_dim, args.binarize, args.dataset, args.labels,
                                        args.subset)
        config = RunConfig(model=args.model, latent_dim=latent_dim, batch_size=args.batch_size, epochs=args.epochs,
                           learning_rate=args.learning_rate, clip=args.clip, seed=args.seed, subset=args.subset,
                           binarize=args.binarize, dataset=args.dataset if own is None else own[1]["name"],
                           labels=args.labels, data=None if own is None else own[1])
        run_dir = RunDir(args.log_dir / name)
        if own is not None:
            refuse_changed_data(run_dir, own[1], args.restart)
        try:
            train_in_run_dir(config, run_dir, args, make_strategy(args.strategy))
        except Exception as err:
            better = explained(err, run_dir, args.learning_rate)
            if better is None:
                raise
            raise better from err
        return 0

    def interrupted():
        latest = run_dir and run_dir.latest_checkpoint()
        saved = f"the last checkpoint is {latest}" if latest else "no epoch had finished, nothing was saved"
        return f"interrupted; the unfinished epoch was dropped and {saved}. Run the same command to resume."

    return report_errors(locked_train, args.debug, interrupted)


if __name__ == "__main__":
    sys.exit(main())

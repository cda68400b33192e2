"""Train a model on MNIST (or Fashion-MNIST, or data of one's own) and checkpoint it to log/MODEL_N/.

    python train.py cvae_cnn3 -n 2 -e 400
    python train.py m2 -n 50 --labels 100        # semi-supervised: 100 labels, the rest unlabelled
    python train.py cvae_cnn3 -n 2 --dataset my_digits/   # a class-per-folder tree (or an .npz file)

Running the same command again resumes from the last checkpoint; --restart starts over.
"""
import argparse
import sys
from pathlib import Path

from model import DEFAULT_LIKELIHOOD, names as model_names
from cvae.cli import (HelpFormatter, add_debug_flag, add_likelihood_flag, add_option_flags, dataset_argument,
                      image_size_argument, count_up_to, likelihoods_help, positive_float, positive_int_up_to,
                      random_seed, run_tool)
from cvae.limits import MAX_COUNT, MAX_LATENT_DIM
from cvae.data import DATA_DIR
from cvae.config import SCHEDULES
from cvae.errors import UsageError


def add_training_flags(parser):
    """The training settings (cvae.config.TrainingSettings): a run may resume with others."""
    parser.add_argument("-b", "--batch-size", type=positive_int_up_to(MAX_COUNT), default=100,
                        help="images per step, split across replicas under --strategy; m2 takes this many "
                             "unlabelled plus as many labelled")
    parser.add_argument("-e", "--epochs", type=positive_int_up_to(MAX_COUNT), default=150,
                        help="train until this epoch")
    parser.add_argument("-l", "--learning-rate", type=positive_float, default=0.001, help="Adam's learning rate")
    parser.add_argument("-c", "--clip", type=positive_float, default=None,
                        help="clip gradients to this global norm (default: off)")
    parser.add_argument("--schedule", choices=SCHEDULES, default="constant",
                        help="the learning rate over the epochs: constant, or cosine (from -l at the first epoch down "
                             "towards 0 at -e; a resumed run's schedule follows the -e it is given)")
    parser.add_argument("--kl-warmup", type=count_up_to(MAX_COUNT), default=0, metavar="EPOCHS",
                        help="a VAE's KL weight rises linearly from 0 to 1 over the first EPOCHS epochs' steps "
                             "(default 0: off); its test rows report the full ELBO throughout")


def add_device_flags(parser):
    """How the steps run (determinism, devices, XLA, precision): the same weights' arithmetic, not the model."""
    parser.add_argument("--deterministic", action="store_true",
                        help="enable TensorFlow's op determinism: a rerun or a resumed run gives bit-identical "
                             "weights on the same machine (a little slower)")
    parser.add_argument("--strategy", choices=("none", "mirrored", "multi_worker"), default="none",
                        help="mirrored: tf.distribute.MirroredStrategy over every local GPU (every CPU device when "
                             "there is no GPU); multi_worker: MultiWorkerMirroredStrategy over the cluster in "
                             "TF_CONFIG. The global batch (-b) is split across replicas")
    parser.add_argument("--xla", action=argparse.BooleanOptionalAction, default=None,
                        help="compile the training step with XLA, or not. Default: on for vae and cvae_fc3 (1.4x on "
                             "a 2-core Xeon, about even on a 2-core EPYC) and their VampPrior versions, off for the "
                             "others (XLA is 1.1x for "
                             "cvae_cnn3, much slower for cvae_cnn2, cnn and m2) and under --strategy; a resumed run "
                             "keeps the setting it last trained with (bench/README.md)")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default=None,
                        help="bf16: Keras' mixed_bfloat16 policy (weights, noise and losses in float32, the other "
                             "layers' products in bfloat16): faster where the CPU has AMX or AVX512-BF16, slower "
                             "elsewhere; measured per model in bench/README.md (bfloat16). Default: fp32, or for a "
                             "resumed run the precision it last trained with")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Train a model on MNIST or data of your own; checkpoints, config.json, metrics.csv and TensorBoard "
                    "events go to LOG_DIR/MODEL_N/ (LOG_DIR/cnn/ for the classifier; suffixes _bin, "
                    "_fashion_mnist, _labelsL name the options below). Running the same command again resumes.",
        formatter_class=HelpFormatter)
    parser.add_argument("model", choices=model_names(), metavar="MODEL", help=f"one of: {', '.join(model_names())}")
    parser.add_argument("-n", "--latent-dim", type=positive_int_up_to(MAX_LATENT_DIM), default=20,
                        help="latent dimensions (ignored by the classifier cnn)")
    add_training_flags(parser)
    parser.add_argument("--seed", type=random_seed, default=0, help="seed for weights, shuffling and noise")
    parser.add_argument("--restart", action="store_true", help="delete the run's directory and start over")
    parser.add_argument("--subset", type=positive_int_up_to(MAX_COUNT), default=None,
                        help="use only the first SUBSET training and test images (quick checks)")
    parser.add_argument("--binarize", action="store_true",
                        help="dynamic binarization: train on pixels drawn from Bernoulli(gray level) each pass, "
                             "test on one fixed binarization (the data published MNIST likelihoods use)")
    parser.add_argument("--dataset", type=dataset_argument, default="mnist", metavar="DATASET",
                        help="mnist; fashion_mnist (Zalando's 10 kinds of clothing in MNIST's format); or the path "
                             "of an image folder with one sub-folder per class, or of an .npz file (README: Your "
                             "own data). A path's runs go to LOG_DIR/MODEL_N_NAME_HASH/")
    add_likelihood_flag(parser, default=DEFAULT_LIKELIHOOD,
                        help=f"p(x | z, y) of a VAE: {likelihoods_help()}. evaluate.py reports the NLL of a "
                             "distribution over the 256 levels in bits/dim. Runs of another than the default go to "
                             "LOG_DIR/MODEL_N_LIKELIHOOD...")
    add_option_flags(parser)
    parser.add_argument("--image-size", type=image_size_argument, default=None, metavar="S",
                        help="--dataset PATH: resize every image to S x S (8 to 128). Without it a data set keeps "
                             "its images' own size when they all share one square size from 16 to 64, and asks "
                             "for --image-size otherwise; gray or colour is kept as most images are")
    parser.add_argument("--labels", type=positive_int_up_to(MAX_COUNT), default=None,
                        help="m2 only: train with this many labelled images (a multiple of the number of classes, "
                             "the same number of each class, drawn with --seed); the rest are used without labels")
    add_device_flags(parser)
    parser.add_argument("--log-dir", type=Path, default=Path("log"))
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="where the data sets are cached")
    add_debug_flag(parser)
    return parser.parse_args(argv)


def main(argv=None):
    run_dir = None

    def locked_train(args):
        nonlocal run_dir
        from cvae import owndata
        from cvae.cli import identity_from_flags
        from cvae.config import TrainingSettings
        from cvae.datasets import is_own
        from cvae.rundir import RunDir
        from cvae.training import train_run
        if args.deterministic:
            import tensorflow as tf
            tf.config.experimental.enable_op_determinism()
        # Data of one's own is decoded and checked before anything is written.
        if args.image_size is not None and not is_own(args.dataset):
            raise UsageError(f"--image-size resizes a data set of one's own; {args.dataset} is 28 x 28 gray, as "
                             f"published")
        data, own = (owndata.load(args.dataset, args.data_dir, image_size=args.image_size) if is_own(args.dataset)
                     else (None, None))
        identity = identity_from_flags(args, data=own, seed=args.seed)
        settings = TrainingSettings(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                                    clip=args.clip, xla=args.xla, precision=args.precision, strategy=args.strategy,
                                    schedule=args.schedule, kl_warmup=args.kl_warmup)
        run_dir = RunDir(args.log_dir / identity.directory_name())
        train_run(identity, settings, run_dir, args.restart, args.data_dir, data=data)
        return 0

    def interrupted(args):
        latest = run_dir and run_dir.latest_checkpoint()
        saved = f"the last checkpoint is {latest}" if latest else "no epoch had finished, nothing was saved"
        return f"interrupted; the unfinished epoch was dropped and {saved}. Run the same command to resume."

    return run_tool(parse_args, argv, locked_train, interrupted)


if __name__ == "__main__":
    sys.exit(main())

"""What the command-line tools share: argument types, the flags that name a run and opening the run they
name, how TensorFlow is loaded, and how errors reach the user. The top of the library: the tools import it,
no module of the library does.

Cheap to import: TensorFlow and the model classes load only once the arguments are parsed, so `--help`
and a usage error answer at once.
"""
import argparse
import math
import signal
import sys
from pathlib import Path

from model import DEFAULT_LIKELIHOOD, LIKELIHOODS, OPTIONS, names as model_names
from cvae import import_tensorflow_quietly, missing_requirement
from cvae.data import DATA_DIR
from cvae.errors import UsageError, UserFacingError
from cvae.mnist import DATASETS
from cvae.runs import no_such_dataset

from cvae.limits import LATENT_DIM, MAX_COUNT, MAX_LATENT_DIM, MAX_SEED, MAX_STD


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a flag's default, except where there is none to show (off switches, unset options) or the
    help text already says it."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or "(default:" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def positive_int(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def positive_int_up_to(maximum):
    """An argparse type: positive_int, and at most `maximum` (a number past every sensible one, so that what
    it sizes fails here, not as an overflow or a file name too long)."""
    def positive_int(text):
        value = int(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
        if value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum:,}, got {text[:40]}")
        return value
    return positive_int


def count_up_to(maximum):
    """An argparse type: an integer from 0 (none, off) to `maximum`."""
    def count(text):
        value = int(text)
        if not 0 <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be an integer from 0 to {maximum:,}, got {text[:40]}")
        return value
    return count


def int_in(low, high):
    """An argparse type: an integer from `low` to `high`."""
    def integer(text):
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be an integer from {low:,} to {high:,}, got {text[:40]}")
        return value
    return integer


def positive_float(text):
    value = float(text)
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def noise_std(text):
    """A standard deviation of z: positive, and at most MAX_STD (z that far from the prior's mass decodes to
    nothing the model learnt, and past float32's range to no image at all)."""
    value = positive_float(text)
    if value > MAX_STD:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_STD:g}, got {text[:40]}")
    return value


def port_number(text):
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 1 to 65535, got {text[:40]}")
    return value


def random_seed(text):
    """A seed TensorFlow, NumPy and Keras all take: an integer in [0, 2**32)."""
    value = int(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to {MAX_SEED}, got {text}")
    return value


def class_of(text, class_names, flag):
    """The class index that `text` (a flag's value) names in a run of `class_names`: the class of that name,
    else the class of that index. UsageError saying which classes there are."""
    if text in class_names:
        return class_names.index(text)
    if text.isdigit() and int(text) < len(class_names):
        return int(text)
    shown = ", ".join(class_names[:12]) + (", ..." if len(class_names) > 12 else "")
    raise UsageError(f"{flag} {text[:40]}: this run has {len(class_names)} classes, 0 to {len(class_names) - 1} "
                     f"by index, or by name: {shown}")


def dataset_argument(text):
    """train.py's --dataset: a data set's name (DATASETS), or the path of an image folder or .npz file of one's own."""
    if text in DATASETS or Path(text).expanduser().exists():
        return text
    raise argparse.ArgumentTypeError(no_such_dataset(text))


def image_size_argument(text):
    """train.py's --image-size: a whole number of pixels from 8 to 128 (images.MIN_IMAGE_SIZE, MAX_IMAGE_SIZE)."""
    from cvae.limits import MAX_IMAGE_SIZE, MIN_IMAGE_SIZE
    try:
        size = int(text)
    except ValueError:
        size = None
    if size is None or not MIN_IMAGE_SIZE <= size <= MAX_IMAGE_SIZE:
        raise argparse.ArgumentTypeError(f"give {MIN_IMAGE_SIZE} to {MAX_IMAGE_SIZE} pixels a side, got {text!r}")
    return size


def add_likelihood_flag(parser, default, help):
    """--likelihood: a VAE's p(x | z, y), one of model.LIKELIHOODS (named there without TensorFlow)."""
    parser.add_argument("--likelihood", choices=tuple(LIKELIHOODS), default=default, help=help)


def add_option_flags(parser, naming=False):
    """A flag for each model option (model.OPTIONS: --iw-samples, --pseudo-inputs), its value kept in
    args.OPTION_NAME (None when not given: the model's default). naming: the flags name a trained run."""
    for spec in OPTIONS.values():
        help = (f"the run trained with {spec.flag} K (MODEL_N_{spec.suffix}K)" if naming else
                f"{spec.help}: {spec.low} to {spec.high:,}, default {spec.default}. Another value than the "
                f"default is another run: LOG_DIR/MODEL_N_{spec.suffix}K...")
        parser.add_argument(spec.flag, dest=spec.name, type=int_in(spec.low, spec.high), default=None,
                            metavar="K", help=help)


def given_options(args):
    """{model option name: value} of the option flags given on the command line."""
    return {name: getattr(args, name) for name in OPTIONS if getattr(args, name, None) is not None}


def likelihoods_help():
    """Each likelihood's name and what it is, the default first: for train.py's --help."""
    return "; ".join(f"{spec.name}, {spec.help}" for spec in LIKELIHOODS.values())


def add_sampler_flags(parser):
    """--sampler and --components: where generated images' codes come from (cvae.samplers)."""
    from cvae.samplers import SAMPLERS
    parser.add_argument("--sampler", choices=SAMPLERS, default="prior",
                        help="where z comes from: prior, the model's (N(0, I), or the VampPrior of the "
                             "*_vamp models); gmm, Gaussian mixtures fitted to the training "
                             "images' codes, one per class (fitted once and cached beside the run)")
    add_components_flag(parser, "--sampler gmm: Gaussians in each mixture")


def add_components_flag(parser, help):
    """--components: Gaussians in each of the fitted sampler's mixtures (evaluate.py takes it without --sampler,
    since it judges both samplers)."""
    from cvae.samplers import COMPONENTS
    parser.add_argument("--components", type=positive_int_up_to(1000), default=COMPONENTS, help=help)


def fitted_mixture(args, run):
    """The run's fitted Mixture with --components Gaussians each, read from its cache beside the run (the
    run's own directory, or LOG_DIR/pretrained/NAME for a shipped one), or fitted and cached there."""
    from cvae.samplers import fitted
    return fitted(run, run.writable_folder(args.log_dir), args.components, args.data_dir)


def mixture_for(args, run):
    """The fitted Mixture when --sampler gmm asks for one, else None."""
    return fitted_mixture(args, run) if args.sampler == "gmm" else None


def add_debug_flag(parser):
    parser.add_argument("--debug", action="store_true", help="show the Python traceback of an error")


# The flags that name a run, beside MODEL; --run DIR takes the place of all of them.
NAMING_FLAGS = {"latent_dim": "-n", "binarize": "--binarize", "likelihood": "--likelihood", "dataset": "--dataset",
                "image_size": "--image-size", "labels": "--labels", "subset": "--subset", "pretrained": "--pretrained",
                **{name: spec.flag for name, spec in OPTIONS.items()}}


def add_run_flags(parser, kept_epoch=True):
    """The flags that name a trained run (plot.py, evaluate.py, ...): its directory with --run DIR, or, as
    train.py names it, MODEL and its options. kept_epoch: also -p EPOCH, a checkpoint kept at that epoch
    instead of the latest. parse_run_args checks them."""
    parser.add_argument("model", nargs="?", choices=model_names(), metavar="MODEL",
                        help=f"one of: {', '.join(model_names())}, with the options it was trained with (or --run DIR)")
    parser.add_argument("--run", type=Path, metavar="DIR", default=None,
                        help="the run's directory (a folder of LOG_DIR, or of pretrained/): the model, latent size, "
                             "data, labels and the rest are read from its config.json")
    parser.add_argument("-n", "--latent-dim", type=positive_int_up_to(MAX_LATENT_DIM), default=None,
                        help=f"latent dimensions of the run (default: {LATENT_DIM})")
    parser.add_argument("--binarize", action="store_true", help="the binarized run (MODEL_N_bin)")
    add_likelihood_flag(parser, default=None, help="the run trained with --likelihood logistic (MODEL_N_logistic)")
    add_option_flags(parser, naming=True)
    parser.add_argument("--dataset", default=None, metavar="DATASET",
                        help="the data set the run trained on: mnist (default), fashion_mnist, or the path of your "
                             "own image folder or .npz file, as given to train.py (found by the path it recorded, "
                             "even when the files have changed since)")
    parser.add_argument("--labels", type=positive_int_up_to(MAX_COUNT), default=None,
                        help="m2: the run's number of labels")
    parser.add_argument("--image-size", type=image_size_argument, default=None, metavar="S",
                        help="--dataset PATH: the run trained with --image-size S (two sizes of one data set are two "
                             "runs)")
    parser.add_argument("--subset", type=positive_int_up_to(MAX_COUNT), default=None,
                        help="the quick run trained with --subset SUBSET (MODEL_N_subsetSUBSET)")
    parser.add_argument("--log-dir", type=Path, default=Path("log"))
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="where the data sets are cached")
    parser.add_argument("--pretrained", action="store_true",
                        help="use the weights that ship in pretrained/ (cvae_cnn3 -n 2 or 20, cvae_cnn2 -n 20, "
                             "cnn) instead of a run in LOG_DIR: no training needed")
    if kept_epoch:
        parser.add_argument("-p", "--epoch", type=positive_int_up_to(MAX_COUNT), default=None,
                            help="use the checkpoint kept at this epoch instead of the latest")


def parse_run_args(parser, argv=None):
    """parser.parse_args for a tool with add_run_flags: MODEL (with its options) or --run DIR, not both;
    a usage error exits 2 before TensorFlow loads."""
    args = parser.parse_args(argv)
    given = [flag for key, flag in NAMING_FLAGS.items() if getattr(args, key) not in (None, False)]
    if args.run is not None and (args.model is not None or given):
        extra = ["MODEL"] * (args.model is not None) + given
        parser.error(f"--run DIR names the run by itself; leave out {' and '.join(extra)}")
    if args.run is None and args.model is None:
        parser.error("name the run: MODEL with the options it was trained with (-n, --dataset, ...), or --run DIR")
    if args.run is None:
        args.latent_dim = LATENT_DIM if args.latent_dim is None else args.latent_dim
        args.dataset = "mnist" if args.dataset is None else args.dataset
    return args


def identity_from_flags(args, data=None, seed=0):
    """The RunIdentity that MODEL and its options name (cvae.config.identity_named)."""
    from cvae.config import identity_named
    return identity_named(args.model, args.latent_dim, args.dataset, labels=args.labels, binarize=args.binarize,
                          subset=args.subset, seed=seed, data=data, likelihood=args.likelihood or DEFAULT_LIKELIHOOD,
                          options=given_options(args))


def open_run(args, epoch=None):
    """The TrainedRun that add_run_flags' flags name (cvae.runs.open_run): its latest checkpoint, or the one
    kept at `epoch`."""
    from cvae.runs import open_run as open_named_run
    return open_named_run(args.run, epoch=epoch, model=args.model, latent_dim=args.latent_dim, dataset=args.dataset,
                          labels=args.labels, binarize=args.binarize, subset=args.subset, log_dir=args.log_dir,
                          pretrained=args.pretrained, likelihood=args.likelihood or DEFAULT_LIKELIHOOD,
                          image_size=args.image_size, options=given_options(args), flags=True)


def run_tool(parse, argv, work, interrupted=lambda args: "interrupted", tensorflow=True):
    """What every tool's main() does: parse its arguments (argparse exits 2 on a mistake, before TensorFlow
    loads), load TensorFlow (unless tensorflow=False), and return work(args), every failure one line on stderr:
    exit 2 for a usage error, 1 for the rest, 130 for Ctrl-C or SIGTERM with the line interrupted(args) gives
    (args None when it came while they were parsed). The signal handlers are in place before anything is
    loaded, so a tool stopped while TensorFlow loads stops as cleanly as later.

    The traceback is kept for --debug: a user's mistake should read as a message, not a crash.
    """
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # a background job's ignored Ctrl-C stays ignored
        signal.signal(signal.SIGINT, signal.default_int_handler)  # from here a KeyboardInterrupt, caught below
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)  # `kill` stops as cleanly as Ctrl-C
    args = None
    try:
        args = parse(argv)
        if tensorflow:
            import_tensorflow_quietly()
        return work(args)
    except KeyboardInterrupt:
        print(f"\n{interrupted(args)}", file=sys.stderr)
        return 130
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Exception as err:
        if getattr(args, "debug", False):
            raise
        if isinstance(err, UserFacingError):
            message = str(err)
        elif isinstance(err, ModuleNotFoundError) and missing_requirement(err):
            message = missing_requirement(err)
        elif isinstance(err, OSError):
            message = os_error_line(err)
        else:
            message = f"{type(err).__name__}: {err} (--debug shows the traceback)"
        print(f"error: {message}", file=sys.stderr)
        return 1


def os_error_line(err):
    """An OSError as a person reads it: what failed and on which file, and for a full disk what to do."""
    from cvae.files import disk_full
    where = f" ({err.filename})" if err.filename else ""
    if disk_full(err):
        return f"no space left on device{where}; free some space and run the same command again"
    return f"{err.strerror}{where}" if err.strerror else str(err)


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt

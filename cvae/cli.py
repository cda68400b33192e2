"""What the command-line tools share: argument types, the flags that name a run and opening the run they
name, how TensorFlow is loaded, and how errors reach the user. The top of the library: the tools import it,
no module of the library does.

Cheap to import: TensorFlow and the model classes load only once the arguments are parsed, so `--help`
and a usage error answer at once.
"""
import argparse
import math
import os
import signal
import sys
from pathlib import Path

from model import NAMES
from cvae.data import DATA_DIR
from cvae.errors import UsageError, UserFacingError
from cvae.mnist import DATASETS

LATENT_DIM = 20  # -n's default
MAX_LATENT_DIM = 4096
MAX_STD = 100.0
MAX_COUNT = 10 ** 9  # of images, epochs, labels, ...: past any data set here, and short enough for a file name


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
    if not 0 <= value < 2 ** 32:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to {2 ** 32 - 1}, got {text}")
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


def no_such_dataset(text):
    return (f"no data set called {text!r}: give {' or '.join(DATASETS)}, or the path of an image folder or .npz "
            f"file (README: Your own data)")


def dataset_argument(text):
    """train.py's --dataset: a data set's name (DATASETS), or the path of an image folder or .npz file of one's own."""
    if text in DATASETS or Path(text).expanduser().exists():
        return text
    raise argparse.ArgumentTypeError(no_such_dataset(text))


def add_debug_flag(parser):
    parser.add_argument("--debug", action="store_true", help="show the Python traceback of an error")


# The flags that name a run, beside MODEL; --run DIR takes the place of all of them.
NAMING_FLAGS = {"latent_dim": "-n", "binarize": "--binarize", "dataset": "--dataset", "labels": "--labels",
                "subset": "--subset", "pretrained": "--pretrained"}


def add_run_flags(parser, kept_epoch=True):
    """The flags that name a trained run (plot.py, evaluate.py, ...): its directory with --run DIR, or, as
    train.py names it, MODEL and its options. kept_epoch: also -p EPOCH, a checkpoint kept at that epoch
    instead of the latest. parse_run_args checks them."""
    parser.add_argument("model", nargs="?", choices=NAMES, metavar="MODEL",
                        help=f"one of: {', '.join(NAMES)}, with the options it was trained with (or --run DIR)")
    parser.add_argument("--run", type=Path, metavar="DIR", default=None,
                        help="the run's directory (a folder of LOG_DIR, or of pretrained/): the model, latent size, "
                             "data, labels and the rest are read from its config.json")
    parser.add_argument("-n", "--latent-dim", type=positive_int_up_to(MAX_LATENT_DIM), default=None,
                        help=f"latent dimensions of the run (default: {LATENT_DIM})")
    parser.add_argument("--binarize", action="store_true", help="the binarized run (MODEL_N_bin)")
    parser.add_argument("--dataset", default=None, metavar="DATASET",
                        help="the data set the run trained on: mnist (default), fashion_mnist, or the path of your "
                             "own image folder or .npz file, as given to train.py (found by the path it recorded, "
                             "even when the files have changed since)")
    parser.add_argument("--labels", type=positive_int_up_to(MAX_COUNT), default=None,
                        help="m2: the run's number of labels")
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
    """The RunIdentity that MODEL and its options name. A data set of one's own is the record `data` when
    given (train.py decodes the data first), else found as train.py found it (its files hashed). UsageError
    for a combination no run can have."""
    from cvae.config import RunIdentity, check_identity
    from model.registry import MODELS
    if args.dataset not in DATASETS and data is None:
        from cvae import owndata
        source = owndata.describe(args.dataset)
        data = {"path": str(source.path), "sha256": source.sha256, "name": source.name,
                "class_names": source.class_names}
    identity = RunIdentity(args.model, args.latent_dim if MODELS[args.model].has_latent_space else None,
                           dataset=args.dataset if data is None else data["name"], data=data, binarize=args.binarize,
                           labels=args.labels, seed=seed, subset=args.subset)
    check_identity(identity)
    return identity


def runs_trained_on(path, args):
    """The run directories in args.log_dir of MODEL and its options trained on the data at `path` (by the
    path their config.json recorded, whatever the files hold now), by name."""
    from cvae import owndata
    from cvae.config import RunIdentity
    from cvae.rundir import DamagedFile, RunDir
    from model.registry import MODELS
    latent_dim = args.latent_dim if MODELS[args.model].has_latent_space else None
    pattern = RunIdentity(args.model, latent_dim, dataset=f"{owndata.short_stem(path)}_{'[0-9a-f]' * 8}",
                          binarize=args.binarize, labels=args.labels, subset=args.subset).directory_name()
    found = []
    for candidate in sorted(Path(args.log_dir).glob(pattern)):
        try:
            data = RunDir(candidate).read_config().identity.data or {}
        except (DamagedFile, OSError):
            continue
        if data.get("path") == str(path):
            found.append(RunDir(candidate))
    return found


def named_run_dir(args):
    """(the run directory the flags name, the train.py command that makes it). A run of one's own data is
    found by the path it recorded, so it opens after its files changed or were deleted: one such run is
    opened without hashing the files; of several, the one of the files as they are now."""
    from cvae.config import train_command
    from cvae.rundir import RunDir, run_dir_at, shipped_run
    if args.run is not None:
        if not args.run.is_dir():
            raise UsageError(f"--run {args.run}: no such run directory")
        run_dir = run_dir_at(args.run)
        try:
            command = train_command(run_dir.read_config().identity, args.run.parent)
        except (ValueError, OSError):
            command = f"train.py with the options it was trained with, --log-dir {args.run.parent}"
        return run_dir, command
    if args.pretrained:
        if args.dataset not in DATASETS:
            raise UsageError("--pretrained names the weights that ship with the repository, trained on MNIST; "
                             "leave out --dataset PATH")
        identity = identity_from_flags(args)
        return shipped_run(identity.directory_name()), train_command(identity, args.log_dir)
    if args.dataset in DATASETS:
        identity = identity_from_flags(args)
        return RunDir(args.log_dir / identity.directory_name()), train_command(identity, args.log_dir)
    path = Path(args.dataset).expanduser().resolve()
    found = runs_trained_on(path, args)
    if len(found) == 1:
        return found[0], train_command(found[0].read_config().identity, args.log_dir)
    if not path.exists():
        if found:
            raise UsageError(f"{len(found)} runs trained on {path}, which is gone: {', '.join(map(str, found))}; "
                             f"name one with --run DIR")
        raise UsageError(no_such_dataset(args.dataset))
    identity = identity_from_flags(args)
    run_dir = RunDir(args.log_dir / identity.directory_name())
    if found and run_dir.path not in [run.path for run in found]:
        raise UsageError(f"{len(found)} runs trained on earlier contents of {path}: {', '.join(map(str, found))}; "
                         f"name one with --run DIR")
    return run_dir, train_command(identity, args.log_dir)


def open_run(args, epoch=None):
    """The TrainedRun that add_run_flags' flags name: its latest checkpoint, or the one kept at `epoch`; with
    --pretrained (or --run on a folder of pretrained/), the shipped weights, checked. A missing or damaged
    run raises an error naming the command that makes it."""
    import tensorflow as tf
    from cvae.checkpoints import AllDamaged
    from cvae.rundir import KEEP_EVERY, ConfigDisagrees, DamagedFile, load_shipped
    run_dir, command = named_run_dir(args)
    if run_dir.read_only:
        if epoch is not None:
            raise UsageError("pretrained/ holds each run's last epoch only; -p needs a run of your own in log/")
        return load_shipped(run_dir, command)
    if run_dir.latest_checkpoint() is None:
        raise UserFacingError(f"no trained model in {run_dir}; train one first: {command}")
    if epoch is not None and epoch not in run_dir.kept_epochs():
        kept = ", ".join(map(str, run_dir.kept_epochs())) or f"none yet (one is kept every {KEEP_EVERY} epochs)"
        raise UsageError(f"no checkpoint kept at epoch {epoch} in {run_dir}; kept epochs: {kept}")
    try:
        return run_dir.load(epoch)
    except ConfigDisagrees as err:
        raise UserFacingError(str(err))
    except DamagedFile as err:  # config.json: the checkpoints may be whole, so --restart is the last resort
        raise UserFacingError(f"cannot load the model in {run_dir}: {err}. It records the run's settings: repair "
                              f"it, or retrain with: {command} --restart")
    except (OSError, ValueError, tf.errors.OpError, AssertionError) as err:
        if epoch is not None:  # the latest checkpoints were not tried: the advice is to use them
            why = err.failures[0][1] if isinstance(err, AllDamaged) else str(err).splitlines()[0]
            raise UserFacingError(f"the checkpoint kept at epoch {epoch} in {run_dir} is damaged ({why}); leave out "
                                  f"-p to use the latest checkpoint")
        # Reached only when no checkpoint of the run reads back whole (RunDir.load falls back).
        raise UserFacingError(f"cannot load the model in {run_dir} ({str(err).splitlines()[0]}); "
                              f"retrain with: {command} --restart")


def import_tensorflow_quietly():
    """Import TensorFlow, muting what it logs from C++ while it loads (a oneDNN notice, and "failed call
    to cuInit" on machines without a GPU): TensorFlow 2.21 ignores TF_CPP_MIN_LOG_LEVEL for those, so
    stderr is muted for the import alone. Each CLI calls this once, after parsing its arguments.
    CVAE_TF_LOGS=1 shows those lines."""
    if "tensorflow" in sys.modules or os.environ.get("CVAE_TF_LOGS") == "1":
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow
        tensorflow.config.list_physical_devices()  # device set-up logs too ("failed call to cuInit")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def run_tool(parse, argv, work, interrupted=lambda args: "interrupted", tensorflow=True):
    """What every tool's main() does: parse its arguments (argparse exits 2 on a mistake, before TensorFlow
    loads), load TensorFlow (unless tensorflow=False), and return work(args), every failure one line on stderr:
    exit 2 for a usage error, 1 for the rest, 130 for Ctrl-C or SIGTERM with the line interrupted(args) gives
    (args None when it came while they were parsed). The signal handlers are in place before anything is
    loaded, so a tool stopped while TensorFlow loads stops as cleanly as later.

    The traceback is kept for --debug: a user's mistake should read as a message, not a crash.
    """
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

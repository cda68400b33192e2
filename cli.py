"""What the command-line tools share: argument types, the flags that select a run, the messages
about runs, how TensorFlow is loaded, and how errors reach the user.

Cheap to import: TensorFlow and the model classes load only once the arguments are parsed, so
`--help` and a usage error answer at once.
"""
import argparse
import math
import os
import signal
import sys
from pathlib import Path

from model import NAMES


class UsageError(Exception):
    """The user asked for something that cannot be done as asked (exit status 2)."""


class UserFacingError(Exception):
    """A failure whose message says what went wrong and what to do (exit status 1)."""


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


def positive_float(text):
    value = float(text)
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def random_seed(text):
    """A seed TensorFlow, NumPy and Keras all take: an integer in [0, 2**32)."""
    value = int(text)
    if not 0 <= value < 2 ** 32:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to {2 ** 32 - 1}, got {text}")
    return value


def class_index(text):
    """A label: 0-9 on MNIST, up to 99 on data of one's own (the run's own count is checked once it is loaded)."""
    value = int(text)
    if not 0 <= value < 100:
        raise argparse.ArgumentTypeError(f"must be a class index 0-99 (a digit 0-9 on MNIST), got {text}")
    return value


def add_run_flags(parser, kept_epoch=True):
    """The flags that select a trained run (plot.py, evaluate.py, ...): they name its directory as train.py
    did. kept_epoch: also -p EPOCH, a checkpoint kept at that epoch instead of the latest."""
    from dataset import DATA_DIR, dataset_argument  # here, not at the top: dataset.py imports this module
    parser.add_argument("model", choices=NAMES, metavar="MODEL", help=f"one of: {', '.join(NAMES)}")
    parser.add_argument("-n", "--latent-dim", type=positive_int, default=20, help="latent dimensions of the run")
    parser.add_argument("--binarize", action="store_true", help="the binarized run (MODEL_N_bin)")
    parser.add_argument("--dataset", type=dataset_argument, default="mnist", metavar="DATASET",
                        help="the data set the run trained on: mnist, fashion_mnist, or the path of your own "
                             "image folder or .npz file, as given to train.py")
    parser.add_argument("--labels", type=positive_int, default=None, help="m2: the run's number of labels")
    parser.add_argument("--subset", type=positive_int, default=None,
                        help="the quick run trained with --subset SUBSET (MODEL_N_subsetSUBSET)")
    parser.add_argument("--log-dir", type=Path, default=Path("log"))
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="where the data sets are cached")
    parser.add_argument("--pretrained", action="store_true",
                        help="use the weights that ship in pretrained/ (cvae_cnn3 -n 2 or 20, cvae_cnn2 -n 20, "
                             "cnn) instead of a run in LOG_DIR: no training needed")
    if kept_epoch:
        parser.add_argument("-p", "--epoch", type=positive_int, default=None,
                            help="use the checkpoint kept at this epoch instead of the latest")


def add_debug_flag(parser):
    parser.add_argument("--debug", action="store_true", help="show the Python traceback of an error")


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


def run_settings(model, latent_dim, binarize=False, dataset="mnist", labels=None, subset=None):
    """(latent_dim or None, run directory name) of the run these flags name, as train.py names it (a
    data set of one's own is hashed for its name). Raises UsageError for a combination no run can have.
    Loads the model classes (TensorFlow)."""
    from model.registry import MODELS
    from rundir import run_dir_name
    kind = MODELS[model]
    if binarize and not kind.has_latent_space:
        raise UsageError(f"--binarize applies to the VAEs; {model} trains on gray levels")
    if kind.semi_supervised and labels is None:
        raise UsageError(f"{model} needs --labels (how many training labels it may use, e.g. 100)")
    if labels is not None and not kind.semi_supervised:
        semi = ", ".join(name for name, other in MODELS.items() if other.semi_supervised)
        raise UsageError(f"--labels is for the semi-supervised {semi}; the other models use every label")
    import owndata
    own = owndata.describe(dataset) if owndata.is_own(dataset) else None
    if labels is not None and own is None and labels % 10:
        raise UsageError(f"--labels must be a multiple of 10 (the same number of each class), got {labels}")
    latent_dim = latent_dim if kind.has_latent_space else None
    return latent_dim, run_dir_name(model, latent_dim, binarize, dataset if own is None else own.name, labels, subset)


def train_command(model, latent_dim, binarize=False, dataset="mnist", labels=None, log_dir=Path("log"), subset=None):
    """The train.py command that makes the run these flags name."""
    import shlex
    return (f"python train.py {model}" + (f" -n {latent_dim}" if latent_dim else "")
            + (" --binarize" if binarize else "") + (f" --dataset {shlex.quote(dataset)}" if dataset != "mnist" else "")
            + (f" --labels {labels}" if labels is not None else "")
            + (f" --subset {subset}" if subset is not None else "")
            + (f" --log-dir {log_dir}" if Path(log_dir) != Path("log") else ""))


def prepare_out(out, written, what, refusal):
    """Make `out` ready for a tool's files: a new or empty folder, or one the tool wrote before, whose
    `written` files (and nothing else it holds) are removed. refusal(out) -> why a non-empty `out` is not
    the tool's own, or None; `what` names the tool's output ("an export"). UsageError otherwise."""
    import shutil
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a directory")
    if out.exists() and any(out.iterdir()):
        why_not = refusal(out)
        if why_not:
            raise UsageError(why_not)
        foreign = sorted(p.name for p in out.iterdir() if p.name not in written)
        if foreign:
            raise UsageError(f"--out {out} holds files {what} does not write ({', '.join(foreign)}); refusing to "
                             f"write there")
        for name in written:
            path = out / name
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)


def open_run(args, epoch=None):
    """(model, config, epoch, RunDir) of the run that add_run_flags' flags name: its latest checkpoint,
    or the one kept at `epoch`; with --pretrained, the shipped weights of that run. A missing or damaged
    run raises an error naming the command to run."""
    import tensorflow as tf
    from rundir import KEEP_EVERY, DamagedFile, RunDir
    latent_dim, name = run_settings(args.model, args.latent_dim, args.binarize, args.dataset, args.labels,
                                    args.subset)
    command = train_command(args.model, latent_dim, args.binarize, args.dataset, args.labels, args.log_dir,
                            args.subset)
    if getattr(args, "pretrained", False):
        return open_pretrained(name, command, epoch)
    run_dir = RunDir(args.log_dir / name)
    if run_dir.latest_checkpoint() is None:
        raise UserFacingError(f"no trained model in {run_dir}; train one first: {command}")
    if epoch is not None and epoch not in run_dir.kept_epochs():
        kept = ", ".join(map(str, run_dir.kept_epochs())) or f"none yet (one is kept every {KEEP_EVERY} epochs)"
        raise UsageError(f"no checkpoint kept at epoch {epoch} in {run_dir}; kept epochs: {kept}")
    try:
        return (*run_dir.load_model(epoch), run_dir)
    except DamagedFile as err:  # config.json: the checkpoints may be whole, so --restart is the last resort
        raise UserFacingError(f"cannot load the model in {run_dir}: {err}. It records the run's settings: repair "
                              f"it, or retrain with: {command} --restart")
    except (OSError, ValueError, tf.errors.OpError, AssertionError) as err:
        # Reached only when no checkpoint of the run reads back whole (RunDir.load_model falls back).
        raise UserFacingError(f"cannot load the model in {run_dir} ({str(err).splitlines()[0]}); "
                              f"retrain with: {command} --restart")


def open_pretrained(name, command, epoch=None):
    """open_run for --pretrained: the weights of pretrained/NAME, each file checked against its sha256."""
    from pretrained import shipped_run
    from rundir import DamagedFile
    if epoch is not None:
        raise UsageError("pretrained/ holds each run's last epoch only; -p needs a run of your own in log/")
    run = shipped_run(name)
    try:
        return (*run.load_model(), run)
    except DamagedFile as err:
        raise UserFacingError(f"{err}; restore it with `git checkout -- {run.path}`, or train your own: {command}")


def report_errors(run, debug, interrupted=lambda: "interrupted"):
    """Run `run()` and turn a failure into one line on stderr: exit 2 for usage errors, 1 for the rest,
    130 for Ctrl-C or SIGTERM (with the line `interrupted()` returns).

    The traceback is kept for --debug: a user's mistake should read as a message, not a crash.
    """
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)  # `kill` stops as cleanly as Ctrl-C
    try:
        return run()
    except KeyboardInterrupt:
        print(f"\n{interrupted()}", file=sys.stderr)
        return 130
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Exception as err:
        if debug:
            raise
        known = isinstance(err, (UserFacingError, OSError))
        print(f"error: {err}" if known else f"error: {type(err).__name__}: {err} (--debug shows the traceback)",
              file=sys.stderr)
        return 1


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt

"""Finding a trained run and opening it, as the tools do and as a notebook or script would:

    run = open_run("log/cvae_cnn3_2")                        # by its directory (or "pretrained/cvae_cnn3_2")
    run = open_run(model="cvae_cnn3", latent_dim=2)          # by what names it, as train.py's flags do
    run = open_run(model="cvae_cnn3", latent_dim=2, pretrained=True)   # the weights that ship in pretrained/
    run = train("cvae_cnn3", latent_dim=2, epochs=3, subset=2000, log_dir="log")   # train, then open

A run of one's own data is found by the path its config.json recorded, so it opens after the folder changed
or was deleted; the folder is hashed only to choose between several runs of one path. Errors are the
library's own: UsageError for what cannot be asked, UserFacingError saying what to do.
"""
from pathlib import Path

from model import DEFAULT_LIKELIHOOD
from cvae import ROOT, import_tensorflow_quietly
from cvae.config import RunIdentity, TrainingSettings, identity_named, train_command
from cvae.data import DATA_DIR
from cvae.errors import BadArgument, UsageError, UserFacingError
from cvae.mnist import DATASETS


def no_such_dataset(text):
    return (f"no data set called {text!r}: give {' or '.join(DATASETS)}, or the path of an image folder or .npz "
            f"file (README: Your own data)")


def runs_trained_on(path, model, latent_dim, labels, binarize, subset, log_dir, likelihood=DEFAULT_LIKELIHOOD,
                    options=None):
    """The run directories in log_dir of these names trained on the data at `path` (by the path their
    config.json recorded, whatever the files hold now). options: as known_options returns them."""
    from cvae import rundir, sources
    from model.registry import model_class
    identity = RunIdentity(model, latent_dim if model_class(model).has_latent_space else None, binarize=binarize,
                           labels=labels, subset=subset, likelihood=likelihood, options=options or {})
    return rundir.runs_trained_on(log_dir, identity, sources.short_stem(path), path)


def find_run(directory=None, *, model=None, latent_dim=20, dataset="mnist", labels=None, binarize=False, subset=None,
             log_dir="log", pretrained=False, likelihood=DEFAULT_LIKELIHOOD, image_size=None, options=None):
    """(the run directory that `directory`, or else these names, name; the train.py command that makes it).
    Nothing is loaded."""
    from cvae.rundir import RunDir, run_dir_at, shipped_run
    log_dir, options = Path(log_dir), known_options(options)
    if directory is not None:
        directory = Path(directory)
        shipped = ROOT / directory
        if not directory.is_dir() and directory.parts[:1] == ("pretrained",) and shipped.is_dir():
            directory = shipped  # "pretrained/NAME", the README's, from any folder: the weights that ship
        if not directory.is_dir():
            raise UsageError(f"--run {directory}: no such run directory")
        run_dir = run_dir_at(directory)
        try:
            command = train_command(run_dir.read_config().identity, directory.parent)
        except (ValueError, OSError):
            command = f"train.py with the options it was trained with, --log-dir {directory.parent}"
        return run_dir, command
    if model is None:
        raise UsageError("name the run: its directory, or its model with the options it was trained with")
    names = dict(model=model, latent_dim=latent_dim, labels=labels, binarize=binarize, subset=subset,
                 likelihood=likelihood, options=options)
    if image_size is not None and dataset in DATASETS:
        raise UsageError(f"--image-size names a run of a data set of one's own; {dataset} is as published")
    if pretrained:
        if dataset not in DATASETS:
            raise UsageError("--pretrained names the weights that ship with the repository, trained on MNIST; "
                             "leave out --dataset PATH")
        identity = identity_named(dataset=dataset, **names)
        return shipped_run(identity.directory_name()), train_command(identity, log_dir)
    if dataset in DATASETS:
        identity = identity_named(dataset=dataset, **names)
        return RunDir(log_dir / identity.directory_name()), train_command(identity, log_dir)
    path = Path(dataset).expanduser().resolve()
    found = runs_trained_on(path, log_dir=log_dir, **names)
    sizes = {run.path: (run.read_config().identity.data or {}).get("image_size") for run in found}
    if image_size is not None:  # two sizes of one data set are two runs: the one asked for
        found = [run for run in found if sizes[run.path] == image_size]
    elif len(set(sizes.values())) > 1:
        named = "; ".join(f"{run} ({'--image-size ' + str(sizes[run.path]) if sizes[run.path] else 'its own size'})"
                          for run in found)
        raise UsageError(f"{len(found)} runs trained on {path} at different sizes: {named}; name one with "
                         f"--image-size S or --run DIR")
    if len(found) == 1:
        return found[0], train_command(found[0].read_config().identity, log_dir)
    if not path.exists():
        if found:
            raise UsageError(f"{len(found)} runs trained on {path}, which is gone: {', '.join(map(str, found))}; "
                             f"name one with --run DIR")
        raise UsageError(no_such_dataset(dataset))
    identity = identity_named(dataset=dataset, image_size=image_size, **names)
    run_dir = RunDir(log_dir / identity.directory_name())
    if found and run_dir.path not in [run.path for run in found]:
        raise UsageError(f"{len(found)} runs trained on earlier contents of {path}: {', '.join(map(str, found))}; "
                         f"name one with --run DIR")
    return run_dir, train_command(identity, log_dir)


# The tools' flags, as cvae.open_run's arguments name them: a message from find_run read in Python.
ARGUMENT_NAMES = (("--run DIR", "directory"), ("--run", "directory"), ("--image-size S", "image_size"),
                  ("--image-size", "image_size"), ("--pretrained", "pretrained=True"), ("--dataset PATH", "dataset"),
                  ("--dataset", "dataset"), ("-p ", "epoch "))


def as_arguments(message):
    """A message that names the tools' flags, naming cvae.open_run's arguments instead."""
    for flag, argument in ARGUMENT_NAMES:
        message = message.replace(flag, argument)
    return message


def open_run(directory=None, *, model=None, latent_dim=20, dataset="mnist", labels=None, binarize=False,
             subset=None, likelihood=DEFAULT_LIKELIHOOD, image_size=None, pretrained=False, log_dir="log", epoch=None,
             options=None, flags=False):
    """Open a trained run: its model with the weights of its latest checkpoint (or the one kept at `epoch`), as
    a cvae.trainedrun.TrainedRun. Name it by its directory, or by what train.py was given:

    - directory: the run's folder, "log/cvae_cnn3_2" (relative to the current folder), or "pretrained/NAME" for
      the weights that ship with the repository, found from any folder;
    - model ("cvae_cnn3", ...), latent_dim (20), dataset ("mnist", "fashion_mnist", or the path of one's own
      folder or .npz), labels (m2's), binarize, subset, likelihood ("bernoulli", "logistic", "mixture"),
      image_size (a data set of one's own at another size), options ({"iw_samples": 50}: model.OPTIONS the run
      was given other than their defaults), as train.py's flags;
    - pretrained=True: the shipped run of those names (pretrained/), wherever the current folder is;
    - log_dir: where runs named by model are found ("log", relative to the current folder);
    - epoch: a checkpoint kept at that epoch instead of the latest.

    A shipped run's weights are checked against their sha256 first. A missing or damaged run raises
    UserFacingError naming the command that makes it; what cannot be asked raises UsageError (BadArgument, a
    ValueError, for a value), both naming these arguments (flags=True: the tools' flags, for the tools)."""
    names = dict(model=model, latent_dim=latent_dim, dataset=dataset, labels=labels, binarize=binarize,
                 subset=subset, likelihood=likelihood, image_size=image_size, pretrained=pretrained, log_dir=log_dir,
                 options=options)
    try:
        return _open_run(directory, epoch, names)
    except (UsageError, UserFacingError) as err:
        if flags or isinstance(err, BadArgument):
            raise
        raise (UsageError if isinstance(err, UsageError) else UserFacingError)(as_arguments(str(err))) from None


def _open_run(directory, epoch, names):
    import_tensorflow_quietly()
    import tensorflow as tf
    from cvae.checkpoints import AllDamaged
    from cvae.rundir import KEEP_EVERY, ConfigDisagrees, DamagedFile, load_shipped
    run_dir, command = find_run(directory, **names)
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


def check_training_arguments(**given):
    """BadArgument for the first of cvae.train's arguments that train.py's flags would refuse: an unknown model or
    likelihood; a count (epochs, batch_size, labels, subset, latent_dim) that is not a whole number from 1 to its
    bound; a learning rate or clip that is not a finite number above 0; a negative seed."""
    import math
    from model import LIKELIHOODS, names
    from cvae.errors import BadArgument
    from cvae.limits import MAX_COUNT, MAX_LATENT_DIM, MAX_SEED
    if given["model"] not in names():
        raise BadArgument(f"model {given['model']!r}: one of {', '.join(names())}")
    if given["likelihood"] not in LIKELIHOODS:
        raise BadArgument(f"likelihood {given['likelihood']!r}: one of {', '.join(LIKELIHOODS)}")
    optional = {"labels", "subset", "latent_dim"}
    for name, bound in (("epochs", MAX_COUNT), ("batch_size", MAX_COUNT), ("labels", MAX_COUNT),
                        ("subset", MAX_COUNT), ("latent_dim", MAX_LATENT_DIM)):
        value = given[name]
        if value is None and name in optional:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= bound:
            raise BadArgument(f"{name} must be a whole number from 1 to {bound:,}, got {value!r}")
    for name in ("learning_rate", "clip"):
        value = given[name]
        if value is None and name == "clip":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
            raise BadArgument(f"{name} must be a number above 0, got {value!r}")
    if isinstance(given["seed"], bool) or not isinstance(given["seed"], int) or not 0 <= given["seed"] <= MAX_SEED:
        raise BadArgument(f"seed must be a whole number from 0 to {MAX_SEED:,}, got {given['seed']!r}")
    from cvae.config import SCHEDULES
    if given["schedule"] not in SCHEDULES:
        raise BadArgument(f"schedule {given['schedule']!r}: one of {', '.join(SCHEDULES)}")
    known_options(given["options"])
    warmup = given["kl_warmup"]
    if isinstance(warmup, bool) or not isinstance(warmup, int) or not 0 <= warmup <= MAX_COUNT:
        raise BadArgument(f"kl_warmup must be a whole number of epochs from 0 (off) to {MAX_COUNT:,}, got {warmup!r}")


def known_options(options):
    """{model.OPTIONS name: value} of the values other than their defaults; BadArgument for an unknown name or a
    value out of its range."""
    from model import OPTIONS
    from cvae.errors import BadArgument
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise BadArgument(f"options is {type(options).__name__}, not a dict of {', '.join(OPTIONS)}")
    for name, value in options.items():
        spec = OPTIONS.get(name)
        if spec is None:
            raise BadArgument(f"options {str(name)[:40]!r}: the model options are {', '.join(OPTIONS)}")
        if not spec.takes(value):
            raise BadArgument(f"options {name} must be a whole number from {spec.low} to {spec.high:,}, got {value!r}")
    return {name: value for name, value in options.items() if value != OPTIONS[name].default}


def arrays_file(dataset, data_dir):
    """The .npz that cvae.train's dataset=(images, labels) or (images, labels, test_images, test_labels) becomes,
    written once into data_dir/arrays/ under its contents' hash, so that the run records a file it can be found
    by again, as a path given to train.py would be; the arrays are then read back and checked as any .npz of
    one's own is."""
    import hashlib
    import io
    import numpy as np
    from cvae.errors import BadArgument
    from cvae.files import write_atomic
    if len(dataset) not in (2, 4):
        raise BadArgument(f"dataset as arrays is (images, labels) or (images, labels, test_images, test_labels), got "
                          f"a tuple of {len(dataset)}")
    names = ("images", "labels", "test_images", "test_labels")[:len(dataset)]
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.asarray(array) for name, array in zip(names, dataset)})
    content = buffer.getvalue()
    path = Path(data_dir) / "arrays" / f"arrays_{hashlib.sha256(content).hexdigest()[:12]}.npz"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, content)
    return str(path)


def train(model, latent_dim=20, *, epochs, dataset="mnist", labels=None, binarize=False, subset=None, seed=0,
          batch_size=100, learning_rate=0.001, clip=None, log_dir="log", data_dir=DATA_DIR, restart=False, log=print,
          image_size=None, likelihood=DEFAULT_LIKELIHOOD, schedule="constant", kl_warmup=0, options=None):
    """Train the run these names give into log_dir, as train.py does (resuming it when it is there), and return
    it opened (a TrainedRun). dataset: "mnist", "fashion_mnist", the path of a folder or .npz of one's own, or
    arrays: (images, labels) or (images, labels, test_images, test_labels), images uint8 [N, H, W] or
    [N, H, W, C] (written once into data_dir/arrays/ and read as an .npz of one's own). image_size: as
    train.py's --image-size, for a data set of one's own; schedule and kl_warmup as its --schedule and
    --kl-warmup; options as its model options ({"iw_samples": 50} for --iw-samples 50). BadArgument (a ValueError naming the argument) for what train.py's flags would refuse."""
    check_training_arguments(model=model, latent_dim=latent_dim, epochs=epochs, labels=labels, subset=subset,
                             seed=seed, batch_size=batch_size, learning_rate=learning_rate, clip=clip,
                             likelihood=likelihood, schedule=schedule, kl_warmup=kl_warmup, options=options)
    if isinstance(dataset, (tuple, list)):
        dataset = arrays_file(dataset, data_dir)
    import_tensorflow_quietly()
    from cvae import owndata
    from cvae.rundir import RunDir
    from cvae.training import train_run
    data, own = owndata.load(dataset, data_dir, log, image_size) if dataset not in DATASETS else (None, None)
    identity = identity_named(model, latent_dim, dataset, labels=labels, binarize=binarize, subset=subset, seed=seed,
                              data=own, likelihood=likelihood, options=options)
    run_dir = RunDir(Path(log_dir) / identity.directory_name())
    settings = TrainingSettings(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, clip=clip,
                                schedule=schedule, kl_warmup=kl_warmup)
    train_run(identity, settings, run_dir, restart, data_dir, log, data)
    return run_dir.load(log=log)

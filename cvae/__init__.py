"""cvae: the machinery behind the command-line tools (train.py, plot.py, evaluate.py, ...), beside the
models of `model/`.

Modules, lowest first; a module imports only from those above it in this list (tests/test_imports.py
checks it), and none imports a command-line tool:

  errors        UsageError, UserFacingError: what a user is shown
  files         atomic writes, sha256 checks
  limits        the bounds of what a request may ask for (latent sizes, counts, classes, noise)
  data          ImageSet (uint8 images and labels) and its checksummed cache in data/
  mnist         MNIST and Fashion-MNIST from their first valid source
  colour_mnist  colour MNIST, the README's colour data set: MNIST's digits drawn in colour (a construction)
  emoji         Noto emoji by category, 64 x 64 colour drawings from the npm registry (the second colour set)
  sklearn_digits  scikit-learn's 8 x 8 digits written as an image folder, the README's example of one's own data
  images        image files and arrays of one's own: decoding, and the rule that picks their shape
  npzfile       an .npz file of one's own, read and checked without pickle
  sources       --dataset PATH before decoding: a folder listed and hashed, the data set's name
  owndata       --dataset PATH loaded: decoded, split, checked and cached
  datasets      the data set a run names, loaded from what its config records
  config        a run's configuration as config.json holds it, and its directory's name
  evalrecord    eval.json, the record evaluate.py writes and the README's tables read, checked
  readme_runs   the README's runs: what make figures trains, what pretrained/ ships
  checkpoints   TensorFlow checkpoints of a model (and optimizer), restored whichever layout they have
  generation    uint8 pixels to model input and back; encoding, decoding and drawing in batches
  trainedrun    a trained run opened for use: encode, decode, reconstruct, sample, classify, its data
  rundir        a run's directory (log/RUN or pretrained/RUN): config, metrics, checkpoints, lock; opened
  samplers      where generated codes come from: the prior, or Gaussian mixtures fitted to a run's codes
  batches       what training sees: epochs in memory, m2's labelled subset, the fixed test binarization
  steps         the compiled training and evaluation steps, and the runners that make an epoch of them
  devices       precision, XLA and the tf.distribute strategy, each decided once
  epoch_images  what TensorBoard shows of a generative run each epoch
  preflight     what is checked before a run trains: m2's labels, changed data, a folder that is no run's
  training      the one training entry, the run directory while it trains, and the loop
  evaluation    ELBO, importance-sampled NLL, class-consistency and the classifier that judges it
  figures       figure functions: arrays in, one PNG out
  run_figures   the figures of a trained run, by kind (plot.py -m)
  exporting     a run as model.keras and a SavedModel with serving signatures, and the check of one
  explorer      the latent explorer's static site, its server, and the browser driver of its tests
  pretrained    refreshing pretrained/ from log/
  results       the README's results tables, from eval.json files
  runs          finding a run by its directory or by what names it, opening it; training one from Python
  cli           what the command-line tools share: flags, argument types, error reporting

TensorFlow is imported inside the modules that compute (generation, batches, training, ...), so that a
tool's --help and a usage error answer before it loads.

Use it from Python (after `pip install -e .` in the repository; notebooks/tour.ipynb shows all of it):

    import cvae
    run = cvae.open_run("pretrained/cvae_cnn3_2")     # a run's directory: log/NAME, or a shipped pretrained/NAME
    run = cvae.open_run(model="cvae_cnn3", latent_dim=2, pretrained=True)    # or what names it, as the flags do
    data = run.data()                                 # ImageSet: uint8 images [N, 28, 28, 1] and labels [N]
    z = run.encode(data.test_images[:8], data.test_labels[:8])               # latent means [8, n]
    pixels = run.decode(z, [7] * 8)                   # the same codes as 7s: pixel means [8, 28, 28, 1]
    pixels = run.reconstruct(data.test_images[:8], data.test_labels[:8])
    images, labels, z = run.sample([3, 5], count=10, seed=0)                  # uint8 [20, 28, 28, 1] from the prior
    mixture = cvae.samplers.fitted(run, run.writable_folder("log"))           # the fitted sampler (fitted once, cached)
    images, labels, z = run.sample([3, 5], count=10, mixture=mixture)         # z from the class's fitted mixture
    run = cvae.train("cvae_cnn3", 2, epochs=3, subset=2000, log_dir="log")    # as train.py, then opened
    cvae.export(run, "export/mine")                   # model.keras and a SavedModel (cvae.exporting)
    cvae.figures.plot_digit_samples(...)              # the figure functions: arrays in, one PNG out

run.model is the Keras model, run.config its config.json (run.identity: what it is), run.epoch the epoch of
its weights, run.class_names() the names of its labels.
"""
import importlib
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the repository: data/, pretrained/, web/, node_modules/
TOOLS = ("train", "plot", "evaluate", "sample", "export", "explore", "results", "pretrained")  # ROOT/NAME.py
# The names `import cvae` gives, loaded when first used (so importing cvae stays cheap): name -> (module, name).
PUBLIC = {"open_run": ("cvae.runs", "open_run"), "train": ("cvae.runs", "train"),
          "export": ("cvae.exporting", "write_export")}


def _stopped_while_starting(signum, frame):
    # os._exit, not sys.exit: the signal can land while the import system runs a weakref callback
    # (importlib's module-lock cleanup), where a SystemExit is printed as "Exception ignored" and swallowed, and
    # the tool then ran on to the end (seen in CI). Nothing has been written yet, so there is nothing to clean up.
    print("\ninterrupted while starting; nothing was done", file=sys.stderr, flush=True)
    os._exit(130)


# What requirements.txt installs, by import name: one of them missing means the tool runs outside .venv, not a bug.
REQUIREMENTS = {"tensorflow", "keras", "numpy", "scipy", "matplotlib", "PIL", "sklearn", "tensorboard"}


def missing_requirement(error):
    """The line that says what to do when `error` (a ModuleNotFoundError) is a requirement missing from the Python
    running a tool (the system's, not .venv's); None for any other module."""
    package = (error.name or "").split(".")[0]
    if package not in REQUIREMENTS:
        return None
    return (f"this Python ({sys.executable}) has no {package}; the requirements are installed in .venv: run "
            f"`source .venv/bin/activate` first (`make demo` makes it, in {ROOT}) or call .venv/bin/python")


def _missing_requirement(kind, error, traceback):
    """A requirement missing while a tool's modules load, before cvae.cli.run_tool catches errors: one line, not
    a traceback ending in "No module named 'numpy'"."""
    line = missing_requirement(error) if issubclass(kind, ModuleNotFoundError) else None
    if line is None:
        sys.__excepthook__(kind, error, traceback)
    else:
        print(f"{Path(sys.argv[0]).name}: {line}", file=sys.stderr)
        sys.exit(1)


def _stop_quietly_while_a_tool_starts():
    """When the program running is one of the tools: a requirement missing from the Python that runs it is one
    line saying to use .venv (_missing_requirement), and Ctrl-C or `kill` while its modules load stops it with one
    line and exit 130 (Python's own handling printed a KeyboardInterrupt traceback, or nothing for SIGTERM);
    cvae.cli.run_tool puts its own handlers in place once the tool starts. Nothing changes for any other program
    (a notebook, the tests), whose signals stay its own."""
    import signal
    main = getattr(sys.modules.get("__main__"), "__file__", None)
    if main and Path(main).resolve() in {ROOT / f"{tool}.py" for tool in TOOLS}:
        sys.excepthook = _missing_requirement
        for signum in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(signum) is not signal.SIG_IGN:  # a background job's ignored Ctrl-C stays ignored
                signal.signal(signum, _stopped_while_starting)


_stop_quietly_while_a_tool_starts()


def __dir__():
    """What tab completion offers on `cvae.`: the lazy names (open_run, train, export) and the modules, which
    __getattr__ loads on first use, beside what is loaded already."""
    import pkgutil
    modules = {info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_")}
    return sorted(set(globals()) | set(PUBLIC) | modules)


def __getattr__(name):
    if name in PUBLIC:
        module, attribute = PUBLIC[name]
        return getattr(importlib.import_module(module), attribute)
    try:
        return importlib.import_module(f"cvae.{name}")  # a module of the list above: cvae.figures, ...
    except ModuleNotFoundError as err:
        if err.name != f"cvae.{name}":
            raise
        raise AttributeError(f"module 'cvae' has no attribute {name!r}") from None


def import_tensorflow_quietly():
    """Import TensorFlow, muting what it logs from C++ while it loads (a oneDNN notice, and "failed call
    to cuInit" on machines without a GPU): TensorFlow 2.21 ignores TF_CPP_MIN_LOG_LEVEL for those, so
    stderr is muted for the import alone. Each tool calls this once, after parsing its arguments, and so do
    the library's entry points (cvae.open_run, cvae.train). CVAE_TF_LOGS=1 shows those lines."""
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

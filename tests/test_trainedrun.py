"""cvae.trainedrun: a run from Python refuses, with a ValueError naming the argument, what the tools refuse; nothing
it is given reaches TensorFlow in a shape that could abort the process (and a Jupyter kernel with it)."""
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from cvae.errors import BadArgument, UsageError


@pytest.fixture(scope="module")
def run():
    from cvae.runs import open_run
    return open_run(ROOT / "pretrained" / "cvae_cnn3_2")


@pytest.fixture(scope="module")
def images(mnist):
    return mnist.test_images[:4], mnist.test_labels[:4].astype(int)


def test_what_a_run_takes_it_still_takes(run, images):
    x, y = images
    z = run.encode(x, y)
    assert z.shape == (4, 2) and run.decode(z, y).shape == (4, 28, 28, 1)
    assert run.reconstruct(x, list(y)).shape == (4, 28, 28, 1)
    drawn, labels, codes = run.sample([3, 5], count=2, std=0.5)
    assert drawn.shape == (4, 28, 28, 1) and list(labels) == [3, 3, 5, 5] and codes.shape == (4, 2)


@pytest.mark.parametrize("call, message", [
    (lambda run, x, y: run.encode(x[..., 0], y), r"images must be \[N, 28, 28, 1\] .*got shape \[4, 28, 28\]"),
    (lambda run, x, y: run.reconstruct(x[..., 0], y), r"images must be \[N, 28, 28, 1\]"),
    (lambda run, x, y: run.encode(x[0], y[:1]), r"got shape \[28, 28, 1\]"),
    (lambda run, x, y: run.encode(np.zeros((2, 32, 32, 1), np.uint8), y[:2]), r"got shape \[2, 32, 32, 1\]"),
    (lambda run, x, y: run.encode(x / 255, y), r"images must be uint8 levels 0-255, got float64 \(floats in \[0, 1\]"),
    (lambda run, x, y: run.encode(x, [10] * 4), r"labels must be class indices 0 to 9 .* got 10 to 10"),
    (lambda run, x, y: run.reconstruct(x, [12] * 4), r"labels must be class indices 0 to 9"),
    (lambda run, x, y: run.encode(x, y[:3]), r"labels has 3 entries for 4 images"),
    (lambda run, x, y: run.decode(np.zeros((2, 2)), [10, 10]), r"labels must be class indices 0 to 9"),
    (lambda run, x, y: run.decode(np.zeros((2, 3)), [1, 1]), r"z must be numbers \[N, 2\]"),
    (lambda run, x, y: run.decode(np.full((1, 2), np.nan), [1]), r"z holds NaN"),
    (lambda run, x, y: run.sample([11]), r"labels must be class indices 0 to 9 .* got 11 to 11"),
    (lambda run, x, y: run.sample([-1]), r"got -1 to -1"),
    (lambda run, x, y: run.sample([2 ** 40]), r"labels must be class indices 0 to 9"),
    (lambda run, x, y: run.sample("37"), r"not the text '37'"),
    (lambda run, x, y: run.sample([]), r"labels is empty"),
    (lambda run, x, y: run.sample([1], count=2.5), r"count must be a whole number .* got 2.5"),
    (lambda run, x, y: run.sample([1], count=0), r"count must be a whole number"),
    (lambda run, x, y: run.sample([1], std=float("nan")), r"std must be a number above 0 and at most 100, got nan"),
    (lambda run, x, y: run.sample([1], std=1e300), r"std must be a number above 0"),
    (lambda run, x, y: run.classify(x), r"cvae_cnn3 does not classify"),
])
def test_a_bad_argument_is_a_value_error_naming_it(run, images, call, message):
    x, y = images
    with pytest.raises(ValueError, match=message) as raised:
        call(run, x, y)
    assert isinstance(raised.value, BadArgument)


def test_the_classifier_has_no_latent_space_to_sample(mnist):
    from cvae.runs import open_run
    classifier = open_run(ROOT / "pretrained" / "cnn")
    with pytest.raises(BadArgument, match="cnn is a classifier: it has no latent space to sample"):
        classifier.sample([1])
    with pytest.raises(BadArgument, match="images must be uint8"):
        classifier.classify(mnist.test_images[:2] / 255)
    assert classifier.classify(mnist.test_images[:2]).shape == (2,)


@pytest.mark.slow  # a fresh Python with TensorFlow
def test_an_image_of_the_wrong_rank_no_longer_aborts_the_process():
    """It did: exit 134, 'Check failed: index >= 0 && index < num_total_dims', which kills a Jupyter kernel."""
    code = ("import cvae, numpy as np\n"
            "run = cvae.open_run('pretrained/cvae_cnn3_2')\n"
            "data = run.data()\n"
            "try:\n"
            "    run.encode(data.test_images[:4, ..., 0], data.test_labels[:4])\n"
            "except ValueError as err:\n"
            "    print('refused:', err)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0 and "refused: images must be [N, 28, 28, 1]" in result.stdout, result.stderr[-2000:]


@pytest.mark.parametrize("given, message", [
    (dict(model="nope"), r"model 'nope': one of vae, cvae_fc3"),
    (dict(epochs=0), r"epochs must be a whole number from 1 to 1,000,000,000, got 0"),
    (dict(epochs=-1), r"epochs must be a whole number"),
    (dict(epochs=2.5), r"epochs must be a whole number"),
    (dict(batch_size=-5), r"batch_size must be a whole number"),
    (dict(batch_size=0), r"batch_size must be a whole number"),
    (dict(subset=0), r"subset must be a whole number"),
    (dict(latent_dim=0), r"latent_dim must be a whole number from 1 to 4,096"),
    (dict(clip=-1), r"clip must be a number above 0, got -1"),
    (dict(learning_rate=float("nan")), r"learning_rate must be a number above 0, got nan"),
    (dict(seed=-3), r"seed must be a whole number from 0 to 4,294,967,295"),
    (dict(likelihood="gaussian"), r"likelihood 'gaussian': one of bernoulli, logistic"),
    (dict(schedule="linear"), r"schedule 'linear': one of constant, cosine"),
    (dict(kl_warmup=-1), r"kl_warmup must be a whole number of epochs from 0"),
    (dict(dataset=(1, 2, 3)), r"dataset as arrays is \(images, labels\) or .*, got a tuple of 3"),
])
def test_train_from_python_refuses_what_train_py_refuses_before_anything_is_written(given, message, tmp_path):
    """cvae.train(epochs=0) left a run folder holding only its lock; batch_size=0 divided by zero; clip=-1 and
    model="nope" went through to a KeyError."""
    import cvae
    arguments = {"model": "cvae_cnn3", "latent_dim": 2, "epochs": 1, "subset": 300, "log_dir": tmp_path} | given
    with pytest.raises(BadArgument, match=message):
        cvae.train(**arguments)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow  # a training
def test_train_from_python_takes_arrays(tmp_path):
    """Issue 38: cvae.train(dataset=(x, y)) needed a file (TypeError: expected str, ... not tuple)."""
    import numpy as np
    import cvae
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (120, 16, 16, 3), dtype=np.uint8)
    labels = np.repeat(np.arange(3), 40)
    run = cvae.train("cvae_resnet", 2, epochs=1, dataset=(images, labels), log_dir=tmp_path / "log",
                     data_dir=tmp_path / "data", log=lambda *_: None)
    assert run.model.image_shape == (16, 16, 3) and run.class_names() == ["0", "1", "2"]
    assert run.identity.data["path"].startswith(str(tmp_path / "data" / "arrays" / "arrays_"))
    again = cvae.train("cvae_resnet", 2, epochs=1, dataset=(images, labels), log_dir=tmp_path / "log",
                       data_dir=tmp_path / "data", log=lambda *_: None)  # the same arrays: the same run, trained
    assert again.directory.path == run.directory.path and again.epoch == 1
    assert len(list((tmp_path / "data" / "arrays").iterdir())) == 1


def test_the_readmes_pretrained_path_opens_from_any_folder(tmp_path, monkeypatch):
    """Issue 38: cvae.open_run("pretrained/cvae_cnn3_2"), the README's line, failed outside the repository."""
    from cvae.runs import find_run
    monkeypatch.chdir(tmp_path)
    run_dir, _ = find_run("pretrained/cvae_cnn3_2")
    assert run_dir.read_only and run_dir.path.name == "cvae_cnn3_2"
    with pytest.raises(UsageError, match="no such run directory"):
        find_run("pretrained/no_such_run")
    (tmp_path / "pretrained" / "cvae_cnn3_2").mkdir(parents=True)  # a folder of that name here is the one meant
    assert find_run("pretrained/cvae_cnn3_2")[0].path.resolve() == (tmp_path / "pretrained" / "cvae_cnn3_2").resolve()


def test_open_run_lists_its_arguments_and_its_errors_name_them_not_flags(tmp_path, monkeypatch):
    """Issue 38: help(cvae.open_run) showed (directory=None, *, epoch=None, **names), and its errors named the
    tools' flags ("--run DIR: no such run directory") to a Python user."""
    import inspect
    import cvae
    assert list(inspect.signature(cvae.open_run).parameters) == [
        "directory", "model", "latent_dim", "dataset", "labels", "binarize", "subset", "likelihood", "image_size",
        "pretrained", "log_dir", "epoch", "options", "flags"]
    for argument in list(inspect.signature(cvae.open_run).parameters):
        assert re.search(rf"\b{argument}\b", cvae.open_run.__doc__), f"the docstring does not say what {argument} is"
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError) as caught:
        cvae.open_run("no_such_run")
    assert str(caught.value) == "directory no_such_run: no such run directory"
    with pytest.raises(UsageError, match=r"^image_size names a run of a data set of one's own; mnist is as published$"):
        cvae.open_run(model="cvae_cnn3", latent_dim=2, image_size=32)
    with pytest.raises(UsageError, match=r"^--run no_such_run: no such run directory$"):
        cvae.open_run("no_such_run", flags=True)  # the tools' wording

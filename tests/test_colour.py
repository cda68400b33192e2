"""Colour and size end to end (issue 26): a small colour MNIST (cvae.colour_mnist, 32 x 32 x 3) trained with the
discretized logistic, then every tool on it: figures, sample.py, evaluate.py (bits/dim, class-consistency judged
by a classifier of the same data), export.py and the explorer in chromium."""
import json

import numpy as np
import pytest

from conftest import run_main, tool
from cvae import colour_mnist
from cvae.data import ImageSet
from cvae.rundir import RunDir
train, plot, sample, evaluate, export, explore = (tool(name) for name in
                                                  ("train", "plot", "sample", "evaluate", "export", "explore"))

RUN = "cvae_cnn3_2_logistic_colour_"  # then the data set's hash


@pytest.fixture(scope="module")
def colour(mnist, tmp_path_factory):
    """(log dir, data dir, the .npz): 600 training and 200 test images of colour MNIST, a logistic cvae_cnn3
    with n = 2 and a cnn, one epoch each."""
    root = tmp_path_factory.mktemp("colour")
    small = ImageSet(mnist.train_images[:600], mnist.train_labels[:600], mnist.test_images[:200],
                     mnist.test_labels[:200])
    path = root / "colour.npz"
    np.savez(path, **colour_mnist.build(small))
    common = ["--dataset", str(path), "-e", "1", "--log-dir", str(root / "log"), "--data-dir", str(root / "data")]
    assert train.main(["cvae_cnn3", "-n", "2", "--likelihood", "logistic", *common]) == 0
    assert train.main(["cnn", *common]) == 0
    return root / "log", root / "data", path


def run_dir(colour):
    found = list(colour[0].glob(RUN + "*"))
    assert len(found) == 1, found
    return found[0]


def test_colour_mnist_is_seeded_colour_and_keeps_the_digits(mnist):
    small = ImageSet(mnist.train_images[:50], mnist.train_labels[:50], mnist.test_images[:20], mnist.test_labels[:20])
    first, again, other = colour_mnist.build(small), colour_mnist.build(small), colour_mnist.build(small, seed=1)
    assert first["images"].shape == (50, 32, 32, 3) and first["images"].dtype == np.uint8
    assert all(np.array_equal(first[key], again[key]) for key in first)
    assert not np.array_equal(first["images"], other["images"])
    np.testing.assert_array_equal(first["labels"], mnist.train_labels[:50])
    # The ink is the bright colour, where the digit is; every image has colour (its channels differ).
    brightness = first["images"].astype(int).sum(axis=-1)[:, 2:30, 2:30]
    ink = mnist.train_images[:50, ..., 0] > 128
    assert all(brightness[i][ink[i]].mean() > brightness[i][~ink[i]].mean() for i in range(50))
    assert all(np.ptp(image.reshape(-1, 3).mean(axis=0)) > 0 for image in first["images"])


@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_the_run_is_named_for_its_likelihood_and_keeps_the_shape(colour):
    directory = run_dir(colour)
    config = json.loads((directory / "config.json").read_text())["identity"]
    assert config["likelihood"] == "logistic" and config["data"]["image_shape"] == [32, 32, 3]
    run = RunDir(directory).load()
    assert run.model.image_shape == (32, 32, 3) and run.model.likelihood.name == "logistic"
    assert run.model.decoder_layers[-1].filters == 6  # 3 locations and 3 log-scales a pixel


@pytest.mark.slow  # about 90 s: the logistic's mean is summed over 255 bin edges for every figure's images
def test_every_figure_is_drawn_in_colour(colour, tmp_path, capsys):
    import matplotlib.image
    log_dir, data_dir, _ = colour
    directory = run_dir(colour)
    for mode in ([], ["-m", "interpolate"], ["-m", "confusion"]):
        status, out, err = run_main(plot.main, ["--run", str(directory), "--data-dir", str(data_dir), "--log-dir",
                                                str(log_dir), "--figure-dir", str(tmp_path), *mode], capsys)
        assert status == 0, err
    written = sorted(path.name for path in (tmp_path / directory.name).iterdir())
    assert {"reconstruction.png", "generated_image_prior.png", "manifold.png", "analogy.png", "interpolation.gif",
            "confusion.png"} <= set(written)
    picture = matplotlib.image.imread(tmp_path / directory.name / "reconstruction.png")[..., :3]
    assert np.abs(picture[..., 0] - picture[..., 1]).max() > 0.2  # colour, not gray
    from cvae.run_figures import title_of
    assert "discretized logistic, images are its means" in title_of(RunDir(directory).load())


@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_sample_writes_colour_images(colour, tmp_path, capsys):
    _, data_dir, _ = colour
    status, out, err = run_main(sample.main, ["--run", str(run_dir(colour)), "--data-dir", str(data_dir), "--digit", "3",
                                              "--count", "4", "--out", str(tmp_path / "s.npz")], capsys)
    assert status == 0, err
    with np.load(tmp_path / "s.npz") as arrays:
        assert arrays["images"].shape == (4, 32, 32, 3) and arrays["images"].dtype == np.uint8


@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_evaluate_gives_bits_per_dim_and_judges_with_the_classifier_of_the_same_data(colour, capsys):
    log_dir, data_dir, _ = colour
    directory = run_dir(colour)
    status, out, err = run_main(evaluate.main, ["--run", str(directory), "--data-dir", str(data_dir), "--log-dir",
                                                str(log_dir), "-k", "8", "--samples", "10", "--test-images", "40",
                                                "--components", "2"], capsys)
    assert status == 0, err
    result = json.loads((directory / "eval.json").read_text())
    assert result["likelihood"] == "logistic" and result["image_shape"] == [32, 32, 3]
    assert result["nll_bits_per_dim"] == pytest.approx(result["nll"] / (32 * 32 * 3 * np.log(2)))
    assert result["nll_bits_per_dim"] > 0
    assert "bits/dim" in out
    judge = result["class_consistency"]["classifier"]
    assert "cnn_colour_" in judge and str(log_dir) in judge


@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_export_takes_and_gives_colour_images(colour, tmp_path, capsys):
    import tensorflow as tf
    from cvae.exporting import unsafe_operations
    _, data_dir, _ = colour
    directory = run_dir(colour)
    status, out, err = run_main(export.main, ["--run", str(directory), "--data-dir", str(data_dir), "--out",
                                              str(tmp_path / "x")], capsys)
    assert status == 0, err
    manifest = json.loads((tmp_path / "x" / "export.json").read_text())
    assert manifest["image_shape"] == [32, 32, 3] and manifest["likelihood"] == "logistic"
    assert unsafe_operations((tmp_path / "x" / "saved_model" / "saved_model.pb").read_bytes()) == []
    saved = tf.saved_model.load(str(tmp_path / "x" / "saved_model"))
    model = RunDir(directory).load().model
    z, labels = np.array([[0.3, -1.0], [1.0, 0.5]], np.float32), np.array([4, 7], np.int32)
    generated = saved.generate(tf.constant(labels), tf.constant(z))["images"].numpy()
    assert generated.shape == (2, 32, 32, 3)
    np.testing.assert_allclose(generated, np.asarray(model.generate(z, labels)), atol=1e-5)
    images = np.random.default_rng(0).random((2, 32, 32, 3)).astype(np.float32)
    assert saved.reconstruct(tf.constant(images), tf.constant(labels))["images"].shape == (2, 32, 32, 3)


@pytest.mark.slow  # a browser
def test_the_explorer_draws_what_python_decodes_on_an_rgb_canvas(colour, tmp_path, capsys):
    from browser import drive
    from test_explore import assert_same_as_python, needs_browser, write
    if needs_browser.args[0]:
        pytest.skip(needs_browser.kwargs["reason"])
    log_dir, data_dir, _ = colour
    directory = run_dir(colour)
    site = write(log_dir, tmp_path / "site", "--run", str(directory), "--data-dir", str(data_dir), capsys=capsys)
    manifest = json.loads((site / "manifest.json").read_text())
    assert manifest["image_shape"] == [32, 32, 3] and manifest["likelihood"] == "logistic"
    out = drive(site, [{"read": True}, {"drag": [0.8, 0.3]}, {"read": True}, {"label": 5}, {"read": True}],
                         tmp_path)
    assert out["error"] is None and len(out["reads"]) == 3
    assert len(out["reads"][0]["image"]) == 32 * 32 * 3
    assert_same_as_python(out["reads"], RunDir(directory).load().model)


@pytest.fixture(scope="module")
def resnet_run(colour):
    """The directory of a cvae_resnet run with the mixture likelihood, one epoch on the small colour MNIST."""
    log_dir, data_dir, path = colour
    assert train.main(["cvae_resnet", "-n", "2", "--likelihood", "mixture", "--dataset", str(path), "-e", "1",
                       "--log-dir", str(log_dir), "--data-dir", str(data_dir)]) == 0
    found = list(log_dir.glob("cvae_resnet_2_mixture_colour_*"))
    assert len(found) == 1, found
    return found[0]


def sample_and_evaluate(run, where, log_dir, tmp_path, capsys):
    """sample.py's four images of a digit, which must be 32 x 32 x 3, then evaluate.py in brief: the run's
    eval.json."""
    status, _, err = run_main(sample.main, [*where, "--digit", "3", "--count", "4", "--out", str(tmp_path / "s.npz")],
                              capsys)
    assert status == 0, err
    with np.load(tmp_path / "s.npz") as arrays:
        assert arrays["images"].shape == (4, 32, 32, 3)
    status, _, err = run_main(evaluate.main, [*where, "--log-dir", str(log_dir), "-k", "4", "--samples", "5",
                                              "--test-images", "20", "--components", "2"], capsys)
    assert status == 0, err
    return json.loads((run / "eval.json").read_text())


@pytest.mark.slow  # a training and every tool
def test_the_colour_model_with_the_mixture_goes_through_every_tool(colour, resnet_run, tmp_path, capsys):
    """cvae_resnet --likelihood mixture: figures in colour, sample.py, evaluate.py's bits/dim, an export whose
    SavedModel holds only allowed operations and decodes as Python does; explore.py writes its decoder's steps
    (model.blocks), which the browser test below runs."""
    import tensorflow as tf
    from cvae.exporting import unsafe_operations
    log_dir, data_dir, _ = colour
    where = ["--run", str(resnet_run), "--data-dir", str(data_dir)]
    status, _, err = run_main(plot.main, [*where, "--log-dir", str(log_dir), "--figure-dir", str(tmp_path), "-m", "re",
                                          "gen_rand"], capsys)
    assert status == 0, err
    import matplotlib.image
    picture = matplotlib.image.imread(tmp_path / resnet_run.name / "reconstruction.png")[..., :3]
    assert np.abs(picture[..., 0] - picture[..., 1]).max() > 0.2  # colour, not gray
    result = sample_and_evaluate(resnet_run, where, log_dir, tmp_path, capsys)
    assert result["likelihood"] == "mixture" and result["nll_bits_per_dim"] > 0  # one epoch of 600: not yet 8
    assert result["nll_bits_per_dim"] == pytest.approx(result["nll"] / (32 * 32 * 3 * np.log(2)))
    status, _, err = run_main(export.main, [*where, "--out", str(tmp_path / "x")], capsys)
    assert status == 0, err
    assert unsafe_operations((tmp_path / "x" / "saved_model" / "saved_model.pb").read_bytes()) == []
    saved = tf.saved_model.load(str(tmp_path / "x" / "saved_model"))
    z, labels = np.array([[0.3, -1.0], [1.0, 0.5]], np.float32), np.array([4, 7], np.int32)
    np.testing.assert_allclose(saved.generate(tf.constant(labels), tf.constant(z))["images"].numpy(),
                               np.asarray(RunDir(resnet_run).load().model.generate(z, labels)), atol=1e-5)
    status, _, err = run_main(explore.main, [*where, "--out", str(tmp_path / "e"), "--no-serve"], capsys)
    assert status == 0, err
    kinds = [layer["kind"] for layer in json.loads((tmp_path / "e" / "manifest.json").read_text())["layers"]]
    assert kinds[:4] == ["dense", "reshape", "add_code", "residual"] and kinds.count("upsample") == 3
    assert kinds[-2:] == ["activation", "conv"]  # 32 x 32: nothing to crop


@pytest.mark.slow  # a browser
def test_the_explorer_runs_the_resnet_decoder_and_the_mixture_s_mean_as_python_does(colour, resnet_run, tmp_path,
                                                                                     capsys):
    """The page rebuilds cvae_resnet's decoder (residual blocks, the code added at every stage, nearest-neighbour
    up-sampling, SiLU) and the mixture's mean in TensorFlow.js: the images it draws are Python's within 1e-4."""
    from browser import drive
    from test_explore import assert_same_as_python, needs_browser, write
    if needs_browser.args[0]:
        pytest.skip(needs_browser.kwargs["reason"])
    log_dir, data_dir, _ = colour
    site = write(log_dir, tmp_path / "site", "--run", str(resnet_run), "--data-dir", str(data_dir), capsys=capsys)
    assert json.loads((site / "manifest.json").read_text())["likelihood"] == "mixture"
    out = drive(site, [{"read": True}, {"drag": [0.8, 0.3]}, {"read": True}, {"label": 5}, {"read": True}],
                tmp_path)
    assert out["error"] is None and len(out["reads"]) == 3
    assert_same_as_python(out["reads"], RunDir(resnet_run).load().model)


@pytest.mark.slow  # two trainings
def test_training_colour_with_a_likelihood_measured_poor_there_says_so_in_one_line(colour, tmp_path, capsys):
    """docs/colour.md measured the logistic and the mixture to draw colour MNIST's digits near chance from the
    prior, Bernoulli to draw them: train.py says so once when colour data are trained with either, never with
    Bernoulli."""
    _, data_dir, path = colour
    common = ["--dataset", str(path), "-e", "1", "--subset", "100", "--log-dir", str(tmp_path), "--data-dir",
              str(data_dir)]
    for likelihood in ("logistic", "mixture", "bernoulli"):
        status, out, err = run_main(train.main, ["cvae_fc3", "-n", "2", "--likelihood", likelihood, *common], capsys)
        assert status == 0, err
        notes = [line for line in out.splitlines() if line.startswith("note:")]
        if likelihood == "bernoulli":
            assert notes == []
        else:
            assert len(notes) == 1 and "default (Bernoulli" in notes[0] and "docs/colour.md" in notes[0]


@pytest.mark.slow  # a training and every tool
def test_the_colour_model_with_the_vampprior_goes_through_every_tool(colour, tmp_path, capsys):
    """cvae_resnet_vamp, 2 pseudo-inputs a class: its pseudo-inputs are images of the data's 32 x 32 x 3 and
    plot.py draws them, sample.py's and evaluate.py's codes from its prior, an export whose SavedModel draws from the VampPrior inside
    its graph as Python does, and explore.py's page given the prior's components."""
    import tensorflow as tf
    from cvae.exporting import unsafe_operations
    log_dir, data_dir, path = colour
    common = ["--dataset", str(path), "--log-dir", str(log_dir), "--data-dir", str(data_dir)]
    assert train.main(["cvae_resnet_vamp", "-n", "2", "--pseudo-inputs", "20", "-e", "1", *common]) == 0
    found = list(log_dir.glob("cvae_resnet_vamp_2_pseudo20_colour_*"))
    assert len(found) == 1, found
    where = ["--run", str(found[0]), "--data-dir", str(data_dir)]
    network = RunDir(found[0]).load().model
    images, labels = network.prior.pseudo_inputs()
    assert images.shape == (20, 32, 32, 3) and sorted(np.bincount(labels)) == [2] * 10
    status, _, err = run_main(plot.main, [*where, "--figure-dir", str(tmp_path), "-m", "pseudo", "gen_rand"], capsys)
    assert status == 0, err
    assert {p.name for p in (tmp_path / found[0].name).iterdir()} >= {"pseudo_inputs.png", "generated_image_prior.png"}
    result = sample_and_evaluate(found[0], where, log_dir, tmp_path, capsys)
    assert result["options"] == {"pseudo_inputs": 20} and np.isfinite(result["nll"])
    status, _, err = run_main(export.main, [*where, "--out", str(tmp_path / "x")], capsys)
    assert status == 0, err
    assert unsafe_operations((tmp_path / "x" / "saved_model" / "saved_model.pb").read_bytes()) == []
    saved = tf.saved_model.load(str(tmp_path / "x" / "saved_model"))
    labels = tf.constant([7, 1, 3, 3], tf.int32)
    drawn = saved.sample(labels, tf.constant(5))["images"].numpy()
    assert drawn.shape == (4, 32, 32, 3)
    np.testing.assert_allclose(drawn, network.generate(network.prior.draw_in_graph(labels, tf.constant(5)), labels),
                               atol=1e-5)
    status, _, err = run_main(explore.main, [*where, "--out", str(tmp_path / "e"), "--no-serve"], capsys)
    assert status == 0, err
    prior = json.loads((tmp_path / "e" / "manifest.json").read_text())["prior"]
    assert [len(weights) for weights in prior["weights"]] == [2] * 10

"""A new model is one file (README: Adding a model): a class on VAEBase in model/NAME.py, and every tool takes NAME.

The model below is written to a folder of the test's own that joins the model package's folders, as a file
put in model/ does for a user, so that no file of the repository changes. Then every tool runs on it.
"""
import json

import keras
import numpy as np
import pytest

import model
from conftest import run_main, tool

NAME = "tiny_cvae"
MODEL_FILE = '''
import math

import keras
import tensorflow as tf

from model.base import PARAMETERS_DTYPE, VAEBase

layers = keras.layers


class TinyCvae(VAEBase):
    """A conditional VAE with one hidden layer each way, as small as a test wants.

    Encoder: [x, y] -> FC 64 -> (mean, log_var) [n]
    Decoder: [z, y] -> FC 64 -> FC H * W * decoder_channels -> [H, W, decoder_channels], the likelihood's parameters
    """

    def __init__(self, latent_dim, seed=0, **kwargs):
        super().__init__(latent_dim, seed, **kwargs)
        height, width, _ = self.image_shape
        self.encoder_hidden = layers.Dense(64, activation="relu", name="encoder_hidden")
        self.decoder_layers = [
            layers.Dense(64, activation="relu", name="decoder_hidden"),
            layers.Dense(height * width * self.decoder_channels, name="decoder_out", dtype=PARAMETERS_DTYPE),
            layers.Reshape((height, width, self.decoder_channels), name="decoder_image"),
        ]

    def features(self, x, y_onehot, training=False):
        flat = tf.reshape(x, [-1, math.prod(self.image_shape)])
        return self.encoder_hidden(tf.concat([flat, y_onehot], axis=1), training=training)

    def decoder_parameters(self, z, y_onehot, training=False):
        h = tf.concat([z, y_onehot], axis=1)
        for layer in self.decoder_layers:
            h = layer(h, training=training)
        return h
'''


@pytest.fixture(scope="module")
def new_model(tmp_path_factory):
    """model/tiny_cvae.py, as far as the model package can tell (in a folder of the test's own), trained for two
    epochs: (its name, its log directory, the flags that name its run)."""
    folder = tmp_path_factory.mktemp("model_files")
    (folder / f"{NAME}.py").write_text(MODEL_FILE)
    log_dir = tmp_path_factory.mktemp("log")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(model, "__path__", [*model.__path__, str(folder)])
        run = [NAME, "-n", "2", "--subset", "300", "--log-dir", str(log_dir)]
        assert tool("train").main([*run, "-e", "2"]) == 0
        yield NAME, log_dir / f"{NAME}_2_subset300", run
    import sys
    from model import registry
    sys.modules.pop(f"model.{NAME}", None)
    registry._CLASSES.pop(NAME, None)


def test_a_model_in_one_new_file_is_found_by_its_file_name_and_trained(new_model):
    from model.registry import model_class
    name, run_dir, _ = new_model
    assert name in model.names() and model_class(name).__name__ == "TinyCvae"
    from cvae.rundir import RunDir
    rows = RunDir(run_dir).read_metrics()
    assert [row["epoch"] for row in rows] == [1, 2] and rows[1]["train_loss"] < rows[0]["train_loss"]


def test_the_new_model_plots(new_model, tmp_path, capsys):
    """The figures that ask the model for each of its parts: reconstructions (encode, decode, the likelihood's
    mean), samples (the prior's draw) and the manifold (the prior's quantiles). Every figure of a run is the
    slow tier's (test_plot)."""
    name, run_dir, run = new_model
    for kind in ("re", "gen_rand", "manifold"):
        status, out, err = run_main(tool("plot").main, [*run, "-m", kind, "--figure-dir", str(tmp_path)], capsys)
        assert status == 0, err
    drawn = {path.name for path in (tmp_path / run_dir.name).glob("*.png")}
    assert {"reconstruction.png", "generated_image_prior.png", "manifold.png"} <= drawn


def test_the_new_model_evaluates(new_model, capsys):
    name, run_dir, run = new_model
    status, out, err = run_main(tool("evaluate").main, [*run, "-k", "4", "--samples", "20", "--test-images", "100"],
                                capsys)
    assert status == 0, err
    result = json.loads((run_dir / "eval.json").read_text())
    assert result["model"] == name and result["nll"] > 0 and 0 <= result["class_consistency"]["overall"] <= 1
    assert result["likelihood"] == "bernoulli" and result["nll"] <= -result["elbo"] + 1.0  # the bound, within noise


def test_the_new_model_samples(new_model, tmp_path, capsys):
    name, run_dir, run = new_model
    status, out, err = run_main(tool("sample").main, [*run, "--count", "3", "--out", str(tmp_path / "drawn.npz")],
                                capsys)
    assert status == 0, err
    with np.load(tmp_path / "drawn.npz") as drawn:
        assert drawn["images"].shape == (30, 28, 28, 1) and drawn["images"].dtype == np.uint8


def test_the_new_model_exports_and_loads_back_with_the_same_decoder(new_model, tmp_path, capsys):
    from cvae.runs import open_run
    name, run_dir, run = new_model
    status, out, err = run_main(tool("export").main, [*run, "--out", str(tmp_path / "export")], capsys)
    assert status == 0, err
    loaded = keras.saving.load_model(tmp_path / "export" / "model.keras")
    original = open_run(run_dir).model
    z, labels = np.array([[0.3, -1.2], [1.0, 0.5]], np.float32), np.array([4, 9], np.int32)
    assert type(loaded).__name__ == "TinyCvae"
    np.testing.assert_array_equal(np.asarray(loaded.generate(z, labels)), np.asarray(original.generate(z, labels)))


def test_the_new_model_is_drawn_by_the_explorer(new_model, tmp_path, capsys):
    from cvae.explorer import TFJS
    if not TFJS.exists():
        pytest.skip("TensorFlow.js is not installed (npm ci): explore.py cannot write the page")
    name, run_dir, run = new_model
    status, out, err = run_main(tool("explore").main, [*run, "--no-serve", "--out", str(tmp_path / "site")], capsys)
    assert status == 0, err
    manifest = json.loads((tmp_path / "site" / "manifest.json").read_text())
    assert manifest["model"] == name and [layer["kind"] for layer in manifest["layers"]] == ["dense", "dense",
                                                                                              "reshape"]


def test_a_model_file_without_one_model_class_is_refused_by_name(tmp_path, monkeypatch):
    folder = tmp_path / "model_files"
    folder.mkdir()
    (folder / "empty_model.py").write_text("x = 1\n")
    monkeypatch.setattr(model, "__path__", [*model.__path__, str(folder)])
    from model.registry import model_class
    with pytest.raises(TypeError, match=r"model/empty_model.py must define one class .* defines 0: none"):
        model_class("empty_model")
    with pytest.raises(KeyError, match="no model called 'nothing_here'"):
        model_class("nothing_here")

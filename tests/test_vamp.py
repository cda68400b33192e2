"""model/vamp.py and model.priors.VampPrior: the learned prior, against a hand computation in numpy, its draws, and
its pseudo-inputs trained and saved with the model."""
import matplotlib.image
import numpy as np
import pytest
import tensorflow as tf
from scipy.special import logsumexp

from model.registry import build_model


def batch(count=6, seed=0, shape=(28, 28, 1), classes=10):
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.random((count, *shape)) > 0.6, tf.float32)
    return x, tf.constant(rng.integers(0, classes, count), tf.int32)


def components(network):
    """(mean, log_var) [K, n] float64 of q(z | u_k, y_k), from the network's own encoder."""
    return (a.numpy().astype(np.float64) for a in network.encode(network.pseudo_input_images(),
                                                                  tf.constant(network.prior.labels)))


def by_hand(network, z, labels):
    """log p(z | y) [B] in float64: the log of the mean over y's pseudo-inputs (all of them, unconditional) of the
    diagonal Gaussian densities, written out as the paper does, with none of the prior's code."""
    mean, log_var = components(network)
    per_component = -0.5 * (np.log(2 * np.pi) + log_var[None] + (z[:, None] - mean[None]) ** 2 / np.exp(log_var[None])
                            ).sum(axis=2)  # [B, K]
    if not network.conditional:
        return logsumexp(per_component, axis=1) - np.log(len(mean))
    mine = network.prior.labels[None] == np.asarray(labels)[:, None]
    return logsumexp(np.where(mine, per_component, -np.inf), axis=1) - np.log(mine.sum(axis=1))


# cvae_fc3_vamp with 3 classes of 8 x 8 images: 500 pseudo-inputs split 167, 167, 166, so unequal counts are tried.
# cvae_resnet_vamp's pseudo-inputs are colour images, 7 split 3, 2, 2.
MODELS = [("vamp", {}), ("cvae_fc3_vamp", {}), ("cvae_fc3_vamp", {"classes": 3, "image_shape": (8, 8, 1)}),
          ("cvae_resnet_vamp", {"classes": 3, "image_shape": (16, 16, 3), "options": {"pseudo_inputs": 7}})]
IDS = ["vamp", "cvae_fc3_vamp", "cvae_fc3_vamp_3_classes", "cvae_resnet_vamp_colour"]


@pytest.mark.parametrize("name, options", MODELS, ids=IDS)
def test_the_prior_density_is_the_hand_computed_mixture(name, options):
    network = build_model(name, 3, seed=1, **options)
    labels = np.array([0, 1, 2, 2, 1, 0])
    z = np.random.default_rng(2).normal(scale=1.5, size=(6, 3))
    expected = by_hand(network, z, labels)
    got = network.prior.log_density(tf.constant(z, tf.float32), tf.constant(labels)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    # Codes [B, k, n] (the importance weights' k codes an image): each row under its image's label.
    codes = np.random.default_rng(3).normal(size=(6, 4, 3))
    got = network.prior.log_density(tf.constant(codes, tf.float32), tf.constant(labels)).numpy()
    np.testing.assert_allclose(got, np.stack([by_hand(network, codes[:, i], labels) for i in range(4)], axis=1),
                               rtol=1e-5)


@pytest.mark.parametrize("name", ["vamp", "cvae_fc3_vamp"])
def test_the_kl_is_estimated_at_the_decoded_code(name, monkeypatch):
    """The ELBO's KL term: log q(z | x, y) - log p(z | y) at the one code z the reconstruction decodes."""
    network = build_model(name, 3, seed=1)
    x, y = batch()
    noise = np.random.default_rng(4).standard_normal((6, 3))
    monkeypatch.setattr(type(network), "training_noise", lambda self, shape: tf.constant(noise, tf.float32))
    losses = network.compute_losses(x, y)
    mean, log_var = (a.numpy().astype(np.float64) for a in network.encode(x, y))
    z = mean + np.exp(0.5 * log_var) * noise
    log_q = (-0.5 * (np.log(2 * np.pi) + log_var + noise ** 2)).sum(axis=1)
    assert losses["kl"].numpy() == pytest.approx(np.mean(log_q - by_hand(network, z, y.numpy())), rel=1e-5)
    reconstruction = network.likelihood.nll(x, network.decode(tf.constant(z, tf.float32), y)).numpy()
    assert losses["loss"].numpy() == pytest.approx(np.mean(reconstruction + log_q - by_hand(network, z, y.numpy())),
                                                   rel=1e-5)


@pytest.mark.parametrize("name, options", MODELS, ids=IDS)
def test_every_draw_comes_from_one_of_its_labels_components_and_each_can_be_drawn(name, options):
    """In numpy (sample.py, the figures) and in the graph (the exported SavedModel): a code's component belongs to
    its label, and over many draws every one of the label's components comes up."""
    network = build_model(name, 3, seed=1, **options)
    prior = network.prior
    labels = np.repeat(np.arange(network.classes), 4000)
    for chosen in (prior.choose(labels, np.random.default_rng(0)),
                   prior.choose_in_graph(tf.constant(labels), tf.constant(5)).numpy()):
        if network.conditional:
            assert (prior.labels[chosen] == labels).all()
        assert len(np.unique(chosen)) == prior.count  # every component, each label's own
    # A draw is its component's mean spread by std times its sigma: with std = 0, the mean.
    mean, _ = components(network)
    rng = np.random.default_rng(6)
    chosen = prior.choose(labels[:10], np.random.default_rng(6))
    np.testing.assert_allclose(prior.draw(labels[:10], rng, std=0.0), mean[chosen], rtol=1e-6, atol=1e-6)
    # The graph's draw: the same seed, the same codes.
    drawn = [prior.draw_in_graph(tf.constant(labels[:10]), tf.constant(3)).numpy() for _ in range(2)]
    np.testing.assert_array_equal(*drawn)


def test_the_pseudo_inputs_learn_and_are_saved_with_the_model(tmp_path):
    from cvae.checkpoints import make_checkpoint
    network = build_model("cvae_fc3_vamp", 3, seed=1)
    assert network.pseudo_input_images().shape == (500, 28, 28, 1)
    assert "pseudo_inputs" in " ".join(network.variable_names())
    before = network.pseudo_input_layer.weights_before_sigmoid.numpy().copy()
    x, y = batch(32)
    with tf.GradientTape() as tape:
        loss = network.compute_losses(x, y, training=True)["loss"]
    gradient = tape.gradient(loss, network.pseudo_input_layer.weights_before_sigmoid)
    assert gradient is not None and np.abs(gradient.numpy()).max() > 0  # the prior's KL reaches them
    network.pseudo_input_layer.weights_before_sigmoid.assign_add(0.1 * tf.sign(gradient))
    assert not np.array_equal(network.pseudo_input_layer.weights_before_sigmoid.numpy(), before)
    path = make_checkpoint(network).write(str(tmp_path / "ckpt"))
    reloaded = build_model("cvae_fc3_vamp", 3, seed=2)
    make_checkpoint(reloaded).read(path).assert_consumed()
    np.testing.assert_array_equal(reloaded.pseudo_input_images(), network.pseudo_input_images())
    labels = np.arange(10)
    np.testing.assert_array_equal(reloaded.prior.draw(labels, np.random.default_rng(0)),
                                  network.prior.draw(labels, np.random.default_rng(0)))


def test_the_explorer_page_gets_the_prior_it_draws_from():
    """explore.py writes a learned prior's components into the manifest (web/explorer.js draws from them); N(0, I)
    it leaves to the page."""
    from cvae.config import RunIdentity
    from cvae.explorer import site_files
    network = build_model("cvae_fc3_vamp", 3, seed=1)
    manifest, _ = site_files(network, RunIdentity("cvae_fc3_vamp", 3), 1, "cvae_fc3_vamp_3")
    prior = manifest["prior"]
    assert [len(w) for w in prior["weights"]] == [50] * 10 and np.allclose([sum(w) for w in prior["weights"]], 1)
    mean, log_var = components(network)
    np.testing.assert_allclose(prior["means"][3], mean[3::10], atol=1e-5)
    np.testing.assert_allclose(prior["stds"][3], np.exp(0.5 * log_var[3::10]), atol=1e-5)
    plain, _ = site_files(build_model("cvae_fc3", 3), RunIdentity("cvae_fc3", 3), 1, "cvae_fc3_3")
    assert "prior" not in plain


@pytest.mark.slow  # trains an epoch, then exports
def test_the_exported_saved_model_samples_from_the_vampprior(tmp_path):
    """The SavedModel's `sample` draws z from the prior inside its graph (its pseudo-inputs saved in it), with only
    the operations an export may hold; the same seed gives the images the prior's draw_in_graph decodes to."""
    from conftest import tool
    from cvae.exporting import unsafe_operations
    from cvae.runs import open_run
    args = ["cvae_fc3_vamp", "-n", "2", "--subset", "300", "--log-dir", str(tmp_path / "log")]
    assert tool("train").main([*args, "-e", "1"]) == 0
    out = tmp_path / "export"
    assert tool("export").main([*args, "--out", str(out)]) == 0
    assert unsafe_operations((out / "saved_model" / "saved_model.pb").read_bytes()) == []
    assert tool("export").main(["--check", str(out)]) == 0
    loaded = tf.saved_model.load(str(out / "saved_model"))
    labels = tf.constant([7, 1, 3, 3], tf.int32)
    images = loaded.sample(labels, tf.constant(5))["images"].numpy()
    network = open_run(tmp_path / "log" / "cvae_fc3_vamp_2_subset300").model
    expected = network.generate(network.prior.draw_in_graph(labels, tf.constant(5)), labels).numpy()
    np.testing.assert_allclose(images, expected, atol=1e-6)
    assert not np.allclose(images[2], images[3])  # two draws for one label: two codes
    # plot.py -m pseudo: the pseudo-inputs, a row per class
    assert tool("plot").main([*args, "-m", "pseudo", "--figure-dir", str(tmp_path / "fig")]) == 0
    figure = matplotlib.image.imread(tmp_path / "fig" / "cvae_fc3_vamp_2_subset300" / "pseudo_inputs.png")
    assert figure.shape[0] > 500 and figure.shape[1] > 500


def test_pseudo_inputs_given_as_an_option_split_over_the_classes_and_survive_the_models_config():
    """--pseudo-inputs 20 on cvae_fc3_vamp: 20 pseudo-inputs, 2 a class, each class's draws from its own two;
    Keras' from_config (what a .keras export is rebuilt by) makes the same model."""
    network = build_model("cvae_fc3_vamp", 3, seed=1, options={"pseudo_inputs": 20})
    assert network.pseudo_input_images().shape == (20, 28, 28, 1)
    assert sorted(np.bincount(network.prior.labels)) == [2] * 10
    rebuilt = type(network).from_config(network.get_config())
    assert rebuilt.pseudo_inputs == 20 and rebuilt.build_weights().pseudo_input_images().shape == (20, 28, 28, 1)
    with pytest.raises(ValueError, match="takes no --iw-samples"):
        build_model("cvae_fc3_vamp", 3, options={"iw_samples": 2})

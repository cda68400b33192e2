"""Every model at every image size it says it takes (its image_sizes(); a few sizes for a model that takes any),
gray and colour: it builds, one training step runs, and it decodes (or classifies) images of that shape."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from model import LIKELIHOODS, names
from model.registry import build_model, model_class

ANY_SIZE = (16, 28, 33)  # for a model whose image_sizes() is None


def sizes_of(name):
    return model_class(name).image_sizes() or ANY_SIZE


def one_step(network, images, labels):
    """One Adam step on (images, labels); the loss before it."""
    optimizer = keras.optimizers.Adam(1e-3)
    with tf.GradientTape() as tape:
        loss = network.compute_losses(images, labels, training=True)["loss"]
    optimizer.apply_gradients(zip(tape.gradient(loss, network.trainable_variables), network.trainable_variables))
    return float(loss)


def check_model_at(name, size, channels, likelihood=None):
    rng = np.random.default_rng(size)
    images = tf.constant(rng.integers(0, 256, (2, size, size, channels)) / 255, tf.float32)
    labels = tf.constant([0, 2], tf.int32)
    kind = model_class(name)
    # One pseudo-input a class: the VampPrior's default 500 would encode 500 images of every size at every step.
    options = {"pseudo_inputs": 3} if "pseudo_inputs" in kind.options() else None
    network = build_model(name, 2 if kind.has_latent_space else None, classes=3, image_shape=(size, size, channels),
                          likelihood=likelihood if kind.has_latent_space else None, options=options)
    assert np.isfinite(one_step(network, images, labels)), f"{name} at {size} x {size} x {channels}"
    if kind.has_latent_space:
        drawn = network.generate(tf.zeros([2, 2]), labels)
        assert drawn.shape == (2, size, size, channels)
        assert network.reconstruct(images, labels).shape == (2, size, size, channels)
    if kind.classifies:
        assert network.classify(images).shape == (2, 3)


# Each model's sizes in one test (a parametrization of every size would be 200 tests of the same thing); the
# slow tier: about a minute for all.
@pytest.mark.slow
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", names())
def test_every_model_trains_a_step_and_decodes_at_every_size_it_takes(name, channels):
    for size in sizes_of(name):
        check_model_at(name, size, channels)


@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
@pytest.mark.parametrize("likelihood", list(LIKELIHOODS))
def test_the_colour_model_takes_each_likelihood_at_a_size_off_its_grid(likelihood):
    """28 x 28 (padded to 32 inside, cropped back) and 24 x 24 x 3, with every likelihood."""
    check_model_at("cvae_resnet", 28, 1, likelihood)
    check_model_at("cvae_resnet", 24, 3, likelihood)


@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_cvae_cnn3s_sizes_that_used_to_crash_now_build():
    """8, 20, 24, ... gave an odd size to the stride-2 patch convolution, which now pads as SAME does."""
    for size in (8, 20, 24, 128):
        check_model_at("cvae_cnn3", size, 3)

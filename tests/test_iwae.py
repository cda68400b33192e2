"""model/iwae.py: the importance-weighted bound, against a hand computation in numpy and against the ELBO."""
import numpy as np
import pytest
import tensorflow as tf
from scipy.special import logsumexp

from model.registry import build_model


def batch(count=4, seed=0):
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.random((count, 28, 28, 1)) > 0.6, tf.float32)
    return x, tf.constant(rng.integers(0, 10, count), tf.int32)


def with_noise(monkeypatch, network, noise):
    """The network's training noise replaced by `noise` [B, k, n]."""
    monkeypatch.setattr(type(network), "training_noise", lambda self, shape: tf.constant(noise, tf.float32))


def by_hand(network, x, y, noise):
    """-L_k per image, in float64 numpy from the network's encoder and decoder outputs: the bound as Burda et al.
    write it, with nothing of the model's loss code."""
    mean, log_var = (a.numpy().astype(np.float64) for a in network.encode(x, y))
    z = mean[:, None] + np.exp(0.5 * log_var)[:, None] * noise  # [B, k, n]
    batch_size, k, n = z.shape
    logits = network.decode(tf.constant(z.reshape(-1, n), tf.float32), tf.repeat(y, k)).numpy().astype(np.float64)
    logits = logits.reshape(batch_size, k, -1)
    pixels = x.numpy().reshape(batch_size, 1, -1)
    log_px = (pixels * -np.logaddexp(0, -logits) + (1 - pixels) * -np.logaddexp(0, logits)).sum(axis=2)
    log_pz = (-0.5 * z ** 2 - 0.5 * np.log(2 * np.pi)).sum(axis=2)
    log_qz = (-0.5 * noise ** 2 - 0.5 * log_var[:, None] - 0.5 * np.log(2 * np.pi)).sum(axis=2)
    return -(logsumexp(log_px + log_pz - log_qz, axis=1) - np.log(k))


@pytest.mark.parametrize("name", ["iwae", "cvae_fc3_iwae"])
@pytest.mark.parametrize("k", [1, 5])
def test_the_bound_is_the_hand_computed_one(name, k, monkeypatch):
    network = build_model(name, 3, seed=1, options={"iw_samples": k})
    assert network.iw_samples == k and network.get_config()["iw_samples"] == k
    x, y = batch()
    noise = np.random.default_rng(2).standard_normal((4, k, 3))
    with_noise(monkeypatch, network, noise)
    loss = network.compute_losses(x, y)["loss"].numpy()
    assert loss == pytest.approx(by_hand(network, x, y, noise).mean(), rel=1e-5)


def test_with_one_sample_the_bound_is_the_elbo_at_that_code(monkeypatch):
    """k = 1: -L_1 = -log p(x | z, y) + log q(z | x, y) - log p(z) at the one code, with the reconstruction term
    from the likelihood's own NLL (another code path than the bound's): equal to float rounding."""
    network = build_model("cvae_fc3_iwae", 3, seed=1, options={"iw_samples": 1})
    x, y = batch()
    noise = np.random.default_rng(3).standard_normal((4, 1, 3)).astype(np.float32)
    with_noise(monkeypatch, network, noise)
    losses = network.compute_losses(x, y)
    mean, log_var = network.encode(x, y)
    z = mean + tf.exp(0.5 * log_var) * tf.constant(noise[:, 0], tf.float32)
    reconstruction = network.likelihood.nll(x, network.decode(z, y))
    log_q_minus_log_p = tf.reduce_sum(-0.5 * noise[:, 0] ** 2 - 0.5 * log_var + 0.5 * z ** 2, axis=1)
    assert losses["loss"].numpy() == pytest.approx(tf.reduce_mean(reconstruction + log_q_minus_log_p).numpy(),
                                                   rel=1e-6)
    assert losses["reconstruction"].numpy() == pytest.approx(tf.reduce_mean(reconstruction).numpy(), rel=1e-6)


@pytest.mark.slow  # 20 passes over 400 images: over a second
def test_in_expectation_one_sample_gives_the_elbo_and_more_samples_a_tighter_bound():
    """Averaged over many draws of the models' own noise (8 images, each 50 times a batch, 10 batches): L_1 is the
    ELBO (the vae's loss: one code, the KL in closed form) to within their standard errors, and L_5 is larger
    (Burda et al.'s Theorem 1), on the same weights."""
    vae = build_model("vae", 3, seed=4)
    network = build_model("iwae", 3, seed=4)
    network.set_weights(vae.get_weights())
    x, y = (tf.repeat(a, 50, axis=0) for a in batch(8, seed=5))

    def bound(of):
        means = np.array([-of.compute_losses(x, y)["loss"].numpy() for _ in range(10)])
        return means.mean(), means.std(ddof=1) / np.sqrt(len(means))

    network.iw_samples = 1
    (elbo, elbo_error), (one, one_error) = bound(vae), bound(network)
    network.iw_samples = 5
    five, five_error = bound(network)
    assert abs(one - elbo) < 4 * np.hypot(elbo_error, one_error)
    assert five > one + 4 * np.hypot(one_error, five_error)


def test_the_conditional_one_is_cvae_fc3_with_the_bound():
    network, plain = build_model("cvae_fc3_iwae", 3), build_model("cvae_fc3", 3)
    assert network.conditional and not build_model("iwae", 3).conditional
    assert [v.shape for v in network.trainable_variables] == [v.shape for v in plain.trainable_variables]
    assert not network.weighs_kl and network.iw_samples == 5

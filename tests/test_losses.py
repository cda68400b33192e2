import numpy as np
import pytest
import tensorflow as tf

from model.losses import bernoulli_nll, gaussian_kl, softmax_cross_entropy


def test_bernoulli_nll_matches_a_hand_computation():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(3, 28, 28, 1))
    logits = rng.normal(scale=3, size=(3, 28, 28, 1))
    p = 1 / (1 + np.exp(-logits))
    expected = -(x * np.log(p) + (1 - x) * np.log(1 - p)).reshape(3, -1).sum(axis=1)
    np.testing.assert_allclose(bernoulli_nll(tf.constant(x), tf.constant(logits)).numpy(), expected, rtol=1e-10)


def test_bernoulli_nll_stays_finite_for_saturated_logits():
    x = tf.constant([[0.0, 1.0]])
    value = bernoulli_nll(x, tf.constant([[100.0, -100.0]])).numpy()
    np.testing.assert_allclose(value, [200.0], rtol=1e-6)


def test_gaussian_kl_matches_a_hand_computation_with_negative_log_variance():
    mean = np.array([[0.5, -1.0], [0.0, 0.0], [0.0, 0.0]])
    # The seed clipped log_var at 0: a negative log-variance must count, and the prior itself costs nothing.
    log_var = np.array([[-2.0, 0.3], [0.0, 0.0], [-1.0, -1.0]])
    var = np.exp(log_var)
    expected = (0.5 * (var + mean ** 2 - 1 - log_var)).sum(axis=1)
    kl = gaussian_kl(tf.constant(mean), tf.constant(log_var)).numpy()
    np.testing.assert_allclose(kl, expected, rtol=1e-12)
    assert kl[1] == 0.0 and kl[0] > 0
    # Clipping log_var at 0 would give 0.5 * (1 - 1 - 0) * 2 = 0 for the third row; its KL is e^-1 + 1 - 1 = 0.37.
    assert kl[2] == pytest.approx(np.exp(-1.0), rel=1e-12)


def test_softmax_cross_entropy_matches_a_hand_computation():
    logits = np.array([[2.0, 0.5, -1.0], [0.0, 0.0, 0.0]])
    labels = np.array([0, 2])
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -log_p[np.arange(2), labels]
    np.testing.assert_allclose(softmax_cross_entropy(tf.constant(labels), tf.constant(logits)).numpy(), expected)

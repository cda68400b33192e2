import numpy as np
import pytest
import tensorflow as tf

from model.losses import (bernoulli_nll, discretized_logistic_log_prob, discretized_logistic_mean,
                          discretized_logistic_nll, gaussian_kl, softmax_cross_entropy)


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


# The discretized logistic (--likelihood logistic): a distribution over the 256 levels of a sub-pixel.

def all_levels_log_probs(location, log_scale):
    """[256, ...]: log P(k / 255) for every level k, at each location and log-scale (arrays of one shape)."""
    levels = np.arange(256, dtype=np.float32)[:, None] / 255.0
    return discretized_logistic_log_prob(tf.constant(levels), tf.constant(location[None]),
                                         tf.constant(log_scale[None])).numpy()


def test_the_discretized_logistic_sums_to_one_over_the_256_levels():
    rng = np.random.default_rng(0)
    location = rng.uniform(-0.3, 1.3, 200).astype(np.float32)
    log_scale = rng.uniform(-9, 1, 200).astype(np.float32)  # below MIN_LOG_SCALE too: it is floored
    total = np.exp(all_levels_log_probs(location, log_scale).astype(np.float64)).sum(axis=0)
    np.testing.assert_allclose(total, 1.0, atol=2e-3)


def test_a_narrow_logistic_puts_its_mass_on_the_nearest_level_and_its_mean_is_exact():
    log_probs = all_levels_log_probs(np.array([100 / 255, 0.0, 1.0], np.float32), np.full(3, -8.0, np.float32))
    assert np.argmax(log_probs, axis=0).tolist() == [100, 0, 255] and np.exp(log_probs.max(axis=0)).min() > 0.99
    rng = np.random.default_rng(1)
    location = rng.uniform(-0.2, 1.2, 50).astype(np.float32)
    log_scale = rng.uniform(-6, 0, 50).astype(np.float32)
    probs = np.exp(all_levels_log_probs(location, log_scale).astype(np.float64))
    exact = (np.arange(256)[:, None] / 255.0 * probs).sum(axis=0) / probs.sum(axis=0)
    mean = discretized_logistic_mean(tf.constant(location), tf.constant(log_scale)).numpy()
    np.testing.assert_allclose(mean, exact, atol=2e-3)


def test_the_logistic_nll_sums_the_sub_pixels_of_each_image():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, (3, 4, 4, 3)).astype(np.float32) / 255.0
    location, log_scale = rng.uniform(0, 1, x.shape).astype(np.float32), rng.uniform(-4, -1, x.shape).astype(np.float32)
    nll = discretized_logistic_nll(tf.constant(x), tf.constant(location), tf.constant(log_scale)).numpy()
    # By hand, in float64 from scipy's logistic: each level's bin of width 1/255, the end bins taking the tails.
    from scipy.stats import logistic
    scale, half = np.exp(log_scale.astype(np.float64)), 0.5 / 255
    upper = np.where(x > 1 - half, 1.0, logistic.cdf(x + half, location, scale))
    lower = np.where(x < half, 0.0, logistic.cdf(x - half, location, scale))
    np.testing.assert_allclose(nll, -np.log(upper - lower).reshape(3, -1).sum(axis=1), rtol=1e-4)
    # Centred on the data and as narrow as it may be: under 0.01 nats a sub-pixel.
    sure = discretized_logistic_nll(tf.constant(x), tf.constant(x), tf.fill(x.shape, -8.0)).numpy()
    assert np.all(sure / 48 < 0.01) and np.all(nll > sure)


def test_bits_per_dimension_are_nats_over_dimensions_and_ln_2_for_discrete_likelihoods_only():
    from model.likelihoods import Bernoulli, DiscretizedLogistic
    assert DiscretizedLogistic((32, 32, 3)).bits_per_dimension(3072 * np.log(2) * 3.5, False) == pytest.approx(3.5)
    assert Bernoulli((28, 28, 1)).bits_per_dimension(784 * np.log(2) * 0.1, True) == pytest.approx(0.1)
    assert Bernoulli((28, 28, 1)).bits_per_dimension(80.0, False) is None  # Bernoulli of gray levels


@pytest.mark.parametrize("kind", ["bernoulli", "logistic"])
def test_a_likelihoods_draws_average_to_its_mean(kind):
    """Likelihood.sample draws from the distribution whose mean the figures show: 4,000 draws of each of 12
    sub-pixels average to mean() within 5 standard errors, and every draw is a level in [0, 1]."""
    from model.likelihoods import LIKELIHOODS
    likelihood = LIKELIHOODS[kind]((2, 2, 3))
    rng = np.random.default_rng(4)
    parameters = tf.constant(rng.normal(0.0, 1.0, (1, 2, 2, likelihood.decoder_channels)), tf.float32)
    if kind == "logistic":  # locations in [0, 1], log-scales small enough to matter
        parameters = tf.concat([tf.sigmoid(parameters[..., :3]), parameters[..., 3:] - 3.0], axis=-1)
    draws = likelihood.sample(tf.tile(parameters, [4000, 1, 1, 1]), tf.constant([4, 1])).numpy()  # 4,000 rows
    assert draws.min() >= 0 and draws.max() <= 1 and np.allclose(draws * 255, np.round(draws * 255), atol=1e-3)
    mean = likelihood.mean(parameters).numpy()[0]
    standard_error = draws.std(axis=0) / np.sqrt(len(draws)) + 1e-6
    assert np.all(np.abs(draws.mean(axis=0) - mean) < 5 * standard_error)


def mixture_parameters(likelihood, pixels, seed):
    """[1, pixels, 1, decoder_channels] of random mixture parameters: weight logits N(0, 1), locations in [-0.1,
    1.1], log-scales in [-6, -1], raw coupling coefficients N(0, 1)."""
    from model.likelihoods import LogisticMixture
    assert isinstance(likelihood, LogisticMixture)
    rng = np.random.default_rng(seed)
    k, channels = likelihood.components, likelihood.image_shape[2]
    parts = [rng.normal(0, 1, (pixels, k)), rng.uniform(-0.1, 1.1, (pixels, channels * k)),
             rng.uniform(-6, -1, (pixels, channels * k)), rng.normal(0, 1, (pixels, channels * (channels - 1) // 2 * k))]
    return tf.constant(np.concatenate(parts, axis=1)[None, :, None], tf.float32)


def test_the_mixtures_probabilities_sum_to_one_over_every_level_of_a_pixel():
    """Gray: the 256 levels of each of 20 pixels; two channels, coupled: the 256 x 256 pairs of each of 3 pixels."""
    from model.likelihoods import LogisticMixture
    gray = LogisticMixture((20, 1, 1))
    parameters = mixture_parameters(gray, 20, 5)
    levels = tf.constant(np.arange(256, dtype=np.float32)[:, None, None, None] / 255)
    log_probs = gray.log_prob_pixels(tf.broadcast_to(levels, [256, 20, 1, 1]), parameters)
    np.testing.assert_allclose(np.exp(log_probs.numpy().astype(np.float64)).sum(axis=0), 1.0, atol=2e-3)
    pair = LogisticMixture((3, 1, 2))
    parameters = mixture_parameters(pair, 3, 6)
    grid = np.stack(np.meshgrid(np.arange(256), np.arange(256), indexing="ij"), axis=-1).reshape(-1, 1, 1, 2) / 255
    log_probs = pair.log_prob_pixels(tf.constant(np.broadcast_to(grid, (65536, 3, 1, 2)), tf.float32), parameters)
    np.testing.assert_allclose(np.exp(log_probs.numpy().astype(np.float64)).sum(axis=0), 1.0, atol=2e-3)


def test_the_mixtures_mean_is_the_sum_of_each_level_times_its_probability():
    """Exact for gray and a pixel's first channel; the later channel's, which uses the earlier channel's mean for
    its value, within 0.02 of the exact marginal mean (of 256 x 256 pairs) for these random parameters."""
    from model.likelihoods import LogisticMixture
    pair = LogisticMixture((3, 1, 2))
    parameters = mixture_parameters(pair, 3, 7)
    grid = np.stack(np.meshgrid(np.arange(256), np.arange(256), indexing="ij"), axis=-1).reshape(-1, 1, 1, 2) / 255
    probs = np.exp(pair.log_prob_pixels(tf.constant(np.broadcast_to(grid, (65536, 3, 1, 2)), tf.float32),
                                        parameters).numpy().astype(np.float64))  # [65536, 3, 1]
    exact = np.einsum("np,nc->pc", probs[..., 0], grid[:, 0, 0]) / probs.sum(axis=0)
    mean = pair.mean(parameters).numpy()[0, :, 0]
    np.testing.assert_allclose(mean[:, 0], exact[:, 0], atol=2e-3)
    np.testing.assert_allclose(mean[:, 1], exact[:, 1], atol=0.02)
    gray = LogisticMixture((20, 1, 1))
    parameters = mixture_parameters(gray, 20, 8)
    levels = np.arange(256, dtype=np.float32)[:, None, None, None] / 255
    probs = np.exp(gray.log_prob_pixels(tf.constant(np.broadcast_to(levels, [256, 20, 1, 1])), parameters).numpy())
    np.testing.assert_allclose(gray.mean(parameters).numpy()[0, :, 0, 0], (levels[:, :, 0, 0] * probs[..., 0]).sum(0),
                               atol=2e-3)


def test_a_mixture_of_one_uncoupled_component_is_the_single_logistic():
    from model.likelihoods import DiscretizedLogistic, LogisticMixture
    one, single = LogisticMixture((4, 4, 3), mixture_components=1), DiscretizedLogistic((4, 4, 3))
    rng = np.random.default_rng(9)
    x = tf.constant(rng.integers(0, 256, (2, 4, 4, 3)) / 255, tf.float32)
    location, log_scale = rng.uniform(0, 1, (2, 4, 4, 3)), rng.uniform(-5, -1, (2, 4, 4, 3))
    logit_and_coupling = [rng.normal(0, 1, (2, 4, 4, 1)), np.zeros((2, 4, 4, 3))]  # tanh(0): no coupling
    mixture = tf.constant(np.concatenate([logit_and_coupling[0], location, log_scale, logit_and_coupling[1]], -1),
                          tf.float32)
    logistic = tf.constant(np.concatenate([location, log_scale], -1), tf.float32)
    np.testing.assert_allclose(one.nll(x, mixture).numpy(), single.nll(x, logistic).numpy(), rtol=1e-4)
    np.testing.assert_allclose(one.mean(mixture).numpy(), single.mean(logistic).numpy(), atol=1e-4)  # windowed sum
    np.testing.assert_allclose(one.log_prob_samples(x[:1], mixture).numpy(),
                               single.log_prob_samples(x[:1], logistic).numpy(), rtol=1e-4)


def test_the_mixtures_draws_average_to_its_mean_where_it_is_exact():
    """4,000 draws of a gray mixture's pixels average to mean() within 5 standard errors, each draw a level."""
    from model.likelihoods import LogisticMixture
    gray = LogisticMixture((6, 1, 1))
    parameters = tf.reshape(mixture_parameters(gray, 6, 10), [1, 6, 1, -1])
    draws = gray.sample(tf.tile(parameters, [4000, 1, 1, 1]), tf.constant([4, 2])).numpy()
    assert draws.min() >= 0 and draws.max() <= 1 and np.allclose(draws * 255, np.round(draws * 255), atol=1e-3)
    standard_error = draws.std(axis=0) / np.sqrt(len(draws)) + 1e-6
    assert np.all(np.abs(draws.mean(axis=0) - gray.mean(parameters).numpy()[0]) < 5 * standard_error)


def test_the_mixtures_initial_bias_starts_its_log_scales_narrower_and_the_rest_at_zero():
    from model.likelihoods import INITIAL_LOG_SCALE, LogisticMixture
    mixture = LogisticMixture((2, 2, 3))
    logits, locations, log_scales, coefficients = mixture.split(tf.constant([mixture.initial_bias()]))
    assert np.all(np.stack(log_scales) == INITIAL_LOG_SCALE) and not np.any(logits) and not np.any(np.stack(locations))
    assert np.all(np.stack(coefficients) == 0.0)  # tanh(0)


def test_the_windowed_mean_is_the_exact_sum_to_a_thirtieth_of_a_level():
    from model.losses import discretized_logistic_mean_windowed
    rng = np.random.default_rng(11)
    location = tf.constant(rng.uniform(-0.3, 1.3, 20000), tf.float32)
    log_scale = tf.constant(rng.uniform(-9, 2, 20000), tf.float32)  # narrower than a bin to wider than [0, 1]
    np.testing.assert_allclose(discretized_logistic_mean_windowed(location, log_scale).numpy(),
                               discretized_logistic_mean(location, log_scale).numpy(), atol=1e-4)


def test_the_mixtures_mean_stays_finite_for_the_log_scales_a_decoder_gives_far_from_the_data():
    """Codes from the prior gave cvae_resnet's decoder log-scales up to 97, where exp() overflows float32: the
    mean (and a draw) clip the log-scale as the log-probability does, so they stay finite and in [0, 1]."""
    import tensorflow as tf
    from model.likelihoods import LogisticMixture
    likelihood = LogisticMixture((1, 1, 3))
    parameters = np.zeros((2, 1, 1, likelihood.decoder_channels), np.float32)
    parameters[..., 40:70] = [[[[97.0]]], [[[-30.0]]]]  # the log-scales (after 10 weights and 30 locations)
    mean = likelihood.mean(tf.constant(parameters)).numpy()
    assert np.all(np.isfinite(mean)) and np.all((mean >= 0) & (mean <= 1))
    drawn = likelihood.sample(tf.constant(parameters), tf.constant([1, 2], tf.int32)).numpy()
    assert np.all(np.isfinite(drawn))

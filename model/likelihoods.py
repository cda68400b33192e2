"""p(x | z, y) of a VAE, one class each: what a decoder's output means.

A likelihood turns the decoder's parameters [B, H, W, C * channels_per_subpixel] into everything the tools ask
of it: the NLL of images, the log-probabilities of k decodings of each image at once (the importance-sampled
NLL), the image it shows (its mean) and a draw. The model holds one (`model.likelihood`); nothing outside
model/ knows which. A new likelihood is a class here with a LikelihoodSpec in model/__init__.py.

Images x [B, H, W, C] float32 in [0, 1]; results in nats.
"""
import math

import tensorflow as tf

from model import LIKELIHOODS as SPECS
from model.losses import (bernoulli_log_likelihood, bernoulli_nll, discretized_logistic_log_prob,
                          discretized_logistic_mean, discretized_logistic_nll, MIN_LOG_SCALE)


class Likelihood:
    """p(x | z, y), independent over the sub-pixels of images of `image_shape` (H, W, C)."""

    spec = None  # its model.LikelihoodSpec: name, help, over_levels, shown_as
    channels_per_subpixel = 1  # the decoder's numbers for each of the C channels of a pixel

    def __init__(self, image_shape):
        self.image_shape = tuple(image_shape)

    @property
    def name(self):
        return self.spec.name

    @property
    def decoder_channels(self):
        """The decoder's output channels: C * channels_per_subpixel."""
        return self.image_shape[2] * self.channels_per_subpixel

    def nll(self, x, parameters):
        """-log p(x | z, y), [B], of images x [B, H, W, C] under parameters [B, H, W, decoder_channels]."""
        raise NotImplementedError

    def log_prob_samples(self, x, parameters):
        """[B, k]: log p(x | z_i, y) of images x [B, H, W, C] under parameters [B * k, H, W, decoder_channels]
        decoded from k codes each, x never copied k times."""
        raise NotImplementedError

    def mean(self, parameters):
        """The images shown for these parameters: the distribution's means [B, H, W, C] in [0, 1]."""
        raise NotImplementedError

    def sample(self, parameters, seed):
        """Images [B, H, W, C] in [0, 1] drawn from the distribution (stateless: seed is int32 [2])."""
        raise NotImplementedError

    def bits_per_dimension(self, nll, binarized):
        """The NLL (nats per image) in bits per sub-pixel, nll / (H W C ln 2), where the likelihood is a
        distribution over the values the data take (spec.over_levels, or Bernoulli of binarized pixels); None
        where it is not, as Bernoulli of gray levels is not."""
        if not (self.spec.over_levels or binarized):
            return None
        return nll / (math.prod(self.image_shape) * math.log(2))


class Bernoulli(Likelihood):
    """Bernoulli(sigmoid(logit)) of each sub-pixel's level in [0, 1] (MNIST's, as the papers have it); the
    decoder gives C logits a pixel."""

    spec = SPECS["bernoulli"]

    def nll(self, x, parameters):
        return bernoulli_nll(x, parameters)

    def log_prob_samples(self, x, parameters):
        batch = tf.shape(x)[0]
        return bernoulli_log_likelihood(tf.reshape(x, [batch, -1]), tf.reshape(parameters, [batch, -1, tf.reduce_prod(
            self.image_shape)]))

    def mean(self, parameters):
        return tf.sigmoid(parameters)

    def sample(self, parameters, seed):
        uniform = tf.random.stateless_uniform(tf.shape(parameters), seed)
        return tf.cast(uniform < tf.sigmoid(parameters), tf.float32)


class DiscretizedLogistic(Likelihood):
    """A logistic(location, scale) discretized to each sub-pixel's 256 levels, the end bins taking the tails
    (model.losses); the decoder gives C locations then C log-scales a pixel."""

    spec = SPECS["logistic"]
    channels_per_subpixel = 2

    def split(self, parameters):
        """(locations, log-scales), each [..., C]."""
        channels = self.image_shape[2]
        return parameters[..., :channels], parameters[..., channels:]

    def nll(self, x, parameters):
        return discretized_logistic_nll(x, *self.split(parameters))

    def log_prob_samples(self, x, parameters):
        batch = tf.shape(x)[0]
        location, log_scale = (tf.reshape(part, [batch, -1, *self.image_shape]) for part in self.split(parameters))
        per_subpixel = discretized_logistic_log_prob(x[:, None], location, log_scale)
        return tf.reduce_sum(tf.reshape(per_subpixel, [batch, tf.shape(location)[1], -1]), axis=2)

    def mean(self, parameters):
        return tf.clip_by_value(discretized_logistic_mean(*self.split(parameters)), 0.0, 1.0)

    def sample(self, parameters, seed):
        location, log_scale = self.split(parameters)
        uniform = tf.random.stateless_uniform(tf.shape(location), seed, minval=1e-5, maxval=1.0 - 1e-5)
        logit = tf.math.log(uniform) - tf.math.log1p(-uniform)  # a standard logistic draw
        continuous = location + tf.exp(tf.maximum(log_scale, MIN_LOG_SCALE)) * logit
        return tf.clip_by_value(tf.round(continuous * 255.0) / 255.0, 0.0, 1.0)


LIKELIHOODS = {kind.spec.name: kind for kind in (Bernoulli, DiscretizedLogistic)}
assert set(LIKELIHOODS) == set(SPECS), "each LikelihoodSpec of model/__init__.py needs its class here"

"""p(x | z, y) of a VAE, one class each: what a decoder's output means.

A likelihood turns the decoder's parameters [B, H, W, C * channels_per_subpixel] into everything the tools ask
of it: the NLL of images, the log-probabilities of k decodings of each image at once (the importance-sampled
NLL), the image it shows (its mean) and a draw. The model holds one (`model.likelihood`); nothing outside
model/ knows which. A new likelihood is a class here with a LikelihoodSpec in model/__init__.py.

Images x [B, H, W, C] float32 in [0, 1]; results in nats.
"""
import math

import tensorflow as tf

from model import LIKELIHOODS as SPECS, OPTIONS
from model.losses import (bernoulli_log_likelihood, bernoulli_nll, discretized_logistic_log_prob,
                          discretized_logistic_log_prob_lean, discretized_logistic_mean_windowed,
                          discretized_logistic_mean, discretized_logistic_nll, MAX_LOG_SCALE,
                          MIN_LOG_SCALE)


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

    def initial_bias(self):
        """The decoder's output bias at the start of training, [decoder_channels] (a model that asks for it)."""
        return [0.0] * self.decoder_channels

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


INITIAL_LOG_SCALE = -3.0


class LogisticMixture(Likelihood):
    """A mixture of `components` logistics discretized to the 256 levels (Salimans et al. 2017, PixelCNN++): one
    set of mixture weights a pixel, shared by its channels, and within a component channel c's location moved
    by tanh-bounded multiples of the earlier channels' values (colour: green by red, blue by red and green), so a
    component can say "this stroke, in this colour" of all three at once. The decoder gives a pixel K weight
    logits, then C K locations, C K log-scales and C (C - 1) / 2 K coupling coefficients."""

    spec = SPECS["mixture"]

    def __init__(self, image_shape, mixture_components=OPTIONS["mixture_components"].default):  # PixelCNN++'s 10
        super().__init__(image_shape)
        self.components = int(mixture_components)

    @property
    def decoder_channels(self):
        channels = self.image_shape[2]
        return self.components * (1 + 2 * channels + channels * (channels - 1) // 2)

    def split(self, parameters):
        """(weight logits, [locations of each channel], [log-scales of each channel], [coupling coefficients of
        each pair]), each [..., K]; the pairs (earlier, later) ordered by the later: (0, 1), (0, 2), (1, 2), ...
        One split of the last axis, whose gradient is one concatenation (slicing a [..., C, K] tensor's channels
        would write a whole zero tensor into each slice's gradient)."""
        channels = self.image_shape[2]
        pairs = channels * (channels - 1) // 2
        parts = tf.split(parameters, 1 + 2 * channels + pairs, axis=-1)
        return (parts[0], parts[1:1 + channels], parts[1 + channels:1 + 2 * channels],
                [tf.tanh(part) for part in parts[1 + 2 * channels:]])

    def initial_bias(self):
        """Log-scales start at INITIAL_LOG_SCALE, the rest at 0."""
        channels, k = self.image_shape[2], self.components
        return [0.0] * (k + channels * k) + [INITIAL_LOG_SCALE] * (channels * k) + [0.0] * (self.decoder_channels - k - 2 * channels * k)

    @staticmethod
    def moved(location, coefficients, channel, earlier):
        """Channel `channel`'s location [..., K] moved by its coupling coefficients times the values of the
        channels before it, earlier[b] [..., K or 1] (the data's, or the component's means or draws)."""
        first = channel * (channel - 1) // 2  # its pairs (0, c), (1, c), ... follow those of the channels before
        return location + sum(coefficients[first + before] * earlier[before] for before in range(channel))

    def log_prob_pixels(self, x, parameters):
        """log p of each pixel [...]: x [..., C] broadcast against parameters [..., decoder_channels]."""
        logits, locations, log_scales, coefficients = self.split(parameters)
        earlier = tf.split(x, self.image_shape[2], axis=-1)  # each channel's levels [..., 1]
        log_components = tf.nn.log_softmax(logits)  # [..., K], then each channel's log-probability added
        for channel, (location, log_scale) in enumerate(zip(locations, log_scales)):
            location = self.moved(location, coefficients, channel, earlier)
            log_components += discretized_logistic_log_prob_lean(earlier[channel], location, log_scale)
        return tf.reduce_logsumexp(log_components, axis=-1)

    def nll(self, x, parameters):
        per_pixel = self.log_prob_pixels(x, parameters)
        return -tf.reduce_sum(tf.reshape(per_pixel, [tf.shape(x)[0], -1]), axis=1)

    def log_prob_samples(self, x, parameters):
        batch = tf.shape(x)[0]
        shaped = tf.reshape(parameters, [batch, -1, *self.image_shape[:2], self.decoder_channels])
        per_pixel = self.log_prob_pixels(x[:, None], shaped)  # [B, k, H, W]
        return tf.reduce_sum(tf.reshape(per_pixel, [batch, tf.shape(shaped)[1], -1]), axis=2)

    def mean(self, parameters):
        """The mixture's mean, sum over components of weight times the component's mean. A component's channel
        means are exact for a pixel's first channel (and for gray); a later channel's uses the earlier channels'
        means in place of their values (its exact mean sums over their 256 levels), which is the same wherever
        the discretized logistic's mean is linear in its location (away from 0 and 1; tested within 0.02)."""
        logits, locations, log_scales, coefficients = self.split(parameters)
        weights, means = tf.nn.softmax(logits), []
        for channel, (location, log_scale) in enumerate(zip(locations, log_scales)):
            means.append(discretized_logistic_mean_windowed(self.moved(location, coefficients, channel, means),
                                                            log_scale))
        return tf.clip_by_value(tf.stack([tf.reduce_sum(weights * mean, axis=-1) for mean in means], axis=-1),
                                0.0, 1.0)

    def sample(self, parameters, seed):
        """A component by its weight (the Gumbel-max draw), then the channels in order, each from its logistic at
        the location the channels drawn before it set, rounded to a level. Every component draws (no gather), and
        the chosen one's draw is kept."""
        logits, locations, log_scales, coefficients = self.split(parameters)
        seeds = tf.random.experimental.stateless_split(seed, 1 + self.image_shape[2])
        gumbel = -tf.math.log(-tf.math.log(tf.random.stateless_uniform(tf.shape(logits), seeds[0], 1e-5, 1.0 - 1e-5)))
        chosen = tf.one_hot(tf.argmax(logits + gumbel, axis=-1), self.components)
        drawn = []
        for channel, (location, log_scale) in enumerate(zip(locations, log_scales)):
            uniform = tf.random.stateless_uniform(tf.shape(location), seeds[1 + channel], 1e-5, 1.0 - 1e-5)
            logistic = tf.math.log(uniform) - tf.math.log1p(-uniform)  # standard logistic draws
            continuous = self.moved(location, coefficients, channel, drawn) + tf.exp(
                tf.clip_by_value(log_scale, MIN_LOG_SCALE, MAX_LOG_SCALE)) * logistic  # as its log-probability
            drawn.append(tf.clip_by_value(tf.round(continuous * 255.0) / 255.0, 0.0, 1.0))
        return tf.stack([tf.reduce_sum(chosen * value, axis=-1) for value in drawn], axis=-1)

LIKELIHOODS = {kind.spec.name: kind for kind in (Bernoulli, DiscretizedLogistic, LogisticMixture)}
assert set(LIKELIHOODS) == set(SPECS), "each LikelihoodSpec of model/__init__.py needs its class here"

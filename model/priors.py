"""p(z) of a VAE: where its codes come from when it generates. The model holds one (`model.prior`); every tool
that draws a code, scores one or spans the latent space asks it, and nothing outside model/ writes N(0, I).

The fitted mixtures of cvae.samplers are the same kind of object (draw, draw_in_graph), so a tool takes either.
Codes z [B, latent_dim] float32; labels [B] int32 (an unconditional model's are ignored).
"""
import numpy as np
import tensorflow as tf

from model.losses import gaussian_kl, gaussian_log_density


class StandardNormal:
    """p(z) = N(0, I) of `latent_dim` dimensions, the same for every label."""

    title = "N(0, I)"  # what it is, in a table or a figure's title

    def __init__(self, latent_dim):
        self.latent_dim = latent_dim

    def log_density(self, z):
        """log p(z), summed over the last axis: [..., n] -> [...]."""
        return gaussian_log_density(z, 0.0, 0.0)

    def kl(self, mean, log_var):
        """KL(N(mean, exp(log_var)) || p(z)) [B], in closed form, of q(z | x, y)'s parameters [B, n]."""
        return gaussian_kl(mean, log_var)

    def draw(self, labels, rng, std=1.0):
        """Codes z [len(labels), n] float32 from N(0, std^2 I), drawn with the numpy Generator `rng` (one call of
        rng.standard_normal, so a figure's stream of draws stays as it was)."""
        return (std * rng.standard_normal((len(labels), self.latent_dim))).astype(np.float32)

    def draw_in_graph(self, labels, seed):
        """z ~ N(0, I) [B, n] for labels int32 [B], drawn inside a TensorFlow graph, the same for the same seed
        (stateless): the exported SavedModel's `sample`, which runs without numpy or this repository."""
        return tf.random.stateless_normal(tf.stack([tf.shape(labels)[0], self.latent_dim]), seed=tf.stack([seed, 0]))

    def quantile(self, probability):
        """The value below which `probability` of each coordinate's mass lies: the latent plane's figures and the
        explorer's sliders span the prior by it. probability: a float or an array of them."""
        from scipy.stats import norm
        return norm.ppf(probability)

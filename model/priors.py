"""p(z) of a VAE: where its codes come from when it generates. The model holds one (`model.prior`); every tool
that draws a code, scores one or spans the latent space asks it, and nothing outside model/ writes N(0, I).

The fitted mixtures of cvae.samplers are the same kind of object (draw, draw_in_graph), so a tool takes either.
Codes z [B, latent_dim] float32; labels [B] int32 (an unconditional model's are ignored).
"""
import numpy as np
import tensorflow as tf

from model.losses import LOG_2PI, gaussian_kl, gaussian_log_density


class StandardNormal:
    """p(z) = N(0, I) of `latent_dim` dimensions, the same for every label."""

    title = "N(0, I)"  # what it is, in a table or a figure's title

    def __init__(self, latent_dim):
        self.latent_dim = latent_dim

    def log_density(self, z, labels):
        """log p(z) [...] of codes z [..., n] (labels [B]: the same prior for every one)."""
        return gaussian_log_density(z, 0.0, 0.0)

    def kl(self, mean, log_var, z, labels):
        """KL(N(mean, exp(log_var)) || p(z)) [B], in closed form, of q(z | x, y)'s parameters [B, n] (the code z
        drawn from q and the labels, which a prior without a closed form estimates it by, are not needed)."""
        return gaussian_kl(mean, log_var)

    def draw(self, labels, rng, std=1.0):
        """Codes z [len(labels), n] float32 from N(0, std^2 I), drawn with the numpy Generator `rng` (one call of
        rng.standard_normal, so a figure's stream of draws stays as it was)."""
        return (std * rng.standard_normal((len(labels), self.latent_dim))).astype(np.float32)

    def draw_in_graph(self, labels, seed):
        """z ~ N(0, I) [B, n] for labels int32 [B], drawn inside a TensorFlow graph, the same for the same seed
        (stateless): the exported SavedModel's `sample`, which runs without numpy or this repository."""
        return tf.random.stateless_normal(tf.stack([tf.shape(labels)[0], self.latent_dim]), seed=tf.stack([seed, 0]))

    def as_mixture(self):
        """None: N(0, I) needs no components written out (VampPrior.as_mixture gives its)."""
        return None

    def quantile(self, probability):
        """The value below which `probability` of each coordinate's mass lies: the latent plane's figures and the
        explorer's sliders span the prior by it. probability: a float or an array of them."""
        from scipy.stats import norm
        return norm.ppf(probability)


def each_gaussian_log_density(z, mean, log_var):
    """log N(z; mean_k, exp(log_var_k)) [..., K] of codes z [..., n] under each of K diagonal Gaussians [K, n].

    The squared distance is expanded into three products (sum z^2 / v - 2 z . m / v + sum m^2 / v), so that no
    [..., K, n] tensor is made: the NLL's 10,000 codes a chunk against 500 components would be 250 million numbers.
    In float64, because the three terms can be thousands of nats each (sigma ~ 0.05) and cancel."""
    shape = tf.shape(z)
    flat = tf.cast(tf.reshape(z, [-1, shape[-1]]), tf.float64)
    mean, log_var = tf.cast(mean, tf.float64), tf.cast(log_var, tf.float64)
    inverse = tf.exp(-log_var)
    squared = (tf.matmul(tf.square(flat), inverse, transpose_b=True) - 2.0 * tf.matmul(flat, mean * inverse,
                                                                                       transpose_b=True)
               + tf.reduce_sum(tf.square(mean) * inverse, axis=1))
    log_density = -0.5 * (tf.reduce_sum(LOG_2PI + log_var, axis=1) + squared)
    return tf.cast(tf.reshape(log_density, tf.concat([shape[:-1], [-1]], axis=0)), tf.float32)


class VampPrior:
    """The VampPrior (Tomczak & Welling 2018): p(z | y) = (1 / K_y) sum_k q(z | u_k, y), the mixture of the encoder's
    own posteriors at K learned pseudo-inputs u_k (images the model trains as weights: `model.pseudo_input_images()`),
    so the prior is learned with the encoder and sits where the data's codes are. A conditional model gives each
    pseudo-input a class (u_k is class k mod classes) and y's prior mixes its class's K_y; an unconditional one mixes
    all K.

    Its KL has no closed form: kl() estimates it from the one code z the ELBO decodes, log q(z | x, y) - log p(z | y),
    as the paper does (its variance averages out over a batch and the epochs). Every call encodes the K pseudo-inputs
    again, so the prior follows the encoder as it trains (K = 500 images more per step: bench/README.md).
    """

    def __init__(self, model, labels):
        self.model = model
        self.latent_dim = model.latent_dim
        self.labels = np.asarray(labels, np.int32)  # [K]: the class of each pseudo-input (all 0: unconditional)
        self.count = len(self.labels)
        self.conditional = bool(model.conditional)
        self.title = f"VampPrior ({self.count} pseudo-inputs)"
        # The components each label mixes, by index: a group per class, or one of all K (unconditional).
        self.groups = ([np.flatnonzero(self.labels == label) for label in range(model.classes)] if self.conditional
                       else [np.arange(self.count)])

    def pseudo_inputs(self):
        """(images [K, H, W, C] in [0, 1], labels [K]) of the pseudo-inputs, as numpy arrays."""
        return np.asarray(self.model.pseudo_input_images()), self.labels

    def components(self):
        """(mean, log_var) [K, n] of q(z | u_k, y_k): the mixture's components."""
        return self.model.encode(self.model.pseudo_input_images(), tf.constant(self.labels))

    def log_density(self, z, labels):
        """log p(z | y) [...] of codes z [B, n] or [B, k, n] with labels [B]: a log-mean-exp over the label's
        components of log N(z; mean_k, exp(log_var_k))."""
        per_component = each_gaussian_log_density(z, *self.components())  # [..., K]
        if not self.conditional:
            return tf.reduce_logsumexp(per_component, axis=-1) - np.log(self.count)
        mine = tf.equal(tf.cast(labels, tf.int32)[:, None], self.labels[None, :])  # [B, K]
        sizes = tf.reduce_sum(tf.cast(mine, tf.float32), axis=1)  # K_y [B]
        for _ in range(len(z.shape) - 2):  # [B, k, n] codes: one mask row per image, the same for its k codes
            mine, sizes = mine[:, None], sizes[:, None]
        per_component = tf.where(mine, per_component, -np.inf)
        return tf.reduce_logsumexp(per_component, axis=-1) - tf.math.log(sizes)

    def kl(self, mean, log_var, z, labels):
        """KL(q(z | x, y) || p(z | y)) [B], estimated at the code z [B, n] drawn from q: log q(z) - log p(z | y)."""
        return gaussian_log_density(z, mean, log_var) - self.log_density(z, labels)

    def draw(self, labels, rng, std=1.0):
        """Codes [len(labels), n] float32: for each label one of its components, uniformly, then mean + std * sigma
        * eps (std scales the component's spread, as it scales N(0, I)'s). rng: a numpy Generator."""
        mean, log_var = (np.asarray(part) for part in self.components())
        chosen = self.choose(labels, rng)
        eps = rng.standard_normal((len(chosen), self.latent_dim))
        return (mean[chosen] + std * np.exp(0.5 * log_var[chosen]) * eps).astype(np.float32)

    def choose(self, labels, rng):
        """The component of each code [len(labels)], uniformly among its label's (all K: unconditional)."""
        if not self.conditional:
            return rng.integers(self.count, size=len(labels))
        return np.array([self.groups[label][rng.integers(len(self.groups[label]))] for label in labels], np.int64)

    def draw_in_graph(self, labels, seed):
        """draw() inside a TensorFlow graph, stateless (the same for the same seed): the exported SavedModel's
        `sample`. A conditional prior's class y holds the pseudo-inputs y, y + classes, y + 2 classes, ..."""
        mean, log_var = self.components()
        chosen = self.choose_in_graph(labels, seed)
        eps = tf.random.stateless_normal(tf.stack([tf.shape(labels)[0], self.latent_dim]), seed=tf.stack([seed, 0]))
        return tf.gather(mean, chosen) + tf.exp(0.5 * tf.gather(log_var, chosen)) * eps

    def choose_in_graph(self, labels, seed):
        """choose() in a graph, stateless: a categorical draw over the K components, each label's row of logits 0
        for its own and -inf for the others (the same operations as the fitted mixtures' draw, which the exported
        SavedModel's check allows)."""
        rows = np.arange(self.model.classes)[:, None] if self.conditional else np.zeros((1, 1))
        logits = np.where(self.labels[None] == rows, 0.0, -np.inf).astype(np.float32)  # [classes or 1, K]
        labels = labels if self.conditional else tf.zeros_like(labels)
        return tf.random.stateless_categorical(tf.gather(logits, labels), 1, seed=tf.stack([seed, 1]))[:, 0]

    def quantile(self, probability):
        """The quantile of the prior's coordinates, all pooled: measured on 20,000 draws (seed 0), as the mixture
        has no closed form. The latent plane's figures and the explorer's sliders span it."""
        draws = self.draw(np.arange(20000) % self.model.classes, np.random.default_rng(0)).ravel()
        return np.quantile(draws, probability)

    def as_mixture(self):
        """{"weights" [C, K_c], "means" [C, K_c, n], "stds" [C, K_c, n]}: the prior as diagonal Gaussian mixtures,
        one per class (C = 1 unconditional), for the explorer's page to draw from."""
        mean, log_var = (np.asarray(part) for part in self.components())
        return {"weights": [[1.0 / len(group)] * len(group) for group in self.groups],
                "means": [mean[group].tolist() for group in self.groups],
                "stds": [np.exp(0.5 * log_var[group]).tolist() for group in self.groups]}

"""Loss terms as plain functions of tensors, each per example (shape [B]; per example and sample, [B, k], for
the importance-sampled NLL) in nats."""
import tensorflow as tf


def bernoulli_nll(x, logits):
    """-log p(x | z) for pixels x in [0, 1] under Bernoulli(sigmoid(logits)), summed over pixels.

    x, logits: [B, ...]. Computed from logits, so it stays finite where sigmoid would round to 0 or 1.
    """
    per_pixel = tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits)
    return tf.reduce_sum(tf.reshape(per_pixel, [tf.shape(x)[0], -1]), axis=1)


def bernoulli_log_likelihood(x, logits):
    """[B, k]: log p(x | z_i) for pixels x [B, D] under Bernoulli(sigmoid(logits [B, k, D])), summed over
    pixels: x . logits - sum softplus(logits), which is -bernoulli_nll. Written this way, x is never
    copied k times and its term is one batched matrix-vector product (cvae.evaluation's NLL; bench.nll
    times it against the copying form)."""
    return tf.einsum("bkd,bd->bk", logits, x) - tf.reduce_sum(tf.nn.softplus(logits), axis=2)


def gaussian_kl(mean, log_var):
    """KL(N(mean, exp(log_var)) || N(0, I)), summed over latent dimensions. mean, log_var: [B, n]."""
    return 0.5 * tf.reduce_sum(tf.exp(log_var) + tf.square(mean) - 1.0 - log_var, axis=1)


def softmax_cross_entropy(labels, logits):
    """-log p(label | x) for int labels [B] and logits [B, classes]."""
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)


LOG_2PI = 1.8378770664093453


def gaussian_log_density(z, mean, log_var):
    """log N(z; mean, exp(log_var)), summed over the last axis. Shapes broadcast: [..., n] -> [...]."""
    return -0.5 * tf.reduce_sum(LOG_2PI + log_var + tf.square(z - mean) * tf.exp(-log_var), axis=-1)


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



LEVELS = 256  # a sub-pixel's values: 0 .. 255, seen by the models as k / 255
# The floor on the logistic's log-scale, so gradients stay finite: PixelCNN++'s -7 on its [-1, 1] scale is -7.7 on
# ours of [0, 1]; at -8 a level can take 99.4% of its sub-pixel's probability.
MIN_LOG_SCALE = -8.0
MAX_LOG_SCALE = 5.0
OUT_OF_REACH = 1e4  # half-bins: how far beyond [0, 1] an end bin's outer edge is put (the lean form)


def discretized_logistic_log_prob(x, location, log_scale):
    """log P(x) of levels x = k / 255 under a logistic(location, exp(log_scale)) discretized to the LEVELS bins
    of width 1 / 255 centred on them, the two end bins taking the tails (Salimans et al. 2017, PixelCNN++, one
    component; Kingma et al. 2016, IAF): elementwise, any shape. Where a bin's probability is too small to take
    the difference of two CDFs in float32, the density at its centre times the width stands for it."""
    log_scale = tf.maximum(log_scale, MIN_LOG_SCALE)
    inverse_scale = tf.exp(-log_scale)
    half_bin = 0.5 / (LEVELS - 1)
    centred = x - location
    plus, minus = inverse_scale * (centred + half_bin), inverse_scale * (centred - half_bin)
    log_cdf_plus = plus - tf.nn.softplus(plus)  # log sigmoid(plus): the lowest bin takes everything below
    log_survival_minus = -tf.nn.softplus(minus)  # log (1 - sigmoid(minus)): the highest, everything above
    cdf_delta = tf.sigmoid(plus) - tf.sigmoid(minus)
    middle = inverse_scale * centred
    log_density_times_width = middle - log_scale - 2.0 * tf.nn.softplus(middle) - tf.math.log(float(LEVELS - 1))
    inner = tf.where(cdf_delta > 1e-5, tf.math.log(tf.maximum(cdf_delta, 1e-12)), log_density_times_width)
    return tf.where(x < 0.5 / (LEVELS - 1), log_cdf_plus,
                    tf.where(x > 1.0 - 0.5 / (LEVELS - 1), log_survival_minus, inner))


def discretized_logistic_log_prob_lean(x, location, log_scale):
    """discretized_logistic_log_prob in fewer operations and none of its branches, for the mixture's ten
    components of every sub-pixel, where the likelihood is most of a training step. A bin's log-probability
    log(sigmoid(a) - sigmoid(b)), a and b its upper and lower edges over the scale, is
    log sigmoid(a) + log sigmoid(-b) + log(1 - exp(b - a)), finite for every location with no density fallback;
    the end bins are the same formula with their outer edge moved out of reach (OUT_OF_REACH bins away), so that
    its part is 0 and its gradient too. The edges depend on the data alone, so the choice costs one select per
    sub-pixel, not per component: x may be [..., 1] against location and log_scale [..., K]. It differs from
    discretized_logistic_log_prob by float rounding (tested); that one stays, so the runs trained with it keep
    their weights bit for bit. The log-scale is capped at MAX_LOG_SCALE too: where 1 - exp(b - a) rounds to 0
    the log would be -inf, and no [0, 1] sub-pixel needs a scale wider than exp(5)."""
    half_bin = 0.5 / (LEVELS - 1)
    above = tf.where(x > 1.0 - half_bin, OUT_OF_REACH * half_bin, half_bin)  # [..., 1]: the top bin has no top
    below = tf.where(x < half_bin, OUT_OF_REACH * half_bin, half_bin)  # the bottom bin has no bottom
    log_scale = tf.clip_by_value(log_scale, MIN_LOG_SCALE, MAX_LOG_SCALE)
    inverse_scale = tf.exp(-log_scale)
    centred = x - location
    upper, lower = inverse_scale * (centred + above), inverse_scale * (centred - below)
    return -tf.nn.softplus(-upper) - tf.nn.softplus(lower) + tf.math.log(-tf.math.expm1(-inverse_scale * (above + below)))


def discretized_logistic_nll(x, location, log_scale):
    """-log p(x | z) for levels x [B, ...] under discretized_logistic_log_prob, summed over sub-pixels: [B]."""
    per_subpixel = -discretized_logistic_log_prob(x, location, log_scale)
    return tf.reduce_sum(tf.reshape(per_subpixel, [tf.shape(x)[0], -1]), axis=1)


def discretized_logistic_mean(location, log_scale):
    """The mean of the discretized logistic, sum_k (k / 255) P(k), elementwise: with bins of width d = 1 / 255,
    d * sum_{k=1..255} P(X >= k d) = d * sum_k sigmoid((location - (k - 1/2) d) / scale), accumulated one edge
    at a time (no [..., 255] tensor). It is the location itself only away from 0 and 1, where no tail is cut."""
    log_scale = tf.maximum(log_scale, MIN_LOG_SCALE)
    inverse_scale = tf.exp(-log_scale)
    width = 1.0 / (LEVELS - 1)
    total = tf.zeros_like(location)
    for k in range(1, LEVELS):
        total += tf.sigmoid((location - (k - 0.5) * width) * inverse_scale)
    return total * width


MEAN_WINDOW = 16  # bin edges summed one by one around the location in discretized_logistic_mean_windowed


def discretized_logistic_mean_windowed(location, log_scale):
    """discretized_logistic_mean in about 20 operations an element instead of 255 (the mixture has ten components
    a sub-pixel, and a figure or an evaluation takes the mean of thousands of images): the sum over the 255 bin
    edges, d sum_k sigmoid((location - e_k) / scale), is taken edge by edge over the MEAN_WINDOW edges nearest the
    location, where a narrow logistic steps from 1 to 0, and as its integral (the midpoint rule) on either side,
    where the terms are 1, 0, or change little from one edge to the next: the integral of sigmoid is softplus.
    Within 1e-4 of the exact sum (tested), a thirtieth of a level. The log-scale is clipped to [MIN_LOG_SCALE,
    MAX_LOG_SCALE] as the mixture's log-probability clips it (the same distribution): uncapped, a decoder's
    log-scale above 88.7 (seen on codes from the prior) made exp() overflow and the mean NaN."""
    log_scale = tf.clip_by_value(log_scale, MIN_LOG_SCALE, MAX_LOG_SCALE)
    scale = tf.exp(log_scale)
    width = 1.0 / (LEVELS - 1)
    # Edges a .. a + MEAN_WINDOW - 1 (edge k at (k - 1/2) width, k = 1 .. 255), centred on the location.
    first = tf.clip_by_value(tf.floor(location / width + 0.5) - MEAN_WINDOW // 2 + 1, 1.0, LEVELS - MEAN_WINDOW)

    def integral(start, end):  # of sigmoid((location - (x - 1/2) width) / scale) dx from x = start to end, over width
        return scale * (tf.nn.softplus((location - (start - 0.5) * width) / scale)
                        - tf.nn.softplus((location - (end - 0.5) * width) / scale))

    window = tf.zeros_like(location)
    for j in range(MEAN_WINDOW):
        window += tf.sigmoid((location - (first + j - 0.5) * width) / scale)
    return integral(0.5, first - 0.5) + window * width + integral(first + MEAN_WINDOW - 0.5, LEVELS - 0.5)

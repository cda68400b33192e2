"""How well a trained VAE explains data: the ELBO, and -log p(x | y) by importance sampling
(Burda et al. 2015). Images come as uint8 [N, 28, 28], labels as ints [N]; results in nats per image."""
import time

import tensorflow as tf

from model.losses import bernoulli_log_likelihood, gaussian_log_density

# Images x samples decoded at once while importance sampling: bounds memory at about 30 MB of pixels.
DECODE_CHUNK = 10000


def in_batches(images, labels, batch):
    """(x [B, 28, 28, 1] float32 in [0, 1], y [B] int32) over consecutive rows."""
    for start in range(0, len(images), batch):
        x = tf.cast(tf.convert_to_tensor(images[start:start + batch], tf.uint8), tf.float32)[..., None] / 255.0
        yield x, tf.cast(labels[start:start + batch], tf.int32)


def elbo_terms(model, images, labels, batch=1000):
    """Mean reconstruction, KL and ELBO (nats / image) over uint8 images [N, 28, 28]."""
    sums, count = {"reconstruction": 0.0, "kl": 0.0}, 0
    for x, y in in_batches(images, labels, batch):
        losses = model.compute_losses(x, y)
        for key in sums:
            sums[key] += float(losses[key]) * len(x)
        count += len(x)
    terms = {key: value / count for key, value in sums.items()}
    terms["elbo"] = -(terms["reconstruction"] + terms["kl"])
    return terms


def log_importance_weights(model, x, y, k, generator):
    """[B, k]: log p(x, z_i | y) - log q(z_i | x, y) with z_i ~ q(z | x, y) for x [B, 28, 28, 1]."""
    mean, log_var = model.encode(x, y)
    batch, n = tf.shape(mean)[0], tf.shape(mean)[1]
    z = mean[:, None] + tf.exp(0.5 * log_var)[:, None] * generator.normal(tf.stack([batch, k, n]))
    logits = tf.reshape(model.decode(tf.reshape(z, [-1, n]), tf.repeat(y, k)), [batch, k, -1])
    log_px = bernoulli_log_likelihood(tf.reshape(x, [batch, -1]), logits)
    log_pz = gaussian_log_density(z, 0.0, 0.0)
    log_qz = gaussian_log_density(z, mean[:, None], log_var[:, None])
    return log_px + log_pz - log_qz


class TooLong(ValueError):
    """The estimate would take longer than allowed; `seconds` is the estimate."""

    def __init__(self, seconds, limit):
        super().__init__(f"would take about {seconds / 3600:,.1f} hours on this machine (the limit is "
                         f"{limit / 3600:,.0f} hours)")
        self.seconds = seconds


def importance_sampled_nll(model, images, labels, k, seed=0, log=print, max_seconds=None, progress_every=10.0):
    """Mean over images of -log p(x | y) estimated as -log mean_i w_i over k importance samples.

    The decoder sees at most DECODE_CHUNK images x samples at once, so any k fits in memory: each
    image's log mean weight is accumulated chunk by chunk (a running logsumexp). After the second
    chunk the whole run's time is estimated: TooLong is raised when it exceeds max_seconds (None: no
    limit). Progress (images, percent, time left) is logged every `progress_every` seconds.
    """
    generator = tf.random.Generator.from_seed(seed)
    chunk = min(k, DECODE_CHUNK)
    per_batch = max(1, DECODE_CHUNK // chunk)
    chunks_per_batch = -(-k // chunk)
    total_chunks = chunks_per_batch * -(-len(images) // per_batch)
    weights_fn = tf.function(lambda x, y, count: tf.reduce_logsumexp(
        log_importance_weights(model, x, y, count, generator), axis=1), reduce_retracing=True)
    total, count, done = 0.0, 0, 0
    began = last_shown = time.perf_counter()
    for x, y in in_batches(images, labels, per_batch):
        log_sum = tf.fill([tf.shape(x)[0]], -float("inf"))
        for start in range(0, k, chunk):
            chunk_began = time.perf_counter()
            log_sum = tf.reduce_logsumexp(tf.stack([log_sum, weights_fn(x, y, tf.constant(min(chunk, k - start)))]),
                                          axis=0)
            done += 1
            now = time.perf_counter()
            if done == 2 and max_seconds is not None:
                estimate = (now - chunk_began) * (total_chunks - 2) + (now - began)
                if estimate > max_seconds:
                    raise TooLong(estimate, max_seconds)
            if log and now - last_shown > progress_every:
                left = (now - began) / done * (total_chunks - done)
                log(f"  NLL: {count:,}/{len(images):,} images done, {done / total_chunks:.1%}, about {left:,.0f} s "
                    f"left" + (f", running mean {total / count:.2f} nats" if count else ""))
                last_shown = now
        log_px = log_sum - tf.math.log(tf.cast(k, tf.float32))
        total -= float(tf.reduce_sum(log_px))
        count += len(x)
    return total / count

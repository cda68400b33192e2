"""How well a trained VAE explains data: the ELBO, and -log p(x | y) by importance sampling
(Burda et al. 2015). Images come as uint8 [N, 28, 28], labels as ints [N]; results in nats per image."""
import time

import tensorflow as tf

from model.losses import bernoulli_nll, gaussian_log_density, log_mean_exp

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
    flat_z = tf.reshape(z, [-1, n])
    logits = model.decode(flat_z, tf.repeat(y, k))
    log_px = -tf.reshape(bernoulli_nll(tf.repeat(x, k, axis=0), logits), [batch, k])
    log_pz = gaussian_log_density(z, 0.0, 0.0)
    log_qz = gaussian_log_density(z, mean[:, None], log_var[:, None])
    return log_px + log_pz - log_qz


def importance_sampled_nll(model, images, labels, k, seed=0, log=print):
    """Mean over images of -log p(x | y) estimated as -log mean_i w_i over k importance samples.

    The decoder sees at most DECODE_CHUNK images x samples at once, so any k fits in memory.
    """
    generator = tf.random.Generator.from_seed(seed)
    chunk = min(k, DECODE_CHUNK)
    per_batch = max(1, DECODE_CHUNK // chunk)
    weights_fn = tf.function(lambda x, y, count: log_importance_weights(model, x, y, count, generator),
                             reduce_retracing=True)
    total, count, began = 0.0, 0, time.perf_counter()
    for i, (x, y) in enumerate(in_batches(images, labels, per_batch)):
        weights = tf.concat([weights_fn(x, y, tf.constant(min(chunk, k - start))) for start in range(0, k, chunk)],
                            axis=1)
        log_px = log_mean_exp(weights, axis=1)
        total -= float(tf.reduce_sum(log_px))
        count += len(x)
        if log and time.perf_counter() - began > 10 and i % 20 == 0:
            log(f"  NLL: {count:,}/{len(images):,} images, running mean {total / count:.2f} nats")
    return total / count

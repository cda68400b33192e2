"""Between uint8 pixels and a model, in batches: every tool that encodes, decodes, draws or classifies
images goes through here.

Images are uint8 [N, H, W, C] (what data sets and sample.py hold; MNIST: [N, 28, 28, 1]); the models take
x [B, H, W, C] float32 in [0, 1] and give pixel means in [0, 1] of the same shape.
"""
import numpy as np

BATCH = 1000  # images per call into a model: bounds the memory of a pass over a whole test set

# Gray level g -> g / 255 in float32, divided here rather than in a graph: TensorFlow's graph optimizer
# turns a division by a constant into a multiplication by its reciprocal, which rounds differently.
UNIT_LEVELS = np.arange(256, dtype=np.float32) / np.float32(255.0)


def to_input(pixels):
    """uint8 pixels [B, H, W, C] -> the models' input x, the same shape, float32 in [0, 1]: g / 255 rounded
    as an exact float32 division rounds it, in eager code and in a compiled graph alike."""
    import tensorflow as tf
    return tf.gather(UNIT_LEVELS, tf.cast(pixels, tf.int32))


def to_pixels(means):
    """Pixel means [N, H, W, C] in [0, 1] -> uint8 [N, H, W, C], rounded to the nearest level."""
    return np.round(np.asarray(means) * 255).astype(np.uint8)


def in_batches(images, labels, batch=BATCH):
    """(x [B, H, W, C] float32 in [0, 1], y [B] int32) over consecutive rows of uint8 images [N, H, W, C]
    and labels [N]."""
    import tensorflow as tf
    for start in range(0, len(images), batch):
        yield to_input(images[start:start + batch]), tf.cast(labels[start:start + batch], tf.int32)


def encode_means(model, images, labels):
    """Means of q(z | x, y) of uint8 images [N, H, W, C] with labels [N]: [N, n]."""
    return encode_distribution(model, images, labels)[0]


def encode_distribution(model, images, labels):
    """(means [N, n], log-variances [N, n]) of q(z | x, y) of uint8 images [N, H, W, C] with labels [N]."""
    parts = [[np.asarray(part) for part in model.encode(x, y)] for x, y in in_batches(images, labels)]
    return tuple(np.concatenate(column) for column in zip(*parts))


def reconstruct(model, images, labels):
    """Pixel means [N, H, W, C] of the reconstructions of uint8 images [N, H, W, C] with labels [N]."""
    return np.concatenate([np.asarray(model.reconstruct(x, y)) for x, y in in_batches(images, labels)])


def decode(model, z, labels):
    """Pixel means [N, H, W, C] decoded from codes z [N, n] with labels [N] (ignored by an unconditional model)."""
    z, labels = np.asarray(z, np.float32), np.asarray(labels, np.int32)
    return np.concatenate([np.asarray(model.generate(z[i:i + BATCH], labels[i:i + BATCH]))
                           for i in range(0, len(z), BATCH)])


def classify(classifier, images):
    """The class a classifier (a model that classifies) reads in each uint8 image [N, H, W, C]: [N]."""
    unused_labels = np.zeros(len(images), np.int32)
    return np.concatenate([np.argmax(classifier.classify(x), axis=1) for x, _ in in_batches(images, unused_labels)])


def penultimate_features(classifier, images):
    """A cnn's penultimate features of uint8 images [N, H, W, C]: [N, F] float32 (cnn: F = 256)."""
    unused_labels = np.zeros(len(images), np.int32)
    return np.concatenate([np.asarray(classifier.penultimate(x)) for x, _ in in_batches(images, unused_labels)])


def draw(model, labels, count, std=1.0, seed=0, mixture=None):
    """`count` images under each of `labels` (an unconditional model: [0]), their codes drawn from the model's
    prior (model.priors, scaled by std), or from `mixture` (cvae.samplers.Mixture) when given: (images uint8
    [len(labels) * count, H, W, C], labels [N] int32, z [N, n]). The same seed draws the same z, whatever the
    model."""
    y = np.repeat(labels, count).astype(np.int32)
    rng = np.random.default_rng(seed)
    z = model.prior.draw(y, rng, std) if mixture is None else mixture.draw(y, rng)
    # uint8 batch by batch: a quarter of the memory of the float means of them all
    pixels = np.concatenate([to_pixels(decode(model, z[i:i + BATCH], y[i:i + BATCH])) for i in range(0, len(y), BATCH)])
    return pixels, y, z

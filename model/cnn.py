import keras
import tensorflow as tf

from model.base import PARAMETERS_DTYPE, BaseModel
from model.losses import softmax_cross_entropy

layers = keras.layers


class Cnn(BaseModel):
    """MNIST classifier, used to judge generated digits.

    4 x [Conv 4x4 stride 1 SAME (8, 16, 32, 64 ch) -> MaxPool 2x2 SAME -> ReLU -> Dropout 0.2]
    (28 -> 14 -> 7 -> 4 -> 2) -> FC logits, one per class (10 for MNIST). Any size and channels: S x S
    images end at ceil(S / 16) x ceil(S / 16) x 64 (32: 2x2, 64: 4x4). He initialization, as in the
    seed. Dropout acts in training only (the seed's dropout never acted: its keep-probability test was
    always false).
    """

    classifies = True

    def __init__(self, latent_dim=None, seed=0, prefix="", **kwargs):
        """prefix: put before every layer's name (m2's classifier: "classifier_"), so names stay unique."""
        super().__init__(latent_dim, seed, **kwargs)
        self.blocks = []
        for i, channels in enumerate((8, 16, 32, 64)):
            self.blocks += [layers.Conv2D(channels, 4, padding="same", kernel_initializer="he_normal",
                                          name=f"{prefix}conv_{i + 1}"),
                            layers.MaxPooling2D(2, padding="same", name=f"{prefix}pool_{i + 1}"),
                            layers.ReLU(name=f"{prefix}relu_{i + 1}"),
                            layers.Dropout(0.2, seed=seed + i, name=f"{prefix}dropout_{i + 1}")]
        self.flatten = layers.Flatten(name=f"{prefix}flatten")
        self.to_logits = layers.Dense(self.classes, kernel_initializer="he_normal", name=f"{prefix}to_logits",
                                      dtype=PARAMETERS_DTYPE)

    def penultimate(self, x, training=False):
        """The penultimate features [B, F] (MNIST: 256): what the last layer reads, and what the sample-quality numbers
        (Fréchet distance, precision and recall) compare images by."""
        h = x
        for layer in self.blocks:
            h = layer(h, training=training) if isinstance(layer, layers.Dropout) else layer(h)
        return self.flatten(h)

    def classify(self, x, training=False):
        """Class logits [B, classes]."""
        return self.to_logits(self.penultimate(x, training))

    def call(self, x, training=False):
        """Images [B, H, W, C] -> class logits [B, classes] (Keras' entry point)."""
        return self.classify(x, training)

    def compute_losses(self, x, y, training=False):
        logits = self.classify(x, training)
        correct = tf.equal(tf.argmax(logits, axis=1, output_type=tf.int32), y)
        return {"loss": tf.reduce_mean(softmax_cross_entropy(y, logits)),
                "accuracy": tf.reduce_mean(tf.cast(correct, tf.float32))}

"""Building blocks of decoders that are not a list of layers applied in order, and the steps that declare them.

A decoder declares what it computes as `decoder_layers`, a list of steps from its input, the code [z, y]: a Keras
layer applied to the running tensor h (Dense, Conv2D, Conv2DTranspose, Reshape, Cropping2D, ResidualBlock), or one
of the steps below, which need the code or no weights. `apply_steps` runs such a list, so a model whose decoder
is `apply_steps(self.decoder_layers, code)` computes exactly what it declares, and the latent explorer's page
(web/explorer.js) runs the same list in the browser.
"""
import dataclasses

import keras
import tensorflow as tf

layers = keras.layers
# SiLU, x sigmoid(x) (Hendrycks & Gimpel 2016; NVAE's choice), not ReLU: with ReLU cvae_resnet's decoder's last
# stage died while training on colour MNIST (after 18 epochs 15 of its 16 features were never positive on a test
# image), so every pixel got the same parameters from the one left: backgrounds in their colours, no digit.
# SiLU's gradient is not zero below 0, and after 800 steps its decoder draws the digits.
ACTIVATION = tf.nn.silu
CONV = dict(kernel_size=3, padding="same", kernel_initializer="he_normal")


def doubled(h, axis):
    """h [B, H, W, C] with each row (axis 1) or column (axis 2) repeated twice: tf.repeat(h, 2, axis), the same
    numbers and gradients (each a sum of two), without the tf.tile whose gradient made oneDNN print an "E0000 ...
    supports DT_INT32 only on platforms with AVX-512" line at the start of every cvae_resnet training."""
    sizes = list(h.shape[1:])
    pairs = tf.broadcast_to(tf.expand_dims(h, axis + 1), tf.concat([tf.shape(h)[:1], sizes[:axis], [2],
                                                                      sizes[axis:]], axis=0))
    sizes[axis - 1] *= 2
    return tf.reshape(pairs, [-1, *sizes])


class ResidualBlock(layers.Layer):
    """h + conv(silu(conv(silu(h)))), two 3 x 3 convolutions of `width` channels (He et al. 2016's
    pre-activation block); the block's input and output have the same shape."""

    def __init__(self, width, **kwargs):
        super().__init__(**kwargs)
        self.first = layers.Conv2D(width, name=f"{self.name}_conv_1", **CONV)
        # Zero at first, so every block starts as the identity and a deep stack's outputs start no larger than its
        # input (Goyal et al. 2017): with He's initialization here too the first steps' outputs overflow.
        self.second = layers.Conv2D(width, name=f"{self.name}_conv_2", **(CONV | {"kernel_initializer": "zeros"}))

    def call(self, h):
        return h + self.second(ACTIVATION(self.first(ACTIVATION(h))))


@dataclasses.dataclass(frozen=True)
class CodeAdded:
    """h + dense(code) at every pixel: the code [z, y] mapped by a Dense to h's channels, so the label and the
    code reach a convolutional stage directly."""
    dense: object  # a keras.layers.Dense


@dataclasses.dataclass(frozen=True)
class Reshaped:
    """h reshaped to [B, *shape]."""
    shape: tuple


@dataclasses.dataclass(frozen=True)
class UpSampled:
    """h [B, H, W, C] to [B, 2H, 2W, C], each pixel repeated 2 x 2 (nearest neighbour)."""


@dataclasses.dataclass(frozen=True)
class Activated:
    """SiLU of h (ACTIVATION)."""


@dataclasses.dataclass(frozen=True)
class Cropped:
    """h [B, H, W, C] without `top`, `bottom`, `left`, `right` rows and columns at its edges."""
    top: int
    bottom: int
    left: int
    right: int


def apply_steps(steps, code, training=False):
    """The decoder's output: `steps` (a decoder_layers list) applied in order to the code [z, y]."""
    h = code
    for step in steps:
        if isinstance(step, CodeAdded):
            h = h + step.dense(code)[:, None, None, :]
        elif isinstance(step, Reshaped):
            h = tf.reshape(h, [-1, *step.shape])
        elif isinstance(step, UpSampled):
            h = doubled(doubled(h, axis=1), axis=2)
        elif isinstance(step, Activated):
            h = ACTIVATION(h)
        elif isinstance(step, Cropped):
            h = h[:, step.top:h.shape[1] - step.bottom, step.left:h.shape[2] - step.right]
        else:
            h = step(h, training=training)
    return h

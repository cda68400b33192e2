"""A conditional VAE of residual convolutions, made for colour images of square sizes (multiples of 4) from 16 to 128."""
import keras
import tensorflow as tf

from model.base import PARAMETERS_DTYPE, VAEBase, conv_with_label_channels

layers = keras.layers
# SiLU, x sigmoid(x) (Hendrycks & Gimpel 2016; NVAE's choice), not ReLU: with ReLU the decoder's last stage died
# while training on colour MNIST (after 18 epochs 15 of its 16 features were never positive on a test image), so
# every pixel got the same parameters from the one left: backgrounds in their colours, no digit. SiLU's gradient
# is not zero below 0, and after 800 steps its decoder draws the digits.
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


class CvaeResnet(VAEBase):
    """Conditional VAE of residual convolution blocks, for gray or colour S x S images, S a multiple of 4 from 16 to
    128 (made for colour, such as colour MNIST's 32 x 32 x 3). A size that is not a multiple of 8 is padded with
    zeros to the next one (MNIST's 28 to 32) on the way in, and the decoder's output cropped back to S.

    Encoder: [x, y broadcast as K channels] -> Conv 3x3, 16 ch (S) -> block
             -> three times: Conv 3x3 stride 2 (S/2: 32 ch, S/4: 64, S/8: 64) -> block
             -> FC -> (mean, log_var) [n]
    Decoder: [z, y] -> FC (S/8 x S/8 x 64) -> + code -> block
             -> three times: up-sample x2 (nearest) -> Conv 3x3 (S/4: 64 ch, S/2: 32, S: 16) -> + code -> block
             -> Conv 3x3 to the likelihood's parameters (S x S x decoder_channels)
    A block is model.cvae_resnet.ResidualBlock; "+ code" adds a learned affine map of [z, y] to every pixel of
    the stage, so the label and the code reach every scale of the decoder, not only its first layer (an image's
    colours are the same everywhere in it, and reach the full-size stage in one step). Widths grow as the
    resolution falls (16 at full size, 32, then 64), and the output is a 3 x 3 convolution of 16 features a
    pixel: no layer whose kernel equals its stride draws the image, so there is no patch of pixels drawn from a
    few numbers (cvae_cnn3's last layer draws each 4 x 4 patch from 16). The output's bias starts where the
    likelihood asks (the mixture's log-scales at -3, not 0: a scale as wide as the whole [0, 1] range takes
    hundreds of steps to narrow). The widths are what trains colour MNIST in the README's time on 2 cores.
    """

    WIDTHS = (16, 32, 64, 64)  # at S, S/2, S/4, S/8

    @classmethod
    def image_sizes(cls):
        # Any size from 16 to 128 would build; listed: the multiples of 4, as cvae_cnn3's, so that the test that
        # trains a step at every listed size stays a minute (113 sizes took 5 minutes of CI).
        return list(range(16, 129, 4))

    def __init__(self, latent_dim, seed=0, **kwargs):
        super().__init__(latent_dim, seed, **kwargs)
        size = self.image_shape[0]
        self.padded = -(-size // 8) * 8  # the size the layers work at
        self.pad = ((self.padded - size) // 2, self.padded - size - (self.padded - size) // 2)
        widths, smallest = self.WIDTHS, self.padded // 8
        self.stem = layers.Conv2D(widths[0], activation=ACTIVATION, name="encoder_stem", **CONV)
        self.encoder_blocks = [ResidualBlock(widths[0], name="encoder_block_0")]
        for stage, width in enumerate(widths[1:], 1):
            self.encoder_blocks += [layers.Conv2D(width, strides=2, name=f"encoder_down_{stage}", **CONV),
                                    ResidualBlock(width, name=f"encoder_block_{stage}")]
        self.encoder_flatten = layers.Flatten(name="encoder_flatten")
        self.decoder_dense = layers.Dense(smallest * smallest * widths[-1], activation=ACTIVATION, name="decoder_dense",
                                          kernel_initializer="he_normal")
        # The stages from the smallest: each's up-sampling convolution (the first has none), code map, block.
        stages = list(reversed(range(len(widths))))
        self.decoder_ups = [layers.Conv2D(widths[stage], name=f"decoder_up_{stage}", **CONV) for stage in stages[1:]]
        self.decoder_codes = [layers.Dense(widths[stage], name=f"decoder_code_{stage}") for stage in stages]
        self.decoder_blocks = [ResidualBlock(widths[stage], name=f"decoder_block_{stage}") for stage in stages]
        self.to_parameters = layers.Conv2D(self.decoder_channels, name="decoder_out", dtype=PARAMETERS_DTYPE,
                                           bias_initializer=keras.initializers.Constant(self.likelihood.initial_bias()),
                                           **CONV)

    def features(self, x, y_onehot, training=False):
        if any(self.pad):
            x = tf.pad(x, [[0, 0], self.pad, self.pad, [0, 0]])
        h = conv_with_label_channels(self.stem, x, y_onehot)
        for layer in self.encoder_blocks:
            h = layer(h)
        return self.encoder_flatten(ACTIVATION(h))

    def decoder_parameters(self, z, y_onehot, training=False):
        smallest = self.padded // 8
        code = tf.concat([z, y_onehot], axis=1)
        h = tf.reshape(self.decoder_dense(code), [-1, smallest, smallest, self.WIDTHS[-1]])
        for stage, (code_map, block) in enumerate(zip(self.decoder_codes, self.decoder_blocks)):
            if stage:  # nearest-neighbour up-sampling, then a 3 x 3 convolution
                h = self.decoder_ups[stage - 1](doubled(doubled(h, axis=1), axis=2))
            h = block(h + code_map(code)[:, None, None, :])
        parameters = self.to_parameters(ACTIVATION(h))
        before, size = self.pad[0], self.image_shape[0]
        return parameters[:, before:before + size, before:before + size] if any(self.pad) else parameters

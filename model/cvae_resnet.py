"""A conditional VAE of residual convolutions, made for colour images of square sizes (multiples of 4) from 16 to 128."""
import keras
import tensorflow as tf

from model.base import PARAMETERS_DTYPE, VAEBase, conv_with_label_channels
from model.blocks import (ACTIVATION, CONV, Activated, CodeAdded, Cropped, Reshaped, ResidualBlock, UpSampled,
                          apply_steps)

layers = keras.layers


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

    @property
    def decoder_layers(self):
        """The decoder's steps from the code [z, y] (model.blocks), which decoder_parameters runs and the latent
        explorer's page runs the same way."""
        smallest, steps = self.padded // 8, []
        for stage, (code_map, block) in enumerate(zip(self.decoder_codes, self.decoder_blocks)):
            # The first stage from the dense layer, each later one nearest-neighbour up-sampling then a 3 x 3
            # convolution.
            steps += ([UpSampled(), self.decoder_ups[stage - 1]] if stage else
                      [self.decoder_dense, Reshaped((smallest, smallest, self.WIDTHS[-1]))])
            steps += [CodeAdded(code_map), block]
        steps += [Activated(), self.to_parameters]
        if any(self.pad):
            steps.append(Cropped(*self.pad, *self.pad))
        return steps

    def decoder_parameters(self, z, y_onehot, training=False):
        return apply_steps(self.decoder_layers, tf.concat([z, y_onehot], axis=1), training)

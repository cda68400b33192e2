import keras

from model.base import PARAMETERS_DTYPE, ConvCVAE

layers = keras.layers


class CvaeCnn2(ConvCVAE):
    """Conditional VAE with two convolutions.

    Encoder: [x, y broadcast as K channels] (28x28x11 for MNIST's K = 10)
             -> Conv 5x5 stride 2, 16 ch, VALID (12x12) -> Conv 5x5 stride 2, 32 ch, VALID (4x4)
             -> FC -> (mean, log_var) [n]
    Decoder: [z, y] -> FC 7x7x8 -> ConvTranspose 5x5 stride 2, 8 ch (14x14)
             -> ConvTranspose 5x5 stride 2, 1 ch (28x28) logits
    ReLU with He initialization, as in the seed, except on the output: the seed applied ReLU to
    the output logits, so its sigmoid never went below 0.5; here the logits are left linear.
    Other sizes S (a multiple of 4, at least 16) and C channels: the same layers, the decoder starting from
    S / 4 x S / 4 x 8 and ending in C channels.
    """

    @classmethod
    def image_sizes(cls):
        # Two VALID 5x5 stride-2 convolutions need 13 pixels or more; the two stride-2 decoder layers, S / 4.
        return list(range(16, 129, 4))

    def __init__(self, latent_dim, seed=0, **kwargs):
        super().__init__(latent_dim, seed, **kwargs)
        conv = dict(activation="relu", kernel_initializer="he_normal")
        self.encoder_layers = [
            layers.Conv2D(16, 5, strides=2, padding="valid", name="encoder_conv_1", **conv),
            layers.Conv2D(32, 5, strides=2, padding="valid", name="encoder_conv_2", **conv),
            layers.Flatten(name="encoder_flatten"),
        ]
        start = self.image_shape[0] // 4
        self.decoder_layers = [
            layers.Dense(start * start * 8, name="decoder_dense", **conv),
            layers.Reshape((start, start, 8), name="decoder_reshape"),
            layers.Conv2DTranspose(8, 5, strides=2, padding="same", name="decoder_deconv_1", **conv),
            layers.Conv2DTranspose(self.decoder_channels, 5, strides=2, padding="same", kernel_initializer="he_normal",
                                   name="decoder_deconv_2", dtype=PARAMETERS_DTYPE),
        ]

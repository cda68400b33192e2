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
    """

    def __init__(self, latent_dim, seed=0, **kwargs):
        super().__init__(latent_dim, seed, **kwargs)
        conv = dict(activation="relu", kernel_initializer="he_normal")
        self.encoder_layers = [
            layers.Conv2D(16, 5, strides=2, padding="valid", name="encoder_conv_1", **conv),
            layers.Conv2D(32, 5, strides=2, padding="valid", name="encoder_conv_2", **conv),
            layers.Flatten(name="encoder_flatten"),
        ]
        self.decoder_layers = [
            layers.Dense(7 * 7 * 8, name="decoder_dense", **conv),
            layers.Reshape((7, 7, 8), name="decoder_reshape"),
            layers.Conv2DTranspose(8, 5, strides=2, padding="same", name="decoder_deconv_1", **conv),
            layers.Conv2DTranspose(1, 5, strides=2, padding="same", kernel_initializer="he_normal",
                                   name="decoder_deconv_2", dtype=PARAMETERS_DTYPE),
        ]

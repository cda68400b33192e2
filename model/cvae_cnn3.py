import keras

from model.base import PARAMETERS_DTYPE, ConvCVAE
from model.patch_conv import PatchConv2D, PatchConv2DTranspose

layers = keras.layers


class CvaeCnn3(ConvCVAE):
    """Conditional VAE with three convolutions.

    Encoder: [x, y broadcast as K channels] (28x28x11 for MNIST's K = 10)
             -> Conv 6x6 stride 3, 16 ch (10x10) -> Conv 4x4 stride 3, 32 ch (4x4)
             -> Conv 2x2 stride 2, 64 ch (2x2), all SAME -> FC -> (mean, log_var) [n]
    Decoder: [z, y] -> FC 2x2x64 -> ConvTranspose 2x2 stride 2, 32 ch (4x4, cropped to 3x3)
             -> ConvTranspose 3x3 stride 3, 16 ch (9x9, cropped to 7x7)
             -> ConvTranspose 4x4 stride 4, 1 ch (28x28) logits
    The crops are where TensorFlow's SAME transposed convolution would cut (the seed's sizes
    2 -> 3 -> 7 -> 28). ReLU with He initialization, as in the seed.
    The last convolution and the three transposed ones have kernel size == stride, so they run as
    one matmul each (model/patch_conv.py): the same layers and weights, computed faster.
    """

    def __init__(self, latent_dim, seed=0, **kwargs):
        super().__init__(latent_dim, seed, **kwargs)
        conv = dict(activation="relu", kernel_initializer="he_normal")
        self.encoder_layers = [
            layers.Conv2D(16, 6, strides=3, padding="same", name="encoder_conv_1", **conv),
            layers.Conv2D(32, 4, strides=3, padding="same", name="encoder_conv_2", **conv),
            PatchConv2D(64, 2, strides=2, padding="same", name="encoder_conv_3", **conv),
            layers.Flatten(name="encoder_flatten"),
        ]
        self.decoder_layers = [
            layers.Dense(2 * 2 * 64, name="decoder_dense", **conv),
            layers.Reshape((2, 2, 64), name="decoder_reshape"),
            PatchConv2DTranspose(32, 2, strides=2, name="decoder_deconv_1", **conv),
            layers.Cropping2D(((0, 1), (0, 1)), name="decoder_crop_1"),
            PatchConv2DTranspose(16, 3, strides=3, name="decoder_deconv_2", **conv),
            layers.Cropping2D(1, name="decoder_crop_2"),
            PatchConv2DTranspose(1, 4, strides=4, kernel_initializer="he_normal", name="decoder_deconv_3",
                                 dtype=PARAMETERS_DTYPE),
        ]

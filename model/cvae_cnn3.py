import keras

from model.base import PARAMETERS_DTYPE, ConvCVAE, same_crop
from model.patch_conv import PatchConv2D, PatchConv2DTranspose

layers = keras.layers


def _sizes(size):
    """(the encoder's last size, the two crops' sizes) for S x S images: MNIST's 28 gives (2, 3, 7)."""
    ceil = lambda a, b: -(-a // b)  # noqa: E731
    last = ceil(ceil(ceil(size, 3), 3), 2)
    second = size // 4
    return last, ceil(second, 3), second


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
    Other sizes S (a multiple of 4) and C channels: the same layers, sized from the shape. The encoder
    ends at ceil(S / 18) (32: 2x2, 64: 4x4); the decoder crops to ceil(S / 12) and S / 4 before the last
    stride-4 layer gives S x S x C (32: 2 -> 4 -> 3 -> 9 -> 8 -> 32; 64: 4 -> 8 -> 6 -> 18 -> 16 -> 64).
    The last convolution and the three transposed ones have kernel size == stride, so they run as
    one matmul each (model/patch_conv.py): the same layers and weights, computed faster.
    """

    @classmethod
    def image_sizes(cls):
        # A multiple of 4 (the last stride-4 layer), whose first crop has a size to cut down from.
        return [size for size in range(8, 129, 4) if 2 * _sizes(size)[0] >= _sizes(size)[1]]

    def __init__(self, latent_dim, seed=0, **kwargs):
        super().__init__(latent_dim, seed, **kwargs)
        conv = dict(activation="relu", kernel_initializer="he_normal")
        last, first_crop, second_crop = _sizes(self.image_shape[0])
        self.encoder_layers = [
            layers.Conv2D(16, 6, strides=3, padding="same", name="encoder_conv_1", **conv),
            layers.Conv2D(32, 4, strides=3, padding="same", name="encoder_conv_2", **conv),
            PatchConv2D(64, 2, strides=2, padding="same", name="encoder_conv_3", **conv),
            layers.Flatten(name="encoder_flatten"),
        ]
        self.decoder_layers = [
            layers.Dense(last * last * 64, name="decoder_dense", **conv),
            layers.Reshape((last, last, 64), name="decoder_reshape"),
            PatchConv2DTranspose(32, 2, strides=2, name="decoder_deconv_1", **conv),
            layers.Cropping2D([same_crop(2 * last, first_crop)] * 2, name="decoder_crop_1"),
            PatchConv2DTranspose(16, 3, strides=3, name="decoder_deconv_2", **conv),
            layers.Cropping2D([same_crop(3 * first_crop, second_crop)] * 2, name="decoder_crop_2"),
            PatchConv2DTranspose(self.decoder_channels, 4, strides=4, kernel_initializer="he_normal", name="decoder_deconv_3",
                                 dtype=PARAMETERS_DTYPE),
        ]

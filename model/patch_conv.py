"""Convolutions whose kernel size equals their stride, computed as one matrix product.

When kernel size == stride the patches do not overlap: a convolution then maps each k x k patch
(k * k * C_in numbers) to C_out numbers, and a transposed convolution maps each pixel to a k x k
patch. So each is space_to_depth / depth_to_space and one matmul, which on CPU is faster than
TensorFlow's general convolution kernels (measured for `cvae_cnn3` in bench/README.md).

Both layers subclass Keras' layers and keep their weights (names, shapes, initializers), so a
checkpoint of either kind restores into the other and gives the same outputs up to float rounding.
"""
import keras
import tensorflow as tf


def _check_patches(layer):
    k, stride = layer.kernel_size, layer.strides
    if k[0] != k[1] or tuple(k) != tuple(stride) or tuple(layer.dilation_rate) != (1, 1):
        raise ValueError(f"{type(layer).__name__} needs a square kernel equal to its stride, "
                         f"got kernel {k}, strides {stride}, dilation {layer.dilation_rate}")
    if layer.data_format != "channels_last":
        raise ValueError(f"{type(layer).__name__} supports channels_last only")


class PatchConv2D(keras.layers.Conv2D):
    """Conv2D with kernel size == stride. Where the stride divides the input's height and width there is no
    padding; where it does not, "same" pads with zeros as TensorFlow's SAME convolution does (the smaller half
    before: for stride 2, one row and column after), and "valid" is refused."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _check_patches(self)

    def build(self, input_shape):
        k = self.kernel_size[0]
        if self.padding == "valid" and any(size is not None and size % k for size in input_shape[1:3]):
            raise ValueError(f"PatchConv2D with stride {k} and valid padding needs input height and width divisible "
                             f"by {k}, got {tuple(input_shape[1:3])}")
        super().build(input_shape)

    def call(self, inputs):
        k = self.kernel_size[0]
        cuts = [-size % k for size in inputs.shape[1:3]]
        if any(cuts):  # only where the stride does not divide the size, so the other sizes' graphs are as they were
            inputs = tf.pad(inputs, [[0, 0], *[[cut // 2, cut - cut // 2] for cut in cuts], [0, 0]])
        # space_to_depth orders each patch's numbers as (row, column, channel), as the kernel
        # [k, k, C_in, C_out] flattens.
        patches = tf.nn.space_to_depth(inputs, k)
        outputs = tf.tensordot(patches, tf.reshape(self.kernel, [-1, self.filters]), 1)
        return self.activation(outputs + self.bias if self.use_bias else outputs)


class PatchConv2DTranspose(keras.layers.Conv2DTranspose):
    """Conv2DTranspose with kernel size == stride and "valid" padding: output size = stride x input size."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _check_patches(self)
        if self.padding != "valid":
            raise ValueError("PatchConv2DTranspose supports padding='valid' only")

    def call(self, inputs):
        # Keras keeps the kernel as [k, k, C_out, C_in]; each input pixel's channels map to a
        # k x k x C_out patch, which depth_to_space lays out in (row, column, channel) order.
        kernel = tf.transpose(self.kernel, [3, 0, 1, 2])
        patches = tf.tensordot(inputs, tf.reshape(kernel, [kernel.shape[0], -1]), 1)
        outputs = tf.nn.depth_to_space(patches, self.kernel_size[0])
        return self.activation(outputs + self.bias if self.use_bias else outputs)

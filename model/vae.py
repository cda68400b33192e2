import math

import keras
import tensorflow as tf

from model.base import PARAMETERS_DTYPE, VAEBase

layers = keras.layers


class Vae(VAEBase):
    """Plain VAE (Kingma & Welling 2013), fully connected; labels are ignored.

    Encoder: x (H * W * C: 784 for MNIST) -> FC 500 -> FC 500 -> (mean, log_var) [n]
    Decoder: z [n] -> FC 500 -> FC 500 -> FC H * W * C logits
    Softplus activations and Glorot (Xavier) initialization, as in the seed.
    """

    conditional = False
    # XLA fuses the step's elementwise work (softplus, the loss, Adam's update over 1.3 million
    # parameters), most of a fully connected step: faster or even on the CPUs measured in bench/README.md,
    # where the convolutional models lose. cvae_fc3 inherits it.
    xla_by_default = True

    def __init__(self, latent_dim, seed=0, **kwargs):
        super().__init__(latent_dim, seed, **kwargs)
        self.encoder_hidden = [layers.Dense(500, activation="softplus", name=f"encoder_{i}") for i in (1, 2)]
        self.decoder_hidden = [layers.Dense(500, activation="softplus", name=f"decoder_{i}") for i in (1, 2)]
        self.to_logits = layers.Dense(math.prod(self.image_shape[:2]) * self.decoder_channels, name="to_logits",
                                      dtype=PARAMETERS_DTYPE)

    @property
    def decoder_layers(self):
        """The decoder's layers in order, from [z, one-hot label] (z alone for the plain vae) to the flat logits."""
        return [*self.decoder_hidden, self.to_logits]

    def features(self, x, y_onehot, training=False):
        h = tf.reshape(x, [-1, math.prod(self.image_shape)])
        if self.conditional:
            h = tf.concat([h, y_onehot], axis=1)
        for layer in self.encoder_hidden:
            h = layer(h, training=training)
        return h

    def decoder_parameters(self, z, y_onehot, training=False):
        h = tf.concat([z, y_onehot], axis=1) if self.conditional else z
        for layer in self.decoder_hidden:
            h = layer(h, training=training)
        return tf.reshape(self.to_logits(h, training=training), [-1, *self.image_shape[:2], self.decoder_channels])

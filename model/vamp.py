"""The VampPrior VAE (Tomczak & Welling 2018): the vae's layers with a learned prior, the mixture of the encoder's
posteriors at K pseudo-inputs (model.priors.VampPrior). `WithVampPrior` is the prior alone, so any VAE of model/
gets it by inheriting it first: model/cvae_fc3_vamp.py is the conditional one.
"""
import keras
import numpy as np
import tensorflow as tf

from model import OPTIONS, priors
from model.vae import Vae


class WithVampPrior:
    """p(z | y) = the mean of q(z | u_k, y) over the label's pseudo-inputs u_k, K = `pseudo_inputs` images the model
    learns with its other weights (a conditional model's split evenly over the classes: 50 per digit for MNIST).

    A pseudo-input is sigmoid(w) of a weight w, so it stays an image in [0, 1] whatever the optimiser does (the paper
    clips a linear layer's output with hardtanh, where a clipped pixel stops learning); w starts where the paper's
    pseudo-inputs start, at nearly black images (sigmoid(w) = 0.05 +- 0.01), drawn from the model's seed.
    """

    pseudo_inputs = OPTIONS["pseudo_inputs"].default  # K (--pseudo-inputs): 500, as in Tomczak & Welling's MNIST runs

    def __init__(self, latent_dim, seed=0, **kwargs):
        super().__init__(latent_dim, seed, **kwargs)  # checks pseudo_inputs against the classes (check_options)
        self.pseudo_input_layer = PseudoInputs(self.pseudo_inputs, self.image_shape, seed, name="pseudo_inputs")
        labels = np.arange(self.pseudo_inputs) % self.classes if self.conditional else np.zeros(self.pseudo_inputs)
        self.prior = priors.VampPrior(self, labels)

    @classmethod
    def check_options(cls, options, classes):
        if cls.conditional and options.get("pseudo_inputs", cls.pseudo_inputs) < classes:
            raise ValueError(f"needs at least one pseudo-input a class: --pseudo-inputs {classes} or more for "
                             f"{classes} classes")

    def pseudo_input_images(self):
        """The K pseudo-inputs u_k, images [K, H, W, C] in [0, 1]."""
        return self.pseudo_input_layer.images()


class PseudoInputs(keras.layers.Layer):
    """The pseudo-inputs as a layer of their own (it takes no input: `images()` gives them), so that their weight is
    named "pseudo_inputs/weights" in every process, as each of the model's weights is named after its layer (a
    weight of the model itself would carry the model's name, which Keras numbers per process)."""

    def __init__(self, count, image_shape, seed, **kwargs):
        super().__init__(**kwargs)
        self.weights_before_sigmoid = self.add_weight(
            shape=(count, *image_shape), name="weights",
            initializer=keras.initializers.RandomNormal(mean=-2.944, stddev=0.2, seed=seed))
        self.built = True

    def images(self):
        return tf.sigmoid(self.weights_before_sigmoid)


class Vamp(WithVampPrior, Vae):
    """The plain vae's layers (fully connected, labels ignored) with the VampPrior of 500 pseudo-inputs
    (model.vamp.WithVampPrior) in place of N(0, I)."""

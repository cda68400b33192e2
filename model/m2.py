import math

import keras
import tensorflow as tf

from model import UNLABELLED
from model.base import PARAMETERS_DTYPE, VAEBase
from model.cnn import Cnn
from model.losses import softmax_cross_entropy

layers = keras.layers


class M2(VAEBase):
    """Semi-supervised M2 (Kingma et al. 2014): p(x | y, z) with a classifier q(y | x) and q(z | x, y).

    Classifier q(y | x): the `cnn` layers (4 conv blocks with max-pool and dropout -> FC K).
    Encoder q(z | x, y): [x, y] -> FC 500 -> FC 500 -> (mean, log_var) [n]
    Decoder p(x | y, z): [z, y] -> FC 500 -> FC 500 -> FC H * W * C logits (784 for MNIST)
    Softplus activations, as in `cvae_fc3`.

    A batch mixes labelled images and unlabelled ones (label UNLABELLED). The loss is the paper's
    objective (its eq. 9) divided by the number of unlabelled images:
        mean_u[-U(x)] + (N_l / N_u) * (mean_l[-L(x, y)] + alpha * mean_l[-log q(y | x)]),  alpha = 0.1 N
    where -L is the negative CVAE ELBO and -U(x) = sum_y q(y | x) (-L(x, y)) - H(q(y | x)).
    train.py sets N_l and N_u with `set_data_sizes`.

    As a Keras model, m2((x, y)) is the VAE's call: the pixel means of the reconstruction of x given
    labels y; classify(x) gives q(y | x)'s logits.
    """

    semi_supervised = True
    weighs_kl = False  # its objective has a KL in each of its two halves; --kl-warmup is not for it
    classifies = True
    ALPHA_PER_IMAGE = 0.1
    EVAL_IMAGES_PER_PASS = 100

    def __init__(self, latent_dim, seed=0, **kwargs):
        super().__init__(latent_dim, seed, **kwargs)
        self.classifier = Cnn(seed=seed, classes=self.classes, image_shape=self.image_shape, prefix="classifier_",
                              name="classifier")
        # The encoder's first layer split in two, W [x, y] = W_x x + W_y y, so that scoring an unlabelled
        # image under all K labels multiplies its 784 pixels once, not K times.
        self.encoder_image = layers.Dense(500, name="encoder_image")
        self.encoder_label = layers.Dense(500, use_bias=False, name="encoder_label")
        self.encoder_hidden = layers.Dense(500, activation="softplus", name="encoder_hidden")
        self.decoder_hidden = [layers.Dense(500, activation="softplus", name=f"decoder_{i}") for i in (1, 2)]
        self.to_logits = layers.Dense(math.prod(self.image_shape[:2]) * self.decoder_channels, name="to_logits",
                                      dtype=PARAMETERS_DTYPE)
        self.set_data_sizes(labelled=1, unlabelled=1)

    @property
    def decoder_layers(self):
        """The decoder's layers in order, from [z, one-hot label] to the flat logits."""
        return [*self.decoder_hidden, self.to_logits]

    def set_data_sizes(self, labelled, unlabelled):
        """Weights of the labelled terms for a training set of `labelled` + `unlabelled` images."""
        self.labelled_weight = labelled / unlabelled
        self.alpha = self.ALPHA_PER_IMAGE * (labelled + unlabelled)

    def classify(self, x, training=False):
        """Logits of q(y | x), [B, classes]."""
        return self.classifier.classify(x, training)

    def features(self, x, y_onehot, training=False):
        flat = tf.reshape(x, [-1, math.prod(self.image_shape)])
        h = tf.nn.softplus(self.encoder_image(flat, training=training)
                           + self.encoder_label(y_onehot, training=training))
        return self.encoder_hidden(h, training=training)

    def decoder_parameters(self, z, y_onehot, training=False):
        h = tf.concat([z, y_onehot], axis=1)
        for layer in self.decoder_hidden:
            h = layer(h, training=training)
        return tf.reshape(self.to_logits(h, training=training), [-1, *self.image_shape[:2], self.decoder_channels])

    def negative_elbo_every_label(self, x, images_per_pass=None):
        """-L(x, y) for every label y at once: [B, K], from one batched pass over B * K (image, label) rows.

        With images_per_pass, the decoder takes that many images' K rows at a time, so that scoring a
        large evaluation batch does not hold B * K decoded images at once. The noise is still drawn in one
        call for all B * K rows, so the noise generator ends in the same state either way."""
        batch = tf.shape(x)[0]
        image_part = self.encoder_image(tf.reshape(x, [-1, math.prod(self.image_shape)]))              # [B, 500]
        label_part = self.encoder_label(tf.eye(self.classes))                       # [K, 500]
        h = tf.nn.softplus(image_part[:, None, :] + label_part[None, :, :])         # [B, K, 500]
        h = self.encoder_hidden(tf.reshape(h, [-1, 500]))                            # row b * K + k: label k
        mean, log_var = self.to_mean(h), self.to_log_var(h)
        z = self.reparameterize(mean, log_var)
        labels = tf.tile(tf.range(self.classes), [batch])
        if images_per_pass is None:
            reconstruction = self.likelihood.nll(tf.repeat(x, self.classes, axis=0), self.decode(z, labels))
        else:
            reconstruction = self.reconstruction_in_passes(x, z, labels, images_per_pass)
        return tf.reshape(reconstruction + self.prior.kl(mean, log_var, z, labels), [batch, self.classes])

    def reconstruction_in_passes(self, x, z, labels, images_per_pass):
        """-log p(x_b | z_r, y_r) for the rows r = b * K + k, [B * K], decoded images_per_pass images at a time."""
        batch, rows = tf.shape(x)[0], images_per_pass * self.classes
        passes = (batch + images_per_pass - 1) // images_per_pass
        pieces = tf.TensorArray(tf.float32, size=passes, infer_shape=False)

        def decode_pass(i, pieces):
            images = x[i * images_per_pass:(i + 1) * images_per_pass]
            logits = self.decode(z[i * rows:(i + 1) * rows], labels[i * rows:(i + 1) * rows])
            return i + 1, pieces.write(i, self.likelihood.nll(tf.repeat(images, self.classes, axis=0), logits))

        _, pieces = tf.while_loop(lambda i, _: i < passes, decode_pass, (tf.constant(0), pieces))
        return pieces.concat()

    def compute_losses(self, x, y, training=False):
        """Training: the objective above, with images labelled UNLABELLED treated as unlabelled.

        Evaluation (training=False) scores every image both ways: the labelled terms with its label,
        and "unlabelled" = -U(x), a bound on -log p(x) with the label summed out."""
        labelled = y != UNLABELLED
        count = tf.reduce_sum(tf.cast(labelled, tf.float32))
        logits = self.classify(x, training)

        x_l, y_l = tf.boolean_mask(x, labelled), tf.boolean_mask(y, labelled)
        reconstruction, kl = self.negative_elbo(x_l, y_l, training)
        classification = softmax_cross_entropy(y_l, tf.boolean_mask(logits, labelled))
        wrong = tf.cast(tf.argmax(tf.boolean_mask(logits, labelled), axis=1, output_type=tf.int32) != y_l, tf.float32)

        unlabelled = tf.logical_not(labelled) if training else tf.ones_like(labelled)
        q_logits = tf.boolean_mask(logits, unlabelled)
        q, log_q = tf.nn.softmax(q_logits), tf.nn.log_softmax(q_logits)
        x_u = tf.boolean_mask(x, unlabelled)
        # Evaluation scores a batch of 1000 images under all K labels: 100 at a time keeps the 10,000
        # decoded rows from being held at once (peak memory, bench/README.md). Training keeps one pass, so
        # that no while_loop sits inside the gradient tape of the training step.
        per_pass = None if training else self.EVAL_IMAGES_PER_PASS
        every_label = self.negative_elbo_every_label(x_u, images_per_pass=per_pass)
        negative_u = tf.reduce_sum(q * (every_label + log_q), axis=1)

        def mean(values, n):
            return tf.math.divide_no_nan(tf.reduce_sum(values), n)

        labelled_terms = mean(reconstruction + kl, count) + self.alpha * mean(classification, count)
        unlabelled_mean = mean(negative_u, tf.reduce_sum(tf.cast(unlabelled, tf.float32)))
        return {"loss": unlabelled_mean + self.labelled_weight * labelled_terms,
                "unlabelled": unlabelled_mean,
                "reconstruction": mean(reconstruction, count),
                "kl": mean(kl, count),
                "classification": mean(classification, count),
                "error": mean(wrong, count)}

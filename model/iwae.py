"""The importance-weighted autoencoder (Burda et al. 2015): the vae's layers, trained on a tighter bound than the
ELBO. `ImportanceWeighted` is the objective alone, so any VAE of model/ gets it by inheriting it first:
model/cvae_fc3_iwae.py is the conditional one.
"""
import math

import tensorflow as tf

from model import OPTIONS
from model.vae import Vae


class ImportanceWeighted:
    """Trains on the k-sample importance-weighted bound on log p(x | y), instead of the ELBO:

        L_k = E[log (1/k) sum_i p(x, z_i | y) / q(z_i | x, y)],   z_1..z_k ~ q(z | x, y),

    which is the ELBO for k = 1 and tightens as k grows (Burda et al. 2015, Theorem 1). Its gradient weighs each
    of the k decodings by its normalised importance weight, so q no longer pays for every code that explains the
    image badly, and the model can keep codes the ELBO would have pruned. The encoder runs once per image and
    the decoder k times.

    The losses it reports: "loss" = -L_k (what training minimises), and beside it the two terms of the ELBO from
    the same k codes ("reconstruction", the mean of -log p(x | z_i, y); "kl", the prior's: in closed form for
    N(0, I), else estimated at the first code), so the learning curves and the test ELBO compare with every other
    model's. Evaluation (evaluate.py's NLL with k = 5000) is
    every VAE's.
    """

    # k while training (--iw-samples): 5 by default, Burda et al.'s k = 5 runs, whose gains they report beside k = 50
    iw_samples = OPTIONS["iw_samples"].default
    weighs_kl = False  # the bound has no KL term of its own to warm up
    # The plain step unless told (--xla): with k decodes a step, XLA loses here (bench/README.md: cvae_fc3_iwae -n 50,
    # 4,248 img/s plain against 3,436 with XLA, and 3,816 against 2,214 with --binarize), where the ELBO's step,
    # mostly elementwise work it fuses, gains 1.2-1.4x.
    xla_by_default = False

    def compute_losses(self, x, y, training=False):
        mean, log_var = self.encode(x, y, training)
        noise = self.training_noise(tf.stack([tf.shape(mean)[0], self.iw_samples, tf.shape(mean)[1]]))
        log_px, log_pz, log_qz = self.importance_terms(x, y, mean, log_var, noise, training)  # each [B, k]
        bound = tf.reduce_logsumexp(log_px + log_pz - log_qz, axis=1) - math.log(self.iw_samples)
        return {"loss": -tf.reduce_mean(bound),
                "reconstruction": -tf.reduce_mean(log_px),
                "kl": tf.reduce_mean(self.prior.kl(mean, log_var, mean + tf.exp(0.5 * log_var) * noise[:, 0], y))}


class Iwae(ImportanceWeighted, Vae):
    """The plain vae's layers (fully connected, labels ignored), trained on the importance-weighted bound with
    k = 5 (model.iwae.ImportanceWeighted)."""

from model.vae import Vae


class CvaeFc3(Vae):
    """Conditional VAE, fully connected: the `vae` layers with the one-hot label (K = 10 for
    MNIST) concatenated to the encoder's input (784 + K) and to z (n + K).

    Encoder: [x, y] -> FC 500 -> FC 500 -> (mean, log_var) [n]
    Decoder: [z, y] -> FC 500 -> FC 500 -> FC 784 logits
    """

    conditional = True

from model.cvae_fc3 import CvaeFc3
from model.vamp import WithVampPrior


class CvaeFc3Vamp(WithVampPrior, CvaeFc3):
    """cvae_fc3's layers (the label joined to the encoder's input and to z) with a VampPrior per class: p(z | y) mixes
    q(z | u_k, y) over the 50 pseudo-inputs of class y (model.vamp.WithVampPrior). The conditional VampPrior VAE."""

from model.cvae_fc3 import CvaeFc3
from model.iwae import ImportanceWeighted


class CvaeFc3Iwae(ImportanceWeighted, CvaeFc3):
    """cvae_fc3's layers (the label joined to the encoder's input and to z), trained on the importance-weighted
    bound on log p(x | y) with k = 5 (model.iwae.ImportanceWeighted): the conditional IWAE."""

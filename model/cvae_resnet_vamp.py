from model.cvae_resnet import CvaeResnet
from model.vamp import WithVampPrior


class CvaeResnetVamp(WithVampPrior, CvaeResnet):
    """cvae_resnet's residual convolutions with a VampPrior per class in place of N(0, I): p(z | y) mixes q(z | u_k, y)
    over class y's learned pseudo-inputs u_k (model.vamp.WithVampPrior), images of the data's own size and colour.
    The prior is learned where the codes of the training images lie, so a code it draws decodes to an image like
    theirs: N(0, I)'s draws fall where no image's code lies when the codes fill little of it (docs/colour.md)."""

"""The data set a run names: MNIST, Fashion-MNIST, or one of one's own, loaded from what its config records."""
from cvae import mnist, owndata
from cvae.data import DATA_DIR, ImageSet
from cvae.mnist import DATASETS


def is_own(dataset):
    """True when `dataset` (a --dataset value or a config's) is a path, not a named data set."""
    return dataset not in DATASETS


def load_for(config, data_dir=DATA_DIR, log=print) -> ImageSet:
    """The arrays a run (its RunConfig) trains and is judged on: MNIST, Fashion-MNIST or its own data."""
    if config.data is not None:
        return owndata.load_for_run(config.data, data_dir, log)
    return mnist.load_dataset(config.dataset, data_dir, log)

"""A trained run opened for use: what a notebook or a script does with it (TrainedRun), and what every tool
gets from cvae.runs.open_run or RunDir.load."""
import dataclasses
from pathlib import Path

from cvae.config import RunConfig
from cvae.errors import UsageError


@dataclasses.dataclass
class TrainedRun:
    """A run opened for use: its model, rebuilt from config.json, with the weights of one checkpoint."""
    model: object  # a model of model.registry
    config: RunConfig
    epoch: int  # the epochs the loaded checkpoint had trained
    directory: object  # its cvae.rundir.RunDir
    checkpoint: str  # the path prefix of the checkpoint its weights came from

    @property
    def identity(self):
        return self.config.identity

    @property
    def name(self):
        return self.directory.name

    def class_names(self):
        return self.identity.class_names()

    # What a notebook or a script does with a run; images are uint8 [N, H, W, C] as data sets hold them, codes
    # z [N, n], labels [N] class indices (an unconditional model takes none).

    def encode(self, images, labels=None):
        """Means of q(z | x, y) of the images: [N, n]."""
        from cvae.generation import encode_means
        return encode_means(self.model, images, self._labels(labels, len(images)))

    def decode(self, z, labels=None):
        """Pixel means [N, H, W, C] in [0, 1] of p(x | z, y)."""
        from cvae.generation import decode
        return decode(self.model, z, self._labels(labels, len(z)))

    def reconstruct(self, images, labels=None):
        """Pixel means [N, H, W, C] of the images' reconstructions (decoded from their codes' means)."""
        from cvae.generation import reconstruct
        return reconstruct(self.model, images, self._labels(labels, len(images)))

    def sample(self, labels=None, count=16, std=1.0, seed=0, mixture=None):
        """`count` images for each of `labels` (default: every class), their codes from the prior N(0, std^2 I)
        or from `mixture` (cvae.samplers.fitted), as (images uint8 [len(labels) * count, H, W, C], their labels
        [N], z [N, n]); the same seed, the same z."""
        from cvae.generation import draw
        if labels is None:
            labels = range(len(self.class_names())) if self.model.conditional else [0]
        return draw(self.model, list(labels), count, std, seed, mixture)

    def classify(self, images):
        """The class each image is read as, [N]: a model that classifies (cnn, m2)."""
        from cvae.generation import classify
        return classify(self.model, images)

    def data(self, data_dir=None):
        """The data set the run trained on (an ImageSet: train_images, train_labels, test_images, test_labels)."""
        from cvae.data import DATA_DIR
        from cvae.datasets import load_for
        return load_for(self.identity, DATA_DIR if data_dir is None else data_dir)

    def _labels(self, labels, count):
        import numpy as np
        if labels is None:
            if self.model.conditional:
                raise UsageError(f"{self.identity.model} is conditional: give the labels of the images or codes")
            return np.zeros(count, np.int32)
        return np.asarray(labels)

    def writable_folder(self, log_dir):
        """Where what is made from this run goes (eval.json, the fitted sampler): its own directory, or for a
        shipped run, which stays as git has it, LOG_DIR/pretrained/NAME."""
        return Path(log_dir) / "pretrained" / self.name if self.directory.read_only else self.directory.path

    def folder_in(self, base):
        """Where a tool writes what it makes of this run under `base` (figure/, export/, explorer/): base/NAME,
        or base/pretrained/NAME for a shipped run, beside (never over) one's own run of the same name."""
        return Path(base) / ("pretrained" if self.directory.read_only else "") / self.name

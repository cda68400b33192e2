"""A trained run opened for use: what a notebook or a script does with it (TrainedRun), and what every tool
gets from cvae.runs.open_run or RunDir.load."""
import dataclasses
from pathlib import Path

from cvae.config import RunConfig
from cvae.errors import BadArgument
from cvae.limits import MAX_STD


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
        """What the run is (cvae.config.RunIdentity: model, latent size, data set, likelihood, labels, ...)."""
        return self.config.identity

    @property
    def name(self):
        """Its directory's name (cvae_cnn3_2)."""
        return self.directory.name

    def class_names(self):
        """The names of its classes, in label order ("0" to "9" for MNIST, a folder's class sub-folders)."""
        return self.identity.class_names()

    # What a notebook or a script does with a run; images are uint8 [N, H, W, C] as data sets hold them, codes
    # z [N, n], labels [N] class indices (an unconditional model takes none).

    # Every argument is checked here (BadArgument, a ValueError naming it): a wrong shape reaching TensorFlow can
    # abort the whole process, a Jupyter kernel with it.

    def encode(self, images, labels=None):
        """Means of q(z | x, y) of the images: [N, n]."""
        from cvae.generation import encode_means
        images = self._images(images)
        return encode_means(self._latent_model("encode"), images, self._labels(labels, len(images)))

    def decode(self, z, labels=None):
        """Pixel means [N, H, W, C] in [0, 1] of p(x | z, y)."""
        from cvae.generation import decode
        z = self._codes(z)
        return decode(self._latent_model("decode"), z, self._labels(labels, len(z)))

    def reconstruct(self, images, labels=None):
        """Pixel means [N, H, W, C] of the images' reconstructions (decoded from their codes' means)."""
        from cvae.generation import reconstruct
        images = self._images(images)
        return reconstruct(self._latent_model("reconstruct"), images, self._labels(labels, len(images)))

    def sample(self, labels=None, count=16, std=1.0, seed=0, mixture=None):
        """`count` images for each of `labels` (default: every class), their codes from the prior (scaled by std)
        or from `mixture` (cvae.samplers.fitted), as (images uint8 [len(labels) * count, H, W, C], their labels
        [N], z [N, n]); the same seed, the same z."""
        import math
        from cvae.generation import draw
        model = self._latent_model("sample")
        if labels is None:
            labels = range(len(self.class_names())) if model.conditional else [0]
        labels = self._labels(labels, None) if model.conditional else [0] * len(list(labels))
        if len(labels) == 0:
            raise BadArgument("labels is empty: give at least one class to sample")
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1_000_000:
            raise BadArgument(f"count must be a whole number of images per label, 1 to 1,000,000, got {count!r}")
        if (isinstance(std, bool) or not isinstance(std, (int, float))
                or not (0 < std <= MAX_STD and math.isfinite(std))):
            raise BadArgument(f"std must be a number above 0 and at most {MAX_STD:g}, got {std!r}")
        return draw(model, list(labels), count, std, seed, mixture)

    def classify(self, images):
        """The class each image is read as, [N]: a model that classifies (cnn, m2)."""
        from cvae.generation import classify
        if not self.model.classifies:
            raise BadArgument(f"{self.identity.model} does not classify; cnn and m2 do")
        return classify(self.model, self._images(images))

    def data(self, data_dir=None):
        """The data set the run trained on (an ImageSet: train_images, train_labels, test_images, test_labels)."""
        from cvae.data import DATA_DIR
        from cvae.datasets import load_for
        return load_for(self.identity, DATA_DIR if data_dir is None else data_dir)

    def _latent_model(self, what):
        if not self.model.has_latent_space:
            raise BadArgument(f"{self.identity.model} is a classifier: it has no latent space to {what}")
        return self.model

    def _images(self, images):
        """uint8 images [N, H, W, C] of the model's shape, or BadArgument saying what they are instead."""
        import numpy as np
        array = np.asarray(images)
        shape = tuple(self.model.image_shape)
        if array.ndim != 4 or array.shape[1:] != shape or len(array) == 0:
            raise BadArgument(f"images must be [N, {', '.join(map(str, shape))}] (N > 0), as the run's data sets hold "
                              f"them; got shape {list(array.shape)}")
        if array.dtype != np.uint8:
            hint = (" (floats in [0, 1]: pass np.round(images * 255).astype(np.uint8))"
                    if array.dtype.kind == "f" else "")
            raise BadArgument(f"images must be uint8 levels 0-255, got {array.dtype}{hint}")
        return array

    def _codes(self, z):
        import numpy as np
        array = np.asarray(z)
        if (array.ndim != 2 or array.shape[1] != self.model.latent_dim or len(array) == 0
                or array.dtype.kind not in "fiu"):
            raise BadArgument(f"z must be numbers [N, {self.model.latent_dim}] (N > 0); got {array.dtype} "
                              f"{list(array.shape)}")
        if not np.all(np.isfinite(array)):
            raise BadArgument("z holds NaN or infinite values")
        return array.astype(np.float32)

    def _labels(self, labels, count):
        """Class indices [N] (count: the images' or codes' N, None for any), or BadArgument."""
        import numpy as np
        if labels is None:
            if self.model.conditional:
                raise BadArgument(f"{self.identity.model} is conditional: give the labels of the images or codes")
            return np.zeros(count, np.int32)
        classes = len(self.class_names())
        if isinstance(labels, (str, bytes)):
            raise BadArgument(f"labels must be class indices 0 to {classes - 1}, not the text {labels!r}")
        array = np.asarray(labels)
        if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
            raise BadArgument(f"labels must be whole numbers [N], got {array.dtype} {list(array.shape)}")
        if count is not None and len(array) != count:
            raise BadArgument(f"labels has {len(array)} entries for {count} images or codes: give one each")
        if array.size and (array.min() < 0 or array.max() >= classes):
            raise BadArgument(f"labels must be class indices 0 to {classes - 1} (this run has {classes} classes), "
                              f"got {array.min()} to {array.max()}")
        return array.astype(np.int32)

    def writable_folder(self, log_dir):
        """Where what is made from this run goes (eval.json, the fitted sampler): its own directory, or for a
        shipped run, which stays as git has it, LOG_DIR/pretrained/NAME."""
        return Path(log_dir) / "pretrained" / self.name if self.directory.read_only else self.directory.path

    def folder_in(self, base):
        """Where a tool writes what it makes of this run under `base` (figure/, export/, explorer/): base/NAME,
        or base/pretrained/NAME for a shipped run, beside (never over) one's own run of the same name."""
        return Path(base) / ("pretrained" if self.directory.read_only else "") / self.name

"""An image set as uint8 arrays, and its cache in data/: NAME.npz beside NAME.json, which records the
arrays' content sha256, so a cache that does not hold what was written is never used."""
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cvae import ROOT
from cvae.errors import UsageError, UserFacingError
from cvae.files import atomic_file, write_atomic

DATA_DIR = ROOT / "data"
MEMORY_SHARE = 10  # arrays a command is asked to make may take at most a tenth of the machine's memory


def memory_bytes():
    """This machine's physical memory, in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_fits(nbytes, what, advice):
    """UsageError, before anything is made, when `what` would take `nbytes` of memory, more than a
    MEMORY_SHARE-th of the machine's; `advice` says how to ask for less."""
    limit = memory_bytes() / MEMORY_SHARE
    if nbytes > limit:
        raise UsageError(f"{what} would take {nbytes / 1e9:,.1f} GB of memory, more than a tenth of this machine's "
                         f"{memory_bytes() / 1e9:.0f} GB; {advice}")


class DataError(UserFacingError):
    """A data set could not be had; the message says what was tried and what to do."""


@dataclass
class ImageSet:
    """train_images: [N, H, W, C] uint8, train_labels: [N] uint8; test likewise (MNIST: 60,000 and 10,000 of
    28 x 28 x 1). Images given as [N, H, W] are gray: a channel axis is added (a view, the same bytes)."""
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray

    def __post_init__(self):
        if self.train_images.ndim == 3:
            self.train_images = self.train_images[..., None]
        if self.test_images.ndim == 3:
            self.test_images = self.test_images[..., None]

    @property
    def image_shape(self):
        """(H, W, C) of every image."""
        return tuple(self.train_images.shape[1:])

    def arrays(self):
        return self.train_images, self.train_labels, self.test_images, self.test_labels

    def content_sha256(self):
        digest = hashlib.sha256()
        for array in self.arrays():
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()


def read_cache_and_meta(data_dir, name):
    """(arrays, the .json written beside them) of data_dir/NAME.npz; ValueError when the arrays' content
    sha256 is not the recorded one."""
    data_dir = Path(data_dir)
    meta = json.loads((data_dir / f"{name}.json").read_text())
    with np.load(data_dir / f"{name}.npz", allow_pickle=False) as f:
        data = ImageSet(*(f[k] for k in ("train_images", "train_labels", "test_images", "test_labels")))
    if data.content_sha256() != meta["sha256"]:
        raise ValueError(f"content sha256 does not match {data_dir / name}.json")
    return data, meta


def write_cache(images: ImageSet, data_dir, source: str, name, arrays=None, **meta):
    """data_dir/NAME.npz of `images` (and of `arrays`, {name: array} more) and, beside it, NAME.json with the
    images' content sha256, their source and `meta`. Each is written whole (cvae.files.atomic_file), the arrays
    first, so an interrupted write never leaves a cache that looks valid. DataError when a cache path is taken
    by something that is not a file."""
    path = Path(data_dir) / f"{name}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    for taken in (path, path.with_suffix(".json")):
        if taken.is_dir() and not taken.is_symlink():
            raise DataError(f"{taken} is a directory where the data cache goes; move it away and run again")
    with atomic_file(path) as f:
        np.savez(f, train_images=images.train_images, train_labels=images.train_labels,
                 test_images=images.test_images, test_labels=images.test_labels, **(arrays or {}))
    write_atomic(path.with_suffix(".json"),
                 json.dumps({"sha256": images.content_sha256(), "source": source, **meta}, indent=2) + "\n")

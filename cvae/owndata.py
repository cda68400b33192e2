"""A data set of your own, for `--dataset PATH`: an image folder or an .npz file.

  folder   one sub-folder per class holding image files (PNG, JPEG, BMP, GIF; any size, gray or
           colour). Class names are the folder names in sorted order. If the folder holds both train/
           and test/ (each with the same kind of class folders), they are the split. Images are read
           with keras.utils.image_dataset_from_directory as grayscale, resized to 28x28 by bilinear
           interpolation without keeping the aspect ratio, and rounded to uint8.
  .npz     `images` [N, 28, 28] or [N, 28, 28, 1], uint8 0-255 or float 0-1; `labels` [N], integers
           0..K-1; optional `test_images` / `test_labels` and `class_names` [K]. It is read without
           pickle: an array of Python objects is refused.

Without a given split, a seeded (SPLIT_SEED), class-stratified sixth of each class is the test set.
The data set's name is the folder's or file's name plus the start of the sha256 of its contents,
for example digits_3fa9c2d1: runs on it go to log/MODEL_N_digits_3fa9c2d1/, so two different
folders both called "data" never share a run. The decoded arrays are cached in data/own/SHA256.npz,
so the next command does not decode the images again. Every mistake in the data is a UsageError:
one line saying what is wrong and where.
"""
import hashlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cvae.data import DataError, ImageSet, read_cache_and_meta, write_cache
from cvae.errors import UsageError

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")  # what Keras' directory reader takes
MIN_CLASSES, MAX_CLASSES = 2, 100
SPLIT_SEED = 0
TEST_SHARE = 6  # without a given split, 1 image in TEST_SHARE of each class is a test image
# How images become arrays. Part of a folder's hash: a change here gives new cache entries, not stale ones.
READER = "keras image_dataset_from_directory, grayscale, 28x28, bilinear, rounded to uint8; seeded order"
PROGRESS_EVERY_S = 2.0


@dataclass
class Source:
    """What --dataset PATH names, before anything is decoded."""
    path: Path  # resolved
    sha256: str  # of the contents (a folder: every image file's path and bytes, and READER)
    name: str  # the folder's or file's name and the start of sha256: the run directory's suffix
    class_names: list  # of the training images
    splits: dict = None  # a folder: {"train": [(file, class index)], "test": [...]} ("test" when given)
    folders: dict = None  # a folder: {"train": directory, "test": directory} of those lists


_DESCRIBED = {}


def short_stem(path):
    """The start of a data set's name: the folder's name or the file's stem, in letters, digits, _ and - only
    (a path that is gone: a file if it ends in .npz)."""
    path = Path(path)
    is_file = path.is_file() if path.exists() else path.suffix == ".npz"
    stem = path.stem if is_file else path.name
    return re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-")[:40]


def short_name(path, sha256):
    """The data set's name: its short_stem and the start of its contents' sha256 (digits_3fa9c2d1)."""
    return short_stem(path) + "_" + sha256[:8]


def describe(path) -> Source:
    """The Source of PATH: its files listed and hashed, nothing decoded. UsageError for what is not an
    image folder or an .npz file."""
    path = Path(path).expanduser().resolve()
    # train.py asks twice (the data, the run's name): the files are hashed again only when they changed.
    key = (path, _fingerprint(path))
    if key not in _DESCRIBED:
        if path.is_dir():
            _DESCRIBED[key] = _describe_folder(path)
        elif path.is_file() and path.suffix == ".npz":
            sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
            _DESCRIBED[key] = Source(path, sha256, short_name(path, sha256), [])
        else:
            raise UsageError(f"--dataset {path}: not an image folder or an .npz file (or one of mnist, fashion_mnist)")
    return _DESCRIBED[key]


def _fingerprint(path):
    """Every file's name, size and modification time: cheap to take, and changed by any edit."""
    if not path.is_dir():
        stat = path.stat() if path.exists() else None
        return stat and (stat.st_size, stat.st_mtime_ns)
    return tuple((root, name, os.stat(os.path.join(root, name)).st_size, os.stat(os.path.join(root, name)).st_mtime_ns)
                 for root, _, names in sorted(os.walk(path)) for name in sorted(names))



def _index(directory):
    """(class names, [(file, class index)]) of one class-per-folder tree, as Keras' reader lists it."""
    import keras
    try:
        found = keras.utils.image_dataset_from_directory(directory, labels="inferred", shuffle=False, batch_size=None,
                                                         verbose=False)
    except ValueError as err:  # "No images found in directory ..."
        raise UsageError(f"no images in {directory}: put one sub-folder per class there, holding PNG, JPEG, BMP "
                         f"or GIF files") from err
    names = list(found.class_names)
    # Keras reads the class sub-folders only (files beside them are not part of the data set).
    files = [(Path(file), names.index(Path(file).relative_to(directory).parts[0])) for file in found.file_paths]
    return names, files


def _describe_folder(path):
    given_split = (path / "train").is_dir() and (path / "test").is_dir()
    if given_split:
        names, train = _index(path / "train")
        test_names, test = _index(path / "test")
        extra = sorted(set(test_names) - set(names))
        if extra:
            raise UsageError(f"{path / 'test'} has class folder(s) {', '.join(extra)} that {path / 'train'} has not: "
                             f"every test class needs training images")
        test = [(file, names.index(test_names[label])) for file, label in test]
        splits, folders = {"train": train, "test": test}, {"train": path / "train", "test": path / "test"}
    else:
        names, train = _index(path)
        splits, folders = {"train": train}, {"train": path}
    digest = hashlib.sha256(READER.encode())
    for split, files in splits.items():
        for file, label in files:
            data = file.read_bytes()
            digest.update(f"{split}/{file.relative_to(path).as_posix()}\0{names[label]}\0{len(data)}\0".encode())
            digest.update(data)
    return Source(path, digest.hexdigest(), short_name(path, digest.hexdigest()), names, splits, folders)


def load(dataset, data_dir, log=print):
    """(ImageSet, info for the run's config) of --dataset PATH: from the cache when it holds
    these contents, else decoded, checked, split and cached."""
    source = describe(dataset)
    if source.sha256 in _LOADED:
        return _LOADED[source.sha256]
    cached = _read_cache(source.sha256, data_dir)
    if cached is None:
        data, info = _decode(source, log)
        _write_cache(data, info, data_dir)
        log(f"{source.path}: {info['train_images']:,} training and {info['test_images']:,} test images of "
            f"{info['classes']} classes; cached in {_cache_path(data_dir, source.sha256)}")
        cached = data, info
    data, info = cached
    # The same contents may have been cached from another path or under another name: record this one.
    _LOADED[source.sha256] = data, info | {"path": str(source.path), "name": source.name}
    return _LOADED[source.sha256]


def load_for_run(info, data_dir, log=print):
    """The arrays a run trained on (its config's `data`): from the cache by their sha256, else from the
    path, if its contents are still the same."""
    sha = info["sha256"]
    if sha in _LOADED:
        return _LOADED[sha][0]
    cached = _read_cache(sha, data_dir)
    if cached is not None:
        _LOADED[sha] = cached
        return cached[0]
    path, cache = Path(info["path"]), _cache_path(data_dir, sha)
    if not path.exists():
        raise DataError(f"the run's data {path} is gone, and so is its cache {cache}: put the images it trained on "
                        f"back at {path} (contents sha256 {sha[:12]}...) to use this run")
    data, now = load(path, data_dir, log)
    if now["sha256"] != sha:
        raise DataError(f"{path} has changed since the run trained on it (sha256 {sha[:12]}... then, "
                        f"{now['sha256'][:12]}... now), and its cache {cache} is gone: put back the images it "
                        f"trained on to use this run, or train a new run on them as they are now")
    return data


_LOADED = {}


def _decode(source, log):
    names = source.class_names
    if source.splits is None:
        train_x, train_y, test_x, test_y, names = _read_npz(source.path)
    else:
        train_x, train_y = _decode_folder(source.folders["train"], source.splits["train"], log)
        test_x, test_y = (_decode_folder(source.folders["test"], source.splits["test"], log)
                          if "test" in source.splits else (None, None))
    _check_classes(source.path, names, train_y, test_y)
    # A folder lists its images class by class: they are put in a seeded order, so that the first test
    # images (the figures') and a --subset hold every class. An .npz's given split keeps its order.
    rng = np.random.default_rng(SPLIT_SEED)
    if test_x is None:
        train_at, test_at = (rng.permutation(at) for at in stratified_split(train_y, len(names)))
        train_x, train_y, test_x, test_y = train_x[train_at], train_y[train_at], train_x[test_at], train_y[test_at]
        split = f"a class-stratified 1/{TEST_SHARE} of each class, seed {SPLIT_SEED}"
        if len(test_x) == 0:
            raise UsageError(f"{source.path} is too small to split: each class needs {TEST_SHARE // 2} or more "
                             f"images for one to be a test image")
    elif source.splits is not None:
        train_at, test_at = rng.permutation(len(train_y)), rng.permutation(len(test_y))
        train_x, train_y, test_x, test_y = train_x[train_at], train_y[train_at], test_x[test_at], test_y[test_at]
        split = "the train/ and test/ folders"
    else:
        split = "the given test images"
    info = {"path": str(source.path), "sha256": source.sha256, "name": source.name, "classes": len(names),
            "class_names": list(names), "train_images": len(train_x), "test_images": len(test_x), "split": split}
    return ImageSet(train_x, train_y.astype(np.uint8), test_x, test_y.astype(np.uint8)), info


def stratified_split(labels, classes, seed=SPLIT_SEED):
    """(training indices, test indices), each sorted: 1 in TEST_SHARE of each class's images, rounded,
    drawn with `seed`, goes to the test set."""
    rng = np.random.default_rng(seed)
    test = []
    for label in range(classes):
        members = rng.permutation(np.flatnonzero(labels == label))
        test.append(members[:int(round(len(members) / TEST_SHARE))])
    test = np.sort(np.concatenate(test)).astype(np.int64)
    return np.setdiff1d(np.arange(len(labels)), test), test


def _decode_folder(directory, files, log):
    """(uint8 images [N, 28, 28], labels [N]) of one class-per-folder tree whose files `_index` listed,
    decoded by Keras' directory reader, with a progress line on a large folder. UsageError naming the
    first file that cannot be decoded."""
    import keras
    import tensorflow as tf
    batch = 256
    reader = keras.utils.image_dataset_from_directory(
        directory, labels=None, color_mode="grayscale", image_size=(28, 28), interpolation="bilinear",
        shuffle=False, batch_size=batch, verbose=False)
    paths = [str(file) for file, _ in files]
    if list(reader.file_paths) != paths:
        raise UsageError(f"{directory} changed while it was read; run the command again")
    decoded, began, shown = [], time.monotonic(), time.monotonic()
    iterator = iter(reader)
    for start in range(0, len(paths), batch):
        try:
            images = next(iterator)
        except tf.errors.OpError as err:
            bad = next((path for path in paths[start:start + batch] if not _decodes(path)), paths[start])
            raise UsageError(f"cannot read {bad}: not a whole PNG, JPEG, BMP or GIF image "
                             f"({_first_line(err)}); remove or replace it") from err
        decoded.append(np.clip(np.round(images.numpy()), 0, 255).astype(np.uint8)[..., 0])
        if time.monotonic() - shown > PROGRESS_EVERY_S:
            shown = time.monotonic()
            log(f"decoding {directory}: {start + len(images):,} / {len(paths):,} images, {shown - began:.0f} s")
    return np.concatenate(decoded), np.array([label for _, label in files], np.int64)


def _decodes(path):
    import tensorflow as tf
    try:
        tf.io.decode_image(tf.io.read_file(path), channels=1, expand_animations=False)
        return True
    except tf.errors.OpError:
        return False


def _first_line(err):
    """The message of a TensorFlow or NumPy error without TensorFlow's {{node ...}} and [[...]] decorations."""
    text = re.sub(r"\{\{.*?\}\}|\[\[.*?\]\]|\[Op:\w+\].*", "", str(err), flags=re.S)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[0] if lines else type(err).__name__)[:100]


def _read_npz(path):
    """(train images, train labels, test images or None, test labels or None, class names) of an .npz,
    each array checked; never unpickled."""
    import zipfile
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise UsageError(f"cannot read {path} as an .npz file ({_first_line(err)})") from err
    with archive:
        keys = set(archive.files)
        missing = [key for key in ("images", "labels") if key not in keys]
        if missing:
            raise UsageError(f"{path} has no {' and no '.join(repr(k) for k in missing)} array (it has: "
                             f"{', '.join(sorted(keys)) or 'nothing'}); expected images [N, 28, 28] and labels [N]")
        if ("test_images" in keys) != ("test_labels" in keys):
            raise UsageError(f"{path} has one of test_images and test_labels without the other")

        def read(key):
            try:
                return archive[key]
            except ValueError as err:  # "Object arrays cannot be loaded when allow_pickle=False"
                raise UsageError(f"{path}: '{key}' is an array of Python objects, which would need pickle to "
                                 f"load (and pickle can run code); save it as numbers or strings") from err

        names = read("class_names") if "class_names" in keys else None
        train_x, train_y = _npz_images(path, "images", read("images")), _npz_labels(path, "labels", read("labels"))
        test_x = _npz_images(path, "test_images", read("test_images")) if "test_images" in keys else None
        test_y = _npz_labels(path, "test_labels", read("test_labels")) if "test_labels" in keys else None
    for x, y, which in ((train_x, train_y, ""), (test_x, test_y, "test_")):
        if x is not None and len(x) != len(y):
            raise UsageError(f"{path}: {len(x):,} {which}images but {len(y):,} {which}labels; they must match one to one")
    if names is None:
        top = max(int(train_y.max()), int(test_y.max()) if test_y is not None and len(test_y) else 0)
        names = [str(label) for label in range(top + 1)]
    else:
        if names.ndim != 1 or names.dtype.kind not in "US":
            raise UsageError(f"{path}: class_names must be a list of strings, got {names.dtype} {names.shape}")
        names = [str(name) for name in names]
    for y, which in ((train_y, "labels"), (test_y, "test_labels")):
        if y is not None and len(y) and (y.min() < 0 or y.max() >= len(names)):
            raise UsageError(f"{path}: {which} range from {y.min()} to {y.max()}; with {len(names)} classes they "
                             f"must be 0 to {len(names) - 1}")
    return train_x, train_y, test_x, test_y, names


def _npz_images(path, key, images):
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) == 0:
        raise UsageError(f"{path}: '{key}' has shape {images.shape}; expected [N, 28, 28] or [N, 28, 28, 1] with N > 0")
    if images.dtype == np.uint8:
        return images
    if images.dtype.kind == "f":
        bad = int(np.count_nonzero(~np.isfinite(images)))
        if bad:
            raise UsageError(f"{path}: '{key}' has {bad:,} NaN or infinite pixel(s)")
        if images.min() < 0 or images.max() > 1:
            raise UsageError(f"{path}: float '{key}' must be in [0, 1], found {images.min():g} to {images.max():g} "
                             f"(or save uint8 0-255)")
        return np.round(images * 255).astype(np.uint8)
    if images.dtype.kind in "iu" and images.min() >= 0 and images.max() <= 255:
        return images.astype(np.uint8)
    raise UsageError(f"{path}: '{key}' is {images.dtype}; expected uint8 0-255 or float 0-1")


def _npz_labels(path, key, labels):
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise UsageError(f"{path}: '{key}' is {labels.dtype} {labels.shape}; expected integers [N]")
    return labels.astype(np.int64)


def _check_classes(path, names, train_y, test_y):
    """UsageError unless there are 2-100 classes, each with training images, and no test image of a class
    without any."""
    if len(names) < MIN_CLASSES:
        raise UsageError(f"{path} has one class ({names[0] if names else 'none'}); at least {MIN_CLASSES} are needed")
    if len(names) > MAX_CLASSES:
        raise UsageError(f"{path} has {len(names)} classes; at most {MAX_CLASSES} are supported")
    counts = np.bincount(train_y, minlength=len(names))
    empty = [names[label] for label in np.flatnonzero(counts == 0)]
    if empty:
        tested = test_y is not None and any(np.isin(test_y, np.flatnonzero(counts == 0)))
        where = f"class folder {Path(path) / empty[0]}" if Path(path).is_dir() else f"{path}: class {empty[0]!r}"
        raise UsageError(f"{where} has no training images" + (" but has test images" if tested else "")
                         + f"; every class needs some ({len(empty)} class(es) without: {', '.join(empty[:5])})")


def _cache_path(data_dir, sha256):
    return Path(data_dir) / "own" / f"{sha256}.npz"


def _read_cache(sha256, data_dir):
    """(arrays, info) cached for these contents, or None when there is no whole cache entry."""
    import zipfile
    try:
        data, meta = read_cache_and_meta(data_dir, f"own/{sha256}")
        return data, meta["data"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None


def _write_cache(data, info, data_dir):
    write_cache(data, data_dir, source=info["path"], name=f"own/{info['sha256']}", data=info)

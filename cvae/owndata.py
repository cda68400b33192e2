"""A data set of your own, for `--dataset PATH`, loaded: an image folder (listed and hashed by cvae.sources,
its files decoded by cvae.images) or an .npz file (cvae.npzfile), split, checked and cached.

Both keep their images' size and colour by one rule (cvae.images: their own square size, or --image-size S;
gray or colour as most images are), the conversions counted; transparency is composited onto black, the
background MNIST has. Before anything is decoded, the arrays' size (N x H x W x C bytes) is checked against a
tenth of the machine's memory (cvae.data.check_fits).

Without a given split, a seeded (SPLIT_SEED), class-stratified sixth of each class is the test set.
The decoded arrays are cached in data/own/SHA256.npz,
so the next command does not decode the images again; a cache is checked against the files it stands for
before training uses it (cache_disagrees), and a run records its arrays' checksum. Every mistake in the data
is a UsageError: one line saying what is wrong and where.
"""
from pathlib import Path

import numpy as np

from cvae.data import DataError, ImageSet, read_cache_and_meta, write_cache
from cvae.errors import UsageError
from cvae.images import decode_files, decode_image_file
from cvae.limits import MAX_CLASS_NAME, MAX_CLASSES, MIN_CLASSES
from cvae.npzfile import read_npz
from cvae.sources import describe

SPLIT_SEED = 0
TEST_SHARE = 6  # without a given split, 1 image in TEST_SHARE of each class is a test image


def load(dataset, data_dir, log=print, image_size=None):
    """(ImageSet, info for the run's config) of --dataset PATH (resized to image_size x image_size when given):
    from the cache when it holds these contents (checked against the files, cache_holds), else decoded,
    checked, split and cached."""
    source = describe(dataset, image_size)
    key = _loaded_key(source.sha256, data_dir)
    if key not in _LOADED:
        cached = _read_cache(source.sha256, data_dir)
        if cached is not None:
            why_not = cache_disagrees(source, cached[0], data_dir)
            if why_not:
                log(f"warning: {_cache_path(data_dir, source.sha256)} does not hold what {source.path} holds "
                    f"({why_not}); decoding it again")
                cached = None
        _LOADED[key] = cached if cached is not None else _decode_and_cache(source, data_dir, log)
    data, info = _LOADED[key]
    # The same contents may have been cached from another path or under another name: record this one.
    return data, info | {"path": str(source.path), "name": source.name}


def _decode_and_cache(source, data_dir, log):
    """(ImageSet, info) of a Source decoded, written to the cache, and described in a line or three."""
    data, info, origins = _decode(source, log)
    _write_cache(data, info, origins, data_dir)
    height, width, channels = info["image_shape"]
    log(f"{source.path}: {info['train_images']:,} training and {info['test_images']:,} test images of "
        f"{info['classes']} classes, {height} x {width} {'colour' if channels == 3 else 'gray'}; cached in "
        f"{_cache_path(data_dir, source.sha256)}")
    if info.get("converted"):
        total = info["train_images"] + info["test_images"]
        log(f"{source.path}: converted to {height} x {width} x {channels}: " + ", ".join(
            f"{what} {count:,} of {total:,} images" for what, count in info["converted"].items()))
    if source.skipped:
        log(f"{source.path}: left out " + ", ".join(f"{count:,} {why}" for why, count in source.skipped.items()))
    return data, info


SPOT_CHECKS = 16  # cached images compared with their files each time a folder's cache is used for training


def cache_disagrees(source, data, data_dir):
    """Why the cache of `source`'s contents does not hold what its files do, or None. A cache can be rewritten
    with its checksum (a file of one's own is no secret), so it is checked against the files it stands for:
    an .npz is read again (it is quick), and of a folder SPOT_CHECKS rows picked at random are decoded again
    and compared, image and label, after checking that the rows come from the folder's files, each once."""
    if source.splits is None:
        if _decode(source, lambda message: None)[0].content_sha256() != data.content_sha256():
            return "its arrays are not the file's"
        return None
    try:
        with np.load(_cache_path(data_dir, source.sha256), allow_pickle=False) as cache:
            origins = np.concatenate([cache["train_from"], cache["test_from"]])
    except (OSError, KeyError, ValueError):
        return "it does not say which file each image came from"
    labels = {file.relative_to(source.path).as_posix(): label
              for files in source.splits.values() for file, label in files}
    if len(origins) != len(labels) or set(origins.tolist()) != set(labels):
        return "its images are not the folder's files, each once"
    images = np.concatenate([data.train_images, data.test_images])
    cached_labels = np.concatenate([data.train_labels, data.test_labels])
    for row in np.random.default_rng().choice(len(origins), min(SPOT_CHECKS, len(origins)), replace=False):
        file = str(origins[row])
        if cached_labels[row] != labels[file] or not np.array_equal(
                images[row], decode_image_file(source.path / file, data.image_shape)):
            return f"the image of {file} differs"
    return None


def load_for_run(info, data_dir, log=print):
    """The arrays a run trained on (its config's `data`): from the cache by their sha256, else from the
    path, if its contents are still the same."""
    sha = info["sha256"]
    if _loaded_key(sha, data_dir) in _LOADED:
        return _LOADED[_loaded_key(sha, data_dir)][0]
    path, cache = Path(info["path"]), _cache_path(data_dir, sha)
    cached = _read_cache(sha, data_dir)
    # The run recorded its arrays' checksum (runs before it did not): a cache rewritten since is not its data.
    if cached is not None and info.get("content_sha256", cached[0].content_sha256()) != cached[0].content_sha256():
        log(f"warning: {cache} no longer holds the arrays the run trained on; reading {path} again")
        cached = None
    if cached is not None:
        _LOADED[_loaded_key(sha, data_dir)] = cached
        return cached[0]
    if not path.exists():
        raise DataError(f"the run's data {path} is gone, and so is its cache {cache}: put the images it trained on "
                        f"back at {path} (contents sha256 {sha[:12]}...) to use this run")
    data, now = load(path, data_dir, log, info.get("image_size"))
    if now["sha256"] != sha:
        raise DataError(f"{path} has changed since the run trained on it (sha256 {sha[:12]}... then, "
                        f"{now['sha256'][:12]}... now), and its cache {cache} is gone: put back the images it "
                        f"trained on to use this run, or train a new run on them as they are now")
    return data


# What this process has loaded, by the contents' sha256 and the cache folder they were read through: a command
# that asks twice (the data, then the run's name) decodes once.
_LOADED = {}


def _loaded_key(sha256, data_dir):
    return sha256, Path(data_dir).resolve()


def _decode(source, log):
    names = source.class_names
    if source.splits is None:
        train_x, train_y, test_x, test_y, names, converted = read_npz(source.path, source.image_size)
        train_from = test_from = None
    else:
        converted = source.converted
        train_x, train_y = decode_files(source.splits["train"], log, source.image_shape)
        test_x, test_y = (decode_files(source.splits["test"], log, source.image_shape) if "test" in source.splits
                          else (None, None))
        train_from, test_from = (np.array([file.relative_to(source.path).as_posix() for file, _ in source.splits[part]])
                                 if part in source.splits else None for part in ("train", "test"))
    _check_classes(source.path, names, train_y, test_y)
    # A folder lists its images class by class: they are put in a seeded order, so that the first test
    # images (the figures') and a --subset hold every class. An .npz's given split keeps its order.
    rng = np.random.default_rng(SPLIT_SEED)
    if test_x is None:
        single = [names[label] for label in range(len(names)) if np.count_nonzero(train_y == label) == 1]
        if single:
            raise UsageError(f"{source.path}: class {single[0]} has one image; without a given test split each class "
                             f"needs 2 or more, one of them for the test set")
        train_at, test_at = (rng.permutation(at) for at in stratified_split(train_y, len(names)))
        train_x, train_y, test_x, test_y = train_x[train_at], train_y[train_at], train_x[test_at], train_y[test_at]
        if train_from is not None:  # a folder's (an .npz's rows come from no file)
            train_from, test_from = train_from[train_at], train_from[test_at]
        split = f"a class-stratified 1/{TEST_SHARE} of each class, seed {SPLIT_SEED}"
    elif source.splits is not None:
        train_at, test_at = rng.permutation(len(train_y)), rng.permutation(len(test_y))
        train_x, train_y, test_x, test_y = train_x[train_at], train_y[train_at], test_x[test_at], test_y[test_at]
        train_from, test_from = train_from[train_at], test_from[test_at]
        split = "the train/ and test/ folders"
    else:
        split = "the given test images"
    data = ImageSet(train_x, train_y.astype(np.uint8), test_x, test_y.astype(np.uint8))
    info = {"path": str(source.path), "sha256": source.sha256, "name": source.name, "classes": len(names),
            "class_names": list(names), "train_images": len(train_x), "test_images": len(test_x), "split": split,
            "content_sha256": data.content_sha256(), "image_shape": list(data.image_shape),
            "image_size": source.image_size, "converted": converted}
    # Which file each row came from (a folder's): what lets a cache be checked against the folder.
    origins = None if train_from is None else {"train_from": train_from, "test_from": test_from}
    return data, info, origins


def stratified_split(labels, classes, seed=SPLIT_SEED):
    """(training indices, test indices), each sorted: 1 in TEST_SHARE of each class's images, rounded, and at
    least one, drawn with `seed`, goes to the test set (a class of one image keeps it for training)."""
    rng = np.random.default_rng(seed)
    test = []
    for label in range(classes):
        members = rng.permutation(np.flatnonzero(labels == label))
        test.append(members[:max(min(1, len(members) - 1), int(round(len(members) / TEST_SHARE)))])
    test = np.sort(np.concatenate(test)).astype(np.int64)
    return np.setdiff1d(np.arange(len(labels)), test), test


def _check_classes(path, names, train_y, test_y):
    """UsageError unless there are 2-100 classes, each with training images, and no test image of a class
    without any."""
    if len(names) < MIN_CLASSES:
        raise UsageError(f"{path} has one class ({names[0] if names else 'none'}); at least {MIN_CLASSES} are needed")
    if len(names) > MAX_CLASSES:
        raise UsageError(f"{path} has {len(names)} classes; at most {MAX_CLASSES} are supported")
    unfit = next((name for name in names if not 1 <= len(name) <= MAX_CLASS_NAME or not name.isprintable()), None)
    if unfit is not None:
        raise UsageError(f"{path}: the class name {unfit[:40]!r}{'...' if len(unfit) > 40 else ''} is not 1 to "
                         f"{MAX_CLASS_NAME} printable characters (it titles figures and goes into exports); rename it")
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


def _write_cache(data, info, origins, data_dir):
    write_cache(data, data_dir, source=info["path"], name=f"own/{info['sha256']}", arrays=origins, data=info)

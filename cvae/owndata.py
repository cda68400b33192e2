"""A data set of your own, for `--dataset PATH`: an image folder or an .npz file.

  folder   one sub-folder per class holding image files (PNG, JPEG, BMP, GIF; any size, gray or
           colour). Class names are the folder names in sorted order. If the folder holds both train/
           and test/ (each with the same kind of class folders), they are the split. The folder is listed
           once (hidden files and folders, class folders that are links, links that lead nowhere and other
           files are left out, and counted).
  .npz     `images` [N, H, W] or [N, H, W, 1] (gray), [N, H, W, 3] (colour) or [N, H, W, 4] (RGBA), uint8
           0-255 or float 0-1; `labels` [N], integers 0..K-1; optional `test_images` / `test_labels` and
           `class_names` [K]. It is read without pickle: an array of Python objects is refused.

Both keep their images' size and colour (image_shape): the images' own size when they all share one square
size from MIN_OWN_SIZE to MAX_OWN_SIZE, else --image-size S (MIN_IMAGE_SIZE to MAX_IMAGE_SIZE), which resizes
every image to S x S by bilinear interpolation without keeping the aspect ratio; without it, other sizes are a
UsageError that lists the sizes found. The images are gray (1 channel) or colour (3), as most of them are (a
tie is colour); the others are converted, and counted: gray to colour by copying the level, colour to gray by
ITU-R 601 luma (PNG and JPEG by their own decoders). Transparency is composited onto black, the background
MNIST has. Every level is rounded to uint8. Before anything is decoded, the arrays' size (N x H x W x C bytes)
is checked against a tenth of the machine's memory (cvae.data.check_fits).

Without a given split, a seeded (SPLIT_SEED), class-stratified sixth of each class is the test set.
The data set's name is the folder's or file's name plus the start of the sha256 of its contents,
for example digits_3fa9c2d1: runs on it go to log/MODEL_N_digits_3fa9c2d1/, so two different
folders both called "data" never share a run. The decoded arrays are cached in data/own/SHA256.npz,
so the next command does not decode the images again; a cache is checked against the files it stands for
before training uses it (cache_disagrees), and a run records its arrays' checksum. Every mistake in the data
is a UsageError: one line saying what is wrong and where.
"""
import collections
import hashlib
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cvae.data import DataError, ImageSet, check_fits, read_cache_and_meta, write_cache
from cvae.errors import UsageError

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")  # of file names, in any case
MIN_CLASSES, MAX_CLASSES = 2, 100
SPLIT_SEED = 0
TEST_SHARE = 6  # without a given split, 1 image in TEST_SHARE of each class is a test image
# How images become arrays, a tag in every folder's hash: changed whenever the arrays of a folder would change,
# so that a change gives new cache entries, never stale ones. Its words name the reader that first gave these
# arrays; decode_image_file gives the same, bit for bit (tested), and reads GIF, BMP and CMYK JPEG, which that
# reader refused.
READER = "decode_image_file 2: gray or colour as most are, alpha onto black, bilinear, rounded to uint8; seeded order"
PROGRESS_EVERY_S = 2.0
MIN_OWN_SIZE, MAX_OWN_SIZE = 16, 64  # images that all share one square size in this range keep it
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 8, 128  # what --image-size may ask for


@dataclass
class Source:
    """What --dataset PATH names, before anything is decoded."""
    path: Path  # resolved
    sha256: str  # of the contents (a folder: every image file's path and bytes, and READER)
    name: str  # the folder's or file's name and the start of sha256: the run directory's suffix
    class_names: list  # of the training images
    splits: dict = None  # a folder: {"train": [(file, class index)], "test": [...]} ("test" when given)
    skipped: dict = None  # a folder: what its listing left out, {why: count}
    image_size: int = None  # --image-size: every image resized to image_size x image_size; None: their own
    image_shape: tuple = None  # a folder: (H, W, C) its images become, chosen from their headers
    converted: dict = None  # a folder: {"resized": count, "gray to colour" or "colour to gray": count}


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


def check_image_size(image_size):
    """UsageError unless --image-size is None or MIN_IMAGE_SIZE to MAX_IMAGE_SIZE."""
    if image_size is not None and not MIN_IMAGE_SIZE <= image_size <= MAX_IMAGE_SIZE:
        raise UsageError(f"--image-size {image_size}: give {MIN_IMAGE_SIZE} to {MAX_IMAGE_SIZE} pixels a side")


def describe(path, image_size=None) -> Source:
    """The Source of PATH: its files listed and hashed, and a folder's image shape chosen from their headers;
    nothing decoded. `image_size`: --image-size, part of the contents' hash (other arrays, another run).
    UsageError for what is not an image folder or an .npz file, or a folder whose images need --image-size."""
    check_image_size(image_size)
    path = Path(path).expanduser().resolve()
    # train.py asks twice (the data, the run's name): the files are hashed again only when they changed.
    key = (path, _fingerprint(path), image_size)
    if key not in _DESCRIBED:
        if path.is_dir():
            _DESCRIBED[key] = _describe_folder(path, image_size)
        elif path.is_file() and path.suffix == ".npz":
            digest = hashlib.sha256(path.read_bytes())
            if image_size is not None:  # without it, the file's own sha256, as before sizes could be asked for
                digest.update(f"\0resized to {image_size}".encode())
            sha256 = digest.hexdigest()
            _DESCRIBED[key] = Source(path, sha256, short_name(path, sha256), [], image_size=image_size)
        else:
            raise UsageError(f"--dataset {path}: not an image folder or an .npz file (or one of mnist, fashion_mnist)")
    return _DESCRIBED[key]


def _fingerprint(path):
    """Every file's name, size and modification time: cheap to take, and changed by any edit (a link: its
    target's, or the link's own when it leads nowhere)."""
    def stat_of(file):
        for stat in (os.stat, os.lstat):
            try:
                found = stat(file)
                return found.st_size, found.st_mtime_ns
            except OSError:  # a link that leads nowhere; a file that went while the folder was walked
                continue
        return None

    if not path.is_dir():
        return stat_of(path)
    return tuple((root, name, stat_of(os.path.join(root, name)))
                 for root, _, names in sorted(os.walk(path)) for name in sorted(names))


@dataclass
class Listing:
    """The images of one class-per-folder tree, listed once: what is hashed and decoded is this list."""
    class_names: list
    files: list  # [(path, class index)], class by class, each class's in the order of their paths
    skipped: dict  # {"hidden files and folders": count, ...}: what was left out, and why


def _index(directory, log=print):
    """The Listing of one class-per-folder tree. Class folders are the folder's sub-folders in sorted order;
    their images are the files ending in IMAGE_EXTENSIONS anywhere below them, sorted by folder and name.
    Left out, and counted: hidden files and folders (.ipynb_checkpoints, ._x.png), class folders that are
    links (they may lead anywhere, even back here), links that lead nowhere, other files, and files beside
    the class folders. UsageError for a tree with no class folder, or a class folder without an image."""
    directory = Path(directory)
    skipped = {"hidden files and folders": 0, "class folders that are links": 0, "links that lead nowhere": 0,
               "files that are not PNG, JPEG, BMP or GIF images": 0, "files beside the class folders": 0}
    names = []
    for entry in sorted(os.scandir(directory), key=lambda entry: entry.name):
        if entry.name.startswith("."):
            skipped["hidden files and folders"] += 1
        elif entry.is_symlink() and entry.is_dir():
            skipped["class folders that are links"] += 1
        elif entry.is_symlink() and not os.path.exists(entry.path):
            skipped["links that lead nowhere"] += 1
        elif entry.is_dir(follow_symlinks=False):
            names.append(entry.name)
        else:
            skipped["files beside the class folders"] += 1
    if not names:
        raise UsageError(f"no images in {directory}: put one sub-folder per class there, holding PNG, JPEG, BMP "
                         f"or GIF files")
    files, shown = [], time.monotonic()
    for label, name in enumerate(names):
        found = []
        for root, folders, filenames in os.walk(directory / name, onerror=lambda err: None):
            skipped["hidden files and folders"] += sum(folder.startswith(".") for folder in folders)
            folders[:] = [folder for folder in folders if not folder.startswith(".")]
            for filename in filenames:
                path = Path(root) / filename
                if filename.startswith("."):
                    skipped["hidden files and folders"] += 1
                elif not filename.lower().endswith(IMAGE_EXTENSIONS):
                    skipped["files that are not PNG, JPEG, BMP or GIF images"] += 1
                elif not path.is_file():  # a link that leads nowhere (or to a folder)
                    skipped["links that lead nowhere"] += 1
                else:
                    found.append(path)
            if time.monotonic() - shown > PROGRESS_EVERY_S:
                shown = time.monotonic()
                log(f"listing {directory}: class {name}, {len(files) + len(found):,} images so far")
        files += [(path, label) for path in sorted(found, key=lambda path: (str(path.parent), path.name))]
    return Listing(names, files, {why: count for why, count in skipped.items() if count})


def _describe_folder(path, image_size):
    given_split = (path / "train").is_dir() and (path / "test").is_dir()
    if given_split:
        train, test = _index(path / "train"), _index(path / "test")
        names = train.class_names
        extra = sorted(set(test.class_names) - set(names))
        if extra:
            raise UsageError(f"{path / 'test'} has class folder(s) {', '.join(extra)} that {path / 'train'} has not: "
                             f"every test class needs training images")
        splits = {"train": train.files,
                  "test": [(file, names.index(test.class_names[label])) for file, label in test.files]}
        skipped = {why: train.skipped.get(why, 0) + test.skipped.get(why, 0)
                   for why in {**train.skipped, **test.skipped}}
    else:
        listing = _index(path)
        names, splits, skipped = listing.class_names, {"train": listing.files}, listing.skipped
    trained = {label for _, label in splits["train"]}
    empty = [name for label, name in enumerate(names) if label not in trained]
    if empty:
        where = path / "train" if given_split else path
        raise UsageError(f"class folder {where / empty[0]} has no training images; every class needs some "
                         f"({len(empty)} class(es) without: {', '.join(empty[:5])})")
    digest = hashlib.sha256(f"{READER}; size {image_size or 'their own'}".encode())
    headers = []
    for split, files in splits.items():
        for file, label in files:
            data = file.read_bytes()
            digest.update(f"{split}/{file.relative_to(path).as_posix()}\0{names[label]}\0{len(data)}\0".encode())
            digest.update(data)
            headers.append(image_header(data))
    known = [header for header in headers if header is not None]  # None: unreadable, left to the decoder
    shape, converted = choose_shape(path, collections.Counter(header[:2] for header in known),
                                    sum(header[2] for header in known), len(known), image_size)
    count = sum(len(files) for files in splits.values())
    check_fits(count * math.prod(shape), f"{count:,} images of {shape[0]} x {shape[1]} x {shape[2]}",
               "give fewer images, or a smaller --image-size")
    return Source(path, digest.hexdigest(), short_name(path, digest.hexdigest()), names, splits, skipped, image_size,
                  shape, converted)


def image_header(data):
    """(height, width, colour) of an image file's bytes from its header (Pillow reads nothing more), or None
    when it has none (decoding then says what is wrong). Colour: RGB, CMYK and the like, and palettes holding
    any colour that is not gray."""
    import io
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            mode = image.mode
            if mode in ("P", "PA"):
                palette = np.asarray(image.getpalette() or [0, 0, 0]).reshape(-1, 3)
                colour = bool(np.any(palette != palette[:, :1]))
            else:
                colour = mode not in ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "F")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None
    return height, width, colour


def choose_shape(path, sizes, colour, total, image_size):
    """((H, W, C) the images of `path` become, {what was converted: how many}), for a folder and an .npz alike,
    from `sizes` {(H, W): images}, and `colour` images of `total`: C as most are (a tie: colour); H = W =
    image_size, or else their own size when they all share one square size from MIN_OWN_SIZE to MAX_OWN_SIZE.
    UsageError listing the sizes found otherwise."""
    channels = 3 if total and 2 * colour >= total else 1
    if image_size is None:
        if len(sizes) == 1:
            (height, width), = sizes
            if height == width and MIN_OWN_SIZE <= height <= MAX_OWN_SIZE:
                image_size = height
        if image_size is None:
            raise UsageError(f"{path}: {describe_sizes(sizes)}; give --image-size S ({MIN_IMAGE_SIZE} to "
                             f"{MAX_IMAGE_SIZE}) to resize every image to S x S")
    converted = {"resized": sum(count for size, count in sizes.items() if size != (image_size, image_size))}
    if channels == 3:
        converted["gray to colour"] = total - colour
    else:
        converted["colour to gray"] = colour
    return (image_size, image_size, channels), {what: count for what, count in converted.items() if count}


def describe_sizes(sizes):
    """What sizes {(H, W): count} are, in words, for a message asking for --image-size."""
    if len(sizes) == 1:
        (height, width), count = next(iter(sizes.items()))
        why = ("not square" if height != width else
               f"{'smaller' if height < MIN_OWN_SIZE else 'larger'} than the {MIN_OWN_SIZE} to {MAX_OWN_SIZE} "
               f"pixels a side kept as they are")
        return f"its {count:,} images are {height} x {width}, {why}"
    common = ", ".join(f"{height} x {width} ({count:,})" for (height, width), count in sizes.most_common(3))
    return f"its images have {len(sizes)} sizes (height x width: {common}{', ...' if len(sizes) > 3 else ''})"


def load(dataset, data_dir, log=print, image_size=None):
    """(ImageSet, info for the run's config) of --dataset PATH (resized to image_size x image_size when given):
    from the cache when it holds these contents (checked against the files, cache_holds), else decoded,
    checked, split and cached."""
    source = describe(dataset, image_size)
    if source.sha256 in _LOADED:
        return _LOADED[source.sha256]
    cached = _read_cache(source.sha256, data_dir)
    if cached is not None:
        why_not = cache_disagrees(source, cached[0], data_dir)
        if why_not:
            log(f"warning: {_cache_path(data_dir, source.sha256)} does not hold what {source.path} holds ({why_not}); "
                f"decoding it again")
            cached = None
    if cached is None:
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
        cached = data, info
    data, info = cached
    # The same contents may have been cached from another path or under another name: record this one.
    _LOADED[source.sha256] = data, info | {"path": str(source.path), "name": source.name}
    return _LOADED[source.sha256]


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
    if sha in _LOADED:
        return _LOADED[sha][0]
    path, cache = Path(info["path"]), _cache_path(data_dir, sha)
    cached = _read_cache(sha, data_dir)
    # The run recorded its arrays' checksum (runs before it did not): a cache rewritten since is not its data.
    if cached is not None and info.get("content_sha256", cached[0].content_sha256()) != cached[0].content_sha256():
        log(f"warning: {cache} no longer holds the arrays the run trained on; reading {path} again")
        cached = None
    if cached is not None:
        _LOADED[sha] = cached
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


_LOADED = {}


def _decode(source, log):
    names = source.class_names
    if source.splits is None:
        train_x, train_y, test_x, test_y, names, converted = _read_npz(source.path, source.image_size)
        train_from = test_from = None
    else:
        converted = source.converted
        train_x, train_y = _decode_folder(source.splits["train"], log, source.image_shape)
        test_x, test_y = (_decode_folder(source.splits["test"], log, source.image_shape) if "test" in source.splits
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


def _decode_folder(files, log, shape):
    """(uint8 images [N, H, W, C] of `shape`, labels [N]) of the files a Listing holds, in its order, with a
    progress line on a large folder. UsageError naming the first file that cannot be decoded."""
    decoded, began, shown = np.empty((len(files), *shape), np.uint8), time.monotonic(), time.monotonic()
    for count, (path, _) in enumerate(files, 1):
        decoded[count - 1] = decode_image_file(path, shape)
        if time.monotonic() - shown > PROGRESS_EVERY_S:
            shown = time.monotonic()
            log(f"decoding {path.parent.parent}: {count:,} / {len(files):,} images, {shown - began:.0f} s")
    return decoded, np.array([label for _, label in files], np.int64)


def image_kind(data):
    """"png", "jpeg", "gif" or "bmp" by the file's first bytes, or None."""
    for kind, magic in (("png", b"\x89PNG\r\n\x1a\n"), ("jpeg", b"\xff\xd8\xff"), ("gif", b"GIF8"), ("bmp", b"BM")):
        if data.startswith(magic):
            return kind
    return None


def decode_image_file(path, shape=(28, 28, 1)):
    """The image file at `path` as uint8 [H, W, C] of `shape`: decoded, its transparency composited onto black,
    turned gray (C = 1) or colour (C = 3), resized by bilinear interpolation without keeping the aspect ratio,
    rounded. Gray from PNG and JPEG comes straight from their own decoders (as Keras' directory reader decodes
    them); from GIF, BMP, CMYK JPEG and images with transparency, whose decoders give colour, as RGB turned gray
    by ITU-R 601 luma. Gray to colour copies the level. UsageError naming the file when it is not a whole
    image of these kinds."""
    import tensorflow as tf
    data = Path(path).read_bytes()
    kind = image_kind(data)
    if kind is None:
        raise UsageError(f"cannot read {path}: not a PNG, JPEG, BMP or GIF image (it starts with {data[:8]!r}); "
                         f"remove or replace it")
    height, width, channels = shape
    try:
        native = tf.io.decode_image(data, channels=0, expand_animations=False)
        if native.shape[-1] in (2, 4):  # with transparency: composited onto black
            native = tf.cast(native[..., :-1], tf.float32) * (tf.cast(native[..., -1:], tf.float32) / 255.0)
        if channels == 3:
            image = tf.cast(native, tf.float32)
            image = tf.concat([image] * 3, axis=-1) if image.shape[-1] == 1 else image[..., :3]
        elif native.dtype == tf.uint8 and (kind == "png" or
                                           (kind == "jpeg" and int(tf.image.extract_jpeg_shape(data)[2]) != 4)):
            image = tf.io.decode_image(data, channels=1, expand_animations=False)
        else:
            colour = tf.cast(native, tf.float32)
            image = colour if colour.shape[-1] == 1 else tf.image.rgb_to_grayscale(colour[..., :3])
        resized = tf.image.resize(image, (height, width), method="bilinear")
    except tf.errors.OpError as err:
        raise UsageError(f"cannot read {path}: not a whole {kind.upper()} image ({_first_line(err)}); remove or replace "
                         f"it") from err
    return np.clip(np.round(resized.numpy()), 0, 255).astype(np.uint8)


def _first_line(err):
    """The message of a TensorFlow or NumPy error without TensorFlow's {{node ...}} and [[...]] decorations."""
    text = re.sub(r"\{\{.*?\}\}|\[\[.*?\]\]|\[Op:\w+\].*", "", str(err), flags=re.S)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[0] if lines else type(err).__name__)[:100]


def _read_npz(path, image_size=None):
    """(train images, train labels, test images or None, test labels or None, class names, {what was converted:
    how many}) of an .npz, each array checked, resized to image_size x image_size when given; never unpickled."""
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
                             f"{', '.join(sorted(keys)) or 'nothing'}); expected images [N, H, W] or [N, H, W, C] "
                             f"and labels [N]")
        if ("test_images" in keys) != ("test_labels" in keys):
            raise UsageError(f"{path} has one of test_images and test_labels without the other")

        shapes = {key: _npz_array_shape(path, archive, key) for key in keys}
        sizes = {key: int(np.prod(shape, dtype=object)) * itemsize for key, (shape, itemsize) in shapes.items()}
        large = ", ".join(f"'{key}' {size / 1e9:,.1f} GB" for key, size in sizes.items() if size > 1e8)
        check_fits(sum(sizes.values()), f"{path} ({large})", "give a smaller .npz")
        if image_size is not None:
            count = sum(shapes[key][0][0] for key in ("images", "test_images") if key in keys and shapes[key][0])
            channels = max(1 if len(shapes[key][0]) < 4 or shapes[key][0][3] == 1 else 3
                           for key in ("images", "test_images") if key in keys)
            check_fits(count * image_size * image_size * channels,
                       f"{count:,} images of {image_size} x {image_size} x {channels}", "give a smaller --image-size")

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
    train_x, test_x, converted = _npz_to_one_shape(path, train_x, test_x, image_size)
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
    return train_x, train_y, test_x, test_y, names, converted


def _npz_to_one_shape(path, train_x, test_x, image_size):
    """(train images, test images, {what was converted: how many}), both of one shape: gray or colour as most
    images are (a tie: colour), and image_size x image_size, or else their own size when they share one square
    size from MIN_OWN_SIZE to MAX_OWN_SIZE (UsageError otherwise)."""
    parts = [x for x in (train_x, test_x) if x is not None]
    sizes = collections.Counter()
    for x in parts:
        sizes[x.shape[1:3]] += len(x)
    shape, converted = choose_shape(path, sizes, sum(len(x) for x in parts if x.shape[-1] == 3),
                                    sum(len(x) for x in parts), image_size)
    shaped = [_to_shape(x, shape) if x is not None else None for x in (train_x, test_x)]
    return shaped[0], shaped[1], converted


def _to_shape(images, shape, batch=1000):
    """uint8 images [N, h, w, c] as uint8 [N, H, W, C] of `shape`: gray to colour by copying the level, colour to
    gray by ITU-R 601 luma, resized bilinearly and rounded (batch by batch); unchanged when already so."""
    if images.shape[1:] == tuple(shape):
        return images
    import tensorflow as tf
    height, width, channels = shape
    out = np.empty((len(images), *shape), np.uint8)
    for start in range(0, len(images), batch):
        part = tf.cast(images[start:start + batch], tf.float32)
        if part.shape[-1] != channels:
            part = tf.concat([part] * 3, axis=-1) if channels == 3 else tf.image.rgb_to_grayscale(part)
        if part.shape[1:3] != (height, width):
            part = tf.image.resize(part, (height, width), method="bilinear")
        out[start:start + batch] = np.clip(np.round(part.numpy()), 0, 255).astype(np.uint8)
    return out


def _npz_array_shape(path, archive, key):
    """(shape, bytes per item) of the array `key` of an open .npz, from its header alone (nothing is read
    before the arrays are known to fit in memory). UsageError for a header that does not parse."""
    try:
        with archive.zip.open(f"{key}.npy") as member:
            version = np.lib.format.read_magic(member)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0) else
                           np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(member)
    except (KeyError, ValueError, OSError) as err:
        raise UsageError(f"cannot read {path} as an .npz file: its '{key}' has no array header ({_first_line(err)})")
    return tuple(shape), dtype.itemsize


def _npz_images(path, key, images):
    """uint8 [N, H, W, C] (C: 1 gray, 3 colour; RGBA composited onto black) of an .npz's images."""
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4) or len(images) == 0 or 0 in images.shape:
        raise UsageError(f"{path}: '{key}' has shape {images.shape}; expected [N, H, W] or [N, H, W, C] with C 1 "
                         f"(gray), 3 (colour) or 4 (RGBA) and N > 0")
    images = _npz_levels(path, key, images)
    if images.shape[-1] == 4:
        return np.round(images[..., :3] * (images[..., 3:] / 255.0)).astype(np.uint8)
    return images


def _npz_levels(path, key, images):
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


def _write_cache(data, info, origins, data_dir):
    write_cache(data, data_dir, source=info["path"], name=f"own/{info['sha256']}", arrays=origins, data=info)

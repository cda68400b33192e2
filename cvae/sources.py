"""What --dataset PATH names, before anything is decoded: a Source, its contents listed and hashed.

  folder   one sub-folder per class holding image files (PNG, JPEG, BMP, GIF). Class names are the folder
           names in sorted order. If the folder holds both train/ and test/ (each with the same kind of class
           folders), they are the split. The folder is listed once: hidden files and folders, class folders
           that are links, links that lead nowhere and other files are left out, and counted. Its image shape
           is chosen from the files' headers (cvae.images), so a folder too large for memory is refused first.
  .npz     hashed as a file (cvae.npzfile reads it).

The data set's name is the folder's or file's name plus the start of the sha256 of its contents, for example
digits_3fa9c2d1: runs on it go to log/MODEL_N_digits_3fa9c2d1/, so two different folders both called "data"
never share a run.
"""
import collections
import hashlib
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from cvae.data import check_fits
from cvae.errors import UsageError
from cvae.images import PROGRESS_EVERY_S, check_image_size, check_pixels, choose_shape, image_header, read_image_file

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")  # of file names, in any case
# How images become arrays, a tag in every folder's hash: changed whenever the arrays of a folder would change,
# so that a change gives new cache entries, never stale ones. Its words name the reader that first gave these
# arrays; decode_image_file gives the same, bit for bit (tested), and reads GIF, BMP and CMYK JPEG, which that
# reader refused.
READER = "decode_image_file 2: gray or colour as most are, alpha onto black, bilinear, rounded to uint8; seeded order"


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
            with open(path, "rb") as file:  # in pieces: an .npz of gigabytes is not read whole to be hashed
                digest = hashlib.file_digest(file, "sha256")
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
    if given_split and not splits["test"]:
        raise UsageError(f"{path / 'test'} holds no images: put some in its class folders, or move the class folders "
                         f"of {path / 'train'} up into {path} to hold out a sixth of each class as test images")
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
            data = read_image_file(file)
            digest.update(f"{split}/{file.relative_to(path).as_posix()}\0{names[label]}\0{len(data)}\0".encode())
            digest.update(data)
            headers.append(image_header(data))
            check_pixels(file, headers[-1])
    known = [header for header in headers if header is not None]  # None: unreadable, left to the decoder
    shape, converted = choose_shape(path, collections.Counter(header[:2] for header in known),
                                    sum(header[2] for header in known), len(known), image_size)
    count = sum(len(files) for files in splits.values())
    check_fits(count * math.prod(shape), f"{count:,} images of {shape[0]} x {shape[1]} x {shape[2]}",
               "give fewer images, or a smaller --image-size")
    return Source(path, digest.hexdigest(), short_name(path, digest.hexdigest()), names, splits, skipped, image_size,
                  shape, converted)

"""An .npz file of one's own (--dataset FILE.npz): `images` [N, H, W] or [N, H, W, C] (C 1 gray, 3 colour, 4 RGBA),
uint8 0-255 or float 0-1; `labels` [N], integers 0..K-1; optional `test_images` / `test_labels` and `class_names`
[K]. Every array is checked from its header before it is read, and nothing is unpickled.
"""
import collections
import tokenize
import zipfile

import numpy as np

from cvae.data import check_fits
from cvae.errors import UsageError
from cvae.images import choose_shape, first_line, to_shape
from cvae.limits import MAX_CLASSES


def read_npz(path, image_size=None):
    """(train images, train labels, test images or None, test labels or None, class names, {what was converted:
    how many}) of an .npz, each array checked, resized to image_size x image_size when given; never unpickled."""
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic == b"\x93NUMPY":
        raise UsageError(f"{path} holds one array (an .npy file), not the named arrays of an .npz: save it with "
                         f"np.savez(path, images=..., labels=...)")
    if not magic.startswith(b"PK"):
        raise UsageError(f"{path} is not an .npz file (a zip of .npy arrays, as np.savez writes it)")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise UsageError(f"{path} is not a valid or whole .npz file ({first_line(err)})") from err
    with archive:
        keys = set(archive.files)
        missing = [key for key in ("images", "labels") if key not in keys]
        if missing:
            raise UsageError(f"{path} has no {' and no '.join(repr(k) for k in missing)} array (it has: "
                             f"{', '.join(sorted(keys)) or 'nothing'}); expected images [N, H, W] or [N, H, W, C] "
                             f"and labels [N]")
        if ("test_images" in keys) != ("test_labels" in keys):
            raise UsageError(f"{path} has one of test_images and test_labels without the other")

        shapes = _shapes_that_fit(path, archive, keys, image_size)

        def read(key):
            if shapes[key][1] is None:  # an array of Python objects
                raise UsageError(f"{path}: '{key}' is an array of Python objects, which would need pickle to "
                                 f"load (and pickle can run code); save it as numbers or strings")
            try:
                return archive[key]
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
                raise UsageError(f"{path} is not a valid or whole .npz file: its '{key}' does not read back "
                                 f"({first_line(err)})") from err

        names = read("class_names") if "class_names" in keys else None
        train_x, train_y = _images(path, "images", read("images")), _labels(path, "labels", read("labels"))
        test_x = _images(path, "test_images", read("test_images")) if "test_images" in keys else None
        test_y = _labels(path, "test_labels", read("test_labels")) if "test_labels" in keys else None
    for x, y, which in ((train_x, train_y, ""), (test_x, test_y, "test_")):
        if x is not None and len(x) != len(y):
            raise UsageError(f"{path}: {len(x):,} {which}images but {len(y):,} {which}labels; they must match one to one")
    train_x, test_x, converted = _to_one_shape(path, train_x, test_x, image_size)
    if names is None:
        top = max(int(train_y.max()), int(test_y.max()) if test_y is not None and len(test_y) else 0)
        if top >= MAX_CLASSES:  # before a name is made for each of them
            raise UsageError(f"{path} has {top + 1:,} classes; at most {MAX_CLASSES} are supported (its labels go up "
                             f"to {top:,}; they must be 0 to {MAX_CLASSES - 1})")
        names = [str(label) for label in range(top + 1)]
    else:
        if names.ndim != 1 or names.dtype.kind not in "US":
            raise UsageError(f"{path}: class_names must be a list of strings, got {names.dtype} {names.shape}")
        names = [_text(path, index, name) for index, name in enumerate(names.tolist())]
    for y, which in ((train_y, "labels"), (test_y, "test_labels")):
        if y is not None and len(y) and (y.min() < 0 or y.max() >= len(names)):
            raise UsageError(f"{path}: {which} range from {y.min()} to {y.max()}; with {len(names)} classes they "
                             f"must be 0 to {len(names) - 1}")
    return train_x, train_y, test_x, test_y, names, converted


def _text(path, index, name):
    """A class name of an .npz as text: a byte string (numpy's "S" arrays) decoded as UTF-8, not written b'...'."""
    if isinstance(name, bytes):
        try:
            return name.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError(f"{path}: class_names[{index}] is bytes that are not UTF-8 text ({name[:20]!r}); save the "
                             f"names as str") from None
    return str(name)


def _shapes_that_fit(path, archive, keys, image_size):
    """{key: (shape, bytes per item or None for objects)} of an open .npz's arrays, from their headers, once the
    arrays (and, resized to image_size, the images) are known to fit in memory (cvae.data.check_fits)."""
    shapes = {key: _array_shape(path, archive, key) for key in keys}
    sizes = {key: int(np.prod(shape, dtype=object)) * (itemsize or 8) for key, (shape, itemsize) in shapes.items()}
    large = ", ".join(f"'{key}' {size / 1e9:,.1f} GB" for key, size in sizes.items() if size > 1e8)
    check_fits(sum(sizes.values()), f"{path} ({large})", "give a smaller .npz")
    if image_size is not None:
        count = sum(shapes[key][0][0] for key in ("images", "test_images") if key in keys and shapes[key][0])
        channels = max(1 if len(shapes[key][0]) < 4 or shapes[key][0][3] == 1 else 3
                       for key in ("images", "test_images") if key in keys)
        check_fits(count * image_size * image_size * channels,
                   f"{count:,} images of {image_size} x {image_size} x {channels}", "give a smaller --image-size")
    return shapes


def _to_one_shape(path, train_x, test_x, image_size):
    """(train images, test images, {what was converted: how many}), both of one shape: gray or colour as most
    images are (a tie: colour), and image_size x image_size, or else their own size when they share one square
    size from MIN_OWN_SIZE to MAX_OWN_SIZE (UsageError otherwise)."""
    parts = [x for x in (train_x, test_x) if x is not None]
    sizes = collections.Counter()
    for x in parts:
        sizes[x.shape[1:3]] += len(x)
    shape, converted = choose_shape(path, sizes, sum(len(x) for x in parts if x.shape[-1] == 3),
                                    sum(len(x) for x in parts), image_size)
    shaped = [to_shape(x, shape) if x is not None else None for x in (train_x, test_x)]
    return shaped[0], shaped[1], converted


def _array_shape(path, archive, key):
    """(shape, bytes per item) of the array `key` of an open .npz, from its header alone (nothing is read
    before the arrays are known to fit in memory). UsageError for a header that does not parse."""
    try:
        with archive.zip.open(f"{key}.npy") as member:
            version = np.lib.format.read_magic(member)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0) else
                           np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(member)
    except (KeyError, ValueError, OSError, EOFError, SyntaxError, TypeError, tokenize.TokenError,
            zipfile.BadZipFile) as err:
        raise UsageError(f"{path} is not a valid or whole .npz file: its '{key}' has no array header "
                         f"({first_line(err) if str(err) else type(err).__name__})") from None
    return tuple(shape), (None if dtype.hasobject else dtype.itemsize)


def _images(path, key, images):
    """uint8 [N, H, W, C] (C: 1 gray, 3 colour; RGBA composited onto black) of an .npz's images."""
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4) or len(images) == 0 or 0 in images.shape:
        raise UsageError(f"{path}: '{key}' has shape {images.shape}; expected [N, H, W] or [N, H, W, C] with C 1 "
                         f"(gray), 3 (colour) or 4 (RGBA) and N > 0")
    images = _levels(path, key, images)
    if images.shape[-1] == 4:
        return np.round(images[..., :3] * (images[..., 3:] / 255.0)).astype(np.uint8)
    return images


def _levels(path, key, images):
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


def _labels(path, key, labels):
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise UsageError(f"{path}: '{key}' is {labels.dtype} {labels.shape}; expected integers [N]")
    if labels.dtype == np.uint64 and len(labels) and labels.max() > np.iinfo(np.int64).max:
        # int64 would wrap it round to a negative number, and the message would name that one
        raise UsageError(f"{path}: '{key}' go up to {int(labels.max()):,}; they must be class indices from 0")
    return labels.astype(np.int64)

"""Image files and arrays of one's own: what kind a file is, its header, decoding it, and the rule that picks the
shape [H, W, C] a data set's images become (cvae.owndata for folders, cvae.npzfile for .npz files).

The rule: the images' own size when they all share one square size from MIN_OWN_SIZE to MAX_OWN_SIZE, else
--image-size S (MIN_IMAGE_SIZE to MAX_IMAGE_SIZE), which resizes every image to S x S by bilinear interpolation
without keeping the aspect ratio; gray (1 channel) or colour (3) as most images are (a tie is colour), the
others converted: gray to colour by copying the level, colour to gray by ITU-R 601 luma. Every level is rounded
to uint8.
"""
import contextlib
import re
import time
from pathlib import Path

import numpy as np

from cvae.errors import UsageError
from cvae.limits import MAX_IMAGE_SIZE, MIN_IMAGE_SIZE

MIN_OWN_SIZE, MAX_OWN_SIZE = 16, 64  # images that all share one square size in this range keep it
MAX_IMAGE_PIXELS = 4096 * 4096  # an image file's pixels (a photograph's are under it; 64 MB decoded as RGBA)
# An image file's bytes: MAX_IMAGE_PIXELS of 16-bit RGBA stored without compression, and 1 MB of metadata. A
# larger file is no image we could decode, and is refused before it is read (a 3 GB "huge.png" was read whole).
MAX_IMAGE_FILE_BYTES = MAX_IMAGE_PIXELS * 8 + 2 ** 20
PROGRESS_EVERY_S = 2.0


def check_image_size(image_size):
    """UsageError unless --image-size is None or MIN_IMAGE_SIZE to MAX_IMAGE_SIZE."""
    if image_size is not None and not MIN_IMAGE_SIZE <= image_size <= MAX_IMAGE_SIZE:
        raise UsageError(f"--image-size {image_size}: give {MIN_IMAGE_SIZE} to {MAX_IMAGE_SIZE} pixels a side")


def image_kind(data):
    """"png", "jpeg", "gif" or "bmp" by the file's first bytes, or None."""
    for kind, magic in (("png", b"\x89PNG\r\n\x1a\n"), ("jpeg", b"\xff\xd8\xff"), ("gif", b"GIF8"), ("bmp", b"BM")):
        if data.startswith(magic):
            return kind
    return None


def image_header(data):
    """(height, width, colour) of an image file's bytes from its header (Pillow reads nothing more), or None
    when it has none (decoding then says what is wrong). Colour: RGB, CMYK and the like, and palettes holding
    any colour that is not gray. Pillow's guard against decompression bombs is left to check_pixels, which
    names the file: its warning and error are not raised here."""
    import io
    import warnings
    from PIL import Image, UnidentifiedImageError
    try:
        with warnings.catch_warnings(), pillow_bomb_guard_off(Image):
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
        with image:
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


@contextlib.contextmanager
def pillow_bomb_guard_off(image_module):
    """Pillow's own size guard lifted while a header is read (check_pixels bounds the size, naming the file)."""
    limit = image_module.MAX_IMAGE_PIXELS
    image_module.MAX_IMAGE_PIXELS = None
    try:
        yield
    finally:
        image_module.MAX_IMAGE_PIXELS = limit


def read_image_file(path):
    """The bytes of the image file at `path`; UsageError naming it, unread, when it is over MAX_IMAGE_FILE_BYTES."""
    size = path.stat().st_size
    if size > MAX_IMAGE_FILE_BYTES:
        raise UsageError(f"{path} is {size / 1e9:,.1f} GB, more than an image of at most {MAX_IMAGE_PIXELS:,} pixels "
                         f"can be ({MAX_IMAGE_FILE_BYTES / 1e6:,.0f} MB); leave it out of the folder")
    return path.read_bytes()


def check_pixels(path, header):
    """UsageError naming the file when its header declares more than MAX_IMAGE_PIXELS pixels: decoding it would
    take gigabytes (a 490 KB PNG can declare 13,000 x 13,000) before it is shrunk to the run's size."""
    if header is not None and header[0] * header[1] > MAX_IMAGE_PIXELS:
        raise UsageError(f"{path} is {header[1]:,} x {header[0]:,} pixels, more than the {MAX_IMAGE_PIXELS:,} an image "
                         f"may have here (each is decoded whole before it is resized); shrink it or leave it out")


def decode_image_file(path, shape=(28, 28, 1)):
    """The image file at `path` as uint8 [H, W, C] of `shape`: decoded, its transparency composited onto black,
    turned gray (C = 1) or colour (C = 3), resized by bilinear interpolation without keeping the aspect ratio,
    rounded. Gray from PNG and JPEG comes straight from their own decoders (as Keras' directory reader decodes
    them); from GIF, BMP, CMYK JPEG and images with transparency, whose decoders give colour, as RGB turned gray
    by ITU-R 601 luma. Gray to colour copies the level. UsageError naming the file when it is not a whole
    image of these kinds."""
    import tensorflow as tf
    data = read_image_file(Path(path))
    kind = image_kind(data)
    if kind is None:
        raise UsageError(f"cannot read {path}: not a PNG, JPEG, BMP or GIF image (it starts with {data[:8]!r}); "
                         f"remove or replace it")
    if kind == "jpeg" and not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        # Cut short: TensorFlow's decoder would print its own C++ warning line before any error of ours.
        raise UsageError(f"cannot read {path}: not a whole JPEG image (it ends before its end marker); remove or "
                         f"replace it")
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
        raise UsageError(f"cannot read {path}: not a whole {kind.upper()} image ({first_line(err)}); remove or replace "
                         f"it") from err
    return np.clip(np.round(resized.numpy()), 0, 255).astype(np.uint8)


def first_line(err):
    """The message of a TensorFlow or NumPy error without TensorFlow's {{node ...}} and [[...]] decorations."""
    text = re.sub(r"\{\{.*?\}\}|\[\[.*?\]\]|\[Op:\w+\].*", "", str(err), flags=re.S)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[0] if lines else type(err).__name__)[:100]


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


def to_shape(images, shape, batch=1000):
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


def decode_files(files, log, shape):
    """(uint8 images [N, H, W, C] of `shape`, labels [N]) of the files a Listing holds, in its order, with a
    progress line on a large folder. UsageError naming the first file that cannot be decoded."""
    decoded, began, shown = np.empty((len(files), *shape), np.uint8), time.monotonic(), time.monotonic()
    for count, (path, _) in enumerate(files, 1):
        decoded[count - 1] = decode_image_file(path, shape)
        if time.monotonic() - shown > PROGRESS_EVERY_S:
            shown = time.monotonic()
            log(f"decoding {path.parent.parent}: {count:,} / {len(files):,} images, {shown - began:.0f} s")
    return decoded, np.array([label for _, label in files], np.int64)

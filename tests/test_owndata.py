"""--dataset PATH: image folders and .npz files of one's own, with any number of classes from 2 to 100,
built here from generated shapes."""
import gzip
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import run_main, tool
from cvae import mnist, owndata, sources
from cvae.images import decode_image_file
from cvae.config import RunIdentity
from cvae.errors import UsageError
from cvae.rundir import RunDir
train = tool("train")
plot = tool("plot")
evaluate = tool("evaluate")
sample = tool("sample")

KINDS = ("circle", "cross", "square")


def shape(kind, size, rng):
    """uint8 [size, size]: a white shape on black, at a small random offset."""
    image = np.zeros((size, size), np.uint8)
    shift = rng.integers(-2, 3)
    a, b = size // 4 + shift, 3 * size // 4 + shift
    if kind == "square":
        image[a:b, a:b] = 255
    elif kind == "cross":
        image[size // 2 - 2 + shift:size // 2 + 2 + shift, :] = 255
        image[:, size // 2 - 2 + shift:size // 2 + 2 + shift] = 255
    else:
        yy, xx = np.mgrid[:size, :size]
        image[(yy - size / 2 - shift) ** 2 + (xx - size / 2) ** 2 < (size / 3) ** 2] = 255
    return image


def write_image(path, image):
    """PNG (gray or, for a 3-channel image, colour) or JPEG, by the path's suffix."""
    import tensorflow as tf
    pixels = image if image.ndim == 3 else image[..., None]
    data = tf.io.encode_jpeg(pixels, quality=95) if path.suffix == ".jpg" else tf.io.encode_png(pixels)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.numpy())


def shapes_folder(root, per_class=24, kinds=KINDS, seed=0, sizes=None):
    """A class-per-folder tree: per_class images of each kind, 28 pixels square (sizes=(a, b): of random
    sizes from a to b - 1), every third one in colour and every fourth a JPEG."""
    rng = np.random.default_rng(seed)
    for kind in kinds:
        for i in range(per_class):
            image = shape(kind, 28 if sizes is None else int(rng.integers(*sizes)), rng)
            if i % 3 == 1:
                image = np.stack([image, image, image], axis=-1)
            write_image(root / kind / f"{i:03d}.{'jpg' if i % 4 == 3 else 'png'}", image)
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return shapes_folder(tmp_path_factory.mktemp("own") / "shapes")


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


def fresh():
    """Forget what this process loaded and hashed: the next load reads the cache or the files."""
    owndata._LOADED.clear()
    sources._DESCRIBED.clear()


def test_a_folder_of_many_sizes_asks_for_image_size_then_is_resized_split_by_class_and_recorded(tmp_path, data_dir):
    fresh()
    folder = shapes_folder(tmp_path / "shapes", sizes=(16, 41))
    with pytest.raises(owndata.UsageError, match=r"shapes: its images have \d+ sizes \(height x width: .*\); give "
                                                 r"--image-size S \(8 to 128\) to resize every image to S x S"):
        owndata.load(folder, data_dir)
    lines = []
    data, info = owndata.load(folder, data_dir, lines.append, image_size=28)
    assert info["class_names"] == list(KINDS) and info["classes"] == 3
    assert data.train_images.shape == (60, 28, 28, 1) and data.test_images.shape == (12, 28, 28, 1)
    # Every third image is colour: most are gray, so the run is gray and those 24 are converted, and counted.
    assert info["image_shape"] == [28, 28, 1] and info["converted"]["colour to gray"] == 24
    assert 0 < info["converted"]["resized"] < 72
    assert "colour to gray 24 of 72 images" in " ".join(lines)
    assert data.train_images.dtype == np.uint8 and set(np.bincount(data.test_labels)) == {4}
    assert info["train_images"] == 60 and info["test_images"] == 12 and "1/6" in info["split"]
    assert info["name"] == f"shapes_{info['sha256'][:8]}" and info["path"] == str(folder.resolve())
    # White shapes on black stay so after grayscale and bilinear resizing (JPEG's and colour's too).
    assert data.train_images.max() == 255 and np.median(data.train_images) == 0


def test_a_colour_image_becomes_its_gray_level(tmp_path, data_dir):
    fresh()
    for kind, level in (("dark", 60), ("light", 200)):
        for i in range(6):
            write_image(tmp_path / "two" / kind / f"{i}.png", np.full((10, 14, 3), level, np.uint8))
            write_image(tmp_path / "two" / kind / f"{i}g.png", np.full((10, 14), level, np.uint8))
            write_image(tmp_path / "two" / kind / f"{i}h.png", np.full((10, 14), level, np.uint8))
    data, _ = owndata.load(tmp_path / "two", data_dir, image_size=12)
    assert sorted(np.unique(data.train_images)) == [60, 200]


def test_the_second_load_comes_from_the_cache_without_decoding(folder, data_dir, monkeypatch):
    fresh()
    first, info = owndata.load(folder, data_dir)
    fresh()
    monkeypatch.setattr(owndata, "decode_files", lambda *a: pytest.fail("decoded again"))
    second, again = owndata.load(folder, data_dir)
    assert again["sha256"] == info["sha256"]
    np.testing.assert_array_equal(second.train_images, first.train_images)
    assert (data_dir / "own" / f"{info['sha256']}.npz").exists()


def test_train_and_test_folders_are_the_split(tmp_path, data_dir):
    fresh()
    shapes_folder(tmp_path / "split" / "train", per_class=6, kinds=KINDS[:2])
    shapes_folder(tmp_path / "split" / "test", per_class=2, kinds=KINDS[:2], seed=1)
    data, info = owndata.load(tmp_path / "split", data_dir)
    assert len(data.train_images) == 12 and len(data.test_images) == 4 and info["split"] == "the train/ and test/ folders"


def write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def npz_arrays(classes=4, per_class=20, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), per_class)
    images = np.stack([shape(KINDS[label % 3], 28, rng) for label in labels]) / 255.0  # float 0-1
    images[labels == 3] = 1 - images[labels == 3]  # a fourth class: the inverted circle
    return images.astype(np.float32), labels


def test_an_npz_with_float_images_class_names_and_a_test_split(tmp_path, data_dir):
    fresh()
    images, labels = npz_arrays()
    path = write_npz(tmp_path / "blobs.npz", images=images[..., None], labels=labels, test_images=images[:8],
                     test_labels=labels[:8], class_names=np.array(["a", "b", "c", "d"]))
    data, info = owndata.load(path, data_dir)
    assert info["class_names"] == ["a", "b", "c", "d"] and info["split"] == "the given test images"
    assert data.train_images.dtype == np.uint8 and data.train_images.max() == 255 and len(data.test_images) == 8
    assert info["name"].startswith("blobs_")


# The whole way: train, resume, plot, sample, evaluate on a folder of one's own.

def run_flags(folder, log_dir, data_dir):
    return ["--dataset", str(folder), "--log-dir", str(log_dir), "--data-dir", str(data_dir)]


@pytest.mark.slow  # two trainings (the classifier's too), figures, an evaluation
def test_cvae_trains_plots_samples_and_evaluates_on_a_folder(folder, tmp_path, data_dir, capsys):
    fresh()
    flags = run_flags(folder, tmp_path / "log", data_dir)
    status, out, err = run_main(train.main, ["cvae_cnn3", "-n", "2", "-e", "2", "-b", "20", *flags], capsys)
    assert status == 0, err
    sha = sources.describe(folder).sha256
    run_dir = RunDir(tmp_path / "log" / f"cvae_cnn3_2_shapes_{sha[:8]}")
    identity = run_dir.read_config().identity
    assert identity.dataset == f"shapes_{sha[:8]}" and identity.data["sha256"] == sha
    assert identity.class_names() == list(KINDS)
    assert "60 training images, 12 test images" in out
    status, out, err = run_main(plot.main, ["cvae_cnn3", "-n", "2", *flags, "--figure-dir", str(tmp_path / "fig")], capsys)
    assert status == 0, err
    figures = tmp_path / "fig" / run_dir.name
    assert {"manifold.png", "analogy.png", "embedding.png", "generated_image_prior.png"} <= {p.name for p in figures.iterdir()}
    status, _, err = run_main(sample.main, ["cvae_cnn3", "-n", "2", *flags, "--count", "2", "--out", str(tmp_path / "s.npz")], capsys)
    assert status == 0, err
    assert sorted(np.load(tmp_path / "s.npz")["labels"]) == [0, 0, 1, 1, 2, 2]
    status, out, err = run_main(evaluate.main, ["cvae_cnn3", "-n", "2", *flags, "-k", "3", "--samples", "4"], capsys)
    assert status == 0, err
    result = json.loads((run_dir.path / "eval.json").read_text())
    assert len(result["class_consistency"]["per_class"]) == 3 and result["test_images"] == 12
    assert (tmp_path / "log" / f"cnn_shapes_{sha[:8]}" / "config.json").exists()  # its own classifier, trained first


@pytest.mark.slow  # six trainings
@pytest.mark.parametrize("model, extra", [("vae", []), ("cvae_fc3", []), ("cvae_cnn2", []), ("cnn", []),
                                          ("m2", ["--labels", "30"])])
def test_every_model_trains_and_plots_on_three_classes(model, extra, folder, tmp_path, data_dir, capsys):
    fresh()
    flags = run_flags(folder, tmp_path / "log", data_dir)
    latent = ["-n", "2"] if model != "cnn" else []
    status, _, err = run_main(train.main, [model, *latent, "-e", "1", "-b", "20", *extra, *flags], capsys)
    assert status == 0, err
    status, _, err = run_main(plot.main, [model, *latent, *extra, *flags, "--figure-dir", str(tmp_path / "fig")], capsys)
    assert status == 0, err


@pytest.mark.slow  # two trainings
def test_changed_data_does_not_resume_the_old_run(tmp_path, data_dir, capsys):
    fresh()
    folder = shapes_folder(tmp_path / "mine", per_class=6, kinds=KINDS[:2])
    flags = run_flags(folder, tmp_path / "log", data_dir)
    assert run_main(train.main, ["cvae_cnn3", "-n", "2", "-e", "1", *flags], capsys)[0] == 0
    old = sources.describe(folder).sha256
    write_image(folder / "cross" / "new.png", shape("cross", 28, np.random.default_rng(5)))
    new = sources.describe(folder).sha256
    status, _, err = run_main(train.main, ["cvae_cnn3", "-n", "2", "-e", "2", *flags], capsys)
    assert status == 2 and old[:16] in err and new[:16] in err and "--restart" in err
    assert run_main(train.main, ["cvae_cnn3", "-n", "2", "-e", "1", "--restart", *flags], capsys)[0] == 0
    assert {p.name for p in (tmp_path / "log").iterdir()} == {f"cvae_cnn3_2_mine_{old[:8]}", f"cvae_cnn3_2_mine_{new[:8]}"}


def own_data_run(log_dir, path, sha256, image_size=None, **names):
    """A run directory of one's own data at `path` (contents `sha256`) with config.json only, as train.py names
    it: what the lookup of earlier runs reads. Returns its identity."""
    from cvae.config import RunConfig
    stem = sources.short_stem(path)
    data = {"path": str(path), "sha256": sha256, "name": sources.short_name(path, sha256), "class_names": ["a", "b"],
            "image_size": image_size}
    identity = RunIdentity(dataset=data["name"], data=data, **names)
    run_dir = RunDir(log_dir / identity.directory_name())
    run_dir.path.mkdir(parents=True)
    run_dir.write_config(RunConfig(identity, []))
    assert run_dir.name.startswith(f"{names['model']}_") and stem in run_dir.name
    return identity


@pytest.mark.parametrize("names", [dict(model="cvae_fc3", latent_dim=2, subset=30),
                                   dict(model="m2", latent_dim=2, labels=20),
                                   dict(model="cvae_cnn3", latent_dim=2)])
def test_a_run_on_earlier_contents_of_the_path_is_found_whatever_flags_name_it(tmp_path, names):
    """The silent second run: with --subset or --labels the run's name does not end in the data's hash, and
    the lookup that cut 8 characters off it found nothing, so changed files started a new run from epoch 1."""
    from cvae import preflight
    from cvae.errors import UsageError
    path = tmp_path / "mine"
    own_data_run(tmp_path / "log", path, "a" * 64, **names)
    changed = own_data_run(tmp_path / "elsewhere", path, "b" * 64, **names)
    asked = RunDir(tmp_path / "log" / changed.directory_name())
    with pytest.raises(UsageError, match=f"trained on {path} when its contents had sha256 {'a' * 16}; they have "
                                         f"changed \\(sha256 {'b' * 16} now\\).*--restart"):
        preflight.refuse_changed_data(changed, asked, restart=False)
    preflight.refuse_changed_data(changed, asked, restart=True)  # --restart: a new run beside the old one


def test_another_image_size_of_the_same_file_is_another_run_not_a_change(tmp_path):
    from cvae import preflight
    path = tmp_path / "mine.npz"
    own_data_run(tmp_path / "log", path, "a" * 64, image_size=32, model="cvae_fc3", latent_dim=2)
    other_size = own_data_run(tmp_path / "elsewhere", path, "c" * 64, image_size=28, model="cvae_fc3", latent_dim=2)
    preflight.refuse_changed_data(other_size, RunDir(tmp_path / "log" / other_size.directory_name()), restart=False)
    same_size = own_data_run(tmp_path / "again", path, "d" * 64, image_size=32, model="cvae_fc3", latent_dim=2)
    with pytest.raises(Exception, match="they have changed"):
        preflight.refuse_changed_data(same_size, RunDir(tmp_path / "log" / same_size.directory_name()), restart=False)


def test_a_resumed_run_refuses_other_data_with_both_hashes():
    saved = RunIdentity("vae", 2, dataset="x_12345678", data={"sha256": "a" * 64, "path": "/old"})
    moved = RunIdentity("vae", 2, dataset="x_12345678", data={"sha256": "a" * 64, "path": "/new"})
    asked = RunIdentity("vae", 2, dataset="x_12345678", data={"sha256": "b" * 64, "path": "/old"})
    assert saved.differences(asked) == [f"data: saved sha256 {'a' * 64}, asked {'b' * 64}"]
    assert saved.differences(moved) == []  # the same contents at another path: the same run


# Bad input: one line, exit 2, no traceback, nothing in log/.

def bad_folder(tmp_path, case):
    root = tmp_path / case
    rng = np.random.default_rng(0)
    if case == "empty":
        root.mkdir()
    elif case == "one_class":
        shapes_folder(root, per_class=6, kinds=KINDS[:1])
    elif case == "empty_class":
        shapes_folder(root, per_class=6, kinds=KINDS[:2])
        (root / "square").mkdir()
    elif case == "truncated":
        shapes_folder(root, per_class=6, kinds=KINDS[:2])
        whole = (root / "cross" / "004.png").read_bytes()
        (root / "cross" / "004.png").write_bytes(whole[:len(whole) // 2])
    elif case == "test_class_not_trained":
        shapes_folder(root / "train", per_class=6, kinds=KINDS[:2])
        shapes_folder(root / "test", per_class=2, kinds=KINDS)
    elif case == "too_many_classes":
        write_npz(root.with_suffix(".npz"), images=rng.integers(0, 256, (202, 28, 28), dtype=np.uint8),
                  labels=np.arange(202) % 101)
        return root.with_suffix(".npz")
    return root


def bad_npz(tmp_path, case):
    images, labels = npz_arrays(classes=3, per_class=6)
    arrays = {"images": images, "labels": labels}
    if case == "no_labels":
        del arrays["labels"]
    elif case == "labels_out_of_range":
        arrays["class_names"] = np.array(["a", "b"])
    elif case == "lengths":
        arrays["labels"] = labels[:-1]
    elif case == "nan":
        arrays["images"] = images.copy()
        arrays["images"][3, 4, 5] = np.nan
    elif case == "object":
        arrays["labels"] = np.array([str(label) for label in labels], dtype=object)
    elif case == "test_class_not_trained":
        arrays["images"], arrays["labels"] = images[labels < 2], labels[labels < 2]
        arrays["test_images"], arrays["test_labels"] = images, labels
    elif case == "wrong_shape":
        arrays["images"] = np.zeros((len(labels), 32, 32, 2), np.uint8)
    return write_npz(tmp_path / f"{case}.npz", **arrays)


@pytest.mark.parametrize("make, case, message", [
    (bad_folder, "empty", "no images in {path}: put one sub-folder per class there"),
    (bad_folder, "one_class", "{path} has one class (circle); at least 2 are needed"),
    (bad_folder, "empty_class", "class folder {path}/square has no training images"),
    (bad_folder, "truncated", "cannot read {path}/cross/004.png: not a whole PNG image (Invalid PNG"),
    (bad_folder, "test_class_not_trained", "{path}/test has class folder(s) square that {path}/train has not"),
    (bad_folder, "too_many_classes", "has 101 classes; at most 100 are supported"),
    (bad_npz, "no_labels", "{path} has no 'labels' array (it has: images)"),
    (bad_npz, "labels_out_of_range", "labels range from 0 to 2; with 2 classes they must be 0 to 1"),
    (bad_npz, "lengths", "18 images but 17 labels"),
    (bad_npz, "nan", "'images' has 1 NaN or infinite pixel(s)"),
    (bad_npz, "object", "'labels' is an array of Python objects"),
    (bad_npz, "test_class_not_trained", "{path}: class '2' has no training images but has test images"),
    (bad_npz, "wrong_shape", "'images' has shape (18, 32, 32, 2); expected [N, H, W] or [N, H, W, C] with C 1 (gray), "
                             "3 (colour) or 4 (RGBA)"),
])
def test_bad_data_is_one_line_exit_2_and_writes_nothing(make, case, message, tmp_path, capsys):
    fresh()
    path = make(tmp_path, case)
    log_dir = tmp_path / "log"
    status, out, err = run_main(train.main, ["cvae_cnn3", "-n", "2", "--dataset", str(path), "--log-dir", str(log_dir),
                                             "--data-dir", str(tmp_path / "data")], capsys)
    assert status == 2 and message.format(path=path.resolve()) in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not log_dir.exists()


def test_a_missing_path_is_an_argparse_error(tmp_path, capsys):
    status, _, err = run_main(train.main, ["vae", "--dataset", str(tmp_path / "nowhere")], capsys)
    assert status == 2 and "no data set called" in err


def test_mnist_idx_files_of_another_size_get_their_own_message_and_no_download(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)

    def idx(array):
        header = bytes([0, 0, 8, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
        return gzip.compress(header + array.astype(np.uint8).tobytes())

    (tmp_path / "mnist").mkdir()
    for name, array in (("train-images-idx3-ubyte.gz", rng.integers(0, 256, (1000, 28, 28))),
                        ("train-labels-idx1-ubyte.gz", rng.integers(0, 10, 1000)),
                        ("t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (100, 28, 28))),
                        ("t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, 100))):
        (tmp_path / "mnist" / name).write_bytes(idx(array))
    monkeypatch.setattr(mnist, "fetch_from_pypi", lambda log: pytest.fail("went on to download"))
    with pytest.raises(mnist.DataError) as raised:
        mnist.load_mnist(tmp_path, mirrors=("http://mirror.invalid/",))
    message = str(raised.value)
    assert "are not mnist" in message and "(1000, 28, 28, 1)" in message and "expected (60000, 28, 28, 1)" in message
    assert "--dataset with an image folder or an .npz file" in message


def test_a_copy_under_another_name_has_its_own_name_and_path_but_shares_the_cache(folder, tmp_path, data_dir, monkeypatch):
    fresh()
    _, info = owndata.load(folder, data_dir)
    copy = shutil.copytree(folder, tmp_path / "copied")
    fresh()
    monkeypatch.setattr(owndata, "decode_files", lambda *a: pytest.fail("decoded again"))
    _, again = owndata.load(copy, data_dir)
    assert again["sha256"] == info["sha256"] and again["name"] == f"copied_{info['sha256'][:8]}"
    assert again["path"] == str(copy.resolve())


def test_m2_labels_beyond_a_class_s_images_are_a_usage_error(folder, tmp_path, data_dir, capsys):
    fresh()
    flags = run_flags(folder, tmp_path / "log", data_dir)
    status, _, err = run_main(train.main, ["m2", "-n", "2", "--labels", "90", *flags], capsys)
    assert status == 2 and "--labels 90 leaves no unlabelled image among the 60 training images" in err
    status, _, err = run_main(train.main, ["m2", "-n", "2", "--labels", "30", "--subset", "20", *flags], capsys)
    assert status == 2 and "--labels 30 leaves no unlabelled image among the 20 training images" in err
    status, _, err = run_main(train.main, ["m2", "-n", "2", "--labels", "40", *flags], capsys)
    assert status == 2 and "--labels must be a multiple of the 3 classes" in err
    # One rule for every data set: a class short of its share of the labels, the count, the multiple.
    from cvae.errors import UsageError
    from cvae.preflight import check_labels
    three = RunIdentity("m2", 2, labels=30, dataset="x_12345678", data={"class_names": ["a", "b", "c"]})
    with pytest.raises(UsageError, match="--labels 30 takes 10 images of each class; class c has 5 training images"):
        check_labels(three, np.array([0] * 50 + [1] * 50 + [2] * 5))
    check_labels(three, np.array([0] * 50 + [1] * 50 + [2] * 10))
    assert not (tmp_path / "log").exists()


@pytest.mark.slow  # trains, then plots, samples, exports and evaluates as the data changes and goes
def test_a_run_opens_after_its_folder_changed_or_went_and_says_what_it_needs_once_the_cache_went_too(
        tmp_path, data_dir, capsys):
    export = tool("export")
    fresh()
    folder = shapes_folder(tmp_path / "mine", per_class=6, kinds=KINDS[:2])
    flags = run_flags(folder, tmp_path / "log", data_dir)
    assert run_main(train.main, ["cvae_cnn3", "-n", "2", "-e", "1", *flags], capsys)[0] == 0
    (run_dir,) = (tmp_path / "log").iterdir()
    write_image(folder / "cross" / "new.png", shape("cross", 28, np.random.default_rng(5)))  # the files change
    fresh()
    status, out, err = run_main(plot.main, ["cvae_cnn3", "-n", "2", "-m", "embed", *flags, "--figure-dir",
                                            str(tmp_path / "fig")], capsys)
    assert status == 0 and f"wrote {tmp_path / 'fig' / run_dir.name / 'embedding.png'}" in out, err
    shutil.rmtree(folder)  # and then go
    fresh()
    status, _, err = run_main(sample.main, ["cvae_cnn3", "-n", "2", *flags, "--out", str(tmp_path / "s.npz")], capsys)
    assert status == 0, err
    assert run_main(export.main, ["--run", str(run_dir), "--out", str(tmp_path / "export")], capsys)[0] == 0
    status, _, err = run_main(plot.main, ["--run", str(run_dir), "-m", "embed", "--data-dir", str(data_dir),
                                          "--figure-dir", str(tmp_path / "fig")], capsys)
    assert status == 0, err
    shutil.rmtree(data_dir / "own")  # the cache goes too: the figures and numbers that need the images say so
    fresh()
    status, _, err = run_main(plot.main, ["--run", str(run_dir), "-m", "manifold", "--data-dir", str(data_dir),
                                          "--figure-dir", str(tmp_path / "fig")], capsys)
    assert status == 0, err  # the latent grid needs no image
    status, _, err = run_main(evaluate.main, ["--run", str(run_dir), "-k", "2", "--data-dir", str(data_dir)], capsys)
    assert status == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"the run's data {folder.resolve()} is gone, and so is its cache" in err and "put the images" in err
    status, _, err = run_main(sample.main, ["--run", str(run_dir), "--out", str(tmp_path / "again.npz")], capsys)
    assert status == 0, err  # drawing from the prior needs no data
    np.testing.assert_array_equal(np.load(tmp_path / "again.npz")["images"], np.load(tmp_path / "s.npz")["images"])


# Folders as users have them: every format the README lists, things to leave out, tiny classes, a cache
# that is not what it says.

def pil_image(path, pixels, mode, image_format):
    from PIL import Image
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).convert(mode).save(path, image_format)


def test_gif_bmp_cmyk_jpeg_and_transparency_load_in_colour_or_as_their_gray_level(tmp_path, data_dir):
    fresh()
    # Uniform colours: their gray level is ITU-R 601 luma, 0.299 R + 0.587 G + 0.114 B, whatever the format.
    colour = np.zeros((12, 16, 3), np.uint8) + np.array([60, 120, 180], np.uint8)  # luma 108.9
    gray = np.full((12, 16), 200, np.uint8)
    for i in range(4):
        pil_image(tmp_path / "mixed" / "a" / f"{i}.gif", colour, "RGB", "GIF")
        pil_image(tmp_path / "mixed" / "a" / f"{i}.bmp", colour, "RGB", "BMP")
        pil_image(tmp_path / "mixed" / "b" / f"{i}.bmp", gray, "L", "BMP")
        pil_image(tmp_path / "mixed" / "b" / f"{i}a.png", np.dstack([gray] * 3 + [np.full_like(gray, 100)]), "RGBA", "PNG")
        pil_image(tmp_path / "mixed" / "b" / f"{i}.jpg", np.dstack([gray] * 3), "CMYK", "JPEG")
    data, info = owndata.load(tmp_path / "mixed", data_dir, image_size=28)
    images = np.concatenate([data.train_images, data.test_images])
    labels = np.concatenate([data.train_labels, data.test_labels])
    # 16 of the 20 are colour (the GIFs' palette holds a colour; RGBA and CMYK are colour): the run is colour.
    assert info["train_images"] + info["test_images"] == 20 and images.shape[1:] == (28, 28, 3)
    assert info["converted"] == {"resized": 20, "gray to colour": 4}
    # GIF's palette and CMYK JPEG's lossy colour shift the levels by a few; BMP's are exact.
    np.testing.assert_allclose(images[labels == 0].mean(axis=(1, 2)), [[60, 120, 180]] * 8, atol=4)
    levels = images[labels == 1].mean(axis=(1, 2, 3))
    # Transparency is composited onto black: 200 at alpha 100 / 255 is 78.4.
    np.testing.assert_allclose(np.sort(levels), [78.4] * 4 + [200] * 8, atol=4)
    assert (decode_image_file(tmp_path / "mixed" / "a" / "0.bmp") == 109).all()
    assert (decode_image_file(tmp_path / "mixed" / "a" / "0.bmp", (12, 16, 3)) == [60, 120, 180]).all()
    assert (decode_image_file(tmp_path / "mixed" / "b" / "0a.png") == 78).all()


def test_hidden_folders_linked_class_folders_and_broken_links_are_left_out_and_counted(tmp_path, data_dir):
    fresh()
    root = shapes_folder(tmp_path / "mine", per_class=6, kinds=KINDS[:2])
    write_image(root / ".ipynb_checkpoints" / "x.png", shape("cross", 20, np.random.default_rng(1)))
    write_image(root / "cross" / ".ipynb_checkpoints" / "x-checkpoint.png", shape("cross", 20, np.random.default_rng(2)))
    (root / "cross" / "._resource_fork.png").write_bytes(b"\x00\x05\x16\x07 not an image")
    (root / "selfloop").symlink_to(root)
    (tmp_path / "other").mkdir()
    (root / "elsewhere").symlink_to(tmp_path / "other", target_is_directory=True)
    (root / "gone").symlink_to(tmp_path / "nowhere", target_is_directory=True)
    (root / "circle" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    (root / "circle" / "notes.txt").write_text("not an image")
    (root / "README").write_text("beside the class folders")
    lines = []
    data, info = owndata.load(root, data_dir, log=lines.append)
    assert info["class_names"] == ["circle", "cross"] and info["train_images"] + info["test_images"] == 12
    left_out = next(line for line in lines if "left out" in line)
    for part in ("3 hidden files and folders", "2 class folders that are links", "2 links that lead nowhere",
                 "1 files that are not PNG, JPEG, BMP or GIF images", "1 files beside the class folders"):
        assert part in left_out, left_out
    fresh()
    assert owndata.load(root, data_dir)[1]["sha256"] == info["sha256"]  # the same listing every time


def test_three_images_of_a_class_give_one_test_image(tmp_path, data_dir):
    fresh()
    root = shapes_folder(tmp_path / "few", per_class=3, kinds=KINDS[:2])
    data, info = owndata.load(root, data_dir)
    assert info["train_images"] == 4 and info["test_images"] == 2 and sorted(data.test_labels) == [0, 1]
    (root / "cross" / "000.png").unlink()
    (root / "cross" / "001.png").unlink()
    fresh()
    with pytest.raises(owndata.UsageError, match="class cross has one image; without a given test split each class "
                                                 "needs 2 or more"):
        owndata.load(root, data_dir)


def rewrite_cache_consistently(data_dir, sha256):
    """What someone able to write data/ can do: change a cached image and its checksum, so the cache reads back."""
    from cvae.data import ImageSet, read_cache_and_meta, write_cache
    data, meta = read_cache_and_meta(data_dir, f"own/{sha256}")
    with np.load(data_dir / "own" / f"{sha256}.npz") as cache:
        origins = {key: cache[key] for key in ("train_from", "test_from")}
    images = data.train_images.copy()
    images[:] = 255 - images  # every training image inverted
    forged = ImageSet(images, data.train_labels, data.test_images, data.test_labels)
    write_cache(forged, data_dir, source=meta["source"], name=f"own/{sha256}", arrays=origins, data=meta["data"])
    return forged


def test_a_cache_rewritten_with_its_checksum_is_not_trusted_over_the_folder(folder, data_dir):
    fresh()
    true, info = owndata.load(folder, data_dir)
    forged = rewrite_cache_consistently(data_dir, info["sha256"])
    fresh()
    lines = []
    again, _ = owndata.load(folder, data_dir, log=lines.append)
    assert any("does not hold what" in line and "decoding it again" in line for line in lines), lines
    np.testing.assert_array_equal(again.train_images, true.train_images)
    assert not np.array_equal(forged.train_images, true.train_images)
    # A run's own record: the arrays it trained on, by their checksum; a cache changed since is read again.
    forged = rewrite_cache_consistently(data_dir, info["sha256"])
    fresh()
    lines = []
    for_run = owndata.load_for_run(info, data_dir, log=lines.append)
    assert any("no longer holds the arrays the run trained on" in line for line in lines), lines
    np.testing.assert_array_equal(for_run.train_images, true.train_images)


@pytest.mark.slow  # trains, then makes every figure
def test_every_figure_of_a_run_with_fewer_test_images_than_a_grid_and_names_with_dollars(tmp_path, data_dir, capsys):
    """Two test images (the reconstruction grid shows 30, the analogy 8) and class names that matplotlib
    would read as TeX math: every figure is drawn with what exists, the names as written."""
    import matplotlib.image
    fresh()
    root = tmp_path / "money"
    for kind, name in zip(KINDS[:2], ("$x^$", "100$")):
        shapes_folder(tmp_path / "tmp", per_class=6, kinds=[kind])
        shutil.move(tmp_path / "tmp" / kind, root / name)
    flags = run_flags(root, tmp_path / "log", data_dir)
    assert run_main(train.main, ["cvae_cnn3", "-n", "2", "-e", "1", *flags], capsys)[0] == 0
    status, out, err = run_main(plot.main, ["cvae_cnn3", "-n", "2", *flags, "--figure-dir", str(tmp_path / "fig")],
                                capsys)
    assert status == 0 and "Traceback" not in err, err
    written = sorted(p.name for p in (tmp_path / "fig").rglob("*.png"))
    assert written == sorted(["reconstruction.png", "generated_image_mean.png", "generated_image_rand_all_0.100.png",
                              "generated_image_prior.png", "embedding.png", "manifold.png", "analogy.png",
                              "interpolation.png", "learning_curve.png"])
    assert matplotlib.image.imread(next((tmp_path / "fig").rglob("reconstruction.png"))).shape[1] < 600  # 2 columns
    status, _, err = run_main(sample.main, ["cvae_cnn3", "-n", "2", *flags, "--out", str(tmp_path / "s.png")], capsys)
    assert status == 0, err


# Size and colour (issue 26): the images' own when they share one square size from 16 to 64, else --image-size.

def colour_squares(count, size, seed=0):
    """uint8 [count, size, size, 3]: a red, green or blue square on a dark background, and labels [count]."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 3
    images = np.zeros((count, size, size, 3), np.uint8) + rng.integers(0, 30, (count, 1, 1, 3)).astype(np.uint8)
    for i, label in enumerate(labels):
        a = int(rng.integers(2, size // 4))
        images[i, a:size - a, a:size - a, label] = 230
    return images, labels


def test_a_colour_folder_keeps_its_size_and_colour(tmp_path, data_dir):
    fresh()
    images, labels = colour_squares(36, 32)
    for i, (image, label) in enumerate(zip(images, labels)):
        write_image(tmp_path / "squares" / "rgb"[label] / f"{i}.png", image)
    data, info = owndata.load(tmp_path / "squares", data_dir)
    assert data.train_images.shape[1:] == (32, 32, 3) and info["image_shape"] == [32, 32, 3]
    assert info["image_size"] is None and not info["converted"]
    every = np.concatenate([data.train_images, data.test_images])
    assert sorted(map(bytes, every)) == sorted(map(bytes, images))  # PNG is lossless: the very pixels
    identity = RunIdentity("cvae_cnn3", 2, dataset=info["name"], data=info)
    assert identity.image_shape() == (32, 32, 3)
    assert RunIdentity("cvae_cnn3", 2).image_shape() == (28, 28, 1)


@pytest.mark.parametrize("size, message", [
    (80, "its 12 images are 80 x 80, larger than the 16 to 64 pixels a side kept as they are"),
    (12, "its 12 images are 12 x 12, smaller than the 16 to 64 pixels a side kept as they are"),
])
def test_an_npz_of_colour_images_is_kept_or_resized_with_image_size(size, message, tmp_path, data_dir):
    fresh()
    images, labels = colour_squares(12, size)
    path = write_npz(tmp_path / "c.npz", images=images, labels=labels)
    with pytest.raises(owndata.UsageError, match=re.escape(message) + r"; give --image-size S \(8 to 128\)"):
        owndata.load(path, data_dir)
    lines = []
    data, info = owndata.load(path, data_dir, lines.append, image_size=32)
    assert data.train_images.shape[1:] == (32, 32, 3) and info["converted"] == {"resized": 12}
    assert "resized 12 of 12 images" in " ".join(lines)
    # Asking for another size is other arrays: another name, never the same run.
    assert info["sha256"] != sources.describe(path, 48).sha256 != sources.describe(path).sha256


def test_an_npz_of_rgba_and_mixed_channels_is_composited_onto_black_and_converted(tmp_path, data_dir):
    fresh()
    images, labels = colour_squares(12, 24)
    rgba = np.concatenate([images, np.full((12, 24, 24, 1), 128, np.uint8)], axis=-1)
    path = write_npz(tmp_path / "rgba.npz", images=rgba, labels=labels)
    data, info = owndata.load(path, data_dir)
    every = np.concatenate([data.train_images, data.test_images])
    np.testing.assert_allclose(np.sort(every.reshape(-1)), np.sort(np.round(images * (128 / 255)).reshape(-1)), atol=0)
    fresh()
    gray = images.max(axis=-1)  # 12 gray and 6 colour images: the run is gray, the colour ones converted
    path = write_npz(tmp_path / "mixed.npz", images=gray, labels=labels, test_images=images[:6], test_labels=labels[:6])
    data, info = owndata.load(path, data_dir)
    assert data.test_images.shape[1:] == (24, 24, 1) and info["converted"] == {"colour to gray": 6}


def test_image_size_out_of_bounds_or_on_mnist_is_a_usage_error(tmp_path, capsys):
    for size in ("7", "129", "x"):
        status, _, err = run_main(train.main, ["vae", "--dataset", str(tmp_path), "--image-size", size], capsys)
        assert status == 2 and f"argument --image-size: give 8 to 128 pixels a side, got '{size}'" in err
    status, _, err = run_main(train.main, ["vae", "--image-size", "32", "--log-dir", str(tmp_path / "log")], capsys)
    assert status == 2 and "--image-size resizes a data set of one's own; mnist is 28 x 28 gray" in err
    assert not (tmp_path / "log").exists()


def test_a_folder_too_large_for_memory_is_refused_before_anything_is_decoded(tmp_path, data_dir, monkeypatch, capsys):
    fresh()
    images, labels = colour_squares(12, 32)
    for i, (image, label) in enumerate(zip(images, labels)):
        write_image(tmp_path / "squares" / "rgb"[label] / f"{i}.png", image)
    from cvae import data as data_module
    monkeypatch.setattr(data_module, "memory_bytes", lambda: 10 * 12 * 32 * 32 * 3 - 10)
    monkeypatch.setattr(owndata, "decode_image_file", lambda *a: pytest.fail("decoded"))
    status, _, err = run_main(train.main, ["vae", "--dataset", str(tmp_path / "squares"), "--log-dir",
                                           str(tmp_path / "log"), "--data-dir", str(data_dir)], capsys)
    assert status == 2 and "12 images of 32 x 32 x 3 would take 0.0 GB of memory, more than a tenth" in err
    assert not (tmp_path / "log").exists() and not data_dir.exists()


@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_a_size_the_model_cannot_take_is_one_line_exit_2_listing_the_sizes_it_can(tmp_path, capsys):
    fresh()
    images, labels = colour_squares(24, 30)
    path = write_npz(tmp_path / "thirty.npz", images=images, labels=labels)
    status, _, err = run_main(train.main, ["cvae_cnn3", "-n", "2", "--dataset", str(path), "--log-dir",
                                           str(tmp_path / "log"), "--data-dir", str(tmp_path / "data")], capsys)
    assert status == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert ("cvae_cnn3 cannot take 30 x 30 images; it takes square images of 8, 12, 16, ..., 128 pixels a side "
            "(train with --image-size S)") in err
    assert not (tmp_path / "log").exists()
    assert run_main(train.main, ["cvae_fc3", "-n", "2", "-e", "1", "--dataset", str(path), "--log-dir",
                                 str(tmp_path / "log"), "--data-dir", str(tmp_path / "data")], capsys)[0] == 0


def test_npz_class_names_as_bytes_are_text_and_unfit_names_are_refused(tmp_path, data_dir):
    """Bytes names became "b'...'" in config.json and figures, and a 200-character name made export.py --check
    refuse the tool's own export (issue 36, 26)."""
    fresh()
    images, labels = npz_arrays(classes=2, per_class=6)
    path = write_npz(tmp_path / "bytes.npz", images=images, labels=labels, class_names=np.array([b"circle", b"square"]))
    assert owndata.load(path, data_dir)[1]["class_names"] == ["circle", "square"]
    for names, complaint in ((np.array([b"\xff\xfe", b"ok"]), r"class_names\[0\] is bytes that are not UTF-8"),
                             (np.array(["a" * 200, "b"]), r"the class name 'aaaa[a']*\.\.\. is not 1 to 100 printable"),
                             (np.array(["two\nlines", "b"]), r"the class name 'two\\nlines' is not 1 to 100")):
        fresh()
        bad = write_npz(tmp_path / f"bad{len(names[0])}.npz", images=images, labels=labels, class_names=names)
        with pytest.raises(owndata.UsageError, match=complaint):
            owndata.load(bad, data_dir)


def test_a_given_test_split_without_images_is_refused_before_training(tmp_path, capsys):
    """train/ with images and test/a, test/b empty trained an epoch, then failed with KeyError 'reconstruction'
    (issue 36, 13)."""
    fresh()
    folder = shapes_folder(tmp_path / "mine" / "train", per_class=6, kinds=KINDS[:2])
    for kind in KINDS[:2]:
        (tmp_path / "mine" / "test" / kind).mkdir(parents=True)
    status, _, err = run_main(train.main, ["cvae_fc3", "-n", "2", "-e", "1", "--dataset", str(folder.parent),
                                           "--log-dir", str(tmp_path / "log"), "--data-dir", str(tmp_path / "data")],
                              capsys)
    assert status == 2 and f"{tmp_path / 'mine' / 'test'} holds no images" in err
    assert not (tmp_path / "log").exists()


def bad_npz_file(tmp_path, case):
    """An .npz as a disk, a rename or a hand-made header might leave it (issue 36, 11 and 18)."""
    import io
    import zipfile
    images, labels = npz_arrays(classes=2, per_class=6)
    path = tmp_path / f"{case}.npz"
    if case == "a renamed .npy":
        with open(path, "wb") as f:
            np.save(f, images)
    elif case == "a text file":
        path.write_text("hello")
    elif case == "a flipped byte":
        write_npz(path, images=images, labels=labels)
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    elif case in ("a header claiming more images than are stored", "a garbage header"):
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                      "shape": (100, 28, 28)})
        body = (header.getvalue() + images.tobytes() if case.startswith("a header")
                else b"\x93NUMPY\x01\x00\x10\x00{'descr': (((((")
        label_file = io.BytesIO()
        np.save(label_file, labels)
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("images.npy", body)
            archive.writestr("labels.npy", label_file.getvalue())
    else:  # labels of 10^9 without class names
        write_npz(path, images=images, labels=np.where(labels == 1, 10 ** 9, 0))
    return path


@pytest.mark.parametrize("case, message", [
    ("a renamed .npy", "holds one array (an .npy file), not the named arrays of an .npz"),
    ("a text file", "is not an .npz file (a zip of .npy arrays"),
    ("a flipped byte", "is not a valid or whole .npz file"),
    ("a header claiming more images than are stored", "is not a valid or whole .npz file: its 'images' does not read"),
    ("a garbage header", "is not a valid or whole .npz file: its 'images' has no array header"),
    ("labels of 10^9", "has 1,000,000,001 classes; at most 100 are supported (its labels go up to 1,000,000,000"),
])
def test_a_broken_npz_is_one_line_naming_what_is_wrong(case, message, tmp_path, data_dir):
    fresh()
    path = bad_npz_file(tmp_path, case)
    with pytest.raises(owndata.UsageError, match=re.escape(message)):
        owndata.load(path, data_dir)


def test_a_truncated_jpeg_and_a_huge_unsigned_label_are_one_line_each(tmp_path, capsys):
    """A truncated JPEG printed TensorFlow's C++ line before the error; a uint64 label 2^63 + 1 was reported as a
    negative number (issue 36, 27)."""
    import io
    from PIL import Image
    image = io.BytesIO()
    Image.fromarray(np.full((28, 28), 128, np.uint8)).save(image, "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(image.getvalue()[:len(image.getvalue()) // 2])
    with pytest.raises(owndata.UsageError, match="not a whole JPEG image"):
        decode_image_file(path)
    assert capsys.readouterr().err == ""
    fresh()
    images, labels = npz_arrays(classes=2, per_class=6)
    bad = write_npz(tmp_path / "u64.npz", images=images, labels=np.where(labels == 1, 2 ** 63 + 1, 0).astype(np.uint64))
    with pytest.raises(owndata.UsageError, match="'labels' go up to 9,223,372,036,854,775,809"):
        owndata.load(bad, tmp_path / "data")


@pytest.mark.slow  # two trainings
def test_two_image_sizes_of_one_file_are_two_runs_that_plot_names_by_size(tmp_path, capsys):
    """train.py at --image-size 24 and 32 on one .npz made two runs, and plot.py then said '2 runs trained on
    earlier contents' and took no --image-size (issue 36, 29)."""
    fresh()
    images, labels = colour_squares(24, 28)
    path = write_npz(tmp_path / "squares.npz", images=images, labels=labels)
    common = ["--dataset", str(path), "--log-dir", str(tmp_path / "log"), "--data-dir", str(tmp_path / "data")]
    for size in ("24", "32"):
        status, _, err = run_main(train.main, ["cvae_fc3", "-n", "2", "-e", "1", "-b", "12", *common,
                                               "--image-size", size], capsys)
        assert status == 0, err
    plot = tool("plot")
    status, _, err = run_main(plot.main, ["cvae_fc3", "-n", "2", "-m", "re", *common, "--figure-dir",
                                          str(tmp_path / "fig")], capsys)
    assert status == 2 and "2 runs trained on" in err and "at different sizes" in err and "--image-size 24" in err
    status, out, err = run_main(plot.main, ["cvae_fc3", "-n", "2", "-m", "re", *common, "--image-size", "32",
                                            "--figure-dir", str(tmp_path / "fig")], capsys)
    assert status == 0, err
    drawn, = (tmp_path / "fig").glob("*/reconstruction.png")
    import matplotlib.image
    from cvae.rundir import RunDir
    run_name = drawn.parent.name
    assert RunDir(tmp_path / "log" / run_name).read_config().identity.image_shape() == (32, 32, 3)
    assert matplotlib.image.imread(drawn)[..., :3].std() > 0.01


@pytest.mark.parametrize("side", [13000, 15000])
def test_an_image_declaring_more_pixels_than_any_decoded_here_is_named_before_decoding(side, tmp_path, data_dir):
    """Issue 36, item 10: a 13,000 x 13,000 PNG took 3.4 GB and gave Pillow's raw DecompressionBombWarning; a header
    declaring 15,000 x 15,000 a raw DecompressionBombError. Its header alone is read: one line naming the file."""
    import struct
    import warnings
    import zlib
    root = shapes_folder(tmp_path / "shapes", per_class=4)
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit gray
    chunk = lambda kind, body: (struct.pack(">I", len(body)) + kind + body  # noqa: E731
                                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    (root / "circle" / "huge.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                                               + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's warning would fail the test
        with pytest.raises(UsageError, match=rf"huge.png is {side:,} x {side:,} pixels, more than the 16,777,216 an "
                                             rf"image may have here"):
            owndata.load(str(root), data_dir, log=lambda *_: None)


def test_an_image_file_too_big_to_be_one_is_refused_by_name_unread(tmp_path, monkeypatch):
    """A 3 GB file named huge.png was read whole before any check (issue 36, 10): a file larger than the largest
    image allowed is refused by its size, before it is read (a sparse file: no disk is spent)."""
    from cvae import images as images_module
    data_dir = tmp_path / "data"
    root = shapes_folder(tmp_path / "shapes", per_class=4)
    huge = root / "circle" / "huge.png"
    with open(huge, "wb") as file:
        file.write((root / "circle" / "000.png").read_bytes())
        file.truncate(images_module.MAX_IMAGE_FILE_BYTES + 1)
    read_bytes = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail(f"{self} was read") if self.name == "huge.png"
                        else read_bytes(self))
    with pytest.raises(UsageError, match=rf"{re.escape(str(huge))} is 0.1 GB, more than an image of at most "
                                         rf"16,777,216 pixels can be \(135 MB\); leave it out of the folder"):
        owndata.load(str(root), data_dir, log=lambda *_: None)


def test_an_npz_file_is_hashed_in_pieces(tmp_path, monkeypatch):
    """A 3.2 GB .npz was read whole into memory to be hashed (issue 36, 10): its sha256 is taken in pieces, and
    is the file's."""
    import hashlib
    from cvae import sources
    images, labels = npz_arrays(classes=2, per_class=6)
    path = write_npz(tmp_path / "small.npz", images=images, labels=labels)
    whole = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail(f"{self} was read whole"))
    assert sources.describe(path).sha256 == whole


@pytest.mark.slow  # TensorFlow writes 1,797 PNG files
def test_the_readmes_sklearn_digits_folder_is_made_by_its_module_with_the_readme_runs_name(tmp_path, capsys):
    from cvae import sklearn_digits
    out = tmp_path / "sklearn_digits"
    assert sklearn_digits.main([str(out)]) == 0
    assert "wrote 1,797 PNG files" in capsys.readouterr().out
    assert sources.describe(out, image_size=28).name == "sklearn_digits_06c14bec"  # img/cvae_cnn3_2_sklearn_digits_06c14bec
    with pytest.raises(SystemExit):
        sklearn_digits.main([str(out)])  # not over a folder that has files
    assert "is not empty" in capsys.readouterr().err

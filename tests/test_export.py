"""export.py: a trained model out of the repository, as model.keras and a SavedModel with signatures."""
import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from conftest import QUICK_RUN, run_main, tool
from cvae.files import sha256_of
from cvae.rundir import RunDir
export = tool("export")

# Runs in a process whose sys.path and working directory hold none of this repository (python -I).
OUTSIDE = """
import json, sys
import numpy as np
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
labels = tf.constant([7, 1, 3], tf.int32)
z = tf.constant([[0.5, -1.0], [0.0, 0.0], [2.0, 1.0]], tf.float32)
images = np.load(sys.argv[2])["images"]
out = {"generate": loaded.generate(labels, z)["images"].numpy(),
       "sample": loaded.sample(labels, tf.constant(5))["images"].numpy(),
       "reconstruct": loaded.reconstruct(images, labels)["images"].numpy(),
       "mean": loaded.encode(images, labels)["mean"].numpy(),
       "signatures": np.array(sorted(loaded.signatures))}
np.savez(sys.argv[3], **out)
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in ("model", "cvae", "train"))))
"""


@pytest.mark.slow  # a SavedModel loaded in a fresh process
def test_the_saved_model_runs_without_this_repository_and_matches_the_model(exported, session_runs, mnist, tmp_path):
    images = (mnist.test_images[:3] / 255.0).astype(np.float32)
    np.savez(tmp_path / "in.npz", images=images)
    result = subprocess.run([sys.executable, "-I", "-c", OUTSIDE, str(exported / "saved_model"), str(tmp_path / "in.npz"),
                             str(tmp_path / "out.npz")], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []  # none of our modules was imported
    outside = np.load(tmp_path / "out.npz")
    model = RunDir(session_runs / QUICK_RUN).load().model
    labels = np.array([7, 1, 3], np.int32)
    z = np.array([[0.5, -1.0], [0.0, 0.0], [2.0, 1.0]], np.float32)
    np.testing.assert_allclose(outside["generate"], np.asarray(model.generate(z, labels)), atol=1e-5)
    np.testing.assert_allclose(outside["reconstruct"], np.asarray(model.reconstruct(images, labels)),
                               atol=1e-5)
    np.testing.assert_allclose(outside["mean"], np.asarray(model.encode(images, labels)[0]), atol=1e-5)
    assert outside["sample"].shape == (3, 28, 28, 1) and 0 <= outside["sample"].min() and outside["sample"].max() <= 1
    assert sorted(outside["signatures"]) == ["encode", "generate", "reconstruct", "sample", "serving_default"]


def test_export_json_lists_the_model_and_the_sha256_of_every_file(exported, session_runs):
    manifest = json.loads((exported / "export.json").read_text())
    assert manifest["model"] == "cvae_cnn3" and manifest["latent_dim"] == 2 and manifest["epoch"] == 1
    assert manifest["class_names"] == [str(d) for d in range(10)] and manifest["dataset"] == "mnist"
    assert manifest["test_elbo"] == pytest.approx(RunDir(session_runs / QUICK_RUN).read_metrics()[0]["test_elbo"])
    assert manifest["signatures"] == ["generate", "sample", "encode", "reconstruct"]
    assert {"model.keras", "saved_model/saved_model.pb"} <= set(manifest["sha256"])
    for name, digest in manifest["sha256"].items():
        assert sha256_of((exported / name).read_bytes()) == digest, name


def test_model_keras_loads_with_keras_and_gives_the_same_outputs(exported, session_runs):
    import model.registry  # noqa: F401  (registers the classes)
    loaded = keras.saving.load_model(exported / "model.keras")
    original = RunDir(session_runs / QUICK_RUN).load().model
    z, labels = np.ones((2, 2), np.float32), np.array([2, 8], np.int32)
    np.testing.assert_array_equal(loaded.generate(z, labels), original.generate(z, labels))


@pytest.mark.slow  # two more exports
def test_unconditional_and_classifier_exports_have_their_own_signatures(session_runs, tmp_path):
    import tensorflow as tf
    assert export.main(["vae", "-n", "2", "--subset", "300", "--log-dir", str(session_runs), "--out",
                        str(tmp_path / "vae")]) == 0
    vae = tf.saved_model.load(str(tmp_path / "vae" / "saved_model"))
    assert vae.sample(tf.constant(4), tf.constant(0))["images"].shape == (4, 28, 28, 1)
    assert vae.generate(tf.zeros([2, 2]))["images"].shape == (2, 28, 28, 1)
    assert export.main(["cnn", "--subset", "300", "--log-dir", str(session_runs), "--out", str(tmp_path / "cnn")]) == 0
    cnn = tf.saved_model.load(str(tmp_path / "cnn" / "saved_model"))
    probabilities = cnn.classify(tf.zeros([3, 28, 28, 1]))["probabilities"].numpy()
    assert probabilities.shape == (3, 10) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    assert json.loads((tmp_path / "cnn" / "export.json").read_text())["signatures"] == ["classify"]


@pytest.mark.slow  # an export of its own
def test_cvae_export_returns_what_it_wrote(session_runs, tmp_path):
    """cvae.export returned an undocumented tuple (issue 38): an Export naming the folder, signatures, size."""
    import cvae
    run = cvae.open_run(session_runs / "cnn_subset300")
    written = cvae.export(run, tmp_path / "cnn")
    assert isinstance(written, cvae.exporting.Export) and written.directory == tmp_path / "cnn"
    assert written.signatures == ["classify"] and not written.replaced
    assert written.size_bytes == sum(path.stat().st_size for path in written.directory.rglob("*") if path.is_file())
    assert cvae.export(run, tmp_path / "cnn").replaced


@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_out_must_be_empty_new_or_an_earlier_export(exported, session_runs, tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("keep")
    base = ["cvae_cnn3", "-n", "2", "--subset", "300", "--log-dir", str(session_runs)]
    status, _, err = run_main(export.main, [*base, "--out", str(tmp_path / "mine")], capsys)
    assert status == 2 and "is not empty and holds no export of export.py (it has no export.json)" in err
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "keep"
    import shutil
    earlier = shutil.copytree(exported, tmp_path / "earlier")
    status, _, err = run_main(export.main, [*base, "--out", str(earlier)], capsys)  # an earlier export: replaced
    assert status == 0, err
    status, _, err = run_main(export.main, ["cvae_fc3", "-n", "3", "--log-dir", str(tmp_path), "--out",
                                            str(tmp_path / "x")], capsys)
    assert status == 1 and f"python train.py cvae_fc3 -n 3 --log-dir {tmp_path}" in err


def test_check_loads_an_export_both_ways(exported, capsys):
    status, out, err = run_main(export.main, ["--check", str(exported)], capsys)
    assert status == 0, err
    assert "model.keras and saved_model/ load and draw the same images for 10 label(s)" in out


def _damaged_copy(exported, tmp_path, name, keep_sums):
    """A copy of the export with `name` cut to its first half; keep_sums: export.json records the cut
    file's sha256 (damage the sums cannot catch, left to the loader)."""
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(exported, copy)
    data = (exported / name).read_bytes()
    (copy / name).write_bytes(data[:len(data) // 2])
    if keep_sums:
        manifest = json.loads((copy / "export.json").read_text())
        manifest["sha256"][name] = sha256_of((copy / name).read_bytes())
        (copy / "export.json").write_text(json.dumps(manifest))
    return copy


@pytest.mark.parametrize("name, keep_sums, message", [
    ("model.keras", False, "model.keras does not match its sha256 in export.json"),
    ("model.keras", True, "cannot load {copy}/model.keras"),
    ("saved_model/saved_model.pb", True, "cannot load {copy}/saved_model"),
    ("export.json", False, "{copy} is not an export of export.py"),
])
def test_check_refuses_a_damaged_export_in_one_line(exported, tmp_path, capsys, name, keep_sums, message):
    copy = _damaged_copy(exported, tmp_path, name, keep_sums and name != "export.json")
    status, _, err = run_main(export.main, ["--check", str(copy)], capsys)
    assert status == 1 and message.format(copy=copy) in err and len(err.strip().splitlines()) == 1, err


def test_a_mixture_drawn_in_the_graph_follows_the_fitted_one():
    """The SavedModel's gmm `sample` draws z with TensorFlow's stateless ops: the same distribution as
    Mixture.draw (component shares, means, spreads), the same numbers for the same seed."""
    import tensorflow as tf
    from cvae.samplers import Mixture
    means = np.array([[[0.0, 0.0], [20.0, -20.0]], [[-5.0, 5.0], [100.0, 100.0]]])
    cholesky = np.array([[np.eye(2), [[2.0, 0.0], [1.0, 1.0]]], [np.eye(2), np.eye(2)]])
    mixture = Mixture(np.array([[0.3, 0.7], [1.0, 0.0]]), means, cholesky)
    labels = tf.constant(np.repeat([0, 1], 20000).astype(np.int32))
    z = mixture.draw_in_graph(labels, tf.constant(3)).numpy()
    assert z.shape == (40000, 2)
    np.testing.assert_array_equal(z, mixture.draw_in_graph(labels, tf.constant(3)).numpy())
    class_0, class_1 = z[:20000], z[20000:]
    far = class_0[class_0[:, 0] > 10]
    assert len(far) / 20000 == pytest.approx(0.7, abs=0.01)
    np.testing.assert_allclose(far.mean(axis=0), [20, -20], atol=0.06)
    np.testing.assert_allclose(np.cov(far, rowvar=False), [[4, 2], [2, 2]], atol=0.15)  # L L^T
    np.testing.assert_allclose(class_1.mean(axis=0), [-5, 5], atol=0.05)


@pytest.mark.parametrize("args, run, call", [
    (["cvae_cnn3", "-n", "2"], QUICK_RUN, "labels"),
    (["vae", "-n", "2"], "vae_2_subset300", "count"),
])
@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_an_export_with_the_fitted_sampler(args, run, call, session_runs, tmp_path, capsys):
    import shutil
    import tensorflow as tf
    from cvae.exporting import unsafe_operations
    log_dir = tmp_path / "log"
    shutil.copytree(session_runs / run, log_dir / run, ignore=shutil.ignore_patterns("sampler_gmm.npz"))  # fitted here
    out = tmp_path / "export"
    assert export.main([*args, "--subset", "300", "--log-dir", str(log_dir), "--out", str(out), "--sampler", "gmm",
                        "--components", "2"]) == 0
    assert "`sample` draws from mixtures of 2 Gaussians" in capsys.readouterr().out
    assert json.loads((out / "export.json").read_text())["sampler"] == "gmm, 2 components"
    assert unsafe_operations((out / "saved_model" / "saved_model.pb").read_bytes()) == []
    assert export.main(["--check", str(out)]) == 0
    loaded = tf.saved_model.load(str(out / "saved_model"))
    first = tf.constant([7, 1, 3], tf.int32) if call == "labels" else tf.constant(3)
    images = loaded.sample(first, tf.constant(5))["images"].numpy()
    assert images.shape == (3, 28, 28, 1) and 0 <= images.min() and images.max() <= 1
    np.testing.assert_array_equal(images, loaded.sample(first, tf.constant(5))["images"].numpy())

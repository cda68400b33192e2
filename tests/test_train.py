import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import QUICK_RUN, ROOT, run_main, tool
from cvae import devices, steps
from cvae.config import RunConfig
from cvae.rundir import RunDir
train = tool("train")


def test_help_lists_every_model_and_flag(capsys):
    import re
    from model import names
    status, out, _ = run_main(train.main, ["--help"], capsys)
    assert status == 0
    # Whole option strings as argparse prints them, and the models as the MODEL line lists them.
    options = set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", out))
    assert {"-n", "-b", "-e", "-l", "-c", "--seed", "--restart", "--subset", "--binarize", "--dataset", "--labels",
            "--likelihood", "--image-size", "--schedule", "--kl-warmup",
            "--strategy", "--xla", "--no-xla", "--precision", "--deterministic", "--log-dir", "--data-dir",
            "--debug"} <= options
    assert f"one of: {', '.join(names())}" in " ".join(out.split())


def test_help_and_usage_errors_answer_before_tensorflow_loads():
    """--help and argparse's errors need no TensorFlow: each CLI parses its arguments first."""
    check = """
import sys
import bench.epoch_images, bench.explorer, bench.memory, bench.nll, bench.peers, bench.throughput, evaluate, explore, export, plot, pretrained, results, sample, train
for main, argv in ((train.main, ["--help"]), (plot.main, ["--help"]), (evaluate.main, ["--help"]), (export.main, ["--help"]),
                   (sample.main, ["--help"]), (results.main, ["--help"]), (sample.main, ["vae", "--count", "0"]),
                   (bench.throughput.main, ["--help"]), (train.main, ["vae", "-n", "0"]), (plot.main, ["nope"]),
                   (explore.main, ["--help"]), (explore.main, ["vae", "--port", "0"]), (pretrained.main, ["--help"]),
                   (bench.explorer.main, ["--help"]), (bench.peers.main, ["--help"]), (bench.nll.main, ["--help"]),
                   (bench.memory.main, ["--help"]), (bench.epoch_images.main, ["--help"]),
                   (train.main, ["vae", "--dataset", "nowhere/"])):
    try:
        main(argv)
    except SystemExit:
        pass
print(sorted(name for name in ("tensorflow", "keras") if name in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("args, complaint", [
    (["nope"], "invalid choice: 'nope'"),
    (["vae", "-n", "0"], "must be a positive integer, got 0"),
    (["vae", "-b", "-1"], "must be a positive integer, got -1"),
    (["vae", "-e", "0"], "must be a positive integer, got 0"),
    (["vae", "-l", "-0.1"], "must be a positive number, got -0.1"),
    (["vae", "-l", "abc"], "invalid positive_float value: 'abc'"),
    (["vae", "-c", "0"], "must be a positive number, got 0"),
    (["vae", "--likelihood", "poisson"], "argument --likelihood: invalid choice: 'poisson'"),
    (["vae", "--likelihood", "logistic", "--binarize"], "--likelihood logistic models 256 levels a sub-pixel; "
                                                          "--binarize leaves two"),
    (["cnn", "--likelihood", "logistic"], "--likelihood applies to the VAEs; cnn is a classifier"),
    (["cvae_fc3", "--iw-samples", "3"], "--iw-samples is for cvae_fc3_iwae, iwae; cvae_fc3 takes no such number"),
    (["iwae", "--iw-samples", "0"], "argument --iw-samples: must be an integer from 1 to 5,000, got 0"),
    (["cvae_fc3_vamp", "--pseudo-inputs", "5"], "--pseudo-inputs 10 or more for 10 classes"),
    (["cvae_fc3", "--mixture-components", "3"], "--mixture-components is for --likelihood mixture, and this run's "
                                                  "likelihood is bernoulli"),
    (["cnn", "--mixture-components", "3"], "--mixture-components is for "),
    (["cvae_fc3", "--likelihood", "mixture", "--mixture-components", "40"],
     "argument --mixture-components: must be an integer from 1 to 32, got 40"),
])
def test_bad_flags_get_one_clear_line_and_exit_2(args, complaint, capsys, tmp_path):
    # A flag wrongly accepted trains one epoch of 50 images in tmp_path (the flags after these win), not a
    # default run of 150 epochs in the repository's log/.
    safe = ["--log-dir", str(tmp_path), "--subset", "50", "-e", "1"]
    status, _, err = run_main(train.main, safe + args, capsys)
    assert status == 2
    assert complaint in err
    assert "Traceback" not in err


def train_quietly(tmp_path, *args):
    return train.main(["cvae_cnn3", "-n", "2", "--subset", "300", "-b", "50", "--log-dir", str(tmp_path), *args])


def test_run_directory_holds_config_metrics_checkpoint_and_events(tmp_path):
    assert train_quietly(tmp_path, "-e", "2") == 0
    run_dir = tmp_path / QUICK_RUN
    config = json.loads((run_dir / "config.json").read_text())
    # What the run is, once; how each invocation trained it, in order.
    assert config == {"format": 2,
                      "identity": {"model": "cvae_cnn3", "latent_dim": 2, "dataset": "mnist", "data": None,
                                   "binarize": False, "likelihood": "bernoulli", "labels": None, "seed": 0,
                                   "subset": 300, "options": {}},
                      "training": [{"from_epoch": 0, "epochs": 2, "batch_size": 50, "learning_rate": 0.001,
                                    "clip": None, "xla": False, "precision": "fp32", "strategy": "none",
                                    "schedule": "constant", "kl_warmup": 0}]}
    rows = RunDir(run_dir).read_metrics()
    assert [row["epoch"] for row in rows] == [1, 2]
    assert {"train_loss", "train_reconstruction", "train_kl", "test_elbo", "images_per_s"} <= set(rows[0])
    assert rows[1]["test_elbo"] == pytest.approx(-rows[1]["test_loss"], rel=1e-5)
    assert rows[1]["train_loss"] < rows[0]["train_loss"]
    assert list((run_dir / "tb").glob("events.out.tfevents.*"))
    run = RunDir(run_dir).load()
    assert run.epoch == 2 and run.identity.latent_dim == 2 and run.model.latent_dim == 2
    images = tensorboard_images(run_dir / "tb")
    assert sorted(images) == ["samples_fixed_z", "test_reconstructions"]
    assert [step for step, _ in images["test_reconstructions"]] == [1, 2]
    shown = images["test_reconstructions"][1][1]
    assert shown.shape == (2 * 29, 8 * 29, 1)  # inputs over reconstructions, 8 columns, a 1-pixel line after each
    from cvae.mnist import load_mnist
    first_test_images = load_mnist(mirrors=()).test_images[:8]
    np.testing.assert_array_equal(shown[:28, :, 0].reshape(28, 8, 29)[:, :, :28].transpose(1, 0, 2),
                                  first_test_images[..., 0])
    reconstructed = np.asarray(run.model.reconstruct(np.float32(first_test_images / 255.0), np.array(
        load_mnist(mirrors=()).test_labels[:8], np.int32)))[..., 0]
    got = shown[29:57, :, 0].reshape(28, 8, 29)[:, :, :28].transpose(1, 0, 2)
    np.testing.assert_allclose(got, np.round(255 * reconstructed), atol=1)  # the epoch-2 model's, as it was saved
    samples = [image for _, image in images["samples_fixed_z"]]
    assert samples[0].shape == (10 * 29, 8 * 29, 1) and not np.array_equal(samples[0], samples[1])


def tensorboard_images(folder):
    """{tag: [(step, uint8 [H, W, 1])]} of the tf.summary.image events in a TensorBoard folder."""
    found = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "images":
                    encoded = tf.make_ndarray(value.tensor)
                    found.setdefault(value.tag, []).append((event.step, tf.io.decode_png(encoded[2]).numpy()))
    return found


@pytest.mark.slow
def test_resumed_run_matches_an_uninterrupted_one(tmp_path):
    assert train_quietly(tmp_path / "straight", "-e", "3") == 0
    assert train_quietly(tmp_path / "resumed", "-e", "1") == 0
    assert train_quietly(tmp_path / "resumed", "-e", "3") == 0
    straight, resumed = RunDir(tmp_path / "straight" / QUICK_RUN).read_metrics(), RunDir(tmp_path / "resumed" / QUICK_RUN).read_metrics()
    assert [row["epoch"] for row in resumed] == [1, 2, 3]
    for a, b in zip(straight, resumed):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["test_loss"] == pytest.approx(b["test_loss"], rel=1e-5)
    x = tf.random.stateless_uniform([4, 28, 28, 1], seed=[0, 0])
    y = tf.constant([1, 2, 3, 4])
    model_a = RunDir(tmp_path / "straight" / QUICK_RUN).load().model
    model_b = RunDir(tmp_path / "resumed" / QUICK_RUN).load().model
    np.testing.assert_allclose(model_a.reconstruct(x, y), model_b.reconstruct(x, y), atol=1e-5)


def copy_of_trained_run(session_runs, tmp_path):
    """A log directory of this test's own with the session's cvae_cnn3 n = 2 run (1 epoch, --subset 300)."""
    shutil.copytree(session_runs / QUICK_RUN, tmp_path / QUICK_RUN)
    return tmp_path


@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_finished_run_is_not_retrained_and_restart_starts_over(session_runs, tmp_path, capsys):
    copy_of_trained_run(session_runs, tmp_path)
    assert train_quietly(tmp_path, "-e", "1") == 0
    assert "already trained to epoch 1" in capsys.readouterr().out
    assert train_quietly(tmp_path, "-e", "1", "--restart") == 0
    assert "training cvae_cnn3" in capsys.readouterr().out
    assert [row["epoch"] for row in RunDir(tmp_path / QUICK_RUN).read_metrics()] == [1]


def test_resume_with_other_fixed_settings_is_refused(session_runs, tmp_path, capsys):
    copy_of_trained_run(session_runs, tmp_path)
    assert train_quietly(tmp_path, "-e", "2", "--seed", "7") == 2
    assert "seed: saved 0, asked 7" in capsys.readouterr().err
    assert [row["epoch"] for row in RunDir(tmp_path / QUICK_RUN).read_metrics()] == [1]


@pytest.mark.slow
def test_checkpoints_are_kept_every_50_epochs(tmp_path):
    assert train.main(["cnn", "--subset", "50", "-b", "50", "-e", "50", "--log-dir", str(tmp_path)]) == 0
    assert RunDir(tmp_path / "cnn_subset50").kept_epochs() == [50]
    run = RunDir(tmp_path / "cnn_subset50").load(epoch=50)
    assert run.epoch == 50 and run.identity.latent_dim is None


@pytest.mark.slow  # two trainings traced for a speed-up's equivalence
def test_several_steps_per_call_train_exactly_like_one_step_per_call(mnist):
    # 750 images in batches of 100: 8 steps, the last of 50 images, in calls of 3, 3 and 2 steps.
    import keras
    from cvae.batches import batches, shuffled
    from model.registry import build_model
    images, labels = mnist.train_images[:750], mnist.train_labels[:750]
    runs = []
    for per_call in (False, True):
        keras.utils.set_random_seed(3)
        model = build_model("vae", 2, seed=3)
        optimizer = keras.optimizers.Adam(1e-3)
        train_step = steps.make_train_step(model, optimizer, binarize=True)
        if per_call:
            chunks = steps.chunks_in_memory(steps.several_steps(train_step), *shuffled(images, labels, (0, 1)), 100,
                                            steps_per_call=3)
        else:
            chunks = (({k: np.array([float(v)]) for k, v in train_step(x, y).items()}, np.array([len(y)]))
                      for x, y in batches(images, labels, 100, shuffle_seed=(0, 1)))
        chunks = list(chunks)
        runs.append((np.concatenate([c[0]["loss"] for c in chunks]), np.concatenate([c[1] for c in chunks]),
                     [v.numpy() for v in model.trainable_variables]))
    (losses_one, sizes_one, weights_one), (losses_several, sizes_several, weights_several) = runs
    assert sizes_several.tolist() == sizes_one.tolist() == [100] * 7 + [50]
    np.testing.assert_allclose(losses_several, losses_one, rtol=1e-6)  # in practice bit-identical
    for a, b in zip(weights_one, weights_several):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)
    assert steps.run_epoch(iter(chunks), 8)[1] == 750


def test_a_non_finite_loss_is_reported_at_its_step():
    chunks = [({"loss": np.array([1.0, 2.0])}, np.array([10, 10])), ({"loss": np.array([3.0, np.nan])}, np.array([10, 5]))]
    with pytest.raises(steps.NonFiniteLoss, match="loss became nan at step 4"):
        steps.run_epoch(iter(chunks), 4)
    means, count = steps.run_epoch(iter(chunks[:1] + [({"loss": np.array([3.0])}, np.array([20]))]), 3)
    assert count == 40 and means["loss"] == pytest.approx((10 + 20 + 60) / 40)


@pytest.mark.slow
def test_weights_after_two_epochs_are_the_recorded_ones_bit_for_bit():
    """The refactoring check (python -m tests.weight_hashes): every model, --binarize, -c and m2 --labels give
    the weights recorded before the last reshaping of the code, to the bit, where that was recorded."""
    result = subprocess.run([sys.executable, "-m", "tests.weight_hashes", "--check"], capture_output=True,
                            text=True, cwd=ROOT, timeout=600)
    if result.returncode == 3:
        pytest.skip(result.stdout.strip())
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]


def test_xla_default_is_the_models_on_one_device_and_a_resumed_runs_own():
    from model.registry import build_model
    vae, cnn = build_model("vae", 2, 0, 10), build_model("cnn", None, 0, 10)
    assert devices.step_uses_xla(None, [], vae, None) is True
    assert devices.step_uses_xla(None, [], cnn, None) is False
    assert devices.step_uses_xla(None, [], vae, strategy="mirrored") is False  # not measured under tf.distribute
    assert devices.step_uses_xla(False, [], vae, None) is False and devices.step_uses_xla(True, [], cnn, None) is True
    # A resumed run goes on as it last trained.
    assert devices.step_uses_xla(None, [{"xla": True}, {"xla": False}], vae, None) is False
    assert devices.step_uses_xla(True, [{"xla": False}], vae, None) is True
    # A run from before the setting was recorded used the plain graph, in float32: so its config reads.
    flat = {"model": "vae", "latent_dim": 2, "batch_size": 100, "epochs": 3, "learning_rate": 0.001, "clip": None,
            "seed": 0, "subset": None, "history": [{"from_epoch": 0, "epochs": 3}]}
    history = RunConfig.from_json(json.dumps(flat)).training
    assert devices.step_uses_xla(None, history, vae, None) is False and devices.run_precision(None, history) == "fp32"


@pytest.mark.slow
def test_run_started_on_the_plain_graph_resumes_on_it_bit_for_bit(tmp_path, capsys):
    """A vae checkpoint written by the plain step (every run before XLA became vae's default) restores and
    goes on with the plain step: the same weights as an uninterrupted --no-xla run."""
    common = ["vae", "-n", "2", "--subset", "300", "-b", "50", "--deterministic"]
    assert train.main([*common, "-e", "2", "--no-xla", "--log-dir", str(tmp_path / "straight")]) == 0
    assert train.main([*common, "-e", "1", "--no-xla", "--log-dir", str(tmp_path / "resumed")]) == 0
    capsys.readouterr()
    assert train.main([*common, "-e", "2", "--log-dir", str(tmp_path / "resumed")]) == 0
    assert "plain graph" in capsys.readouterr().out
    run = tmp_path / "resumed" / "vae_2_subset300"
    assert [entry["xla"] for entry in json.loads((run / "config.json").read_text())["training"]] == [False, False]
    from weight_hashes import checkpoint_hash
    assert checkpoint_hash(run / "ckpt") == checkpoint_hash(tmp_path / "straight" / "vae_2_subset300" / "ckpt")


@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_fresh_vae_run_says_and_records_xla(tmp_path, capsys):
    assert train.main(["vae", "-n", "2", "--subset", "200", "-e", "1", "--log-dir", str(tmp_path)]) == 0
    assert "step compiled with XLA (--no-xla for the plain graph)" in capsys.readouterr().out
    training_entries = json.loads((tmp_path / "vae_2_subset200" / "config.json").read_text())["training"]
    assert training_entries[0]["xla"] is True


def test_the_weight_hashes_compare_only_where_the_float_results_agree(tmp_path, monkeypatch, capsys):
    """The recorded hashes carry a fingerprint of the machine's float behaviour; on a machine whose fingerprint
    differs, --check says so (exit 3, which the bit-for-bit test turns into a skip) before it trains anything."""
    import weight_hashes
    here = weight_hashes.fingerprint()
    assert here == weight_hashes.fingerprint() and len(here) == 64  # the same machine: the same fingerprint
    recorded = tmp_path / "weight_hashes.json"
    recorded.write_text(json.dumps({"machine": "Another CPU; tensorflow 2.21.0", "fingerprint": "0" * 64,
                                    "hashes": {}}))
    monkeypatch.setattr(weight_hashes, "RECORDED", recorded)
    monkeypatch.setattr(weight_hashes, "weight_hashes", lambda log: pytest.fail("trained on a machine that differs"))
    assert weight_hashes.main(["--check"]) == 3
    out = capsys.readouterr().out
    assert "float results differ" in out and "Another CPU" in out and here[:12] in out and "--record" in out


def test_without_the_venv_a_tool_says_how_to_get_it():
    """A Python that has numpy but not TensorFlow (a system Python, the venv not active): one line that says to
    make and activate .venv, not a bare ModuleNotFoundError."""
    import shutil
    python = shutil.which("python3")
    if python is None or subprocess.run([python, "-c", "import numpy, argparse"], capture_output=True).returncode:
        pytest.skip("no python3 with numpy beside the venv")
    if subprocess.run([python, "-c", "import tensorflow"], capture_output=True).returncode == 0:
        pytest.skip(f"{python} has TensorFlow: it is a working environment")
    result = subprocess.run([python, "train.py", "cvae_cnn3", "-n", "2", "-e", "1", "--log-dir", "/nonexistent/x"],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    line, = result.stderr.strip().splitlines()
    assert line.startswith("error: this Python (") and "has no tensorflow" in line and "make demo" in line
    assert "source .venv/bin/activate" in line

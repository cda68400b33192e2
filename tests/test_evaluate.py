import json

import numpy as np
import pytest
import tensorflow as tf
from scipy.stats import norm

from cvae import evaluation, steps

from cvae import results as tables
from cvae.batches import binarize_fixed
from cvae.evaluation import elbo_terms, importance_sampled_nll
from model.registry import build_model
from model.losses import gaussian_kl, gaussian_log_density
from conftest import QUICK_RUN, tool
evaluate = tool("evaluate")
results = tool("results")


def test_gaussian_log_density_matches_scipy():
    z, mean, log_var = np.array([0.3, -2.0]), np.array([0.0, 1.0]), np.array([0.5, -1.0])
    expected = norm.logpdf(z, mean, np.exp(0.5 * log_var)).sum()
    np.testing.assert_allclose(gaussian_log_density(tf.constant(z), tf.constant(mean), tf.constant(log_var)), expected)


@pytest.fixture(scope="module")
def tiny(mnist, small_batch):
    """cvae_fc3 with n = 2 after 150 steps on 256 images: an encoder whose posterior is not the prior."""
    import keras
    keras.utils.set_random_seed(0)  # the same weights whichever tests ran before
    model = build_model("cvae_fc3", 2, seed=0)
    step = steps.make_train_step(model, keras.optimizers.Adam(1e-3))
    train_x, train_y = small_batch
    for i in range(150):
        step(train_x[(i % 4) * 64:(i % 4 + 1) * 64], train_y[(i % 4) * 64:(i % 4 + 1) * 64])
    x = tf.constant(mnist.test_images[:8] / 255.0, tf.float32)
    y = tf.constant(mnist.test_labels[:8], tf.int32)
    return model, x, y


def test_bernoulli_log_likelihood_is_minus_the_training_loss_per_sample():
    from model.losses import bernoulli_log_likelihood, bernoulli_nll
    rng = np.random.default_rng(0)
    x = (rng.random((3, 784)) > 0.6).astype(np.float32)
    x[0, :10] = rng.random(10)  # grey pixels too
    logits = rng.normal(0, 8, (3, 5, 784)).astype(np.float32)
    logits[1, 0, :4] = [100.0, -100.0, 100.0, -100.0]  # saturated
    expected = -bernoulli_nll(tf.constant(np.repeat(x, 5, axis=0)), tf.constant(logits.reshape(15, 784))).numpy()
    got = bernoulli_log_likelihood(tf.constant(x), tf.constant(logits)).numpy()
    np.testing.assert_allclose(got, expected.reshape(3, 5), rtol=1e-5)


@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_one_sample_importance_weight_averages_to_the_elbo(tiny):
    model, x, y = tiny
    weights = model.log_importance_weights(x, y, 4000, tf.random.Generator.from_seed(1)).numpy()
    mean, log_var = model.encode(x, y)
    from model.losses import bernoulli_nll
    # The analytic ELBO at z = mean is not the ELBO; compare with a Monte Carlo of the reconstruction term.
    z = mean[:, None] + tf.exp(0.5 * log_var)[:, None] * tf.random.stateless_normal([8, 4000, 2], seed=[5, 5])
    recon = bernoulli_nll(tf.repeat(x, 4000, axis=0), model.decode(tf.reshape(z, [-1, 2]), tf.repeat(y, 4000)))
    elbo = -tf.reduce_mean(tf.reshape(recon, [8, 4000]), axis=1) - gaussian_kl(mean, log_var)
    standard_error = weights.std(axis=1) / np.sqrt(4000)
    assert np.all(np.abs(weights.mean(axis=1) - elbo.numpy()) < 4 * standard_error + 0.05)


@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_importance_sampled_bound_tightens_with_k(tiny, mnist):
    model, _, _ = tiny
    images, labels = mnist.test_images[:20], mnist.test_labels[:20]
    nll = [importance_sampled_nll(model, images, labels, k, seed=3, log=None) for k in (1, 10, 100)]
    assert nll[0] > nll[1] > nll[2]
    # k = 1 is the ELBO in expectation: within a few nats of the analytic one on 20 images.
    assert abs(nll[0] + elbo_terms(model, images, labels)["elbo"]) < 5


@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_nll_chunks_combine_like_one_pass(tiny, mnist):
    model, _, _ = tiny
    images, labels = mnist.test_images[:3], mnist.test_labels[:3]
    whole = importance_sampled_nll(model, images, labels, 64, seed=7, log=None)
    chunked = importance_sampled_nll(model, images, labels, 64, seed=7, log=None, decode_chunk=16)  # 4 of 16
    assert chunked == pytest.approx(whole, abs=2.0)  # same estimator, other draws
    assert np.isfinite(chunked)


def test_class_consistency_on_a_hand_made_case():
    requested = np.repeat(np.arange(10), 4)
    predicted = requested.copy()
    predicted[0] = 1       # one 0 read as 1
    predicted[4:8] = 7     # every 1 read as 7
    per_digit, overall = evaluation.class_consistency(predicted, requested, 10)
    assert per_digit[0] == 0.75 and per_digit[1] == 0.0 and per_digit[2:] == [1.0] * 8
    assert overall == pytest.approx(35 / 40)


def test_fixed_binarization_is_reproducible_and_unbiased(mnist):
    images = mnist.test_images[:500]
    a, b = binarize_fixed(images), binarize_fixed(images)
    assert np.array_equal(a, b) and set(np.unique(a)) <= {0, 255}
    assert (a / 255).mean() == pytest.approx((images / 255).mean(), abs=0.005)


@pytest.fixture
def judged_runs(trained_runs, monkeypatch):
    """The session's runs on 300 images; class-consistency uses their classifier (cnn_subset300)."""
    monkeypatch.setattr(evaluation, "CLASSIFIER_SUBSET", 300)
    return trained_runs


def test_eval_json_of_a_conditional_model(judged_runs):
    assert evaluate.main(["cvae_cnn3", "-n", "2", "-k", "5", "--samples", "10", "--test-images", "200",
                          "--subset", "300", "--log-dir", str(judged_runs)]) == 0
    result = json.loads((judged_runs / QUICK_RUN / "eval.json").read_text())
    assert result["model"] == "cvae_cnn3" and result["latent_dim"] == 2 and result["epoch"] == 1
    assert result["test_images"] == 200 and result["nll_k"] == 5 and result["binarized"] is False
    # What makes two evaluations comparable (results.py screens README rows with it).
    assert result["training_subset"] == 300 and result["test_images_in_data_set"] == 10000 and result["seed"] == 0
    assert result["class_consistency"]["samples_per_digit"] == 10 and result["dataset"] == "mnist"
    assert result["code_commit"] is None or len(result["code_commit"].rstrip("+")) == 40
    assert result["elbo"] == pytest.approx(-(result["reconstruction"] + result["kl"]))
    assert result["nll"] < -result["elbo"] + 5
    consistency = result["class_consistency"]
    assert len(consistency["per_digit"]) == 10 and 0 <= consistency["overall"] <= 1
    samples = np.load(judged_runs / QUICK_RUN / "samples.npz")
    assert samples["images"].shape == (100, 28, 28, 1) and samples["images"].dtype == np.uint8
    assert samples["labels"].tolist() == np.repeat(np.arange(10), 10).tolist()


@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_eval_of_a_binarized_vae_and_the_classifier(judged_runs, mnist):
    # The binarized vae is trained here (the shared runs have none), into the session's log directory, where
    # its classifier (cnn_subset300) is.
    assert tool("train").main(["vae", "-n", "2", "--binarize", "--subset", "300", "-e", "1", "--log-dir",
                               str(judged_runs)]) == 0
    assert evaluate.main(["vae", "-n", "2", "--binarize", "-k", "3", "--test-images", "100",
                          "--subset", "300", "--log-dir", str(judged_runs)]) == 0
    result = json.loads((judged_runs / "vae_2_bin_subset300" / "eval.json").read_text())
    assert result["binarized"] is True and result["test_binarization_seed"] == 2014
    assert "class_consistency" not in result
    plot = tool("plot")
    assert plot.main(["vae", "-n", "2", "--binarize", "-m", "re", "--subset", "300", "--log-dir", str(judged_runs),
                      "--figure-dir", str(judged_runs / "figures")]) == 0
    assert (judged_runs / "figures" / "vae_2_bin_subset300" / "reconstruction.png").exists()
    assert evaluate.main(["cnn", "--test-images", "500", "--subset", "300", "--log-dir", str(judged_runs)]) == 0
    accuracy = json.loads((judged_runs / "cnn_subset300" / "eval.json").read_text())["test_accuracy"]
    from cvae.rundir import RunDir
    classifier = RunDir(judged_runs / "cnn_subset300").load().model
    logits = classifier.classify(tf.constant(mnist.test_images[:500] / 255.0, tf.float32))
    assert accuracy == np.mean(np.argmax(logits, axis=1) == mnist.test_labels[:500])


def test_results_table_is_made_from_eval_files(judged_runs, tmp_path):
    for args in (["cvae_cnn3", "-n", "2", "-k", "2", "--samples", "5"], ["cnn"]):
        assert evaluate.main([*args, "--test-images", "100", "--subset", "300", "--log-dir", str(judged_runs)]) == 0
    body = tables.tables(tables.load_results(judged_runs))["results"]
    assert "| `cvae_cnn3` | 2 | 1 | gray |" in body and "Classifier `cnn`" in body
    readme = tmp_path / "README.md"
    m2_start, m2_end = tables.markers("semi-supervised")
    quality_start, quality_end = tables.markers("sample-quality")
    readme.write_text(f"intro\n{tables.START}\nold\n{tables.END}\nmiddle\n{m2_start}\nold m2\n{m2_end}\n"
                      f"{quality_start}\n{quality_end}\nrest\n")
    assert results.main(["--log-dir", str(judged_runs), "--readme", str(readme), "--force"]) == 0  # runs on 300 images
    text = readme.read_text()
    assert "\nold\n" not in text and "| `cvae_cnn3` |" in text and text.endswith("rest\n")
    assert f"{m2_start}\nold m2\n{m2_end}" in text  # no m2 eval.json here: its table is kept
    assert "| model | latent dim | epochs | data | gmm components | FD floor |" in text.split(quality_start)[1]


def test_results_replace_only_the_rows_of_evaluated_runs(judged_runs, tmp_path, capsys):
    """A README row whose run has no eval.json here is kept; the evaluated run's row is replaced."""
    assert evaluate.main(["cvae_cnn3", "-n", "2", "-k", "2", "--samples", "5", "--test-images", "100",
                          "--subset", "300", "--log-dir", str(judged_runs)]) == 0
    header = ("| model | latent dim | epochs | data | test ELBO | NLL (k) | class-consistency | parameters |\n"
              "|---|---|---|---|---|---|---|---|\n")
    old_cnn3 = "| `cvae_cnn3` | 2 | 50 | gray | -1.00 | 1.00 (200) (-log p(x\\|y)) | 99.0% | 40,293 |"
    kept_vae = "| `vae` | 20 | 50 | gray | -98.10 | 94.56 (200) | n/a | 1,316,824 |"
    kept_fc3 = "| `cvae_fc3` | 50 | 100 | binarized | -88.08 | 84.04 (5000) (-log p(x\\|y)) | 98.0% | 1,371,884 |"
    classifier = "Classifier `cnn`: 99.25% test accuracy after 20 epochs (45,826 parameters)."
    assert len(tables.cells(kept_fc3)) == 8 and tables.cells(kept_fc3)[5] == "84.04 (5000) (-log p(x\\|y))"
    readme = tmp_path / "README.md"
    quality_start, quality_end = tables.markers("sample-quality")
    readme.write_text(f"{tables.START}\n{header}{old_cnn3}\n{kept_vae}\n{kept_fc3}\n\n{classifier}\n{tables.END}\n"
                      f"{quality_start}\n{quality_end}\n")
    only_cnn3 = tmp_path / "log"
    (only_cnn3 / "cvae_cnn3_2").mkdir(parents=True)
    (only_cnn3 / "cvae_cnn3_2" / "eval.json").write_text((judged_runs / QUICK_RUN / "eval.json").read_text())
    before = readme.read_text()
    # A 1-epoch run on 300 images, k = 2 on 100 test images: refused in place of a 50-epoch, k = 200 row.
    assert results.main(["--log-dir", str(only_cnn3), "--readme", str(readme)]) == 0
    assert readme.read_text() == before
    out = capsys.readouterr().out
    assert "refused these partial or weaker runs" in out
    for reason in ("trained on --subset 300", "evaluated on 100 of 10,000 test images", "1 epochs, the README's row has 50",
                   "k = 2, the README's row has k = 200"):
        assert reason in out
    assert results.main(["--log-dir", str(only_cnn3), "--readme", str(readme), "--force"]) == 0
    rows = [line for line in readme.read_text().split(tables.END)[0].splitlines() if line.startswith("| `")]
    assert rows[0] == kept_vae and rows[1] == kept_fc3 and len(rows) == 3  # model order: vae, fc3, cnn3
    assert rows[2].startswith("| `cvae_cnn3` | 2 | 1 | gray |") and old_cnn3 not in rows
    assert classifier in readme.read_text()
    out = capsys.readouterr().out
    assert f"replaced these rows:\n  {old_cnn3}\n  -> {rows[2]}" in out
    assert kept_vae in out.split("kept these rows")[1] and classifier in out.split("kept these rows")[1]


def test_semi_supervised_rows_go_to_their_own_table():
    m2 = {"model": "m2", "latent_dim": 50, "epoch": 30, "parameters": 1417710, "binarized": False,
          "dataset": "mnist", "labels": 100, "test_accuracy": 0.9712, "elbo": -101.234, "nll": 97.5, "nll_k": 200,
          "class_consistency": {"overall": 0.95}}
    fashion_cnn = {"model": "cnn", "latent_dim": None, "epoch": 20, "parameters": 45826, "binarized": False,
                   "dataset": "fashion_mnist", "labels": None, "test_accuracy": 0.9}
    bodies = tables.tables([m2, fashion_cnn])
    assert set(bodies) == {"semi-supervised", "fashion-mnist"}
    assert "| `m2` | 100 | 50 | 30 | n/a | MNIST | **2.88%** | -101.23 | 97.50 (200) (-log p(x\\|y)) | 95.0% |" \
        in bodies["semi-supervised"]
    assert "Classifier `cnn` on Fashion-MNIST: 90.00% test accuracy" in bodies["fashion-mnist"]


def test_colour_rows_go_to_their_own_table_with_bits_per_dim_and_a_bad_shape_is_refused():
    colour = {"model": "cvae_cnn3", "latent_dim": 20, "epoch": 30, "parameters": 56919, "binarized": False,
              "dataset": "colour_mnist_420af299", "labels": None, "elbo": -9709.62, "nll": 9485.0, "nll_k": 200,
              "likelihood": "logistic", "image_shape": [32, 32, 3], "nll_bits_per_dim": 4.4546,
              "class_consistency": {"overall": 0.5}}
    gray_own = {**colour, "dataset": "digits_12345678", "image_shape": [28, 28, 1], "likelihood": "bernoulli"}
    del gray_own["nll_bits_per_dim"]
    bodies = tables.tables([colour, gray_own])
    assert set(bodies) == {"colour", "own-data"}
    assert ("| `cvae_cnn3` | 20 | 30 | `colour_mnist_420af299` 32x32 colour, logistic | -9709.62 | 9485.00 = 4.455 "
            "bits/dim (200) (-log p(x\\|y)) | 50.0% | 56,919 |") in bodies["colour"]
    assert "`digits_12345678` gray | -9709.62 | 9485.00 (200)" in bodies["own-data"]
    for bad in ({"image_shape": ["<b>", 2, 3]}, {"image_shape": [32, 32]}, {"likelihood": "<script>"},
                {"nll_bits_per_dim": "4"}):
        with pytest.raises(ValueError):
            tables.check_result({**colour, **bad})


def test_a_likelihood_names_its_run_and_the_readme_runs_make_the_colour_data_first():
    from cvae.config import RunIdentity, train_command
    from cvae.readme_runs import figure_commands
    logistic = RunIdentity("cvae_cnn3", 20, likelihood="logistic")
    assert logistic.directory_name() == "cvae_cnn3_20_logistic" and RunIdentity("vae", 2).directory_name() == "vae_2"
    assert train_command(logistic) == "python train.py cvae_cnn3 -n 20 --likelihood logistic"
    commands = [" ".join(command) for command in figure_commands()]
    made = commands.index("python -m cvae.colour_mnist data/colour_mnist.npz")
    assert commands[made + 1] == ("python train.py cvae_cnn3 -n 20 --likelihood logistic --dataset "
                                  "data/colour_mnist.npz -e 30 --restart")


def test_missing_run_and_bad_flags(tmp_path, capsys):
    assert evaluate.main(["cvae_fc3", "-n", "3", "--log-dir", str(tmp_path)]) == 1
    assert "python train.py cvae_fc3 -n 3" in capsys.readouterr().err
    assert evaluate.main(["cnn", "--binarize", "--log-dir", str(tmp_path)]) == 2
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main(["vae", "-k", "0"])
    assert exit_info.value.code == 2


@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_missing_classifier_is_trained_first(judged_runs, tmp_path, monkeypatch, capsys):
    import shutil
    shutil.copytree(judged_runs / QUICK_RUN, tmp_path / QUICK_RUN)
    monkeypatch.setattr(evaluation, "CLASSIFIER_EPOCHS", 1)
    monkeypatch.setattr(evaluation, "CLASSIFIER_SUBSET", 600)
    assert evaluate.main(["cvae_cnn3", "-n", "2", "-k", "2", "--samples", "5", "--test-images", "100",
                          "--subset", "300", "--log-dir", str(tmp_path)]) == 0
    assert "training it first" in capsys.readouterr().out
    assert (tmp_path / "cnn_subset600" / "config.json").exists()

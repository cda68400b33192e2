"""cvae.evaluation and evaluate.py: the ELBO and the importance-sampled NLL, class-consistency, the Fréchet
distance and precision/recall on cases whose answer is known, and the tool's eval.json."""
import json

import numpy as np
import pytest
import tensorflow as tf
from scipy import linalg
from scipy.stats import norm

from cvae import evaluation, steps
from cvae.batches import binarize_fixed
from cvae.evaluation import elbo_terms, frechet_distance, importance_sampled_nll, precision_recall
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


def test_importance_sampled_bound_tightens_with_k(tiny, mnist):
    model, _, _ = tiny
    images, labels = mnist.test_images[:20], mnist.test_labels[:20]
    nll = [importance_sampled_nll(model, images, labels, k, seed=3, log=None) for k in (1, 10, 100)]
    assert nll[0] > nll[1] > nll[2]
    # k = 1 is the ELBO in expectation: within a few nats of the analytic one on 20 images.
    assert abs(nll[0] + elbo_terms(model, images, labels)["elbo"]) < 5


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


def test_eval_json_of_a_conditional_model(session_runs, tmp_path, mnist, capsys):
    # A copy of the session's run in a log directory with no classifier: MNIST's shipped one (pretrained/cnn) judges.
    import cvae
    from conftest import copy_run
    copy_run(session_runs, QUICK_RUN, tmp_path)
    assert evaluate.main(["cvae_cnn3", "-n", "2", "-k", "5", "--samples", "10", "--test-images", "200",
                          "--subset", "300", "--log-dir", str(tmp_path)]) == 0
    result = json.loads((tmp_path / QUICK_RUN / "eval.json").read_text())
    # The judge's own accuracy on the test images its samples are compared with (every one, whatever
    # --test-images cuts the NLL to), beside the consistency it judges (issue 36, 32).
    from cvae.generation import classify
    judge = cvae.open_run(model="cnn", pretrained=True).model
    assert result["class_consistency"]["classifier"].endswith("pretrained/cnn")
    accuracy = float(np.mean(classify(judge, mnist.test_images) == mnist.test_labels))
    assert result["sample_quality"]["classifier_test_accuracy"] == accuracy
    assert f"({accuracy:.2%} of the test images read right)" in capsys.readouterr().out
    assert result["model"] == "cvae_cnn3" and result["latent_dim"] == 2 and result["epoch"] == 1
    assert result["test_images"] == 200 and result["nll_k"] == 5 and result["binarized"] is False
    # What makes two evaluations comparable (results.py screens README rows with it).
    assert result["training_subset"] == 300 and result["test_images_in_data_set"] == 10000 and result["seed"] == 0
    assert result["class_consistency"]["samples_per_class"] == 10 and result["dataset"] == "mnist"
    assert result["code_commit"] is None or len(result["code_commit"].rstrip("+")) == 40
    assert result["elbo"] == pytest.approx(-(result["reconstruction"] + result["kl"]))
    assert result["nll"] < -result["elbo"] + 5
    consistency = result["class_consistency"]
    assert len(consistency["per_class"]) == 10 and 0 <= consistency["overall"] <= 1
    samples = np.load(tmp_path / QUICK_RUN / "samples.npz")
    assert samples["images"].shape == (100, 28, 28, 1) and samples["images"].dtype == np.uint8
    assert samples["labels"].tolist() == np.repeat(np.arange(10), 10).tolist()


@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_eval_of_a_binarized_vae_and_the_classifier(session_runs, mnist):
    # The binarized vae is trained here (the shared runs have none), into the session's log directory; the quick
    # classifier there (cnn_subset300) is then evaluated itself.
    assert tool("train").main(["vae", "-n", "2", "--binarize", "--subset", "300", "-e", "1", "--log-dir",
                               str(session_runs)]) == 0
    assert evaluate.main(["vae", "-n", "2", "--binarize", "-k", "3", "--test-images", "100",
                          "--subset", "300", "--log-dir", str(session_runs)]) == 0
    result = json.loads((session_runs / "vae_2_bin_subset300" / "eval.json").read_text())
    assert result["binarized"] is True and result["test_binarization_seed"] == 2014
    assert "class_consistency" not in result
    plot = tool("plot")
    assert plot.main(["vae", "-n", "2", "--binarize", "-m", "re", "--subset", "300", "--log-dir", str(session_runs),
                      "--figure-dir", str(session_runs / "figures")]) == 0
    assert (session_runs / "figures" / "vae_2_bin_subset300" / "reconstruction.png").exists()
    assert evaluate.main(["cnn", "--test-images", "500", "--subset", "300", "--log-dir", str(session_runs)]) == 0
    accuracy = json.loads((session_runs / "cnn_subset300" / "eval.json").read_text())["test_accuracy"]
    from cvae.rundir import RunDir
    classifier = RunDir(session_runs / "cnn_subset300").load().model
    logits = classifier.classify(tf.constant(mnist.test_images[:500] / 255.0, tf.float32))
    assert accuracy == np.mean(np.argmax(logits, axis=1) == mnist.test_labels[:500])


def test_missing_run_and_bad_flags(tmp_path, capsys):
    assert evaluate.main(["cvae_fc3", "-n", "3", "--log-dir", str(tmp_path)]) == 1
    assert "python train.py cvae_fc3 -n 3" in capsys.readouterr().err
    assert evaluate.main(["cnn", "--binarize", "--log-dir", str(tmp_path)]) == 2
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main(["vae", "-k", "0"])
    assert exit_info.value.code == 2


@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_missing_classifier_is_trained_first(tmp_path, capsys):
    """A data set of one's own has no shipped classifier: the first evaluation trains one (the production recipe,
    20 epochs, here of 90 images) beside the run, and says so."""
    rng = np.random.default_rng(0)
    images = (rng.random((120, 16, 16)) < np.repeat(np.linspace(0.2, 0.8, 3), 40)[:, None, None]) * 255
    labels = np.repeat(np.arange(3), 40)
    order = rng.permutation(120)
    np.savez(tmp_path / "blobs.npz", images=images[order[:90]].astype(np.uint8), labels=labels[order[:90]],
             test_images=images[order[90:]].astype(np.uint8), test_labels=labels[order[90:]])
    common = ["cvae_fc3", "-n", "2", "--dataset", str(tmp_path / "blobs.npz"), "--log-dir", str(tmp_path / "log")]
    assert tool("train").main([*common, "-e", "1"]) == 0
    assert evaluate.main([*common, "-k", "2", "--samples", "5"]) == 0
    assert "training it first" in capsys.readouterr().out
    classifiers = list((tmp_path / "log").glob("cnn_blobs_*"))
    assert len(classifiers) == 1 and (classifiers[0] / "config.json").exists()
    assert json.loads((classifiers[0] / "config.json").read_text())["training"][0]["epochs"] == evaluation.CLASSIFIER_EPOCHS


def test_frechet_distance_of_identical_sets_is_zero():
    features = np.random.default_rng(0).normal(size=(500, 16))
    assert frechet_distance(features, features) == pytest.approx(0, abs=1e-8)


def test_frechet_distance_of_shifted_and_scaled_sets_has_its_closed_form():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(400, 8)) @ rng.normal(size=(8, 8))  # correlated features
    shift = rng.normal(size=8)
    # A shift leaves the covariance alone: FD = |shift|^2.
    assert frechet_distance(a, a + shift) == pytest.approx(np.sum(shift ** 2), rel=1e-9)
    # Scaling by s about the mean: S_b = s^2 S_a, so Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) = (1 - s)^2 Tr S_a.
    s = 2.5
    b = a.mean(axis=0) + s * (a - a.mean(axis=0))
    expected = (1 - s) ** 2 * np.trace(np.cov(a, rowvar=False))
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_agrees_with_a_general_matrix_square_root():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(300, 6)), rng.normal(0.3, 1.5, size=(200, 6)) @ rng.normal(size=(6, 6))
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = (np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(cov_a + cov_b)
                - 2 * np.trace(linalg.sqrtm(cov_a @ cov_b).real))
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-7)


def test_frechet_distance_stays_exact_for_singular_covariances():
    """Features that are never on (ReLU) make the covariance singular; a shift must still give |shift|^2."""
    a = np.random.default_rng(3).normal(size=(100, 10))
    a[:, 4:] = 0
    assert frechet_distance(a, a + 1.0) == pytest.approx(10.0, rel=1e-9)


def test_precision_and_recall_on_known_cases():
    rng = np.random.default_rng(4)
    real = rng.normal(size=(200, 5))
    assert precision_recall(real, real) == (1.0, 1.0)
    assert precision_recall(real, real + 100.0) == (0.0, 0.0)
    # Half the generated samples are real ones (inside the real manifold), half are far away: precision 1/2.
    # The real half covers part of the real manifold: recall between 1/2 and 1.
    generated = np.concatenate([real[:100], real[:100] + 100.0])
    precision, recall = precision_recall(real, generated)
    assert precision == 0.5 and 0.5 <= recall < 1.0
    with pytest.raises(ValueError, match="need more than 3 samples"):
        precision_recall(real[:3], real)


def test_too_few_test_images_for_precision_and_recall_are_refused_before_anything_is_computed(tmp_path, capsys):
    """evaluate.py --test-images 3 computed the ELBO and the NLL, then failed in precision and recall and wrote
    no eval.json (issue 36, 14)."""
    status = evaluate.main(["cvae_cnn3", "-n", "2", "--pretrained", "--test-images", "3", "--log-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 2 and "need more than 3 test images, and 3 are asked for; give --test-images 4 or more" in err
    assert not list(tmp_path.rglob("eval.json"))

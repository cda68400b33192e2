"""The semi-supervised M2 model and its data: labelled subsets, mixed batches, the marginalized loss."""
import numpy as np
import pytest
import tensorflow as tf

from cvae.rundir import RunDir
from cvae.batches import labelled_subset, semi_supervised_batches
from conftest import run_main, tool
from model import UNLABELLED
from model.registry import build_model
train = tool("train")


def test_labelled_subset_is_class_balanced_and_drawn_with_the_seed():
    labels = np.random.default_rng(0).integers(0, 10, 5000)
    names = [str(d) for d in range(10)]
    chosen = labelled_subset(labels, 100, 1, names)
    assert len(chosen) == len(set(chosen)) == 100
    assert np.array_equal(np.bincount(labels[chosen], minlength=10), np.full(10, 10))
    assert np.array_equal(chosen, labelled_subset(labels, 100, 1, names))
    assert not np.array_equal(chosen, labelled_subset(labels, 100, 2, names))
    with pytest.raises(ValueError, match="--labels 100 takes 10 images of each class; class 3 has 4"):
        labelled_subset(np.concatenate([labels[labels != 3], [3] * 4]), 100, 1, names)


def test_semi_supervised_batches_pair_every_unlabelled_image_with_labelled_ones():
    images = np.arange(230, dtype=np.uint8)[:, None, None, None] * np.ones((1, 28, 28, 1), np.uint8)  # pixel = index
    labels = np.arange(230) % 10
    labelled = np.arange(0, 30)
    seen_unlabelled = []
    for x, y in semi_supervised_batches(images, labels, labelled, batch_size=40, shuffle_seed=(0, 1)):
        assert x.shape == (80, 28, 28, 1) and y.shape == (80,)
        index = np.round(x.numpy()[:, 0, 0, 0] * 255).astype(int)
        assert np.all(y.numpy()[0::2] == UNLABELLED)
        assert np.all(index[1::2] < 30) and np.array_equal(y.numpy()[1::2], labels[index[1::2]])
        seen_unlabelled += list(index[0::2])
    # 200 unlabelled images in 5 batches of 40: each exactly once, no labelled image among them.
    assert sorted(seen_unlabelled) == list(range(30, 230))


@pytest.fixture
def m2_without_noise(monkeypatch):
    """An m2 whose z is the encoder's mean, so two ways of computing the same bound agree exactly."""
    model = build_model("m2", 4)
    monkeypatch.setattr(model, "reparameterize", lambda mean, log_var: mean)
    return model


def test_replicas_halves_of_a_batch_average_to_the_whole_batchs_loss(m2_without_noise, monkeypatch):
    # What MirroredStrategy over two replicas computes: each half's losses, weighted 1/2 and summed.
    model = m2_without_noise
    classify = model.classify
    monkeypatch.setattr(model, "classify", lambda x, training=False: classify(x, training=False))  # no dropout
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (60, 28, 28, 1), dtype=np.uint8), np.arange(60) % 10
    x, y = next(iter(semi_supervised_batches(images, labels, np.arange(10), batch_size=8, shuffle_seed=(0, 1))))
    whole = model.compute_losses(x, y, training=True)
    halves = [model.compute_losses(x[i:i + 8], y[i:i + 8], training=True) for i in (0, 8)]
    for name, value in whole.items():
        np.testing.assert_allclose(value, (halves[0][name] + halves[1][name]) / 2, rtol=1e-5, err_msg=name)


def test_every_label_pass_equals_one_pass_per_label(m2_without_noise, small_batch):
    model, x = m2_without_noise, small_batch[0][:6]
    batched = model.negative_elbo_every_label(x).numpy()
    assert batched.shape == (6, 10)
    for k in range(10):
        reconstruction, kl = model.negative_elbo(x, tf.fill([6], k))
        np.testing.assert_allclose(batched[:, k], (reconstruction + kl).numpy(), rtol=1e-5)


def test_scoring_in_passes_gives_the_same_bounds_and_leaves_the_noise_where_one_pass_does(small_batch):
    # Evaluation decodes 100 images' rows at a time (peak memory). With real noise, on a batch that does not
    # split evenly, the bounds must be the same and the noise generator must end in the same state, bit for
    # bit, since training continues from it: otherwise m2's weights would change. The bounds agree to float
    # rounding only: on some CPUs (a 2-core AMD EPYC here) the decoder's matrix products round differently
    # for a different number of rows.
    model, x = build_model("m2", 4), small_batch[0][:37]
    start = model.noise.state.numpy()
    one_pass, after_one_pass = model.negative_elbo_every_label(x).numpy(), model.noise.state.numpy()
    model.noise.state.assign(start)
    in_passes = model.negative_elbo_every_label(x, images_per_pass=5).numpy()
    assert in_passes.shape == (37, 10)
    np.testing.assert_allclose(in_passes, one_pass, rtol=1e-6)
    np.testing.assert_array_equal(model.noise.state.numpy(), after_one_pass)
    assert not np.array_equal(after_one_pass, start)  # the noise was drawn


def test_unlabelled_loss_sums_the_labels_under_the_classifier_minus_its_entropy(m2_without_noise, small_batch):
    model, x = m2_without_noise, small_batch[0][:6]
    # training=False: the classifier's dropout off, so q below is the q the loss used.
    losses = model.compute_losses(x, tf.fill([6], UNLABELLED), training=False)
    q = tf.nn.softmax(model.classify(x)).numpy()
    negative_elbo = model.negative_elbo_every_label(x).numpy()
    expected = np.mean(np.sum(q * negative_elbo, axis=1) + np.sum(q * np.log(q), axis=1))
    assert float(losses["unlabelled"]) == pytest.approx(expected, rel=1e-5)
    assert float(losses["loss"]) == pytest.approx(expected, rel=1e-5)  # no labelled image: nothing else


def test_labelled_terms_carry_the_papers_weights(m2_without_noise, small_batch):
    model, (x, y) = m2_without_noise, (small_batch[0][:8], small_batch[1][:8])
    model.set_data_sizes(labelled=100, unlabelled=59900)
    mixed = tf.concat([tf.fill([4], UNLABELLED), y[4:]], axis=0)
    losses = {k: float(v) for k, v in model.compute_losses(x, mixed, training=True).items()}
    labelled = losses["reconstruction"] + losses["kl"] + 0.1 * 60000 * losses["classification"]
    assert losses["loss"] == pytest.approx(losses["unlabelled"] + 100 / 59900 * labelled, rel=1e-5)


@pytest.mark.slow
def test_m2_trains_with_20_labels_and_reports_test_error(tmp_path):
    args = ["m2", "-n", "4", "--labels", "20", "--subset", "600", "-b", "50", "-e", "3", "--log-dir", str(tmp_path)]
    assert train.main(args) == 0
    rows = RunDir(tmp_path / "m2_4_labels20_subset600").read_metrics()
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert 0 <= rows[-1]["test_error"] <= 1
    assert rows[-1]["test_unlabelled"] > 0


@pytest.mark.parametrize("args, complaint", [
    (["m2"], "m2 needs --labels"),
    (["vae", "--labels", "100"], "--labels is for the semi-supervised m2"),
    (["m2", "--labels", "15"], "--labels must be a multiple of the 10 classes (the same number of each), got 15"),
])
def test_label_flags_that_cannot_work_are_refused(args, complaint, capsys):
    status, _, err = run_main(train.main, args, capsys)
    assert status == 2
    assert complaint in err and "Traceback" not in err

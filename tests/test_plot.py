import matplotlib.image
import numpy as np
import pytest

from conftest import run_main, tool
from cvae.run_figures import class_mean_codes, pca_2d
plot = tool("plot")


@pytest.fixture
def log_dir(trained_runs):
    """Runs trained for one epoch on 300 images: a conditional and a plain model with n = 2, and the classifier."""
    return trained_runs


def plot_main(log_dir, figure_dir, *args):
    return plot.main([*args, "--subset", "300", "--log-dir", str(log_dir), "--figure-dir", str(figure_dir)])


@pytest.mark.parametrize("kind, filename, size", [
    ("re", "reconstruction.png", (690, 420)),
    ("gen_ave", "generated_image_mean.png", (900, 170)),
    ("gen_rand", "generated_image_rand_all_0.100.png", (650, 640)),
    ("embed", "embedding.png", (640, 560)),
    ("manifold", "manifold.png", (1600, 740)),
    ("analogy", "analogy.png", (705, 530)),
    ("curve", "learning_curve.png", (1260, 340)),
])
def test_each_figure_is_written_at_its_size(kind, filename, size, log_dir, tmp_path):
    assert plot_main(log_dir, tmp_path, "cvae_cnn3", "-n", "2", "-m", kind) == 0
    image = matplotlib.image.imread(tmp_path / "cvae_cnn3_2_subset300" / filename)
    height, width = image.shape[:2]
    assert abs(width - size[0]) <= 1 and abs(height - size[1]) <= 1
    assert image[..., :3].std() > 0.05  # not a blank canvas


def test_gen_rand_for_one_digit_and_prior_samples(log_dir, tmp_path):
    assert plot_main(log_dir, tmp_path, "cvae_cnn3", "-n", "2", "-m", "gen_rand", "-t", "7", "-s", "0.5") == 0
    assert (tmp_path / "cvae_cnn3_2_subset300" / "generated_image_rand_7_0.500.png").stat().st_size > 1000
    assert (tmp_path / "cvae_cnn3_2_subset300" / "generated_image_prior.png").stat().st_size > 1000


def test_without_mode_every_applicable_figure_is_made(log_dir, tmp_path):
    assert plot_main(log_dir, tmp_path, "vae", "-n", "2") == 0
    assert sorted(p.name for p in (tmp_path / "vae_2_subset300").iterdir()) == [
        "embedding.png", "learning_curve.png", "manifold.png", "reconstruction.png"]
    assert plot_main(log_dir, tmp_path, "cnn") == 0
    assert [p.name for p in (tmp_path / "cnn_subset300").iterdir()] == ["learning_curve.png"]


def test_class_mean_codes_average_each_digit_separately():
    codes = np.array([[1.0, 0.0], [3.0, 2.0], [10.0, 10.0]] + [[d, -d] for d in range(2, 10)], dtype=float)
    labels = np.array([0, 0, 1] + list(range(2, 10)))
    means = class_mean_codes(codes, labels, 10)
    assert means.shape == (10, 2)
    np.testing.assert_array_equal(means[0], [2.0, 1.0])
    np.testing.assert_array_equal(means[1], [10.0, 10.0])
    np.testing.assert_array_equal(means[9], [9.0, -9.0])


def test_pca_keeps_the_direction_of_largest_variance():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(500, 5)) * np.array([0.1, 5.0, 0.1, 1.0, 0.1])
    projected = pca_2d(codes)
    assert projected.shape == (500, 2)
    assert projected[:, 0].std() == pytest.approx(codes[:, 1].std(), rel=0.05)


def test_missing_checkpoint_names_the_train_command(tmp_path, capsys):
    status, _, err = run_main(plot.main, ["cvae_fc3", "-n", "7", "--log-dir", str(tmp_path)], capsys)
    assert status == 1
    assert f"python train.py cvae_fc3 -n 7 --log-dir {tmp_path}" in err and "Traceback" not in err


@pytest.mark.parametrize("args, complaint, status", [
    (["vae", "-n", "2", "-m", "analogy"], "needs a conditional model", 2),
    (["cnn", "-m", "re"], "only a learning curve", 2),
    (["cvae_cnn3", "-n", "2", "-p", "50"], "no checkpoint kept at epoch 50", 2),
    (["cvae_cnn3", "-n", "2", "-m", "gen_rand", "-t", "10"], "-t 10: this run has 10 classes, 0 to 9 by index", 2),
])
def test_inapplicable_requests_are_refused(log_dir, tmp_path, capsys, args, complaint, status):
    assert plot_main(log_dir, tmp_path, *args) == status
    assert complaint in capsys.readouterr().err


def test_bad_flags_exit_2_without_traceback(capsys):
    for args, complaint in ((["cvae_cnn3", "-s", "-1"], "must be a positive number"),
                            (["cvae_cnn3", "-m", "bogus"], "invalid choice: 'bogus'")):
        status, _, err = run_main(plot.main, args, capsys)
        assert status == 2 and complaint in err and "Traceback" not in err

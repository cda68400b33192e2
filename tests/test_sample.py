"""sample.py: new images from a trained run, as a grid PNG or arrays."""
import matplotlib.image
import numpy as np
import pytest

from conftest import QUICK_RUN, run_main, tool
sample = tool("sample")

RUN_FLAGS = ["--subset", "300"]  # the session's session_runs


def sample_main(session_runs, capsys, *args):
    return run_main(sample.main, [*args, *RUN_FLAGS, "--log-dir", str(session_runs)], capsys)


def test_npz_holds_the_images_labels_and_codes_of_each_requested_digit(session_runs, tmp_path, capsys):
    out = tmp_path / "s.npz"
    status, printed, err = sample_main(session_runs, capsys, "cvae_cnn3", "-n", "2", "--digit", "7", "--digit", "3",
                                       "--count", "5", "--out", str(out))
    assert status == 0, err
    assert f"wrote {out}: 10 images (5 per label) from {session_runs / QUICK_RUN} at epoch 1" in printed
    with np.load(out) as arrays:
        assert arrays["images"].shape == (10, 28, 28, 1) and arrays["images"].dtype == np.uint8
        assert arrays["labels"].tolist() == [7] * 5 + [3] * 5 and arrays["z"].shape == (10, 2)
        images = arrays["images"]
    # The same seed gives the same images; another seed other ones.
    assert sample_main(session_runs, capsys, "cvae_cnn3", "-n", "2", "--digit", "7", "--digit", "3", "--count", "5",
                       "--out", str(tmp_path / "again.npz"))[0] == 0
    assert np.array_equal(np.load(tmp_path / "again.npz")["images"], images)
    assert sample_main(session_runs, capsys, "cvae_cnn3", "-n", "2", "--digit", "7", "--digit", "3", "--count", "5",
                       "--seed", "1", "--out", str(tmp_path / "other.npz"))[0] == 0
    assert not np.array_equal(np.load(tmp_path / "other.npz")["images"], images)


def test_png_grid_has_a_block_of_rows_per_digit(session_runs, tmp_path, capsys):
    status, _, err = sample_main(session_runs, capsys, "cvae_cnn3", "-n", "2", "--digit", "all", "--count", "20",
                                 "--out", str(tmp_path / "all.png"))
    assert status == 0, err
    image = matplotlib.image.imread(tmp_path / "all.png")
    assert image.shape[0] > image.shape[1] and image[..., :3].std() > 0.05  # 20 rows of 16 columns, not blank
    from cvae.figures import samples_grid
    grid, labels = samples_grid(np.zeros((2 * 20, 28, 28, 1), np.uint8), [4, 9], 20, [str(d) for d in range(10)])
    assert grid.shape == (4, 16, 28, 28, 1) and labels == ["4", "", "9", ""]


def test_an_unconditional_model_takes_no_digit(session_runs, tmp_path, capsys):
    status, _, err = sample_main(session_runs, capsys, "vae", "-n", "2", "--count", "3", "--out", str(tmp_path / "v.npz"))
    assert status == 0, err
    with np.load(tmp_path / "v.npz") as arrays:
        assert arrays["images"].shape == (3, 28, 28, 1) and "labels" not in arrays
    status, _, err = sample_main(session_runs, capsys, "vae", "-n", "2", "--digit", "3", "--out", str(tmp_path / "v.png"))
    assert status == 2 and "vae is unconditional: it takes no --digit" in err
    status, _, err = sample_main(session_runs, capsys, "cvae_cnn3", "-n", "2", "--digit", "10", "--out", str(tmp_path / "c.png"))
    assert status == 2 and "--digit 10: this run has 10 classes, 0 to 9" in err and not (tmp_path / "c.png").exists()
    status, _, err = sample_main(session_runs, capsys, "cvae_cnn3", "-n", "2", "--digit", "7", "--digit", "seven",
                                 "--out", str(tmp_path / "c.png"))
    assert status == 2 and "--digit seven: this run has 10 classes" in err and "by name: 0, 1, 2" in err


@pytest.mark.parametrize("args, complaint", [
    (["cvae_cnn3", "--count", "0", "--out", "x.png"], "must be a positive integer, got 0"),
    (["cvae_cnn3", "--std", "-1", "--out", "x.png"], "must be a positive number, got -1"),
    (["cvae_cnn3", "--out", "x.jpg"], "--out must end in .png or .npz"),
    (["cvae_cnn3"], "the following arguments are required: --out"),
])
def test_bad_flags_exit_2_with_one_line(args, complaint, capsys):
    status, _, err = run_main(sample.main, args, capsys)
    assert status == 2 and complaint in err and "Traceback" not in err


def test_a_missing_run_names_the_train_command_and_a_classifier_is_refused(session_runs, tmp_path, capsys):
    status, _, err = run_main(sample.main, ["cvae_fc3", "-n", "3", "--log-dir", str(tmp_path), "--out",
                                            str(tmp_path / "x.png")], capsys)
    assert status == 1 and f"python train.py cvae_fc3 -n 3 --log-dir {tmp_path}" in err
    status, _, err = sample_main(session_runs, capsys, "cnn", "--out", str(tmp_path / "x.png"))
    assert status == 2 and "no latent space to sample from" in err


def test_run_flag_names_the_run_by_its_directory(session_runs, tmp_path, capsys):
    by_flags, by_directory = tmp_path / "flags.npz", tmp_path / "directory.npz"
    assert sample_main(session_runs, capsys, "cvae_cnn3", "-n", "2", "--count", "3", "--out", str(by_flags))[0] == 0
    status, out, err = run_main(sample.main, ["--run", str(session_runs / QUICK_RUN), "--count", "3", "--out",
                                              str(by_directory)], capsys)
    assert status == 0, err
    assert f"from {session_runs / QUICK_RUN} at epoch 1" in out
    np.testing.assert_array_equal(np.load(by_directory)["images"], np.load(by_flags)["images"])


@pytest.mark.parametrize("args, complaint", [
    (["cvae_cnn3", "--run", "log/x"], "--run DIR names the run by itself; leave out MODEL"),
    (["--run", "log/x", "-n", "2", "--subset", "3"], "leave out -n and --subset"),
    ([], "name the run: MODEL with the options it was trained with (-n, --dataset, ...), or --run DIR"),
])
def test_run_flag_and_model_flags_are_one_or_the_other(args, complaint, capsys):
    status, _, err = run_main(sample.main, [*args, "--out", "x.png"], capsys)
    assert status == 2 and complaint in err and "Traceback" not in err


def test_a_run_directory_that_is_not_there_is_a_usage_error(tmp_path, capsys):
    status, _, err = run_main(sample.main, ["--run", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.png")],
                              capsys)
    assert status == 2 and f"--run {tmp_path / 'nowhere'}: no such run directory" in err

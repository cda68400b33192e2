"""pretrained/: the weights that ship with the repository, checked against their sha256 and usable by
plot.py, evaluate.py, sample.py and export.py with --pretrained, with no training."""
import dataclasses
import json
import shutil

import matplotlib.image
import numpy as np
import pytest

from conftest import QUICK_RUN, ROOT, run_main, tool
from cvae.pretrained import MAX_WEIGHT_BYTES
from cvae.readme_runs import SHIPPED
from cvae.rundir import PRETRAINED_DIR, PretrainedRun, RunDir
plot = tool("plot")
evaluate = tool("evaluate")
sample = tool("sample")
export = tool("export")
pretrained = tool("pretrained")


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_run_matches_its_sums_and_loads(name):
    shipped = PretrainedRun(PRETRAINED_DIR / name)
    shipped.verify()
    run = shipped.load()
    assert run.identity.subset is None and run.epoch == run.config.training[-1]["epochs"] == len(shipped.read_metrics())
    assert sum(p.stat().st_size for p in shipped.path.glob("weights.*")) < MAX_WEIGHT_BYTES
    assert not any(p.name.startswith("ckpt") for p in shipped.path.iterdir())  # no optimizer state


def test_plot_draws_from_the_shipped_weights_without_a_log_dir(tmp_path, capsys):
    status, out, err = run_main(plot.main, ["cvae_cnn3", "-n", "2", "--pretrained", "-m", "manifold",
                                            "--log-dir", str(tmp_path / "log"), "--figure-dir", str(tmp_path)], capsys)
    assert status == 0, err
    # In a folder of their own: a user's own run of the same name keeps its figures.
    drawn = matplotlib.image.imread(tmp_path / "pretrained" / "cvae_cnn3_2" / "manifold.png")
    assert not (tmp_path / "log").exists()
    # The shipped weights' manifold: the README's figure, made from them (up to a CPU's float rounding).
    readme = matplotlib.image.imread(ROOT / "img" / "cvae_cnn3_2" / "manifold.png")
    assert drawn.shape == readme.shape and np.corrcoef(drawn.ravel(), readme.ravel())[0, 1] > 0.99
    assert not (tmp_path / "cvae_cnn3_2").exists()


@pytest.fixture
def shipped_here(session_runs, tmp_path):
    """A shipped copy in tmp_path/pretrained, written by pretrained.py --out from a copy of the session's quick
    cvae_cnn3 run (its config made a full run's, as only those are shipped); returns that log directory."""
    log_dir = tmp_path / "log"
    shutil.copytree(session_runs / QUICK_RUN, log_dir / "cvae_cnn3_2")
    run = RunDir(log_dir / "cvae_cnn3_2")
    config = run.read_config()
    config.identity = dataclasses.replace(config.identity, subset=None)
    run.write_config(config)
    assert pretrained.main(["cvae_cnn3_2", "--log-dir", str(log_dir), "--out", str(tmp_path / "pretrained")]) == 0
    return log_dir


def test_refreshed_weights_give_the_run_s_images_and_the_same_bytes_again(shipped_here, tmp_path, capsys):
    common = ["--count", "3", "--seed", "4"]
    shipped = tmp_path / "pretrained" / "cvae_cnn3_2"
    assert run_main(sample.main, ["--run", str(shipped_here / "cvae_cnn3_2"), *common, "--out", str(tmp_path / "log.npz")],
                    capsys)[0] == 0
    assert run_main(sample.main, ["--run", str(shipped), *common, "--out", str(tmp_path / "shipped.npz")], capsys)[0] == 0
    np.testing.assert_array_equal(np.load(tmp_path / "log.npz")["images"], np.load(tmp_path / "shipped.npz")["images"])
    before = {p.name: p.read_bytes() for p in shipped.iterdir()}
    assert sorted(before) == ["SHA256SUMS", "config.json", "metrics.csv", "weights.data-00000-of-00001", "weights.index"]
    assert pretrained.main(["cvae_cnn3_2", "--log-dir", str(shipped_here), "--out", str(tmp_path / "pretrained")]) == 0
    assert {p.name: p.read_bytes() for p in shipped.iterdir()} == before  # make figures leaves git clean
    assert not list((tmp_path / "pretrained").glob(".*"))


def test_a_changed_weights_file_is_refused_in_one_line(shipped_here, tmp_path, capsys):
    weights = tmp_path / "pretrained" / "cvae_cnn3_2" / "weights.data-00000-of-00001"
    data = bytearray(weights.read_bytes())
    data[100] ^= 1
    weights.write_bytes(bytes(data))
    status, _, err = run_main(sample.main, ["--run", str(weights.parent), "--out", str(tmp_path / "s.png")], capsys)
    assert status == 1 and len(err.strip().splitlines()) == 1
    assert "weights.data-00000-of-00001 does not match its sha256 in SHA256SUMS" in err and "git checkout" in err
    assert not (tmp_path / "s.png").exists()


@pytest.mark.parametrize("argv, message", [
    (["cvae_fc3", "-n", "2", "--pretrained"], "no pretrained weights for cvae_fc3_2; pretrained/ has: cvae_cnn3_2"),
    (["cvae_cnn3", "-n", "2", "--pretrained", "-p", "50"], "holds each run's last epoch only"),
    (["cvae_cnn3", "-n", "2", "--subset", "300", "--pretrained"], "no pretrained weights for cvae_cnn3_2_subset300"),
])
def test_weights_that_do_not_ship_are_a_usage_error(argv, message, tmp_path, capsys):
    status, _, err = run_main(sample.main, [*argv, "--out", str(tmp_path / "s.npz")], capsys)
    assert status == 2 and message in err and "Traceback" not in err


def test_refresh_refuses_runs_it_does_not_ship_or_cannot_find(tmp_path, capsys):
    assert run_main(pretrained.main, ["vae_2"], capsys)[0] == 2
    status, _, err = run_main(pretrained.main, ["cnn", "--log-dir", str(tmp_path)], capsys)
    assert status == 1 and f"no trained run in {tmp_path / 'cnn'}" in err


def test_evaluate_uses_the_shipped_classifier_when_log_has_none(session_runs, tmp_path, capsys):
    shutil.copytree(session_runs / QUICK_RUN, tmp_path / QUICK_RUN)
    status, out, err = run_main(evaluate.main, ["cvae_cnn3", "-n", "2", "--subset", "300", "-k", "2", "--samples", "20",
                                                "--test-images", "50", "--log-dir", str(tmp_path)], capsys)
    assert status == 0, err
    assert f"{tmp_path / 'cnn'} has no classifier, so the pretrained one in" in out
    assert not (tmp_path / "cnn").exists()  # nothing trained
    result = json.loads((tmp_path / QUICK_RUN / "eval.json").read_text())
    assert result["class_consistency"]["classifier"] == str(PRETRAINED_DIR / "cnn")


@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_evaluate_of_shipped_weights_writes_to_the_log_dir_not_to_pretrained(tmp_path, capsys):
    shipped = PRETRAINED_DIR / "cvae_cnn3_2"
    before = {p.name: p.read_bytes() for p in shipped.iterdir()}
    status, out, err = run_main(evaluate.main, ["cvae_cnn3", "-n", "2", "--pretrained", "-k", "2", "--samples", "10",
                                                "--test-images", "50", "--log-dir", str(tmp_path)], capsys)
    assert status == 0, err
    assert "cvae_cnn3, n = 2 (pretrained), epoch 50" in out
    result = json.loads((tmp_path / "pretrained" / "cvae_cnn3_2" / "eval.json").read_text())
    assert result["epoch"] == 50 and result["training_subset"] is None
    assert {p.name: p.read_bytes() for p in shipped.iterdir()} == before


def test_export_of_shipped_weights_checks_out(tmp_path, capsys):
    out = tmp_path / "export"
    assert run_main(export.main, ["cnn", "--pretrained", "--out", str(out)], capsys)[0] == 0
    status, stdout, err = run_main(export.main, ["--check", str(out)], capsys)
    assert status == 0 and "every file matches export.json" in stdout, err
    assert json.loads((out / "export.json").read_text())["run"] == str(PRETRAINED_DIR / "cnn")



def test_a_shipped_run_opens_by_its_directory_and_is_checked(tmp_path, capsys):
    status, out, err = run_main(sample.main, ["--run", str(PRETRAINED_DIR / "cvae_cnn3_2"), "--count", "2", "--out",
                                              str(tmp_path / "s.npz")], capsys)
    assert status == 0 and f"from {PRETRAINED_DIR / 'cvae_cnn3_2'} at epoch 50" in out, err
    copy = shutil.copytree(PRETRAINED_DIR / "cvae_cnn3_2", tmp_path / "copy")
    (copy / "metrics.csv").write_text("changed\n")
    status, _, err = run_main(sample.main, ["--run", str(copy), "--out", str(tmp_path / "t.npz")], capsys)
    assert status == 1 and "metrics.csv does not match its sha256 in SHA256SUMS" in err and "git checkout" in err

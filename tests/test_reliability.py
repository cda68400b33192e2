"""Faults and bad input: training survives interruption, damaged files get a clear answer."""
import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

import model.likelihoods
from model import names
from cvae.rundir import RunDir, RunLock
from conftest import QUICK, QUICK_RUN, ROOT, damage, run_main, tool
train = tool("train")
plot = tool("plot")
evaluate = tool("evaluate")

TINY = ["cvae_cnn3", "-n", "2", "--subset", "2000", "-b", "50", "--deterministic"]
RUN = "cvae_cnn3_2_subset2000"  # its run directory


def train_cli(log_dir, *args):
    return [sys.executable, str(ROOT / "train.py"), *TINY, "--log-dir", str(log_dir), *args]


def run(command):
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)


def wait_for_epoch(log_dir, epoch, process):
    metrics = log_dir / RUN / "metrics.csv"
    while not (metrics.exists() and len(metrics.read_text().splitlines()) > epoch):
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)


def assert_same_run(dir_a, dir_b):
    a, b = RunDir(dir_a / RUN).read_metrics(), RunDir(dir_b / RUN).read_metrics()
    assert [row["epoch"] for row in a] == [row["epoch"] for row in b]
    for row_a, row_b in zip(a, b):
        # --deterministic (TensorFlow's op determinism): an interruption changes nothing, to the bit.
        assert row_a["train_loss"] == row_b["train_loss"]
        assert row_a["test_loss"] == row_b["test_loss"]
    x, y = tf.random.stateless_uniform([4, 28, 28, 1], seed=[1, 2]), tf.constant([0, 3, 6, 9])
    run_a, run_b = RunDir(dir_a / RUN).load(), RunDir(dir_b / RUN).load()
    model_a, model_b = run_a.model, run_b.model
    assert run_a.epoch == run_b.epoch
    for weight_a, weight_b in zip(model_a.weights, model_b.weights, strict=True):
        np.testing.assert_array_equal(weight_a.numpy(), weight_b.numpy())
    np.testing.assert_array_equal(model_a.reconstruct(x, y), model_b.reconstruct(x, y))


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory):
    """The uninterrupted reference: 8 epochs (enough that a signal sent early in epoch 2 lands mid-run)."""
    log_dir = tmp_path_factory.mktemp("straight")
    assert train.main([*TINY, "--log-dir", str(log_dir), "-e", "8"]) == 0
    return log_dir


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_interrupted_and_resumed_run_equals_an_uninterrupted_one(signum, straight_run, tmp_path):
    # SIGINT's default disposition in the child: a test run started in the background (nohup, `&`, an xdist
    # worker under one) inherits an ignored SIGINT, which the tool rightly keeps ignoring.
    process = subprocess.Popen(train_cli(tmp_path, "-e", "8"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, cwd=ROOT, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    wait_for_epoch(tmp_path, 1, process)
    time.sleep(random.Random(signum).uniform(0, 0.4))  # somewhere in epochs 2-4
    assert process.poll() is None, "the run ended before the signal; give it more epochs"
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    if signum == signal.SIGKILL:
        assert process.returncode == -signal.SIGKILL
    else:
        assert process.returncode == 130
        assert "Run the same command to resume" in stderr and "Traceback" not in stderr
    rows = RunDir(tmp_path / RUN).read_metrics()
    assert [row["epoch"] for row in rows] == list(range(1, len(rows) + 1))
    assert train.main([*TINY, "--log-dir", str(tmp_path), "-e", "8"]) == 0  # resumes, in this process
    assert_same_run(straight_run, tmp_path)


def test_second_training_into_the_same_directory_is_refused(tmp_path, capsys):
    # flock locks an open file, not a process: a second open of the lock in this process is refused too.
    with RunLock(tmp_path / RUN):
        status, _, err = run_main(train.main, [*TINY, "--log-dir", str(tmp_path), "-e", "1"], capsys)
    assert status == 1
    assert f"being trained by process {os.getpid()}" in err and "kill" in err and "Traceback" not in err


@pytest.mark.slow
def test_lock_left_by_a_killed_process_does_not_block(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from cvae.rundir import RunLock; "
                               "RunLock(sys.argv[1]).__enter__(); print('locked', flush=True); time.sleep(60)",
                               str(tmp_path / RUN)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert holder.stdout.readline().strip() == "locked"
    holder.kill()
    holder.wait()
    assert (tmp_path / RUN / "lock").read_text().strip() == str(holder.pid)
    assert train.main([*TINY, "--log-dir", str(tmp_path), "-e", "1"]) == 0


@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_non_finite_loss_stops_without_saving_over_good_weights(two_epochs, monkeypatch, capsys):
    run_dir = two_epochs / QUICK_RUN
    x, y = tf.random.stateless_uniform([2, 28, 28, 1], seed=[3, 4]), tf.constant([1, 7])
    before = RunDir(run_dir).load().model.reconstruct(x, y).numpy()
    nll = model.likelihoods.bernoulli_nll
    monkeypatch.setattr(model.likelihoods, "bernoulli_nll", lambda x, logits: nll(x, logits) * float("nan"))
    assert train.main([*QUICK, "--log-dir", str(two_epochs), "-e", "3"]) == 1
    message = capsys.readouterr().err
    assert "loss became nan at step 1 of epoch 3" in message
    assert "last good checkpoint is epoch 2" in message and "-c 1.0" in message
    reloaded = RunDir(run_dir).load()
    assert reloaded.epoch == 2
    reloaded = reloaded.model
    np.testing.assert_array_equal(reloaded.reconstruct(x, y).numpy(), before)
    assert [row["epoch"] for row in RunDir(run_dir).read_metrics()] == [1, 2]


@pytest.mark.slow  # trains another epoch
def test_changed_learning_rate_on_resume_is_allowed_and_recorded(two_epochs):
    assert train.main([*QUICK, "--log-dir", str(two_epochs), "-e", "3", "-l", "0.0005"]) == 0
    config = json.loads((two_epochs / QUICK_RUN / "config.json").read_text())
    assert [(h["from_epoch"], h["learning_rate"]) for h in config["training"]] == [(0, 0.001), (2, 0.0005)]


@pytest.mark.parametrize("how", ["truncate", "flip"])
@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_damaged_latest_checkpoint_falls_back_to_the_one_before(two_epochs, how, capsys):
    run_dir = two_epochs / QUICK_RUN
    damage(run_dir / "ckpt" / "ckpt-2.data-00000-of-00001", how)
    assert train.main([*QUICK, "--log-dir", str(two_epochs), "-e", "3"]) == 0
    out = capsys.readouterr()
    assert "ckpt-2 is damaged" in out.out and "from epoch 1" in out.out
    assert [row["epoch"] for row in RunDir(run_dir).read_metrics()] == [1, 2, 3]


def test_every_checkpoint_damaged_is_a_clear_error(two_epochs, capsys):
    for name in ("ckpt-1", "ckpt-2"):
        damage(two_epochs / QUICK_RUN / "ckpt" / f"{name}.index")
    assert train.main([*QUICK, "--log-dir", str(two_epochs), "-e", "3"]) == 1
    assert "every checkpoint is damaged" in capsys.readouterr().err


@pytest.mark.parametrize("content, complaint", [
    ("{\"model\": \"cvae_cnn3\"", "config.json is damaged"),
    (json.dumps({"identity": {"model": "cvae_cnn3"}, "training": []}), "config has no 'latent_dim'"),
    (json.dumps({"identity": {"model": "cvae_cnn3", "latent_dim": 2, "subset": 2000},
                 "training": [{"from_epoch": 0, "epochs": 2}]}), "config 'training' entry 0 has no 'batch_size'"),
    (json.dumps({"model": "cvae_cnn3", "latent_dim": 2}), "config has no 'batch_size'"),
    (json.dumps({"model": "cvae_cnn3", "latent_dim": "2", "batch_size": 50, "epochs": 2, "learning_rate": 0.001,
                 "clip": None, "seed": 0, "subset": 2000}), "config 'latent_dim' is '2', of the wrong type"),
    (json.dumps({"format": 3, "identity": {}, "training": []}), "config 'format' is 3: this code reads formats 1 and 2"),
    (json.dumps({"format": 2, "model": "cvae_cnn3"}), "config has no 'identity'"),
    ("[" * 100000, "nested too deeply to be JSON"),
    (json.dumps({"identity": {"model": "cvae_cnn3", "latent_dim": 2, "subset": -5}, "training": []}),
     "config 'subset' is -5, not 1 to 1,000,000,000"),
    (json.dumps({"identity": {"model": "cvae_cnn3", "latent_dim": 0}, "training": []}),
     "config 'latent_dim' is 0, not 1 to 4,096"),
])
def test_damaged_config_is_named_by_train_and_plot(two_epochs, content, complaint, capsys):
    plot = tool("plot")
    (two_epochs / QUICK_RUN / "config.json").write_text(content)
    # A damaged file is not a usage error: exit 1, and the advice is to repair it before discarding the run.
    assert train.main([*QUICK, "--log-dir", str(two_epochs), "-e", "3"]) == 1
    err = capsys.readouterr().err
    assert complaint in err and "repair it, or pass --restart" in err
    assert plot.main([*QUICK, "--log-dir", str(two_epochs), "--figure-dir",
                      str(two_epochs / "fig")]) == 1
    err = capsys.readouterr().err
    assert "cannot load the model" in err and complaint in err and "repair it, or retrain with" in err


def test_damaged_metrics_is_a_clear_error(two_epochs, capsys):
    (two_epochs / QUICK_RUN / "metrics.csv").write_text("epoch,train_loss\n1,abc\n")
    assert train.main([*QUICK, "--log-dir", str(two_epochs), "-e", "3"]) == 1
    assert "metrics.csv is damaged" in capsys.readouterr().err


MAINS = {"train.py": train.main, "plot.py": plot.main, "evaluate.py": evaluate.main,
         "bench/throughput.py": tool("bench/throughput").main}


@pytest.mark.parametrize("tool, args, complaint", [
    ("train.py", ["nope"], f"invalid choice: 'nope' (choose from {', '.join(map(repr, names()))})"),
    ("train.py", ["vae", "--dataset", "cifar"], "no data set called 'cifar': give mnist or fashion_mnist, or the path"),
    ("train.py", ["vae", "--strategy", "tpu"], "invalid choice: 'tpu'"),
    ("train.py", ["m2", "--labels", "0"], "must be a positive integer"),
    ("train.py", ["m2", "--labels", "60000"], "leaves no unlabelled image"),
    ("train.py", ["../../etc"], "invalid choice"),
    ("train.py", ["vae", "-n", "-3"], "must be a positive integer"),
    ("train.py", ["vae", "-e", "x"], "invalid positive_int value: 'x'"),
    ("train.py", ["vae", "-l", "nan"], "must be a positive number"),
    ("train.py", ["vae", "-l", "-1"], "must be a positive number"),
    ("train.py", ["vae", "-c", "-2"], "must be a positive number"),
    ("train.py", ["cnn", "--binarize"], "--binarize applies to the VAEs"),
    ("train.py", ["vae", "--seed", "-1"], "must be an integer from 0 to 4294967295, got -1"),
    ("train.py", ["vae", "--seed", "99999999999999999999999"], "must be an integer from 0 to 4294967295"),
    ("plot.py", ["vae", "--seed", "4294967296"], "must be an integer from 0 to 4294967295"),
    ("evaluate.py", ["vae", "--seed", "x"], "invalid random_seed value: 'x'"),
    ("plot.py", ["nope"], "invalid choice: 'nope'"),
    ("plot.py", ["vae", "-n", "0"], "must be a positive integer"),
    ("plot.py", ["cvae_cnn3", "-s", "abc"], "invalid noise_std value: 'abc'"),
    ("plot.py", ["cvae_cnn3", "-p", "0"], "must be a positive integer"),
    ("plot.py", ["cnn", "--binarize"], "--binarize applies to the VAEs"),
    ("plot.py", ["m2", "-n", "50"], "m2 needs --labels"),
    ("plot.py", ["vae", "--dataset", "cifar"], "no data set called 'cifar'"),
    ("evaluate.py", ["nope"], "invalid choice: 'nope'"),
    ("evaluate.py", ["vae", "-k", "0"], "must be a positive integer"),
    ("evaluate.py", ["vae", "--samples", "-5"], "must be a positive integer"),
    ("evaluate.py", ["cnn", "--binarize"], "--binarize applies to the VAEs"),
    ("evaluate.py", ["vae", "--labels", "100"], "--labels is for the semi-supervised m2"),
    ("bench/throughput.py", ["--models", "nope"], "invalid choice: 'nope'"),
    ("bench/throughput.py", ["--repeats", "0"], "must be a positive integer"),
])
def test_bad_flags_of_every_cli_exit_2_with_one_line(tool, args, complaint, capsys):
    status, _, err = run_main(MAINS[tool], args, capsys)
    assert status == 2
    assert complaint in err and "Traceback" not in err


@pytest.mark.slow  # a fresh Python
def test_a_tool_run_by_a_python_without_the_requirements_says_to_use_the_venv():
    """`python train.py` outside .venv ended in a traceback and "No module named 'numpy'" (issue 38)."""
    # -S: without the site module the interpreter sees no site-packages, as the system's Python sees none of .venv's.
    done = subprocess.run([sys.executable, "-S", "train.py", "cvae_cnn3", "-n", "2", "-e", "1"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("train.py: this Python (") and "has no numpy" in done.stderr
    assert "source .venv/bin/activate" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1

"""Multi-device training on a machine without GPUs: two logical CPU devices under MirroredStrategy,
and two worker processes on localhost under MultiWorkerMirroredStrategy."""
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from cvae.rundir import RunDir
from conftest import ROOT, tool

pytestmark = pytest.mark.slow  # every test here trains in subprocesses
# --no-xla: the one-device reference takes the plain step, as tf.distribute does (vae would default to XLA).
RUN = ["vae", "-n", "2", "--subset", "400", "-b", "100", "--no-xla", "-e", "3"]


def train_here(args, log_dir):
    """The one-device reference, trained in this process (no TensorFlow start-up to wait for)."""
    train = tool("train")
    assert train.main([*args, "--log-dir", str(log_dir)]) == 0


def run(args, log_dir, env=None, module="train"):
    return subprocess.run([sys.executable, "-m", module, *args, "--log-dir", str(log_dir)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300, env=env)


@pytest.mark.parametrize("extra", [[], ["--binarize", "-c", "5"]], ids=["plain", "binarized+clipped"])
def test_two_replicas_follow_the_one_device_trajectory(tmp_path, extra):
    train_here(RUN + extra, tmp_path / "one")
    two = run(RUN + extra + ["--strategy", "mirrored"], tmp_path / "two", module="tests.train_on_two_cpus")
    assert two.returncode == 0, two.stderr
    assert "MirroredStrategy, 2 replicas, 50 images per replica" in two.stdout
    name = "vae_2_bin_subset400" if extra else "vae_2_subset400"
    rows_one, rows_two = RunDir(tmp_path / "one" / name).read_metrics(), RunDir(tmp_path / "two" / name).read_metrics()
    for key in ("train_loss", "train_kl", "test_loss"):
        np.testing.assert_allclose([r[key] for r in rows_two], [r[key] for r in rows_one], rtol=1e-4, err_msg=key)
    # The same weights, read back from each run's checkpoint (mirrored variables save as plain ones).
    model_one = RunDir(tmp_path / "one" / name).load().model
    model_two = RunDir(tmp_path / "two" / name).load().model
    for a, b in zip(model_one.trainable_variables, model_two.trainable_variables):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-3, atol=1e-5)


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_on_localhost_complete_an_epoch(tmp_path):
    workers = [f"localhost:{port}" for port in free_ports(2)]
    processes = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": {"worker": workers},
                                                     "task": {"type": "worker", "index": index}}))
        processes.append(subprocess.Popen(
            [sys.executable, str(ROOT / "train.py"), "vae", "-n", "2", "--subset", "400", "-b", "100", "-e", "1",
             "--strategy", "multi_worker", "--log-dir", str(tmp_path)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = []
    try:
        for process in processes:
            outputs.append(process.communicate(timeout=240))
    finally:
        for process in processes:
            process.kill()
    for process, (stdout, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr[-2000:]
        assert "MultiWorkerMirroredStrategy, 2 replicas" in stdout
        assert "epoch 1/1" in stdout
    # Only the chief (worker 0) wrote the run, and the two workers trained as one device would have.
    rows = RunDir(tmp_path / "vae_2_subset400").read_metrics()
    assert [row["epoch"] for row in rows] == [1]
    assert list(tmp_path.iterdir()) == [tmp_path / "vae_2_subset400"]
    train_here(RUN[:-1] + ["1"], tmp_path / "one")
    expected = RunDir(tmp_path / "one" / "vae_2_subset400").read_metrics()
    for key in ("train_loss", "test_loss"):
        assert rows[0][key] == pytest.approx(expected[0][key], rel=1e-4), key


def test_multi_worker_without_tf_config_is_a_usage_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    result = run(RUN + ["--strategy", "multi_worker"], tmp_path, env=env)
    assert result.returncode == 2
    assert "TF_CONFIG" in result.stderr and "Traceback" not in result.stderr


def test_m2_splits_its_mixed_batches_across_two_replicas(tmp_path):
    # Each replica gets 25 unlabelled + 25 labelled images; dropout and the masked rows' noise are not
    # sliced like the one-device run's, so the losses agree closely but not exactly.
    args = ["m2", "-n", "4", "--labels", "100", "--subset", "2000", "-b", "50", "-e", "1"]
    train_here(args, tmp_path / "one")
    two = run(args + ["--strategy", "mirrored"], tmp_path / "two", module="tests.train_on_two_cpus")
    assert two.returncode == 0, two.stderr
    assert "MirroredStrategy, 2 replicas, 50 images per replica per step" in two.stdout
    rows_one = RunDir(tmp_path / "one" / "m2_4_labels100_subset2000").read_metrics()
    rows_two = RunDir(tmp_path / "two" / "m2_4_labels100_subset2000").read_metrics()
    for key in ("train_loss", "train_unlabelled", "test_loss"):
        assert rows_two[0][key] == pytest.approx(rows_one[0][key], rel=0.02), key

"""The learning-rate schedule and the KL warm-up (train.py --schedule, --kl-warmup): what they compute, that a
run records them, resumes under them exactly, and that a model with no KL to weigh refuses the warm-up."""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import QUICK_RUN, run_main, tool
from cvae.config import RunConfig, TrainingSettings
from cvae.rundir import RunDir
from cvae.steps import kl_weighed
from cvae.training import epoch_learning_rate
from model.registry import build_model

train = tool("train")


def test_the_cosine_schedule_falls_from_the_learning_rate_towards_zero_and_constant_stays():
    cosine = TrainingSettings(epochs=10, learning_rate=0.002, schedule="cosine")
    rates = [epoch_learning_rate(cosine, epoch) for epoch in range(1, 11)]
    assert rates[0] == 0.002 and rates[5] == pytest.approx(0.001) and rates[-1] == pytest.approx(0.002 * 0.0245,
                                                                                                  rel=1e-2)
    assert all(a > b for a, b in zip(rates, rates[1:]))
    assert {epoch_learning_rate(TrainingSettings(epochs=10), epoch) for epoch in range(1, 11)} == {0.001}


def test_the_kl_weight_rises_with_the_optimizers_steps_to_one():
    optimizer = keras.optimizers.Adam()
    assert kl_weighed(optimizer, None) == {} and kl_weighed(optimizer, 0) == {}
    weights = []
    for step in (0, 9, 99, 400):
        optimizer.iterations.assign(step)
        weights.append(float(kl_weighed(optimizer, 100)["kl_weight"]))
    assert weights == pytest.approx([0.01, 0.1, 1.0, 1.0])


def test_a_vae_weighs_its_kl_in_the_loss_only(small_batch):
    x, y = small_batch[0][:8], small_batch[1][:8]
    vae = build_model("cvae_cnn3", 2)
    losses = vae.compute_losses(x, y, training=True, kl_weight=tf.constant(0.25))
    assert float(losses["loss"]) == pytest.approx(float(losses["reconstruction"]) + 0.25 * float(losses["kl"]),
                                                  rel=1e-6)
    assert build_model("cvae_resnet", 2, image_shape=(16, 16, 3)).weighs_kl and not build_model("cnn", None).weighs_kl


@pytest.mark.slow  # over a second: the slow tier keeps make check under a minute
def test_the_warm_up_is_refused_for_a_model_without_a_kl_to_weigh(tmp_path, capsys):
    status, _, err = run_main(train.main, ["cnn", "--subset", "300", "-e", "1", "--kl-warmup", "2", "--log-dir",
                                           str(tmp_path)], capsys)
    assert status == 2 and "--kl-warmup weighs a VAE's KL term, and cnn has none" in err
    assert len(err.strip().splitlines()) == 1


def test_a_config_written_before_the_schedule_existed_reads_as_constant_without_warm_up():
    entry = {"from_epoch": 0, "epochs": 2, "batch_size": 50, "learning_rate": 0.001, "clip": None, "xla": False,
             "precision": "fp32", "strategy": "none"}
    text = json.dumps({"format": 2, "identity": {"model": "vae", "latent_dim": 2}, "training": [entry]})
    assert RunConfig.from_json(text).training[0] | {} == entry | {"schedule": "constant", "kl_warmup": 0}
    with pytest.raises(ValueError, match="'kl_warmup'"):
        RunConfig.from_json(text.replace('"strategy": "none"', '"strategy": "none", "kl_warmup": "2"'))


@pytest.mark.slow  # three short trainings
def test_a_run_resumed_under_a_schedule_and_warm_up_matches_an_uninterrupted_one(tmp_path):
    flags = ["cvae_cnn3", "-n", "2", "--subset", "300", "-b", "50", "--schedule", "cosine", "--kl-warmup", "2"]
    assert train.main([*flags, "-e", "3", "--log-dir", str(tmp_path / "straight")]) == 0
    assert train.main([*flags, "-e", "1", "--log-dir", str(tmp_path / "resumed")]) == 0
    # -e 3 again: the schedule follows -e, so the second invocation's rates are those of the straight run.
    assert train.main([*flags, "-e", "3", "--log-dir", str(tmp_path / "resumed")]) == 0
    straight, resumed = (RunDir(tmp_path / name / QUICK_RUN) for name in ("straight", "resumed"))
    assert [row["train_loss"] for row in straight.read_metrics()] == [row["train_loss"] for row in resumed.read_metrics()]
    entries = resumed.read_config().training
    assert [(e["from_epoch"], e["schedule"], e["kl_warmup"]) for e in entries] == [(0, "cosine", 2), (1, "cosine", 2)]
    plain = RunDir(tmp_path / "plain" / QUICK_RUN)
    assert train.main(["cvae_cnn3", "-n", "2", "--subset", "300", "-b", "50", "-e", "3", "--log-dir",
                       str(tmp_path / "plain")]) == 0
    assert plain.read_metrics()[0]["train_loss"] != straight.read_metrics()[0]["train_loss"]  # they do something
    weights = [np.concatenate([np.ravel(v) for v in run.load().model.get_weights()]) for run in (straight, resumed)]
    np.testing.assert_array_equal(*weights)

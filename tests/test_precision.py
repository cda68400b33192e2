"""train.py --precision bf16: the same model computing in bfloat16 gives the same losses to bf16's rounding."""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import QUICK, QUICK_RUN, tool
from cvae import devices, steps
from model.registry import build_model
train = tool("train")


def losses_at(model, x, y):
    return {k: float(v) for k, v in model.compute_losses(x, y).items()}


@pytest.mark.parametrize("name", ["vae", "cvae_fc3", "cvae_cnn2", "cvae_cnn3", "cnn", "m2", "cvae_resnet"])
def test_bf16_model_gives_the_fp32_losses_to_bf16_rounding(name, mnist):
    x = tf.constant(mnist.test_images[:64] / 255.0, tf.float32)
    y = tf.constant(mnist.test_labels[:64], tf.int32)
    fp32 = build_model(name, 4, seed=1)
    with devices.dtype_policy("bf16"):
        bf16 = build_model(name, 4, seed=1)
    assert keras.mixed_precision.global_policy().name == "float32"  # restored
    bf16.set_weights(fp32.get_weights())  # the noise generator's state too: the same draws
    exact, rounded = losses_at(fp32, x, y), losses_at(bf16, x, y)
    assert all(v.dtype == tf.float32 for v in bf16.compute_losses(x, y).values())
    for key in exact:
        assert rounded[key] == pytest.approx(exact[key], rel=0.02, abs=0.02), key
    # Weights stay float32: a checkpoint of either restores into the other.
    assert {v.dtype for v in bf16.trainable_variables} == {"float32"}


@pytest.mark.slow  # 20 training steps of two models
def test_twenty_bf16_steps_track_the_fp32_ones(small_batch):
    train_x, train_y = small_batch
    runs = []
    for precision in ("fp32", "bf16"):
        with devices.dtype_policy(precision):
            model = build_model("cvae_fc3", 2, seed=0)
        if runs:
            model.set_weights(runs[0][0])
        optimizer = keras.optimizers.Adam(1e-3)
        step = steps.make_train_step(model, optimizer)
        weights = model.get_weights()
        losses = [float(step(train_x[(i % 4) * 64:(i % 4 + 1) * 64], train_y[(i % 4) * 64:(i % 4 + 1) * 64])["loss"])
                  for i in range(20)]
        runs.append((weights, np.array(losses)))
    (_, exact), (_, rounded) = runs
    assert exact[-1] < exact[0] - 50 and rounded[-1] < rounded[0] - 50  # both learn
    np.testing.assert_allclose(rounded, exact, rtol=0.03)


def test_dtype_policy_is_restored_after_an_error():
    with pytest.raises(RuntimeError):
        with devices.dtype_policy("bf16"):
            assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
            raise RuntimeError("inside")
    assert keras.mixed_precision.global_policy().name == "float32"


def test_the_start_up_line_names_the_precision_and_the_hardware(monkeypatch):
    monkeypatch.setattr(devices, "bf16_hardware", lambda: "amx_bf16 avx512_bf16")
    assert devices.precision_note("fp32") == ("precision fp32 (this CPU has amx_bf16 avx512_bf16: --precision bf16 "
                                               "may be faster)")
    assert "this CPU has amx_bf16" in devices.precision_note("bf16")
    monkeypatch.setattr(devices, "bf16_hardware", lambda: "")
    assert devices.precision_note("fp32") == "precision fp32"
    assert "emulated and slower" in devices.precision_note("bf16")


def test_a_resumed_run_keeps_its_precision_unless_told():
    assert devices.run_precision(None, []) == "fp32"
    assert devices.run_precision("bf16", []) == "bf16"
    assert devices.run_precision(None, [{"precision": "fp32"}, {"precision": "bf16"}]) == "bf16"
    assert devices.run_precision("fp32", [{"precision": "bf16"}]) == "fp32"


@pytest.mark.slow  # three trainings
def test_a_bf16_run_resumed_without_the_flag_goes_on_in_bf16(tmp_path, capsys):
    assert train.main([*QUICK, "-e", "1", "--precision", "bf16", "--log-dir", str(tmp_path)]) == 0
    capsys.readouterr()
    assert train.main([*QUICK, "-e", "2", "--log-dir", str(tmp_path)]) == 0
    assert "precision bf16" in capsys.readouterr().out
    assert train.main([*QUICK, "-e", "3", "--precision", "fp32", "--log-dir", str(tmp_path)]) == 0
    entries = json.loads((tmp_path / QUICK_RUN / "config.json").read_text())["training"]
    assert [entry["precision"] for entry in entries] == ["bf16", "bf16", "fp32"]

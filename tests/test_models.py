import re
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from cvae.checkpoints import make_checkpoint
from model import names
from model.registry import build_model, count_parameters, model_class, models
from model.base import conv_with_label_channels, with_label_channels
from model.patch_conv import PatchConv2D, PatchConv2DTranspose

VAE_NAMES = [name for name, kind in models().items() if kind.has_latent_space]


def latent_dim_of(name):
    return 3 if model_class(name).has_latent_space else None


def noise_of(model, latent_dim):
    """The model's next draw from its noise generator: z - mean of the reparameterization, [4, latent_dim]."""
    zeros = tf.zeros([4, latent_dim])
    return model.reparameterize(zeros, zeros).numpy()


@pytest.mark.parametrize("name", VAE_NAMES)
def test_vae_shapes(name, small_batch):
    x, y = small_batch[0][:5], small_batch[1][:5]
    vae = build_model(name, 3)
    mean, log_var = vae.encode(x, y)
    assert mean.shape == (5, 3) and log_var.shape == (5, 3)
    assert vae.decode(mean, y).shape == (5, 28, 28, 1)
    reconstruction = vae.reconstruct(x, y).numpy()
    assert reconstruction.shape == (5, 28, 28, 1) and 0 <= reconstruction.min() and reconstruction.max() <= 1
    assert vae.generate(mean, y).shape == (5, 28, 28, 1)


def test_classifier_shapes(small_batch):
    cnn = build_model("cnn", None)
    assert cnn.classify(small_batch[0][:5]).shape == (5, 10)


def test_only_the_plain_vae_ignores_labels(small_batch):
    x = small_batch[0][:4]
    for name in VAE_NAMES:
        vae = build_model(name, 3)
        mean_a, _ = vae.encode(x, tf.constant([0, 0, 0, 0]))
        mean_b, _ = vae.encode(x, tf.constant([5, 5, 5, 5]))
        assert np.allclose(mean_a, mean_b) == (not vae.conditional), name


def test_cnn2_output_can_go_below_one_half():
    """The seed applied ReLU to cvae_cnn2's logits, so no pixel could be darker than 0.5."""
    vae = build_model("cvae_cnn2", 3)
    pixels = vae.generate(tf.random.stateless_normal([10, 3], seed=[0, 1]), tf.range(10)).numpy()
    assert pixels.min() < 0.5


# About 2 s a model (m2's step takes longer to trace): the fast tier keeps one convolutional VAE; the others
# run in the slow tier (every model's loss also falls in train.py's runs).
FAST_LOSS_CHECKS = ("cvae_cnn3",)


@pytest.mark.parametrize("name", [pytest.param(name, marks=[] if name in FAST_LOSS_CHECKS else [pytest.mark.slow])
                                  for name in names()])
def test_loss_falls_on_real_mnist(name, small_batch):
    x, y = small_batch
    keras.utils.set_random_seed(1)
    # Two pseudo-inputs a class: the VampPrior's default 500 cost cvae_resnet_vamp 37 s here, and its loss falls
    # the same way with fewer.
    options = {"pseudo_inputs": 20} if "pseudo_inputs" in model_class(name).options() else None
    network = build_model(name, latent_dim_of(name), seed=1, options=options)
    optimizer = keras.optimizers.Adam(1e-3)

    @tf.function
    def step(xb, yb):
        with tf.GradientTape() as tape:
            losses = network.compute_losses(xb, yb, training=True)
        optimizer.apply_gradients(zip(tape.gradient(losses["loss"], network.trainable_variables),
                                      network.trainable_variables))
        return losses["loss"]

    before = float(network.compute_losses(x, y)["loss"])
    for i in range(30):
        loss = step(x[(i % 4) * 64:(i % 4 + 1) * 64], y[(i % 4) * 64:(i % 4 + 1) * 64])
        assert np.isfinite(float(loss))
    after = float(network.compute_losses(x, y)["loss"])
    assert after < 0.8 * before, (before, after)


@pytest.mark.parametrize("name", list(names()))
def test_checkpoint_reload_gives_identical_outputs(name, small_batch, tmp_path):
    x, y = small_batch[0][:8], small_batch[1][:8]
    original = build_model(name, latent_dim_of(name), seed=2)
    path = make_checkpoint(original).write(str(tmp_path / "ckpt"))
    reloaded = build_model(name, latent_dim_of(name), seed=3)  # other initial weights
    make_checkpoint(reloaded).read(path).assert_consumed()
    if original.has_latent_space:
        np.testing.assert_array_equal(original.reconstruct(x, y), reloaded.reconstruct(x, y))
        # The noise generator's state is part of the checkpoint too: both draw the same noise next.
        np.testing.assert_array_equal(noise_of(original, 3), noise_of(reloaded, 3))
    else:
        np.testing.assert_array_equal(original.classify(x), reloaded.classify(x))


def test_parameter_counts_follow_the_architectures():
    n = 2
    fc = (784 * 500 + 500) + (500 * 500 + 500) + 2 * (500 * n + n) + (n * 500 + 500) + (500 * 500 + 500) + (500 * 784 + 784)
    assert count_parameters(build_model("vae", n)) == fc
    assert count_parameters(build_model("cvae_fc3", n)) == fc + 10 * 500 + 10 * 500
    cnn = (4 * 4 * 1 * 8 + 8) + (4 * 4 * 8 * 16 + 16) + (4 * 4 * 16 * 32 + 32) + (4 * 4 * 32 * 64 + 64) + (2 * 2 * 64 * 10 + 10)
    assert count_parameters(build_model("cnn", None)) == cnn


@pytest.mark.parametrize("name", ["cvae_cnn2", "cvae_cnn3"])
def test_fused_label_channels_equal_concatenated_ones(name, small_batch):
    """The CNN encoders convolve the label planes once per label, not per image: same result."""
    x, y = small_batch[0][:6], small_batch[1][:6]
    vae = build_model(name, 3)
    first_conv = vae.encoder_layers[0]
    y_onehot = tf.one_hot(y, 10)
    fused = conv_with_label_channels(first_conv, x, y_onehot)
    concatenated = first_conv(with_label_channels(x, y_onehot))
    assert first_conv.kernel.shape[2] == 11  # 1 image channel + 10 label channels
    np.testing.assert_allclose(fused, concatenated, atol=1e-5)
    # The label part matters: other labels give other features.
    assert not np.allclose(fused, conv_with_label_channels(first_conv, x, tf.one_hot((y + 1) % 10, 10)))


@pytest.mark.parametrize("patch_class, keras_class, input_shape, args", [
    (PatchConv2D, keras.layers.Conv2D, (5, 4, 4, 32), (64, 2)),  # cvae_cnn3's last convolution
    (PatchConv2D, keras.layers.Conv2D, (5, 9, 6, 3), (7, 3)),
    (PatchConv2DTranspose, keras.layers.Conv2DTranspose, (5, 2, 2, 64), (32, 2)),
    (PatchConv2DTranspose, keras.layers.Conv2DTranspose, (5, 3, 3, 32), (16, 3)),
    (PatchConv2DTranspose, keras.layers.Conv2DTranspose, (5, 7, 7, 16), (1, 4)),
])
def test_patch_convolutions_equal_keras_layers(patch_class, keras_class, input_shape, args):
    """Kernel size == stride as one matmul: Keras' layer with the same weights gives the same outputs
    and the same gradients."""
    keras.utils.set_random_seed(0)
    inputs = tf.random.normal(input_shape)
    patch = patch_class(*args, strides=args[1], padding="valid", activation="relu", bias_initializer="random_normal")
    reference = keras_class(*args, strides=args[1], padding="valid", activation="relu")
    patch.build(input_shape)
    reference.build(input_shape)
    reference.set_weights(patch.get_weights())
    outputs = []
    for layer in (patch, reference):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            out = layer(inputs)
            loss = tf.reduce_sum(out * tf.cos(out))
        outputs.append([out, *tape.gradient(loss, [inputs, *layer.trainable_variables])])
    assert outputs[0][0].shape == outputs[1][0].shape
    assert float(tf.reduce_max(outputs[0][0])) > 0.1  # not all cut off by the ReLU
    for ours, theirs in zip(*outputs):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


def test_patch_convolutions_refuse_overlapping_kernels():
    with pytest.raises(ValueError, match="kernel equal to its stride"):
        PatchConv2D(8, 3, strides=2)
    with pytest.raises(ValueError, match="padding='valid' only"):
        PatchConv2DTranspose(8, 2, strides=2, padding="same")
    with pytest.raises(ValueError, match="valid padding needs input height and width divisible by 2"):
        PatchConv2D(8, 2, strides=2, padding="valid").build((None, 5, 4, 3))


def test_a_patch_convolution_pads_an_odd_size_as_keras_same_convolution_does():
    """cvae_cnn3's stride-2 convolution meets an odd size at 14 of its 31 sizes (24 x 24: 3 x 3)."""
    x = tf.random.stateless_uniform([2, 5, 3, 4], seed=[3, 4])
    patch, general = PatchConv2D(6, 2, strides=2, padding="same"), keras.layers.Conv2D(6, 2, strides=2, padding="same")
    patch.build(x.shape), general.build(x.shape)
    general.set_weights(patch.get_weights())
    assert patch(x).shape == (2, 3, 2, 6)
    np.testing.assert_allclose(patch(x), general(x), atol=1e-5)


def test_cnn3_checkpoint_from_keras_convolutions_restores(small_batch, tmp_path, monkeypatch):
    """A cvae_cnn3 checkpoint written before the patch convolutions (Keras' Conv2D / Conv2DTranspose)
    restores into today's model, which then gives the same outputs."""
    import model.cvae_cnn3
    x, y = small_batch[0][:8], small_batch[1][:8]
    with monkeypatch.context() as patch:
        patch.setattr(model.cvae_cnn3, "PatchConv2D", keras.layers.Conv2D)
        patch.setattr(model.cvae_cnn3, "PatchConv2DTranspose", keras.layers.Conv2DTranspose)
        before = build_model("cvae_cnn3", 2, seed=2)
    assert not any(isinstance(layer, (PatchConv2D, PatchConv2DTranspose)) for layer in before.decoder_layers)
    path = make_checkpoint(before).write(str(tmp_path / "ckpt"))
    now = build_model("cvae_cnn3", 2, seed=3)
    make_checkpoint(now).read(path).assert_consumed()
    np.testing.assert_allclose(now.reconstruct(x, y), before.reconstruct(x, y), atol=1e-5)
    np.testing.assert_allclose(now.encode(x, y)[0], before.encode(x, y)[0], atol=1e-5)


@pytest.mark.slow  # XLA compiles for a few seconds
def test_xla_step_computes_the_same_losses(small_batch):
    from cvae import steps
    x, y = small_batch[0][:32], small_batch[1][:32]
    losses = {}
    for xla in (False, True):
        keras.utils.set_random_seed(4)
        vae = build_model("cvae_fc3", 3, seed=4)
        # XLA draws other random numbers from the same seed: compare the noise-free computation.
        vae.reparameterize = lambda mean, log_var: mean
        optimizer = keras.optimizers.Adam(1e-3)
        optimizer.build(vae.trainable_variables)
        step = steps.make_train_step(vae, optimizer, xla=xla)
        losses[xla] = [float(step(x, y)["loss"]) for _ in range(20)]
    # Twenty steps, as for --precision bf16 (tests/test_precision.py): XLA rounds differently (it contracts
    # multiply-adds), and the difference may grow as the weights move apart; here it stays under 1e-6.
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-5)
    assert losses[True][-1] < losses[True][0]


LOAD_AND_RUN = """
import sys
import numpy as np
from cvae import import_tensorflow_quietly
import_tensorflow_quietly()
import keras
import model.registry  # registers the classes with Keras
directory = sys.argv[1]
inputs = np.load(f"{directory}/inputs.npz")
for name in model.names():
    loaded = keras.saving.load_model(f"{directory}/{name}.keras")
    np.savez(f"{directory}/{name}_loaded.npz", **outputs_of(loaded, inputs))
"""


def outputs_of(network, inputs):
    """What a saved model must reproduce: encode, decode, its next noise (the generator's state), call, classify."""
    x, y, z = inputs["x"], inputs["y"], inputs["z"][:, :network.latent_dim or 0]
    outputs = {}
    if network.has_latent_space:
        outputs.update(encode=network.encode(x, y)[0].numpy(), decode=network.generate(z, y).numpy(),
                       noise=network.reparameterize(0.0 * z, 0.0 * z).numpy(), call=network((x, y)).numpy())
    if network.classifies:
        outputs["classify"] = network.classify(x).numpy()
    return outputs


@pytest.mark.slow  # loads in a fresh process
def test_keras_save_then_load_model_in_a_fresh_process_gives_the_same_outputs(small_batch, tmp_path):
    import inspect
    import subprocess
    import sys
    from conftest import ROOT
    inputs = {"x": small_batch[0][:6].numpy(), "y": small_batch[1][:6].numpy(),
              "z": np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)}
    np.savez(tmp_path / "inputs.npz", **inputs)
    expected = {}
    for name, kind in models().items():
        network = build_model(name, latent_dim_of(name), seed=7)
        for variable in network.trainable_variables:  # not the initial weights
            variable.assign(variable + 0.01)
        network.save(tmp_path / f"{name}.keras")
        assert network.get_config()["latent_dim"] == latent_dim_of(name) and network.get_config()["seed"] == 7
        expected[name] = outputs_of(network, inputs)
    script = inspect.getsource(outputs_of) + LOAD_AND_RUN
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, cwd=ROOT,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    for name, outputs in expected.items():
        loaded = np.load(tmp_path / f"{name}_loaded.npz")
        assert sorted(loaded.files) == sorted(outputs), name
        for key, value in outputs.items():
            np.testing.assert_array_equal(loaded[key], value, err_msg=f"{name} {key}")


OLD_RUN = Path(__file__).parent / "old_layout_run"


def test_checkpoints_name_their_variables_by_layer_and_weight(tmp_path):
    import tensorflow as tf
    from cvae.checkpoints import make_checkpoint
    keys_of = {}
    for name, kind in models().items():
        network = build_model(name, latent_dim_of(name))
        path = make_checkpoint(network).write(str(tmp_path / name))
        keys = keys_of[name] = {key.split("/.ATTRIBUTES")[0] for key, _ in tf.train.list_variables(path)}
        assert "model/noise:seed_generator_state" in keys or not kind.has_latent_space, name
        assert ("model/conv_1:kernel" in keys) == (name == "cnn") and not any("/v000" in key for key in keys)
    assert "model/classifier_dropout_1:seed_generator_state" in keys_of["m2"]  # m2's classifier, named after its layer


@pytest.mark.slow  # trains an epoch to resume it
def test_a_checkpoint_written_before_named_variables_still_loads_and_resumes(tmp_path):
    """tests/old_layout_run: a cvae_cnn3 run written at 028f5dc, its variables keyed by position."""
    import shutil
    import tensorflow as tf
    from conftest import tool
    train = tool("train")
    from cvae.rundir import RunDir
    expected = np.load(OLD_RUN / "expected.npz")
    shutil.copytree(OLD_RUN / "cvae_cnn3_2", tmp_path / "cvae_cnn3_2_subset300")  # --subset runs' name today
    run = RunDir(tmp_path / "cvae_cnn3_2_subset300").load()
    network = run.model
    assert run.epoch == 1
    # expected.npz was written on another CPU, whose float rounding differs in the last bits; a weight restored
    # into the wrong place, or another noise state, would differ by far more.
    np.testing.assert_allclose(network.reconstruct(expected["x"], expected["y"]), expected["reconstruction"], atol=1e-5)
    # expected["sample"]: decoded from the next draw of the restored noise generator.
    z = keras.random.normal((len(expected["y"]), 2), seed=network.noise)
    np.testing.assert_allclose(tf.sigmoid(network.decode(z, expected["y"])), expected["sample"], atol=1e-5)
    assert train.main(["cvae_cnn3", "-n", "2", "--subset", "300", "-e", "2", "--log-dir", str(tmp_path)]) == 0
    keys = [key for key, _ in tf.train.list_variables(str(tmp_path / "cvae_cnn3_2_subset300" / "ckpt" / "ckpt-2"))]
    assert "model/to_mean:kernel/.ATTRIBUTES/VARIABLE_VALUE" in keys  # the new checkpoint in the named layout


# Images of any size and colour: every model from the image shape it is given (issue 26).

@pytest.mark.parametrize("shape", [(28, 28, 3), (32, 32, 1), (32, 32, 3), (64, 64, 1), (64, 64, 3)])
@pytest.mark.parametrize("name", list(names()))
def test_every_model_takes_28_32_and_64_gray_and_colour(name, shape):
    model = build_model(name, latent_dim_of(name), seed=0, classes=4, image_shape=shape)
    x, y = tf.random.stateless_uniform([3, *shape], seed=[1, 2]), tf.constant([0, 1, 3])
    losses = model.compute_losses(x, y)
    assert np.isfinite(float(losses["loss"]))
    if model.has_latent_space:
        mean, _ = model.encode(x, y)
        assert model.generate(mean, y).shape == (3, *shape) and model.reconstruct(x, y).shape == (3, *shape)
    if model.classifies:
        assert model.classify(x).shape == (3, 4)
    # The Keras config rebuilds the same shape (model.keras exports).
    assert type(model).from_config(model.get_config()).image_shape == shape


def test_the_mnist_architectures_are_those_of_the_default_shape():
    for name in names():
        default, mnist = build_model(name, latent_dim_of(name)), build_model(name, latent_dim_of(name),
                                                                             image_shape=(28, 28, 1))
        assert [tuple(v.shape) for v in default.variables] == [tuple(v.shape) for v in mnist.variables]
    cnn3 = build_model("cvae_cnn3", 2)
    assert [layer.cropping for layer in cnn3.decoder_layers if isinstance(layer, keras.layers.Cropping2D)] == \
        [((0, 1), (0, 1)), ((1, 1), (1, 1))]  # where the seed's crops were


@pytest.mark.parametrize("name, size, sizes", [
    ("cvae_cnn3", 30, "8, 12, 16, ..., 128"),
    ("cvae_cnn2", 12, "16, 20, 24, ..., 128"),
    ("cvae_cnn2", 30, "16, 20, 24, ..., 128"),
])
def test_a_size_a_convolution_stack_cannot_take_is_refused_listing_the_sizes_it_can(name, size, sizes):
    with pytest.raises(ValueError, match=rf"cannot take {size} x {size} images; it takes square images of "
                                         rf"{re.escape(sizes)} pixels a side"):
        build_model(name, 2, image_shape=(size, size, 3))
    for good in model_class(name).image_sizes():
        model_class(name).check_image_shape((good, good, 3))
    assert model_class("cnn").image_sizes() is None and model_class("vae").image_sizes() is None  # any size


@pytest.mark.slow  # two trainings of two steps, each traced
@pytest.mark.parametrize("name", ["cvae_cnn3", "cnn"])
def test_keras_fit_takes_the_same_steps_as_train_pys(name, small_batch):
    """Issue 38: model.compile(optimizer=...); model.fit(x, y) trains on the model's own loss, step for step what
    train.py's compiled step does from the same weights and batches (the noise from the same seeded generator)."""
    from cvae.steps import make_train_step
    x, y = small_batch[0][:100], small_batch[1][:100]
    keras.utils.set_random_seed(3)
    ours, theirs = (build_model(name, latent_dim_of(name), seed=3) for _ in range(2))
    theirs.set_weights(ours.get_weights())
    initial = ours.get_weights()
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(ours.trainable_variables)
    step = make_train_step(ours, optimizer)
    for start in (0, 50):
        step(x[start:start + 50], y[start:start + 50])
    theirs.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False)
    history = theirs.fit(np.asarray(x), np.asarray(y), batch_size=50, epochs=1, shuffle=False, verbose=0)
    assert "loss" in history.history
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert not all(np.array_equal(a, b) for a, b in zip(initial, theirs.get_weights()))  # fit did train
    assert set(theirs.evaluate(np.asarray(x), np.asarray(y), verbose=0, return_dict=True)) >= {"loss"}

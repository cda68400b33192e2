"""cvae.config: a run's identity in its every form, the directory name, the train.py flags and back, and
config.json (the format field and both layouts; damaged ones are test_reliability's)."""
import json

import pytest

from cvae.config import RunConfig, RunIdentity, identity_named, train_command


def test_run_directories_keep_data_sets_and_label_budgets_apart():
    assert RunIdentity("cvae_cnn3", 2).directory_name() == "cvae_cnn3_2"
    assert RunIdentity("cvae_cnn3", 2, subset=2000).directory_name() == "cvae_cnn3_2_subset2000"
    assert RunIdentity("cvae_cnn3", 2, dataset="fashion_mnist").directory_name() == "cvae_cnn3_2_fashion_mnist"
    assert RunIdentity("cnn", None, dataset="fashion_mnist").directory_name() == "cnn_fashion_mnist"
    assert RunIdentity("vae", 50, binarize=True).directory_name() == "vae_50_bin"
    assert RunIdentity("m2", 50, labels=100).directory_name() == "m2_50_labels100"


def test_a_likelihood_names_its_run_and_the_readme_runs_make_the_colour_data_first():
    from cvae.config import RunIdentity, train_command
    from cvae.readme_runs import figure_commands
    logistic = RunIdentity("cvae_cnn3", 20, likelihood="logistic")
    assert logistic.directory_name() == "cvae_cnn3_20_logistic" and RunIdentity("vae", 2).directory_name() == "vae_2"
    assert train_command(logistic) == "python train.py cvae_cnn3 -n 20 --likelihood logistic"
    commands = [" ".join(command) for command in figure_commands()]
    made = commands.index("python -m cvae.colour_mnist data/colour_mnist.npz")
    assert commands[made + 1] == ("python train.py cvae_cnn3 -n 20 --likelihood logistic --dataset "
                                  "data/colour_mnist.npz -e 30 --restart")
    assert ("python train.py cvae_resnet -n 20 --likelihood mixture --dataset data/colour_mnist.npz -e 20 "
            "--schedule cosine --restart") in commands[made + 2:]
    # The emoji set is made before its runs; its baselines are rows only, with no figure in img/.
    emoji = commands.index("python -m cvae.emoji data/emoji.npz")
    assert commands[emoji + 1].startswith("python train.py cvae_resnet -n 20 --dataset data/emoji.npz -e 200")
    assert "python train.py cvae_fc3 -n 20 --dataset data/emoji.npz -e 200 --schedule cosine --restart" in commands
    assert not [command for command in commands if command.startswith("python plot.py")
                and "emoji" in command and "cvae_resnet" not in command]


@pytest.mark.parametrize("identity", [
    RunIdentity("cvae_cnn3", 2), RunIdentity("vae", 50, binarize=True), RunIdentity("m2", 50, labels=100, seed=3),
    RunIdentity("cvae_fc3", 20, dataset="fashion_mnist", subset=2000), RunIdentity("cnn", None),
    RunIdentity("cvae_cnn3", 20, likelihood="logistic", subset=300),
    RunIdentity("iwae", 50, binarize=True, options={"iw_samples": 50}),
    RunIdentity("cvae_fc3_vamp", 2, options={"pseudo_inputs": 100}, subset=300),
], ids=lambda identity: identity.directory_name())
def test_the_flags_an_identity_gives_name_it_again(identity):
    """flags() and identity_named() are each other's inverse: the one owner of identity <-> command line."""
    flags = identity.flags()
    names = {"-n": "latent_dim", "--dataset": "dataset", "--labels": "labels", "--seed": "seed", "--subset": "subset",
             "--likelihood": "likelihood"}
    from model import OPTIONS
    options = {spec.flag: name for name, spec in OPTIONS.items()}
    given, rest = {"binarize": "--binarize" in flags, "options": {}}, [flag for flag in flags[1:] if flag != "--binarize"]
    for flag, value in zip(rest[::2], rest[1::2]):
        if flag in options:
            given["options"][options[flag]] = int(value)
        else:
            given[names[flag]] = value if flag in ("--dataset", "--likelihood") else int(value)
    assert identity_named(flags[0], **{"latent_dim": None, **given}) == identity
    assert train_command(identity) == "python train.py " + " ".join(flags)


def test_config_json_says_its_format_and_both_layouts_read():
    identity = RunIdentity("cvae_cnn3", 2, subset=300)
    written = json.loads(RunConfig(identity, []).to_json())
    assert written["format"] == 2 and RunConfig.from_json(json.dumps(written)).identity == identity
    del written["format"]  # written before the field was: read by its shape
    assert RunConfig.from_json(json.dumps(written)).identity == identity
    flat = {"model": "cvae_cnn3", "latent_dim": 2, "subset": 300, "seed": 0, "batch_size": 100, "epochs": 5,
            "learning_rate": 0.001, "clip": None}
    old = RunConfig.from_json(json.dumps(flat))
    assert old.identity == identity and old.training[0]["epochs"] == 5 and old.training[0]["xla"] is False


def test_a_run_resized_by_image_size_is_named_with_it_in_its_command():
    """The classifier's hint for a run of 10 x 10 digits resized to 28 left out --image-size 28, and failed as
    printed (issue 36, 32)."""
    data = {"path": "/data/digits.npz", "sha256": "a" * 64, "name": "digits_aaaaaaaa", "class_names": ["0", "1"],
            "image_size": 28}
    classifier = RunIdentity("cnn", None, dataset="digits_aaaaaaaa", data=data)
    assert train_command(classifier) == "python train.py cnn --dataset /data/digits.npz --image-size 28"
    assert "--image-size" not in RunIdentity("cnn", None, dataset="d_aaaaaaaa", data={**data, "image_size": None}).flags()


@pytest.mark.parametrize("shape", [[0, 0, 0], [32, 32, 2], [4, 4, 1], [1000, 1000, 3], [32, 32], "32x32", [32.0, 32, 3]])
def test_a_config_whose_image_shape_no_run_can_have_is_named(shape):
    """Issue 36, item 21: a hand-edited image_shape reached the model builder (or past it, where weights fit)."""
    data = {"path": "c.npz", "sha256": "0" * 64, "name": "c_00000000", "class_names": ["a", "b"], "image_shape": shape}
    text = json.dumps({"identity": {"model": "vae", "latent_dim": 2, "dataset": "c_00000000", "data": data},
                       "training": []})
    with pytest.raises(ValueError, match=r"config 'data.image_shape' is .*, not \[height, width, 1 or 3\] of 8 to 128"):
        RunConfig.from_json(text)
    good = json.loads(text)
    good["identity"]["data"]["image_shape"] = [24, 24, 3]
    assert RunConfig.from_json(json.dumps(good)).identity.image_shape() == (24, 24, 3)


def test_a_model_option_names_its_run_unless_it_is_the_default():
    """--iw-samples 50 is another run (_iw50), --iw-samples 5 the default's; a model option is refused in one line
    by a model that does not take it, and a value the model cannot take is refused before anything is built."""
    from cvae.errors import UsageError
    k50 = identity_named("iwae", 50, binarize=True, options={"iw_samples": 50})
    assert k50.directory_name() == "iwae_50_bin_iw50" and k50.flags()[-2:] == ["--iw-samples", "50"]
    assert identity_named("iwae", 50, binarize=True, options={"iw_samples": 5}) == RunIdentity("iwae", 50, binarize=True)
    assert RunConfig.from_json(RunConfig(k50, []).to_json()).identity == k50
    with pytest.raises(UsageError, match="--iw-samples is for cvae_fc3_iwae, iwae; cvae_fc3 takes no such number"):
        identity_named("cvae_fc3", 2, options={"iw_samples": 3})
    with pytest.raises(UsageError, match="--pseudo-inputs 10 or more for 10 classes"):
        identity_named("cvae_fc3_vamp", 2, options={"pseudo_inputs": 9})
    assert identity_named("vamp", 2, options={"pseudo_inputs": 9}).directory_name() == "vamp_2_pseudo9"


@pytest.mark.parametrize("options", [{"iw_sample": 3}, {"iw_samples": 5}, {"iw_samples": 0}, {"iw_samples": "3"}])
def test_a_config_with_a_model_option_no_run_can_have_is_refused(options):
    """An unknown name, the default's value (it would name another directory than the run's), or a value out of
    range or of the wrong type: a ValueError naming 'options'."""
    fields = RunIdentity("iwae", 50).to_dict() | {"options": options}
    with pytest.raises(ValueError, match="config 'options'"):
        RunIdentity.from_dict(fields)


def test_the_mixtures_components_are_a_flag_of_the_mixture_only():
    """--mixture-components K (issue 34): the mixture's K is part of the run's identity (its name, its model's
    decoder channels) and refused, in one line, for a run of another likelihood."""
    from cvae.config import RunIdentity, check_identity
    from cvae.errors import UsageError
    from model.registry import build_model
    five = RunIdentity("cvae_resnet", 2, likelihood="mixture", options={"mixture_components": 5})
    assert five.directory_name() == "cvae_resnet_2_mixture_mix5"
    assert "--mixture-components 5" in " ".join(five.flags())
    model = build_model("cvae_resnet", 2, 0, 10, (16, 16, 3), "mixture", {"mixture_components": 5})
    assert model.likelihood.components == 5 and model.decoder_channels == 5 * (1 + 6 + 3)
    assert build_model("cvae_resnet", 2, 0, 10, (16, 16, 3), "mixture").likelihood.components == 10
    with pytest.raises(ValueError, match="--mixture-components is for --likelihood mixture"):
        build_model("cvae_fc3", 2, 0, 10, (28, 28, 1), "logistic", {"mixture_components": 5})
    with pytest.raises(UsageError, match="--mixture-components is for --likelihood mixture, and this run's "
                                         "likelihood is bernoulli"):
        check_identity(RunIdentity("cvae_fc3", 2, options={"mixture_components": 3}))

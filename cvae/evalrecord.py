"""The record evaluate.py writes (eval.json), checked: the producer checks what it writes with the same function
the README's tables check what they read (cvae.results), so a record one writes the other takes. No TensorFlow."""
import math
import re

from model import DEFAULT_LIKELIHOOD, LIKELIHOODS, OPTIONS, names as model_names

# The keys an eval.json must have to make a row; runs with a latent space need the likelihood too.
REQUIRED = {"model": str, "latent_dim": (int, type(None)), "epoch": int, "parameters": int, "binarized": bool}
REQUIRED_LATENT = {"elbo": (int, float), "nll": (int, float), "nll_k": int}


def check_result(result):
    """ValueError unless `result` (a parsed eval.json) has what a table row needs, with the right types. What
    goes into the README's Markdown as text is a model of the registry and a data set's name of letters,
    digits, _ . and - (as train.py names them): nothing else can reach the README from an eval.json."""
    if not isinstance(result, dict):
        raise ValueError("not a JSON object")
    not_finite = next((path for path, value in numbers_in(result) if not math.isfinite(value)), None)
    if not_finite is not None:
        raise ValueError(f"'{not_finite}' is not a finite number")
    required = {**REQUIRED, **(REQUIRED_LATENT if result.get("latent_dim") is not None else
                               {"test_accuracy": (int, float)})}
    if result.get("labels") is not None:  # a semi-supervised run: its table has both kinds of number
        required |= {**REQUIRED_LATENT, "latent_dim": int, "test_accuracy": (int, float)}
    optional = {"dataset": str, "labels": (int, type(None)), "training_subset": (int, type(None)),
                "test_images": int, "test_images_in_data_set": int, "seed": int, "conditional": bool,
                "class_consistency": dict, "likelihood": str, "nll_bits_per_dim": (int, float), "image_shape": list,
                "options": dict, "recorded_from": str, "training_seconds": (int, float)}
    for key, types in required.items():
        if key not in result:
            raise ValueError(f"no '{key}'")
    for key, types in {**required, **optional}.items():
        value = result.get(key)
        if key in result and (not isinstance(value, types) or (isinstance(value, bool) and types is not bool)):
            raise ValueError(f"'{key}' is {str(value)[:40]!r}, of the wrong type")
    if result["model"] not in model_names():
        raise ValueError(f"'model' is {result['model'][:40]!r}, not a model of this repository")
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,80}", result.get("dataset", "mnist")):
        raise ValueError("'dataset' is not a data set's name (letters, digits, _ . and - only)")
    if result.get("likelihood", DEFAULT_LIKELIHOOD) not in LIKELIHOODS:
        raise ValueError(f"'likelihood' is {result['likelihood'][:40]!r}, not a likelihood of this repository")
    for name, value in result.get("options", {}).items():
        if name not in OPTIONS or type(value) is not int:
            raise ValueError(f"'options' has {str(name)[:40]!r}: {str(value)[:40]}, not a model option's number")
    shape = result.get("image_shape", [28, 28, 1])
    if len(shape) != 3 or not all(isinstance(size, int) and not isinstance(size, bool) and 0 < size <= 4096
                                  for size in shape):
        raise ValueError("'image_shape' is not [height, width, channels]")
    consistency = result.get("class_consistency", {"overall": 0.0})
    if not isinstance(consistency.get("overall"), (int, float)) or isinstance(consistency.get("overall"), bool):
        raise ValueError("'class_consistency' has no 'overall' number")
    if "sample_quality" in result:
        check_sample_quality(result["sample_quality"])


def numbers_in(value, path=""):
    """(where, number) of every float in a parsed JSON value, nested ones too ("sample_quality.prior.fd")."""
    if isinstance(value, float):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from numbers_in(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from numbers_in(item, f"{path}[{index}]")


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_sample_quality(quality):
    """ValueError unless an eval.json's "sample_quality" holds the numbers its table row shows."""
    if not isinstance(quality, dict) or not is_number(quality.get("fd_floor")):
        raise ValueError("'sample_quality' has no 'fd_floor' number")
    if not isinstance(quality.get("samples_per_class"), int):
        raise ValueError("'sample_quality' has no 'samples_per_class' count")
    for sampler in ("prior", "gmm"):
        numbers = quality.get(sampler)
        if not isinstance(numbers, dict) or not all(is_number(numbers.get(key)) for key in ("fd", "precision", "recall")):
            raise ValueError(f"'sample_quality' has no {sampler} FD, precision and recall")
        if "class_consistency" in numbers and not is_number(numbers["class_consistency"]):
            raise ValueError(f"'sample_quality' has a {sampler} class-consistency that is not a number")
    if not isinstance(quality["gmm"].get("components"), int) or isinstance(quality["gmm"]["components"], bool):
        raise ValueError("'sample_quality' has no number of gmm components")

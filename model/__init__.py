"""The models, by the names the command-line tools take, and what the tools need to know of them before
TensorFlow loads.

Importing this package costs nothing (no TensorFlow), so every CLI can list the names in --help and check its
flags first. A model is one file of this package, model/NAME.py, holding one class on model.base's VAEBase (or
BaseModel): `names()` finds it by its file name, and model.registry builds it (README: Adding a model).
"""
import dataclasses
import pkgutil

# The seed's models first, in the order --help and the README's tables list them; a model added as a file of
# this package comes after them, by name.
BUILT_IN = ("vae", "cvae_fc3", "cvae_cnn2", "cvae_cnn3", "cnn", "m2")
# The package's modules that are not models: what the models are built from.
LIBRARY = frozenset({"base", "blocks", "likelihoods", "losses", "patch_conv", "priors", "registry"})

# The label an unlabelled image carries in a semi-supervised batch (m2), where data and model meet.
UNLABELLED = -1
IMAGE_SHAPE = (28, 28, 1)  # (H, W, C) of MNIST and Fashion-MNIST: every model's default image_shape


def names():
    """The models' names: the built-in ones, then every other module of this package's folders (sorted), each a
    model of that name. Read from the folders at each call, so a model file added at run time is found."""
    found = {info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_")}
    return (*[name for name in BUILT_IN if name in found], *sorted(found - set(BUILT_IN) - LIBRARY))


@dataclasses.dataclass(frozen=True)
class LikelihoodSpec:
    """What the command line, a run's name and its figures need to know of a VAE's p(x | z, y), without
    TensorFlow. The class that computes it is model.likelihoods.LIKELIHOODS[name]."""
    name: str
    help: str  # --likelihood's help for it
    # A distribution over a sub-pixel's 256 levels: its NLL is a probability of the data, reported in bits/dim,
    # and --binarize (two levels) does not apply.
    over_levels: bool
    shown_as: str  # what a figure's title adds about its images ("" for the default)
    # The model.OPTIONS that are this likelihood's numbers (the VAEs hold them; other likelihoods refuse them).
    options: tuple = ()
    # What was measured of it on colour images (docs/colour.md), which train.py prints when it trains colour data
    # with it: "" where nothing speaks against it.
    on_colour: str = ""


LIKELIHOODS = {spec.name: spec for spec in (
    LikelihoodSpec("bernoulli", "Bernoulli of each level in [0, 1] (the default; every MNIST number, and what draws "
                   "colour images best: docs/colour.md)", over_levels=False, shown_as=""),
    LikelihoodSpec("logistic", "a logistic discretized to the 256 levels of each sub-pixel (PixelCNN++'s, one "
                   "component), for gray levels and colour; its NLL is in bits/dim", over_levels=True,
                   shown_as=", discretized logistic, images are its means",
                   on_colour="on colour MNIST this likelihood drew faint strokes that a classifier read as the asked "
                             "digit near chance; the default (Bernoulli, no --likelihood) draws them in their colours "
                             "(docs/colour.md)"),
    LikelihoodSpec("mixture", "a mixture of logistics (10, or --mixture-components) discretized to the 256 levels, "
                   "one set of weights a pixel "
                   "and its channels coupled linearly (PixelCNN++'s): the best NLL in bits/dim on colour",
                   over_levels=True, shown_as=", mixture of logistics, images are its means",
                   options=("mixture_components",),
                   on_colour="on colour MNIST this likelihood gave the best bits/dim but samples from the prior "
                             "that a classifier read as the asked digit near chance; for pictures train with the "
                             "default (Bernoulli, no --likelihood) (docs/colour.md)"),
)}
DEFAULT_LIKELIHOOD = "bernoulli"


@dataclasses.dataclass(frozen=True)
class OptionSpec:
    """A number of a model that train.py's flag `flag` sets and the run's identity keeps: the models that take it
    have a class attribute `name` (its default, `default`, unless given), the others refuse it. A value other than
    the default adds _SUFFIXVALUE to the run's name (iwae_50_bin_iw50), so two values are two runs."""
    name: str
    flag: str
    default: int
    low: int
    high: int
    suffix: str
    help: str

    def takes(self, value):
        """Whether `value` is a whole number in the option's range (a bool is not one)."""
        return type(value) is int and self.low <= value <= self.high


OPTIONS = {spec.name: spec for spec in (
    OptionSpec("iw_samples", "--iw-samples", 5, 1, 5000, "iw",
               "the codes each training image is decoded from in the importance-weighted bound (the IWAE models); "
               "1 is the ELBO"),
    OptionSpec("pseudo_inputs", "--pseudo-inputs", 500, 1, 10000, "pseudo",
               "the VampPrior's learned pseudo-inputs (the VampPrior models), split evenly over the classes of a "
               "conditional one"),
    OptionSpec("mixture_components", "--mixture-components", 10, 1, 32, "mix",
               "the discretized logistics in each pixel's mixture (--likelihood mixture; 10 is PixelCNN++'s)"),
)}


def likelihood_refusal(option, value, likelihood):
    """Why the model option `option` at `value` cannot go with `likelihood` (it is another likelihood's number,
    LikelihoodSpec.options, given other than its default), or None when it can: checked by a run's identity
    (cvae.config.check_identity) and by the VAE that holds it (model.base.VAEBase)."""
    owners = [spec.name for spec in LIKELIHOODS.values() if option in spec.options]
    if not owners or likelihood in owners or value == OPTIONS[option].default:
        return None
    return (f"{OPTIONS[option].flag} is for --likelihood {' or '.join(owners)}, and this run's likelihood is "
            f"{likelihood}")

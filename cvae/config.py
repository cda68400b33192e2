"""A run's configuration, as its config.json holds it: two things, each declared once.

  RunIdentity        what the run is, fixed for its whole life: the model, its latent size, the data,
                     binarization, m2's labels, the seed and a --subset. It names the run's directory.
  TrainingSettings   how train.py trains it, which may change from one invocation to the next: epochs,
                     batch size, learning rate, clipping, XLA, precision, tf.distribute strategy.

config.json records the identity once and the settings of every train.py invocation in order, each with
the epoch it started from:

  {"identity": {"model": "cvae_cnn3", "latent_dim": 2, ...},
   "training": [{"from_epoch": 0, "epochs": 50, "batch_size": 100, ..., "xla": false, "precision": "fp32"}]}

Runs written before this layout (every key at the top level, the invocations under "history") are read
as well. No TensorFlow here: results.py and --help read configs without it.
"""
import dataclasses
import json
import re

from model import DEFAULT_LIKELIHOOD, IMAGE_SHAPE, LIKELIHOODS, OPTIONS, likelihood_refusal, names as model_names
from cvae.files import parse_json
from cvae.limits import MAX_COUNT, MAX_IMAGE_SIZE, MAX_LATENT_DIM, MAX_SEED, MIN_IMAGE_SIZE

# Keys of a data set of one's own (owndata.py) that a config must hold to rebuild and find it.
OWN_DATA_KEYS = {"path": str, "sha256": str, "name": str, "class_names": list}


@dataclasses.dataclass(frozen=True)
class RunIdentity:
    """What a run is. Resuming with any of it changed is refused; it names the run's directory."""
    model: str
    latent_dim: int | None = None  # None for the classifier, which has no latent space
    dataset: str = "mnist"  # "fashion_mnist", or a data set of one's own by its name (digits_3fa9c2d1)
    # A data set of one's own (owndata.py): its path, sha256, name, classes, class names, image counts and
    # split; None for MNIST and Fashion-MNIST.
    data: dict | None = None
    binarize: bool = False  # dynamic binarization (pixels resampled from Bernoulli(gray level) each pass)
    likelihood: str = DEFAULT_LIKELIHOOD  # a VAE's p(x | z, y), by its name in model.LIKELIHOODS
    labels: int | None = None  # m2: how many training labels it may use (None: all, for the other models)
    seed: int = 0
    subset: int | None = None  # trained on the first `subset` images only (quick checks)
    # The model's numbers given other than their defaults (model.OPTIONS: --iw-samples, --pseudo-inputs), by name.
    options: dict = dataclasses.field(default_factory=dict)

    def directory_name(self):
        """Its folder in log/: MODEL_N, or MODEL for a model without latent space, then _bin when binarized,
        _LIKELIHOOD for a likelihood other than the default (_logistic: the discretized logistic), _SUFFIXVALUE
        for each model option given another value than its default (_iw50: --iw-samples 50),
        _DATASET on anything but MNIST, _labelsL for a semi-supervised run with L labels, and _subsetS for a
        quick run on the first S images (so it never occupies the full run's directory)."""
        name = self.model if self.latent_dim is None else f"{self.model}_{self.latent_dim}"
        name += "_bin" if self.binarize else ""
        name += "" if self.likelihood == DEFAULT_LIKELIHOOD else f"_{self.likelihood}"
        name += "".join(f"_{OPTIONS[option].suffix}{value}" for option, value in sorted(self.options.items()))
        name += "" if self.dataset == "mnist" else f"_{self.dataset}"
        name += f"_labels{self.labels}" if self.labels is not None else ""
        return name + (f"_subset{self.subset}" if self.subset is not None else "")

    def flags(self, dataset_path=None):
        """The train.py arguments that name this run: MODEL and the options that differ from their defaults
        (--dataset the path given, or `dataset_path` for a data set of one's own made by a command first). The
        inverse of identity_named; the run's directory_name and train_command follow from the same fields."""
        dataset = dataset_path or (self.data["path"] if self.data is not None else self.dataset)
        return ([self.model] + (["-n", str(self.latent_dim)] if self.latent_dim else [])
                + (["--binarize"] if self.binarize else [])
                + (["--likelihood", self.likelihood] if self.likelihood != DEFAULT_LIKELIHOOD else [])
                + [part for name, value in sorted(self.options.items()) for part in (OPTIONS[name].flag, str(value))]
                + (["--dataset", dataset] if dataset != "mnist" else [])
                + (["--image-size", str(self.data["image_size"])] if (self.data or {}).get("image_size") else [])
                + (["--labels", str(self.labels)] if self.labels is not None else [])
                + (["--seed", str(self.seed)] if self.seed else [])
                + (["--subset", str(self.subset)] if self.subset is not None else []))

    def image_shape(self):
        """(H, W, C) of the run's images: MNIST's and Fashion-MNIST's (28, 28, 1), or what its own data recorded
        (runs from before it did were all 28 x 28 gray)."""
        if self.data is not None and "image_shape" in self.data:
            return tuple(self.data["image_shape"])
        return IMAGE_SHAPE

    def class_names(self):
        """The names of the run's classes, label 0 first; their count is the models' `classes`."""
        if self.data is not None:
            return list(self.data["class_names"])
        from cvae.mnist import CLASS_NAMES
        return CLASS_NAMES[self.dataset]

    def differences(self, asked):
        """['field: saved A, asked B', ...] where `asked` is another run than this one: any field but the
        own data's record, of which only the contents' sha256 counts (its path may move)."""
        names = [f.name for f in dataclasses.fields(self) if f.name != "data"]
        differ = [f"{name}: saved {getattr(self, name)}, asked {getattr(asked, name)}"
                  for name in names if getattr(self, name) != getattr(asked, name)]
        saved, now = ((identity.data or {}).get("sha256") for identity in (self, asked))
        if saved != now:
            differ.append(f"data: saved sha256 {saved}, asked {now}")
        return differ

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, fields):
        """Type-checked; ValueError names the key that is missing or wrong."""
        required = {"model": (str,), "latent_dim": (int, type(None))}
        optional = {"dataset": ((str,), "mnist"), "data": ((dict, type(None)), None), "binarize": ((bool,), False),
                    "likelihood": ((str,), DEFAULT_LIKELIHOOD),
                    "labels": ((int, type(None)), None), "seed": ((int,), 0), "subset": ((int, type(None)), None),
                    "options": ((dict,), {})}
        values = {}
        for key, types in required.items():
            if key not in fields:
                raise ValueError(f"config has no '{key}'")
            values[key] = fields[key]
        for key, (types, default) in optional.items():
            values[key] = fields.get(key, default)  # absent from runs made before the option existed
        for key, value in values.items():
            types = required[key] if key in required else optional[key][0]
            if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
                raise ValueError(f"config '{key}' is {value!r}, of the wrong type")
        if values["model"] not in model_names():
            raise ValueError(f"config names an unknown model '{values['model']}'")
        if values["likelihood"] not in LIKELIHOODS:
            raise ValueError(f"config names an unknown likelihood '{values['likelihood'][:40]}'")
        for key, low, high in (("latent_dim", 1, MAX_LATENT_DIM), ("labels", 1, MAX_COUNT), ("subset", 1, MAX_COUNT),
                               ("seed", 0, MAX_SEED)):
            if values[key] is not None and not low <= values[key] <= high:
                raise ValueError(f"config '{key}' is {values[key]}, not {low} to {high:,}")
        for option, value in values["options"].items():
            spec = OPTIONS.get(option)
            if spec is None or not spec.takes(value) or value == spec.default:
                raise ValueError(f"config 'options' has {str(option)[:40]!r}: {str(value)[:40]}, not a model option "
                                 f"({', '.join(OPTIONS)}) of another value than its default in its range")
        for key, types in OWN_DATA_KEYS.items() if values["data"] is not None else ():
            if not isinstance(values["data"].get(key), types):
                raise ValueError(f"config 'data' has no '{key}' of the right type")
        shape = (values["data"] or {}).get("image_shape", [MIN_IMAGE_SIZE, MIN_IMAGE_SIZE, 1])
        if not (isinstance(shape, list) and len(shape) == 3 and all(type(size) is int for size in shape)
                and all(MIN_IMAGE_SIZE <= size <= MAX_IMAGE_SIZE for size in shape[:2]) and shape[2] in (1, 3)):
            raise ValueError(f"config 'data.image_shape' is {str(shape)[:40]}, not [height, width, 1 or 3] of "
                             f"{MIN_IMAGE_SIZE} to {MAX_IMAGE_SIZE} pixels a side")
        # Names become paths (the classifier's run, the data cache): a recorded name is a plain name, a hash 64 hex
        # digits, or a crafted config could steer a write or a read anywhere ("x/../../OUTSIDE").
        names = [("dataset", values["dataset"])] + ([("data.name", values["data"]["name"])] if values["data"] else [])
        for key, name in names:
            if not re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,79}", name) or ".." in name:
                raise ValueError(f"config '{key}' is {name[:40]!r}, not a data set's name (letters, digits, _ . -)")
        if values["data"] is not None and not re.fullmatch(r"[0-9a-f]{64}", values["data"]["sha256"]):
            raise ValueError(f"config 'data.sha256' is {values['data']['sha256'][:40]!r}, not 64 hexadecimal digits")
        return cls(**values)


@dataclasses.dataclass(frozen=True)
class TrainingSettings:
    """How train.py trains a run this time; a resumed run may change any of it."""
    epochs: int = 150  # train until this epoch
    batch_size: int = 100
    learning_rate: float = 0.001
    clip: float | None = None  # global-norm gradient clipping; None is off
    xla: bool | None = None  # compile the step with XLA; None: as the run last trained, else the model's default
    precision: str | None = None  # "fp32" or "bf16"; None: as the run last trained, else fp32
    strategy: str = "none"  # "mirrored" or "multi_worker": tf.distribute
    # "constant", or "cosine": each epoch's learning rate learning_rate * (1 + cos(pi (epoch - 1) / epochs)) / 2,
    # from learning_rate at the first epoch down towards 0 at `epochs` (Loshchilov & Hutter 2017, one cycle).
    schedule: str = "constant"
    kl_warmup: int = 0  # epochs over which a VAE's KL weight rises linearly to 1 (Bowman et al. 2016); 0 is off


SCHEDULES = ("constant", "cosine")
# An invocation's entry in config.json: TrainingSettings' fields (xla and precision as they were decided).
ENTRY_TYPES = {"from_epoch": (int,), "epochs": (int,), "batch_size": (int,), "learning_rate": (float, int),
               "clip": (float, int, type(None)), "xla": (bool,), "precision": (str,), "strategy": (str,),
               "schedule": (str,), "kl_warmup": (int,)}
# What an entry written before a field existed trained with.
ENTRY_DEFAULTS = {"schedule": "constant", "kl_warmup": 0}


@dataclasses.dataclass
class RunConfig:
    identity: RunIdentity
    # One entry per train.py invocation, oldest first: the epoch it started from and its TrainingSettings.
    training: list = dataclasses.field(default_factory=list)

    # config.json's layout: 1, every key at the top level (runs made before identity and training settings
    # were two things, read by _from_flat); 2, "identity" and "training". Files without the field are read by
    # their shape (every run written before it was recorded is one of the two).
    FORMAT = 2

    def to_json(self):
        return json.dumps({"format": self.FORMAT, "identity": self.identity.to_dict(), "training": self.training},
                          indent=2) + "\n"

    @classmethod
    def from_json(cls, text):
        """Parse and type-check (either layout); ValueError says which key is missing or wrong."""
        data = parse_json(text)
        if not isinstance(data, dict):
            raise ValueError("config is not a JSON object")
        layout = data.get("format", 2 if "identity" in data else 1)
        if layout not in (1, 2):
            raise ValueError(f"config 'format' is {json.dumps(layout)[:20]}: this code reads formats 1 and 2 (a newer "
                             f"version of this repository wrote it?)")
        if layout == 1:
            return cls._from_flat(data)
        if "identity" not in data:
            raise ValueError("config has no 'identity'")
        if not isinstance(data["identity"], dict):
            raise ValueError("config 'identity' is not an object")
        training = data.get("training")
        if not isinstance(training, list) or not all(isinstance(entry, dict) for entry in training):
            raise ValueError("config 'training' is not a list of objects")
        training = [ENTRY_DEFAULTS | entry for entry in training]
        for entry in training:
            for key, types in ENTRY_TYPES.items():
                if not isinstance(entry.get(key), types) or (isinstance(entry.get(key), bool) and bool not in types):
                    raise ValueError(f"config 'training' entry {entry.get('from_epoch')!r} has no '{key}' of the "
                                     f"right type")
        return cls(RunIdentity.from_dict(data["identity"]), training)

    @classmethod
    def _from_flat(cls, data):
        """The layout of runs written before identity and training settings were two things: every key at the
        top level, the latest invocation's settings among them, and the invocations under "history"."""
        for key, types in {"batch_size": (int,), "epochs": (int,), "learning_rate": (float, int),
                           "clip": (float, int, type(None))}.items():
            if key not in data:
                raise ValueError(f"config has no '{key}'")
            if not isinstance(data[key], types) or isinstance(data[key], bool):
                raise ValueError(f"config '{key}' is {data[key]!r}, of the wrong type")
        identity = RunIdentity.from_dict(data)
        if "seed" not in data or "subset" not in data:
            raise ValueError(f"config has no '{'seed' if 'seed' not in data else 'subset'}'")
        history = data.get("history", [])
        if not isinstance(history, list) or not all(isinstance(entry, dict) for entry in history):
            raise ValueError("config 'history' is not a list of objects")
        latest = {key: data[key] for key in ("epochs", "batch_size", "learning_rate", "clip")}
        # Invocations recorded before XLA and precision were: the plain graph in float32.
        first = {"from_epoch": 0, **latest, "xla": False, "precision": "fp32", "strategy": "none", **ENTRY_DEFAULTS}
        training = [first | entry for entry in history] or [first]
        return cls(identity, training)


def train_command(identity: RunIdentity, log_dir="log"):
    """The train.py command that makes the run of `identity` in `log_dir`."""
    import shlex
    from pathlib import Path
    return (" ".join(["python train.py", *map(shlex.quote, identity.flags())])
            + (f" --log-dir {log_dir}" if Path(log_dir) != Path("log") else ""))


def check_identity(identity: RunIdentity):
    """UsageError for an identity no run can have: --binarize on the classifier, m2 without --labels, or
    --labels on a model that uses every label. Loads the model classes (TensorFlow)."""
    from cvae.errors import UsageError
    from model.registry import model_class, models
    kind = model_class(identity.model)
    if identity.binarize and not kind.has_latent_space:
        raise UsageError(f"--binarize applies to the VAEs; {identity.model} trains on gray levels")
    if identity.likelihood != DEFAULT_LIKELIHOOD and not kind.has_latent_space:
        raise UsageError(f"--likelihood applies to the VAEs; {identity.model} is a classifier")
    if LIKELIHOODS[identity.likelihood].over_levels and identity.binarize:
        raise UsageError(f"--likelihood {identity.likelihood} models 256 levels a sub-pixel; --binarize leaves two, "
                         f"which Bernoulli (the default) models: leave out one of them")
    if kind.semi_supervised and identity.labels is None:
        raise UsageError(f"{identity.model} needs --labels (how many training labels it may use, e.g. 100)")
    if identity.labels is not None and not kind.semi_supervised:
        semi = ", ".join(name for name, other in models().items() if other.semi_supervised)
        raise UsageError(f"--labels is for the semi-supervised {semi}; the other models use every label")
    for option in identity.options:
        if option not in kind.options():
            takes = ", ".join(name for name, other in models().items() if option in other.options())
            raise UsageError(f"{OPTIONS[option].flag} is for {takes}; {identity.model} takes no such number")
        refusal = likelihood_refusal(option, identity.options[option], identity.likelihood)
        if refusal is not None:
            raise UsageError(refusal)
    try:
        kind.check_options(identity.options, len(identity.class_names()))
        kind.check_image_shape(identity.image_shape())
    except ValueError as err:
        raise UsageError(f"{identity.model} {err}") from None


def identity_named(model, latent_dim=20, dataset="mnist", labels=None, binarize=False, subset=None, seed=0, data=None,
                   image_size=None, likelihood=DEFAULT_LIKELIHOOD, options=None):
    """The RunIdentity these names give, as train.py's flags do. A data set of one's own (a path) is the record
    `data` when given (train.py decodes the data first), else found as train.py finds it (its files hashed,
    resized to image_size when given). options: {model.OPTIONS name: value} (None: the defaults; a value equal
    to its default names the same run as leaving it out). UsageError for a combination no run can have."""
    from model.registry import model_class
    from cvae.mnist import DATASETS
    if dataset not in DATASETS and data is None:
        from cvae import sources
        source = sources.describe(dataset, image_size)
        data = {"path": str(source.path), "sha256": source.sha256, "name": source.name,
                "class_names": source.class_names, "image_size": image_size}
        if source.image_shape is not None:
            data["image_shape"] = list(source.image_shape)
    identity = RunIdentity(model, latent_dim if model_class(model).has_latent_space else None,
                           dataset=dataset if data is None else data["name"], data=data, binarize=binarize,
                           labels=labels, seed=seed, subset=subset, likelihood=likelihood,
                           options={name: value for name, value in (options or {}).items()
                                    if value is not None and value != OPTIONS[name].default})
    check_identity(identity)
    return identity

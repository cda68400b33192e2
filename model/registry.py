"""The model classes by name, and building one with all its weights.

Importing this registers every class with Keras (package "cvae"), so that keras.saving.load_model can
rebuild a model saved with model.save("x.keras") in any process that has imported it.
"""
import keras

from model import NAMES
from model.base import IMAGE_SHAPE, BaseModel
from model.cnn import Cnn
from model.cvae_cnn2 import CvaeCnn2
from model.cvae_cnn3 import CvaeCnn3
from model.cvae_fc3 import CvaeFc3
from model.m2 import M2
from model.vae import Vae

MODELS = {
    "vae": Vae,
    "cvae_fc3": CvaeFc3,
    "cvae_cnn2": CvaeCnn2,
    "cvae_cnn3": CvaeCnn3,
    "cnn": Cnn,
    "m2": M2,
}
assert tuple(MODELS) == NAMES, "model/__init__.py's NAMES must list the classes of MODELS, in order"
for _class in MODELS.values():
    keras.saving.register_keras_serializable(package="cvae")(_class)


def build_model(name, latent_dim, seed=0, classes=10, image_shape=IMAGE_SHAPE, likelihood=None) -> BaseModel:
    """The model called `name` for `classes` classes of images [H, W, C] `image_shape` (and a VAE with
    p(x | z, y) `likelihood`, None: the default), with all its weights created (so a checkpoint can be restored
    into it)."""
    extra = {} if likelihood is None else {"likelihood": likelihood}
    return MODELS[name](latent_dim=latent_dim, seed=seed, classes=classes, image_shape=image_shape,
                        **extra).build_weights()


def build_model_for(identity) -> BaseModel:
    """The model a run's identity (cvae.config.RunIdentity) names: its model, latent size, seed, classes, image
    shape and, for a VAE, likelihood."""
    likelihood = identity.likelihood if MODELS[identity.model].has_latent_space else None
    return build_model(identity.model, identity.latent_dim, identity.seed, len(identity.class_names()),
                       identity.image_shape(), likelihood)


def count_parameters(model) -> int:
    return sum(int(v.numpy().size) for v in model.trainable_variables)

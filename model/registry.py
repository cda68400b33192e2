"""The model classes by name, and building one with all its weights.

A model is the one class of model/NAME.py defined on BaseModel (model.names() lists the files). Importing
this module imports every model file and registers each class with Keras (package "cvae"), so that
keras.saving.load_model can rebuild a model saved with model.save("x.keras") in any process that has
imported it; a model file added later is imported, and registered, when it is first asked for.
"""
import importlib
import inspect

import keras

from model import IMAGE_SHAPE, names
from model.base import BaseModel

_CLASSES = {}


def model_class(name) -> type:
    """The class of the model called `name`: the one BaseModel subclass that model/NAME.py defines."""
    if name not in _CLASSES:
        if name not in names():
            raise KeyError(f"no model called {name!r}: one of {', '.join(names())}")
        module = importlib.import_module(f"model.{name}")
        defined = [kind for _, kind in inspect.getmembers(module, inspect.isclass)
                   if issubclass(kind, BaseModel) and kind.__module__ == module.__name__]
        if len(defined) != 1:
            raise TypeError(f"model/{name}.py must define one class on model.base's BaseModel or VAEBase, and it "
                            f"defines {len(defined)}: {', '.join(kind.__name__ for kind in defined) or 'none'}")
        _CLASSES[name] = keras.saving.register_keras_serializable(package="cvae")(defined[0])
    return _CLASSES[name]


def models() -> dict:
    """{name: class} of every model, in model.names()' order."""
    return {name: model_class(name) for name in names()}


models()  # every model file imported now, and so registered with Keras


def build_model(name, latent_dim, seed=0, classes=10, image_shape=IMAGE_SHAPE, likelihood=None,
                options=None) -> BaseModel:
    """The model called `name` for `classes` classes of images [H, W, C] `image_shape` (and a VAE with
    p(x | z, y) `likelihood`, None: the default; `options`, {model.OPTIONS name: value}, the numbers it takes
    other than their defaults), with all its weights created (so a checkpoint can be restored into it)."""
    extra = ({} if likelihood is None else {"likelihood": likelihood}) | (options or {})
    return model_class(name)(latent_dim=latent_dim, seed=seed, classes=classes, image_shape=image_shape,
                             **extra).build_weights()


def build_model_for(identity) -> BaseModel:
    """The model a run's identity (cvae.config.RunIdentity) names: its model, latent size, seed, classes, image
    shape, options and, for a VAE, likelihood."""
    likelihood = identity.likelihood if model_class(identity.model).has_latent_space else None
    return build_model(identity.model, identity.latent_dim, identity.seed, len(identity.class_names()),
                       identity.image_shape(), likelihood, identity.options)


def count_parameters(model) -> int:
    return sum(int(v.numpy().size) for v in model.trainable_variables)

"""The models, by the names the command-line tools take."""
import os
import sys


def _import_tensorflow_quietly():
    """TensorFlow 2.21 logs from C++ while it loads (a oneDNN notice, and "failed call to cuInit" on
    machines without a GPU) and ignores TF_CPP_MIN_LOG_LEVEL for it, so stderr is muted for the import
    alone. CVAE_TF_LOGS=1 shows those lines."""
    if "tensorflow" in sys.modules or os.environ.get("CVAE_TF_LOGS") == "1":
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow
        tensorflow.config.list_physical_devices()  # device set-up logs too ("failed call to cuInit")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_import_tensorflow_quietly()

from model.base import BaseModel, VAEBase  # noqa: F401  (the classes callers check against)
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


def build_model(name, latent_dim, seed=0) -> BaseModel:
    """The model called `name`, with all its weights created (so a checkpoint can be restored into it)."""
    return MODELS[name](latent_dim=latent_dim, seed=seed).build_weights()


def count_parameters(model) -> int:
    return sum(int(v.numpy().size) for v in model.trainable_variables)

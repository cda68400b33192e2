"""The models, by the names the command-line tools take.

Importing this package costs nothing (no TensorFlow), so every CLI can list the names in --help and
check its flags before TensorFlow loads. The classes, and building one by name, are in model.registry.
"""
NAMES = ("vae", "cvae_fc3", "cvae_cnn2", "cvae_cnn3", "cnn", "m2")
# The label an unlabelled image carries in a semi-supervised batch (m2), where data and model meet.
UNLABELLED = -1

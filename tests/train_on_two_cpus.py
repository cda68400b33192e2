"""Run train.py with the CPU split into two logical devices, so MirroredStrategy has two replicas on a
machine without GPUs: `python tests/train_on_two_cpus.py vae -n 2 --strategy mirrored ...`."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import model  # noqa: E402,F401  (imports TensorFlow quietly)
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import train  # noqa: E402

sys.exit(train.main(sys.argv[1:]))

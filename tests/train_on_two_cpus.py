"""Run train.py with the CPU split into two logical devices, so MirroredStrategy has two replicas on a
machine without GPUs: `python -m tests.train_on_two_cpus vae -n 2 --strategy mirrored ...` from the
repository's root."""
import sys

from cvae import import_tensorflow_quietly

import_tensorflow_quietly()
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import train  # noqa: E402

sys.exit(train.main(sys.argv[1:]))

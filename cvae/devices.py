"""Where and in what arithmetic a run trains: the precision (fp32 or bf16), whether the step is compiled with
XLA, and the tf.distribute strategy; each decided once, from the flags, a resumed run's history, the model
and the CPU, and said in the run's start-up line.
"""
import contextlib
import json
import os

import keras
import tensorflow as tf

from cvae.errors import UsageError


def bf16_hardware():
    """The CPU's bfloat16 matrix instructions named as /proc/cpuinfo names them ("amx_bf16 avx512_bf16"),
    or "" when it has none (or is not Linux): there TensorFlow emulates bfloat16, which is slower."""
    try:
        flags = next((line.split(":", 1)[1].split() for line in open("/proc/cpuinfo") if line.startswith("flags")), [])
    except OSError:
        return ""
    return " ".join(flag for flag in ("amx_bf16", "avx512_bf16") if flag in flags)


def precision_note(precision):
    """What the start-up line says about the arithmetic: which precision runs, and on what hardware."""
    hardware = bf16_hardware()
    if precision == "bf16":
        return ("precision bf16 (mixed_bfloat16: float32 weights and losses" +
                (f"; this CPU has {hardware})" if hardware else "; this CPU has no bf16 instructions, so it is "
                                                               "emulated and slower than fp32)"))
    return "precision fp32" + (f" (this CPU has {hardware}: --precision bf16 may be faster)" if hardware else "")


@contextlib.contextmanager
def dtype_policy(precision):
    """Layers built inside compute in bfloat16 for precision "bf16" (Keras' mixed_bfloat16 policy, read
    when a layer is made), float32 otherwise; the global policy is restored on the way out."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if precision == "bf16" else "float32")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def run_precision(precision, history):
    """The precision to train with: `precision` when train.py was told (--precision); otherwise what a
    resumed run was last trained with (its earlier invocations' entries, `history`); "fp32" for a new run.
    So resuming a bf16 run without the flag does not quietly go on in fp32."""
    if precision is not None:
        return precision
    return history[-1]["precision"] if history else "fp32"


def step_uses_xla(xla, history, model, strategy):
    """Whether the training step is compiled with XLA: `xla` when train.py was told (--xla / --no-xla);
    otherwise what a resumed run was last trained with (so it goes on with the same arithmetic);
    otherwise the model's default, on one device. Under tf.distribute XLA stays off unless asked: it is
    not measured there."""
    if xla is not None:
        return xla
    if history:
        return history[-1]["xla"]
    return model.xla_by_default and strategy is None


def xla_note(xla, asked):
    """What the start-up line says about XLA."""
    if not xla:
        return "plain graph" + ("" if asked else " (--xla compiles it with XLA)")
    return "step compiled with XLA" + ("" if asked else " (--no-xla for the plain graph)")


def make_strategy(name):
    """The tf.distribute strategy `name` (TrainingSettings.strategy) names; None for "none"."""
    if name == "none":
        return None
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if "TF_CONFIG" not in os.environ:
        raise UsageError("--strategy multi_worker reads the cluster from the TF_CONFIG environment variable, "
                         "which is not set (README: Multi-device training)")
    try:
        json.loads(os.environ["TF_CONFIG"])
    except ValueError as err:
        raise UsageError(f"TF_CONFIG is not valid JSON ({err})")
    return tf.distribute.MultiWorkerMirroredStrategy()


def is_chief(strategy):
    """Whether this process writes the run: always, except on workers other than the first of a cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0)

"""TensorFlow checkpoints of a model (and its optimizer): what they hold, under which keys, and restoring
the newest one that reads back whole."""


def make_checkpoint(model, optimizer=None, epoch=None, layout="named"):
    """Everything a resumed run needs; `epoch` (a variable, made here unless given) counts completed epochs.

    Variables are listed explicitly, because tf.train.Checkpoint cannot see Keras 3 layers kept in Python
    lists, nor the noise generators' states. layout "named" (what is written) keys each by what it is,
    model/encoder_conv_1:kernel, optimizer/encoder_conv_1_kernel_momentum, ...; "positional" reads
    checkpoints of the first layout, keyed model/v000, v001, ... in model.variables' order.
    """
    import tensorflow as tf
    group = _by_name if layout == "named" else _by_position
    parts = dict(model=group(model.variables, model.variable_names()),
                 epoch=epoch if epoch is not None else tf.Variable(0, dtype=tf.int64, trainable=False))
    if optimizer is not None:
        # Without the optimizer's own name, which Keras numbers per process (adam, adam_1, ...).
        parts["optimizer"] = group(optimizer.variables, [v.path.split("/", 1)[-1] for v in optimizer.variables])
    return tf.train.Checkpoint(**parts)


def _by_name(variables, names):
    import tensorflow as tf
    return tf.train.Checkpoint(**{name.replace("/", ":"): v for name, v in zip(names, variables)})


def _by_position(variables, names):
    import tensorflow as tf
    return tf.train.Checkpoint(**{f"v{i:03d}": v for i, v in enumerate(variables)})


def checkpoint_layout(path):
    """"positional" for a checkpoint of the first layout (its keys model/v000, ...), else "named"."""
    import tensorflow as tf
    return "positional" if any(key.startswith("model/v000/") for key, _ in tf.train.list_variables(path)) \
        else "named"


def restorer(checkpoint, model, optimizer=None, partial=False):
    """path -> restore `checkpoint` (a make_checkpoint of model and optimizer) from the checkpoint at
    path, whichever layout it was written in; raises when anything is missing or damaged. partial: the
    optimizer's slots in the file are not needed (plot.py, evaluate.py)."""
    def restore(path):
        source = checkpoint
        if checkpoint_layout(path) == "positional":
            source = make_checkpoint(model, optimizer, epoch=checkpoint.epoch, layout="positional")
        if partial:
            source.read(path).expect_partial().assert_existing_objects_matched()
        else:
            source.restore(path).assert_consumed()
    return restore


def shape_mismatch(path, model):
    """The first of the model's variables that the checkpoint at `path` holds in another shape, as ("layer/
    weight", shape in the file, shape in the model), or None (also for a file that cannot be read, or of the
    positional layout, whose keys say no names)."""
    import tensorflow as tf
    try:
        stored = dict(tf.train.list_variables(path))
    except Exception:  # damage shows as many exception types; restoring reports it
        return None
    for name, variable in zip(model.variable_names(), model.variables):
        shape = stored.get(f"model/{name.replace('/', ':')}/.ATTRIBUTES/VARIABLE_VALUE")
        if shape is not None and list(shape) != list(variable.shape):
            return name, list(shape), list(variable.shape)
    return None


class AllDamaged(ValueError):
    """No checkpoint of those tried reads back whole; `failures` holds (path, what was wrong) for each."""

    def __init__(self, failures):
        super().__init__(("every checkpoint is damaged: " if len(failures) > 1 else "checkpoint ")
                         + "; ".join(f"{path}: {why}" for path, why in failures))
        self.failures = failures


def restore_latest_good(restore, paths, log=print):
    """Call restore(path) on the newest of `paths` (oldest first) that reads back whole, warning about
    each damaged one it skips; returns that path, or None when `paths` is empty. Raises ValueError
    when every checkpoint is damaged (AllDamaged). Training and every tool that reads a run load through this."""
    failures = []
    for path in reversed(paths):
        try:
            restore(path)
        # Damage shows as many exception types (a truncated file raises IndexError); all mean "unusable",
        # and the older checkpoint restores every variable again.
        except Exception as err:
            failures.append((path, str(err).splitlines()[0]))
            log(f"warning: checkpoint {path} is damaged ({str(err).splitlines()[0]}); trying an older one")
            continue
        if failures:
            log(f"using checkpoint {path}")
        return path
    if failures:
        raise AllDamaged(failures)
    return None

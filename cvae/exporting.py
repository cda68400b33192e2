"""A trained run out of the repository, and the check of one that was taken out.

  model.keras     the Keras model: keras.saving.load_model after `import model.registry` (this repo)
  saved_model/    a TensorFlow SavedModel that runs with plain tf.saved_model.load, none of our code:
                    generate(labels int32 [B], z float32 [B, n]) -> {"images": [B, 28, 28]} pixel means
                    sample(labels int32 [B], seed int32 []) -> {"images"}       z ~ N(0, I), seeded
                    encode(images float32 [B, 28, 28] in [0, 1], labels) -> {"mean", "log_var"} [B, n]
                    reconstruct(images, labels) -> {"images"}
                  The unconditional vae takes no labels (sample takes count int32 [] instead); models
                  that classify (cnn, m2) have classify(images) -> {"probabilities": [B, classes]}.
  export.json     model, latent dim, data set, class names, epoch, test ELBO, signatures, sha256 of each file
"""
import json
from pathlib import Path

from cvae.errors import UserFacingError
from cvae.files import changed_file, prepare_output_folder, sha256_of, write_atomic
from cvae.generation import prior_codes_in_graph

WRITTEN = ("model.keras", "saved_model", "export.json")  # what an export holds: all that --out may replace


def endpoints(model):
    """{name: (function, input signature)} of the SavedModel, for what the model can do."""
    import tensorflow as tf
    n = model.latent_dim
    images = tf.TensorSpec([None, 28, 28], tf.float32, name="images")
    labels = tf.TensorSpec([None], tf.int32, name="labels")
    found = {}
    if model.has_latent_space and model.conditional:
        found["generate"] = (lambda labels, z: {"images": model.generate(z, labels)[..., 0]},
                             [labels, tf.TensorSpec([None, n], tf.float32, name="z")])
        found["sample"] = (lambda labels, seed: {"images": model.generate(prior_codes_in_graph(tf.shape(labels)[0], n, seed),
                                                                          labels)[..., 0]},
                           [labels, tf.TensorSpec([], tf.int32, name="seed")])
        found["encode"] = (lambda images, labels: dict(zip(("mean", "log_var"), model.encode(images[..., None], labels))),
                           [images, labels])
        found["reconstruct"] = (lambda images, labels: {"images": model.reconstruct(images[..., None], labels)[..., 0]},
                                [images, labels])
    elif model.has_latent_space:
        def no_labels(like):
            return tf.zeros(tf.shape(like)[:1], tf.int32)  # the unconditional model ignores them
        found["generate"] = (lambda z: {"images": model.generate(z, no_labels(z))[..., 0]},
                             [tf.TensorSpec([None, n], tf.float32, name="z")])
        found["sample"] = (lambda count, seed: {"images": model.generate(
            prior_codes_in_graph(count, n, seed), tf.zeros([count], tf.int32))[..., 0]},
            [tf.TensorSpec([], tf.int32, name="count"), tf.TensorSpec([], tf.int32, name="seed")])
        found["encode"] = (lambda images: dict(zip(("mean", "log_var"), model.encode(images[..., None],
                                                                                       no_labels(images)))),
                           [images])
        found["reconstruct"] = (lambda images: {"images": model.reconstruct(images[..., None], no_labels(images))[..., 0]},
                                [images])
    if model.classifies:
        found["classify"] = (lambda images: {"probabilities": tf.nn.softmax(model.classify(images[..., None]))},
                             [images])
    return found


def earlier_export_or_why_not(out):
    """None when `out` holds an earlier export (its files may be replaced), else why it may not be written."""
    if (out / "export.json").is_file():
        return None
    return f"--out {out} is not empty and holds no earlier export; give an empty or new directory"


def write_export(run, out):
    """Export a TrainedRun into the folder `out` (new, empty, or an earlier export: prepared here).
    Returns (the SavedModel's signatures, the export's size in bytes)."""
    import keras
    prepare_output_folder(out, WRITTEN, "an export", earlier_export_or_why_not)
    model, config, epoch, run_dir = run.model, run.config, run.epoch, run.directory
    model.save(out / "model.keras")
    archive = keras.export.ExportArchive()
    archive.track(model)
    signatures = endpoints(model)
    for name, (function, signature) in signatures.items():
        archive.add_endpoint(name, function, input_signature=signature)
    archive.write_out(str(out / "saved_model"), verbose=False)
    rows = [row for row in run_dir.read_metrics() if row["epoch"] == epoch]
    files = sorted(p for p in out.rglob("*") if p.is_file())
    identity = config.identity
    manifest = {"model": identity.model, "latent_dim": identity.latent_dim, "dataset": identity.dataset,
                "class_names": identity.class_names(), "epoch": epoch, "run": str(run_dir),
                "test_elbo": rows[0].get("test_elbo") if rows else None, "signatures": list(signatures),
                "sha256": {str(p.relative_to(out)): sha256_of(p.read_bytes()) for p in files}}
    write_atomic(out / "export.json", json.dumps(manifest, indent=2) + "\n")
    return list(signatures), sum(p.stat().st_size for p in files)


def read_export(directory):
    """(model.keras as a Keras model, the loaded SavedModel, export.json as a dict) of an export, after
    every file export.json lists is checked against its sha256. UserFacingError (one line) when it is
    not an export, a file differs, or a file does not load."""
    import keras
    import tensorflow as tf

    import model.registry  # noqa: F401  (registers our classes, for keras.saving.load_model)
    directory = Path(directory)
    again = "export it again with export.py"
    try:
        manifest = json.loads((directory / "export.json").read_text())
        recorded = manifest["sha256"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise UserFacingError(f"{directory} is not an export of export.py: its export.json is missing or damaged "
                              f"({str(err).splitlines()[0]})")
    wrong = changed_file(directory, recorded, "export.json")
    if wrong:
        raise UserFacingError(f"{wrong}; {again}")
    loaded = {}
    for name, load in (("model.keras", keras.saving.load_model), ("saved_model", tf.saved_model.load)):
        try:
            loaded[name] = load(str(directory / name))
        except Exception as err:  # a damaged zip, protobuf or HDF5 file: each has its own exception types
            raise UserFacingError(f"cannot load {directory / name} ({type(err).__name__}: "
                                  f"{str(err).strip().splitlines()[0][:200] if str(err).strip() else 'no message'}); {again}")
    return loaded["model.keras"], loaded["saved_model"], manifest


def check_export(directory):
    """Load an export both ways and compare the images they generate for each class; returns what was
    checked, as one line. UserFacingError when anything differs or does not load."""
    import numpy as np
    import tensorflow as tf
    model, saved, manifest = read_export(directory)
    if "generate" not in manifest["signatures"]:
        return f"{directory}: every file matches export.json; model.keras and saved_model/ load (a classifier)"
    classes = len(manifest["class_names"])
    labels = np.arange(classes, dtype=np.int32)
    z = np.random.default_rng(0).standard_normal((classes, manifest["latent_dim"])).astype(np.float32)
    arguments = (tf.constant(labels), tf.constant(z)) if model.conditional else (tf.constant(z),)
    exported = saved.generate(*arguments)["images"].numpy()
    difference = float(np.max(np.abs(exported - np.asarray(model.generate(z, labels))[..., 0])))
    if difference > 1e-5:
        raise UserFacingError(f"{directory}: saved_model/ and model.keras draw different images (max difference "
                              f"{difference:.2g}); export it again with export.py")
    return (f"{directory}: every file matches export.json; model.keras and saved_model/ load and draw the same "
            f"images for {classes if model.conditional else 'one'} label(s) (max difference {difference:.1g})")

"""Take a trained model out of the repository: `python export.py cvae_cnn3 -n 2` writes export/cvae_cnn3_2/:

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
import argparse
import json
import shutil
import sys
from pathlib import Path

from cli import (HelpFormatter, UsageError, add_debug_flag, add_run_flags, import_tensorflow_quietly, open_run,
                 positive_int, report_errors)

WRITTEN = ("model.keras", "saved_model", "export.json")  # what an export holds: all that --out may replace


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Export a run trained by train.py as model.keras, a SavedModel with serving signatures, and "
                    "export.json, into OUT (default: export/MODEL_N/).",
        formatter_class=HelpFormatter)
    add_run_flags(parser)
    parser.add_argument("-p", "--epoch", type=positive_int, default=None,
                        help="export the checkpoint kept at this epoch instead of the latest")
    parser.add_argument("--out", type=Path, default=None, help="the export directory (default: export/RUN_NAME/)")
    add_debug_flag(parser)
    return parser.parse_args(argv)


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
        found["sample"] = (lambda labels, seed: {"images": model.generate(prior_sample(tf.shape(labels)[0], n, seed),
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
            prior_sample(count, n, seed), tf.zeros([count], tf.int32))[..., 0]},
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


def prior_sample(count, latent_dim, seed):
    """z ~ N(0, I), [count, latent_dim], the same for the same seed (stateless)."""
    import tensorflow as tf
    return tf.random.stateless_normal(tf.stack([count, latent_dim]), seed=tf.stack([seed, 0]))


def prepare_out(out):
    """An empty or new directory, or an earlier export whose files are removed; anything else is refused."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a directory")
    if out.exists() and any(out.iterdir()):
        if not (out / "export.json").is_file():
            raise UsageError(f"--out {out} is not empty and holds no earlier export; give an empty or new directory")
        foreign = [p.name for p in out.iterdir() if p.name not in WRITTEN]
        if foreign:
            raise UsageError(f"--out {out} holds files an export does not write ({', '.join(sorted(foreign))}); "
                             f"refusing to replace it")
        for name in WRITTEN:
            path = out / name
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)


def export(args):
    import keras
    from dataset import CLASS_NAMES, sha256_of
    from rundir import write_atomic
    model, config, epoch, run_dir = open_run(args, args.epoch)
    out = args.out if args.out is not None else Path("export") / run_dir.name
    prepare_out(out)
    model.save(out / "model.keras")
    archive = keras.export.ExportArchive()
    archive.track(model)
    signatures = endpoints(model)
    for name, (function, signature) in signatures.items():
        archive.add_endpoint(name, function, input_signature=signature)
    archive.write_out(str(out / "saved_model"), verbose=False)
    rows = [row for row in run_dir.read_metrics() if row["epoch"] == epoch]
    files = sorted(p for p in out.rglob("*") if p.is_file())
    manifest = {"model": config.model, "latent_dim": config.latent_dim, "dataset": config.dataset,
                "class_names": CLASS_NAMES[config.dataset], "epoch": epoch, "run": str(run_dir),
                "test_elbo": rows[0].get("test_elbo") if rows else None, "signatures": list(signatures),
                "sha256": {str(p.relative_to(out)): sha256_of(p.read_bytes()) for p in files}}
    write_atomic(out / "export.json", json.dumps(manifest, indent=2) + "\n")
    size = sum(p.stat().st_size for p in files) / 1e6
    print(f"wrote {out}: model.keras, saved_model/ ({', '.join(signatures)}), export.json; {size:.1f} MB, "
          f"epoch {epoch} of {run_dir}")
    return 0


def main(argv=None):
    args = parse_args(argv)
    import_tensorflow_quietly()
    return report_errors(lambda: export(args), args.debug)


if __name__ == "__main__":
    sys.exit(main())

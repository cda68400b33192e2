"""A trained run out of the repository, and the check of one that was taken out.

  model.keras     the Keras model: keras.saving.load_model after `import model.registry` (this repo)
  saved_model/    a TensorFlow SavedModel that runs with plain tf.saved_model.load, none of our code:
                    generate(labels int32 [B], z float32 [B, n]) -> {"images": [B, H, W, C]} pixel means
                    sample(labels int32 [B], seed int32 []) -> {"images"}       z from the prior, seeded
                                  (export.py --sampler gmm: z from the run's fitted mixtures, held in the graph)
                    encode(images float32 [B, H, W, C] in [0, 1], labels) -> {"mean", "log_var"} [B, n]
                    reconstruct(images, labels) -> {"images"}
                  The unconditional vae takes no labels (sample takes count int32 [] instead); models
                  that classify (cnn, m2) have classify(images) -> {"probabilities": [B, classes]}. A label
                  outside 0 .. classes - 1 is refused inside the graph (InvalidArgumentError).
  export.json     model, latent dim, data set, class names, image shape [H, W, C], likelihood, epoch, test ELBO,
                  signatures, sha256 of each file

Loading a SavedModel runs its graph, so an export from elsewhere is checked before it is loaded: every file
it holds listed in export.json with its sha256, and no operation in its graph outside ALLOWED_OPS, the ones
our exports use (file access and Python calls are never among them, but for the saver's own functions).
"""
import dataclasses
import json
import re
from pathlib import Path

from model import names as model_names
from cvae.errors import UserFacingError
from cvae.limits import MAX_CLASS_NAME, MAX_CLASSES, MAX_LATENT_DIM
from cvae.files import changed_file, files_in, parse_json, replace_folder, sha256_of, write_atomic

WRITTEN = ("model.keras", "saved_model", "export.json")  # what an export holds at its top
SIGNATURES = ("generate", "sample", "encode", "reconstruct", "classify")
MAX_MANIFEST_BYTES = 1_000_000
# Every operation the SavedModels of every model hold, with either sampler (tests/test_export.py checks that
# this is all they need); a graph with any other is not loaded. The three that touch files are the saver's
# own, allowed only in the save and restore functions that the SavedModel's saver names (SAVER_OPS).
ALLOWED_OPS = frozenset({
    "AddV2", "All", "Assert", "AssignVariableOp", "BiasAdd", "BroadcastTo", "Cast", "ConcatV2", "Const", "Conv2D",
    "Conv2DBackpropInput", "DepthToSpace", "DisableCopyOnRead", "Einsum", "Exp", "Fill", "GatherNd", "GatherV2",
    "Identity", "Less", "LessEqual", "Log", "MatMul", "MatrixDiagV3", "MaxPool", "Maximum", "MergeV2Checkpoints",
    "Minimum", "Mul", "Neg", "NoOp", "OneHot", "Pack", "Placeholder", "Prod", "ReadVariableOp", "Relu", "Reshape",
    "RestoreV2", "SaveV2", "Select", "Shape", "ShardedFilename", "Sigmoid", "Softmax", "Softplus", "SpaceToDepth",
    "Squeeze", "StatefulPartitionedCall", "StatelessMultinomial", "StatelessRandomGetKeyCounter",
    "StatelessRandomNormalV2", "StaticRegexFullMatch", "StridedSlice", "StringJoin", "Sub", "Transpose",
    "VarHandleOp", "VarIsInitializedOp", "ZerosLike",
} | {"ExpandDims", "Floor", "Pad", "RealDiv", "Split", "Sum", "Tanh", "Tile"} | {"IdentityN", "Square"})
# Exp, Maximum, Minimum, Neg, Sub, ZerosLike: the discretized logistic's mean (--likelihood logistic); the second
# set, cvae_resnet (its labels broadcast, up-sampling by repeats, padding to a multiple of 8) and the mixture's mean
# (--likelihood mixture, its windowed sum: Floor, RealDiv); the third, tf.nn.silu in cvae_resnet (its custom
# gradient is an IdentityN, and Square is in the gradient's graph): computations only, none touches a file.
SAVER_OPS = {"save": {"SaveV2", "MergeV2Checkpoints"}, "restore": {"RestoreV2"}}


def endpoints(model, mixture=None):
    """{name: (function, input signature)} of the SavedModel, for what the model can do; `sample` draws z from
    the prior, or from `mixture` (cvae.samplers.Mixture) when given."""
    import tensorflow as tf
    n, classes = model.latent_dim, model.classes
    images = tf.TensorSpec([None, *model.image_shape], tf.float32, name="images")
    labels = tf.TensorSpec([None], tf.int32, name="labels")

    def checked(labels):
        """The labels, once they are known to be classes of the model: an error, not an image, otherwise."""
        with tf.control_dependencies([
                tf.debugging.assert_non_negative(labels, message=f"labels must be 0 to {classes - 1}"),
                tf.debugging.assert_less(labels, classes, message=f"labels must be 0 to {classes - 1}")]):
            return tf.identity(labels)

    def sample(labels, seed):
        """Images decoded under labels (already checked) from z drawn by seed: the prior's, or the mixture's."""
        z = (model.prior if mixture is None else mixture).draw_in_graph(labels, seed)
        return {"images": model.generate(z, labels)}

    found = {}
    if model.has_latent_space and model.conditional:
        found["generate"] = (lambda labels, z: {"images": model.generate(z, checked(labels))},
                             [labels, tf.TensorSpec([None, n], tf.float32, name="z")])
        found["sample"] = (lambda labels, seed: sample(checked(labels), seed),
                           [labels, tf.TensorSpec([], tf.int32, name="seed")])
        found["encode"] = (lambda images, labels: dict(zip(("mean", "log_var"), model.encode(images,
                                                                                               checked(labels)))),
                           [images, labels])
        found["reconstruct"] = (lambda images, labels: {"images": model.reconstruct(images,
                                                                                    checked(labels))},
                                [images, labels])
    elif model.has_latent_space:
        def no_labels(like):
            return tf.zeros(tf.shape(like)[:1], tf.int32)  # the unconditional model ignores them
        found["generate"] = (lambda z: {"images": model.generate(z, no_labels(z))},
                             [tf.TensorSpec([None, n], tf.float32, name="z")])
        found["sample"] = (lambda count, seed: sample(tf.zeros([count], tf.int32), seed),
                           [tf.TensorSpec([], tf.int32, name="count"), tf.TensorSpec([], tf.int32, name="seed")])
        found["encode"] = (lambda images: dict(zip(("mean", "log_var"), model.encode(images,
                                                                                       no_labels(images)))),
                           [images])
        found["reconstruct"] = (lambda images: {"images": model.reconstruct(images, no_labels(images))},
                                [images])
    if model.classifies:
        found["classify"] = (lambda images: {"probabilities": tf.nn.softmax(model.classify(images))},
                             [images])
    return found


def parse_manifest(text):
    """export.json as a dict, its every field checked for type and size; ValueError says what is wrong."""
    if len(text) > MAX_MANIFEST_BYTES:
        raise ValueError(f"it is {len(text):,} bytes, more than an export.json holds ({MAX_MANIFEST_BYTES:,})")
    manifest = parse_json(text)
    if not isinstance(manifest, dict):
        raise ValueError("it is not a JSON object")
    fields = {"model": (str,), "latent_dim": (int, type(None)), "dataset": (str,), "class_names": (list,),
              "epoch": (int,), "signatures": (list,), "sha256": (dict,)}
    kinds = {str: "a string", int: "a whole number", list: "a list", dict: "an object", type(None): "null"}
    for key, types in fields.items():
        value = manifest.get(key)
        if not isinstance(value, types) or isinstance(value, bool):
            raise ValueError(f"its '{key}' is {str(value)[:40]!r}, not {' or '.join(kinds[t] for t in types)}")
    if manifest["model"] not in model_names():
        raise ValueError(f"it names no model of this repository ({manifest['model'][:40]!r})")
    if manifest["latent_dim"] is not None and not 1 <= manifest["latent_dim"] <= MAX_LATENT_DIM:
        raise ValueError(f"its latent_dim {manifest['latent_dim']} is not 1 to {MAX_LATENT_DIM}")
    names = manifest["class_names"]
    if not 2 <= len(names) <= MAX_CLASSES or not all(isinstance(name, str) and len(name) <= MAX_CLASS_NAME
                                                      for name in names):
        raise ValueError(f"its class_names are not 2 to {MAX_CLASSES} names")
    if not set(manifest["signatures"]) <= set(SIGNATURES):
        raise ValueError(f"it lists signatures other than {', '.join(SIGNATURES)}")
    recorded = manifest["sha256"]
    for name, digest in recorded.items():
        if not re.fullmatch(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*", name) or ".." in name.split("/") or len(name) > 300:
            raise ValueError(f"it lists a file {name[:60]!r} outside the export (only plain relative names)")
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ValueError(f"its sha256 of {name} is not 64 hex digits")
    missing = [name for name in ("model.keras", "saved_model/saved_model.pb") if name not in recorded]
    if missing:
        raise ValueError(f"it lists no {missing[0]}")
    return manifest


def read_manifest(directory):
    """(export.json of `directory`, parsed and checked); ValueError when it is missing or not ours."""
    path = Path(directory) / "export.json"
    try:
        if path.is_symlink() or not path.is_file():
            raise ValueError("it has no export.json")
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise ValueError(f"its export.json is {path.stat().st_size:,} bytes, more than one holds")
        return parse_manifest(path.read_text())
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"its export.json cannot be read ({err})") from err


def unlisted_files(directory, manifest):
    """What `directory` holds beyond the files its export.json lists: (files not listed, links or special files)."""
    files, other = files_in(directory)
    return sorted(set(files) - set(manifest["sha256"]) - {"export.json"}), other


def earlier_export_or_why_not(out):
    """None when `out` holds an earlier export and nothing else (it may be replaced), else why it may not be
    written."""
    try:
        manifest = read_manifest(out)
    except ValueError as err:
        return f"--out {out} is not empty and holds no export of export.py ({err}); give an empty or new directory"
    foreign, other = unlisted_files(out, manifest)
    if other or foreign:
        return (f"--out {out} holds {', '.join((other + foreign)[:5])}, which its export.json does not list; refusing "
                f"to write there (move them away, or give another --out)")
    return None


@dataclasses.dataclass(frozen=True)
class Export:
    """What cvae.export wrote: the folder (model.keras, saved_model/, export.json), the SavedModel's signatures
    (generate, sample, encode, reconstruct, serving_default; a classifier's: classify), its size in bytes, and
    whether it replaced an earlier export there. Load it back with keras.saving.load_model(directory /
    "model.keras") or tf.saved_model.load(str(directory / "saved_model"))."""
    directory: Path
    signatures: list
    size_bytes: int
    replaced: bool


def write_export(run, out, mixture=None) -> Export:
    """Export a TrainedRun into the folder `out`: new, empty, or an earlier export (replaced whole, and only
    when it holds nothing but what its export.json lists); its `sample` draws from `mixture` (the run's
    cvae.samplers.Mixture) when given, else from the prior. Returns an Export saying what was written."""
    import keras
    import tensorflow as tf
    out = Path(out)
    model, config, epoch, run_dir = run.model, run.config, run.epoch, run.directory
    identity = config.identity
    signatures = endpoints(model, mixture)

    def write(folder):
        model.save(folder / "model.keras")
        archive = keras.export.ExportArchive()
        archive.track(model)
        for name, (function, signature) in signatures.items():
            archive.add_endpoint(name, function, input_signature=signature)
        logger = tf.get_logger()  # TensorFlow logs "Assets written to ..." at INFO, where a notebook shows it
        level = logger.level
        logger.setLevel("WARNING")
        try:
            archive.write_out(str(folder / "saved_model"), verbose=False)
        finally:
            logger.setLevel(level)
        rows = [row for row in run_dir.read_metrics() if row["epoch"] == epoch]
        files = files_in(folder)[0]
        manifest = {"model": identity.model, "latent_dim": identity.latent_dim, "dataset": identity.dataset,
                    "class_names": identity.class_names(), "epoch": epoch, "run": str(run_dir),
                    "test_elbo": rows[0].get("test_elbo") if rows else None,
                    "test_elbo_from": "train.py's metrics.csv after this epoch (one draw of z per test image); "
                                      "evaluate.py's eval.json gives the README's numbers",
                    "signatures": list(signatures), "image_shape": list(model.image_shape),
                    "images": ("the means of p(x | z, y), [B, H, W, C] in [0, 1]" if model.has_latent_space else None),
                    "likelihood": model.likelihood.name if model.has_latent_space else None,
                    "sampler": (None if not model.has_latent_space else "prior" if mixture is None
                                else f"gmm, {mixture.components} components"),
                    "sha256": {name: sha256_of((folder / name).read_bytes()) for name in files}}
        write_atomic(folder / "export.json", json.dumps(manifest, indent=2) + "\n")

    replaced = replace_folder(out, write, "an export", earlier_export_or_why_not)
    return Export(out, list(signatures), sum((out / name).stat().st_size for name in files_in(out)[0]), replaced)


def unsafe_operations(saved_model_pb):
    """What in a saved_model.pb's graphs no export of ours has, sorted: operations outside ALLOWED_OPS, the
    saver's file operations outside its own save and restore functions, and calls into those functions from
    anywhere but the saver. [] for a graph that is safe to load."""
    from tensorflow.core.protobuf import saved_model_pb2
    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString(saved_model_pb)
    found = set()
    for graph in saved.meta_graphs:
        top = {node.name: node for node in graph.graph_def.node}
        saver = graph.saver_def
        saver_nodes = {"save": saver.save_tensor_name.split(":")[0], "restore": saver.restore_op_name}
        saver_functions = {kind: next((value.func.name for value in top[name].attr.values() if value.func.name), None)
                           if name in top else None for kind, name in saver_nodes.items()}
        bodies = [("the graph", graph.graph_def.node)] + [(function.signature.name, function.node_def)
                                                          for function in graph.graph_def.library.function]
        for owner, nodes in bodies:
            for node in nodes:
                if node.op not in ALLOWED_OPS:
                    found.add(node.op)
                for kind, ops in SAVER_OPS.items():
                    if node.op in ops and owner != saver_functions[kind]:
                        found.add(f"{node.op} in {owner}")
                called = {value.func.name for value in node.attr.values() if value.func.name}
                for kind, function in saver_functions.items():
                    if function in called and not (owner == "the graph" and node.name == saver_nodes[kind]):
                        found.add(f"a call of the saver's {kind} function in {owner}")
    return sorted(found)


def read_export(directory):
    """(model.keras as a Keras model, the loaded SavedModel, export.json as a dict) of an export, after it is
    checked: export.json well-formed, every file there listed in it and matching its sha256, no operation
    outside ALLOWED_OPS in the SavedModel's graph, and the model of the sizes export.json says.
    UserFacingError (one line) when anything is not."""
    import keras
    import tensorflow as tf

    import model.registry  # noqa: F401  (registers our classes, for keras.saving.load_model)
    directory = Path(directory)
    again = "export it again with export.py"
    try:
        manifest = read_manifest(directory)
    except ValueError as err:
        raise UserFacingError(f"{directory} is not an export of export.py: {err}")
    foreign, other = unlisted_files(directory, manifest)
    if other or foreign:
        raise UserFacingError(f"{directory} holds {', '.join((other + foreign)[:5])}, which its export.json does not "
                              f"list; an export holds only its listed files")
    wrong = changed_file(directory, manifest["sha256"], "export.json")
    if wrong:
        raise UserFacingError(f"{wrong}; {again}")
    try:
        unknown = unsafe_operations((directory / "saved_model" / "saved_model.pb").read_bytes())
    except Exception as err:  # a protobuf that does not parse
        raise UserFacingError(f"cannot load {directory / 'saved_model'}: its saved_model.pb does not parse "
                              f"({type(err).__name__}); {again}")
    if unknown:
        raise UserFacingError(f"{directory / 'saved_model'} holds operations no export of export.py has "
                              f"({', '.join(unknown[:8])}); it is not loaded, since loading a SavedModel runs its "
                              f"graph")
    loaded = {}
    for name, load in (("model.keras", keras.saving.load_model), ("saved_model", tf.saved_model.load)):
        try:
            loaded[name] = load(str(directory / name))
        except Exception as err:  # a damaged zip, protobuf or HDF5 file: each has its own exception types
            raise UserFacingError(f"cannot load {directory / name} ({type(err).__name__}: "
                                  f"{str(err).strip().splitlines()[0][:200] if str(err).strip() else 'no message'}); {again}")
    network = loaded["model.keras"]
    if (network.latent_dim, network.classes) != (manifest["latent_dim"], len(manifest["class_names"])):
        raise UserFacingError(f"{directory}: export.json says latent_dim {manifest['latent_dim']} and "
                              f"{len(manifest['class_names'])} classes, model.keras has {network.latent_dim} and "
                              f"{network.classes}; {again}")
    return network, loaded["saved_model"], manifest


def check_export(directory):
    """Check an export (read_export), then load it both ways and compare the images they generate for each
    class; returns what was checked, as one line. UserFacingError when anything differs or does not load."""
    import numpy as np
    import tensorflow as tf
    model, saved, manifest = read_export(directory)
    if "generate" not in manifest["signatures"]:
        return f"{directory}: every file matches export.json; model.keras and saved_model/ load (a classifier)"
    classes = len(manifest["class_names"])
    labels = np.arange(classes, dtype=np.int32)
    z = model.prior.draw(labels, np.random.default_rng(0))
    arguments = (tf.constant(labels), tf.constant(z)) if model.conditional else (tf.constant(z),)
    exported = saved.generate(*arguments)["images"].numpy()
    difference = float(np.max(np.abs(exported - np.asarray(model.generate(z, labels)))))
    # A model that differs draws images that differ by levels; the same model, graph against eager, by float
    # rounding: the mixture's mean (a difference of softplus integrals over scales up to exp(5)) by up to about
    # 1e-5 (1.2e-5 seen on a cvae_resnet of 3 components), a four-hundredth of a level.
    if difference > 1e-4:
        raise UserFacingError(f"{directory}: saved_model/ and model.keras draw different images (max difference "
                              f"{difference:.2g}); export it again with export.py")
    return (f"{directory}: every file matches export.json; model.keras and saved_model/ load and draw the same "
            f"images for {classes if model.conditional else 'one'} label(s) (max difference {difference:.1g})")

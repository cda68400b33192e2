"""The latent explorer: a static site whose page rebuilds a run's decoder with TensorFlow.js, its server
on localhost, and the driver that reads the page back in Debian's chromium (its test and its bench).

  index.html, explorer.js   the page (from web/): the decoder rebuilt with TensorFlow.js, redrawn on every
                            move of the point (n = 2) or of a slider (n > 2), and the same z decoded under
                            every label at once
  tf.min.js                 TensorFlow.js, from npm (`npm ci` installs the version package-lock.json pins)
  manifest.json             the decoder's layers, the class names, where each weight lies in weights.bin
  weights.bin               the decoder's weights, float32
"""
import errno
import functools
import http.server
import json
import shutil

import numpy as np

from cvae import ROOT
from cvae.datasets import load_for
from cvae.errors import UsageError, UserFacingError
from cvae.files import prepare_output_folder, sha256_of, write_atomic
from cvae.generation import encode_means

TFJS = ROOT / "node_modules" / "@tensorflow" / "tfjs" / "dist" / "tf.min.js"
PAGE = ("index.html", "explorer.js")
WRITTEN = (*PAGE, "tf.min.js", "manifest.json", "weights.bin")  # all that an explorer folder holds
FORMAT = 1  # manifest.json's layout; web/explorer.js reads this number and refuses another
Z_RANGE = 2.3263  # the prior's 99% quantile: the plane and the sliders span the 1%-99% quantiles
CODES_SHOWN = 2000  # test images whose latent means are drawn behind the plane (the plain vae, n = 2)
PORTS_TRIED = 20


def layer_spec(layer, add_weight):
    """A layer as the page runs it: {"kind", its settings, "kernel"/"bias": [byte offset, shape]}."""
    import keras
    config = layer.get_config()
    if isinstance(layer, keras.layers.Dense):
        return {"kind": "dense", "activation": config["activation"], "kernel": add_weight(layer.kernel),
                "bias": add_weight(layer.bias)}
    if isinstance(layer, keras.layers.Reshape):
        return {"kind": "reshape", "shape": list(layer.target_shape)}
    if isinstance(layer, keras.layers.Conv2DTranspose):
        strides = set(layer.strides)
        if len(strides) != 1 or not layer.use_bias:
            raise UserFacingError(f"explore.py cannot yet run {layer.name} (uneven strides or no bias) in the browser")
        return {"kind": "deconv", "strides": strides.pop(), "padding": layer.padding, "activation": config["activation"],
                "kernel": add_weight(layer.kernel), "bias": add_weight(layer.bias)}
    if isinstance(layer, keras.layers.Cropping2D):
        (top, bottom), (left, right) = layer.cropping
        return {"kind": "crop", "crop": [top, bottom, left, right]}
    raise UserFacingError(f"explore.py cannot yet run a {type(layer).__name__} ({layer.name}) in the browser")


def site_files(model, identity, epoch, run_name, codes=None):
    """(manifest dict, weights bytes) of the model's decoder (its declared decoder_layers; the page reshapes
    the last layer's output to the image)."""
    chunks, size = [], 0

    def add_weight(variable):
        nonlocal size
        array = np.asarray(variable, dtype="<f4")
        chunks.append(array.tobytes())
        size += array.nbytes
        return [size - array.nbytes, list(array.shape)]

    layers = [layer_spec(layer, add_weight) for layer in model.decoder_layers]
    weights = b"".join(chunks)
    manifest = {"format": FORMAT, "model": identity.model, "run": run_name, "epoch": epoch,
                "latent_dim": model.latent_dim, "conditional": bool(model.conditional),
                "class_names": identity.class_names(), "z_range": Z_RANGE, "layers": layers,
                "weights": "weights.bin", "weights_sha256": sha256_of(weights)}
    if codes is not None:
        manifest["codes"] = codes
    return manifest, weights


def test_codes(model, identity, data_dir):
    """[[z0, z1, label]] of the first CODES_SHOWN test images (the plain vae, n = 2): where the data lie."""
    data = load_for(identity, data_dir)
    images, labels = data.test_images[:CODES_SHOWN], data.test_labels[:CODES_SHOWN]
    means = encode_means(model, images, labels)
    return [[round(float(a), 3), round(float(b), 3), int(label)] for (a, b), label in zip(means, labels)]


def explorer_or_why_not(out):
    """None when `out` holds an explorer of this FORMAT (its files may be replaced), else why it may not be
    written."""
    try:
        found = json.loads((out / "manifest.json").read_text()).get("format")
    except (OSError, ValueError, AttributeError):
        return f"{out} is not empty and holds no explorer; give an empty or new folder with --out"
    if found != FORMAT:
        return (f"{out} holds an explorer of another version (manifest format {found}, this explore.py writes "
                f"{FORMAT}); remove it or give another --out")
    return None


def check_tfjs():
    """UserFacingError unless TensorFlow.js is installed, which every explorer folder copies."""
    if not TFJS.exists():
        raise UserFacingError(f"TensorFlow.js is not installed ({TFJS} is missing): run `npm ci` in {ROOT} (it "
                              f"installs the version package-lock.json pins, from npm)")


def write_explorer(run, out, data_dir):
    """Write the explorer of a TrainedRun into the folder `out` (new, empty, or an earlier explorer: prepared
    here); returns the bytes of weights written."""
    check_tfjs()
    model = run.model
    if not model.has_latent_space:
        raise UsageError(f"{run.identity.model} is a classifier: it has no latent space to explore")
    prepare_output_folder(out, WRITTEN, "an explorer", explorer_or_why_not)
    codes = test_codes(model, run.identity, data_dir) if model.latent_dim == 2 and not model.conditional else None
    manifest, weights = site_files(model, run.identity, run.epoch, run.name, codes)
    write_files(out, manifest, weights)
    return len(weights)


def write_files(out, manifest, weights):
    """The page, TensorFlow.js, the weights, then the manifest: a folder without it is unfinished."""
    for name in PAGE:
        shutil.copyfile(ROOT / "web" / name, out / name)
    shutil.copyfile(TFJS, out / "tf.min.js")
    (out / "weights.bin").write_bytes(weights)
    write_atomic(out / "manifest.json", json.dumps(manifest) + "\n")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # one line per request would bury the URL
        pass


def server_for(directory, port):
    """An HTTP server of `directory` bound to 127.0.0.1 at `port`, or the next free port (port 0: any)."""
    handler = functools.partial(QuietHandler, directory=str(directory))
    for candidate in range(port, port + PORTS_TRIED) if port else [0]:
        try:
            return http.server.ThreadingHTTPServer(("127.0.0.1", candidate), handler)
        except OSError as err:
            if err.errno != errno.EADDRINUSE:
                raise
    raise UserFacingError(f"ports {port}-{port + PORTS_TRIED - 1} are all in use; pass another --port")


def drive(site, steps, work):
    """What web/drive.mjs read from the page of `site`, served on a free localhost port and driven through
    `steps` in Debian's chromium (the test's and the bench's way in); `work` holds its steps and output."""
    import subprocess
    import threading
    server = server_for(site, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        (work / "steps.json").write_text(json.dumps(steps))
        result = subprocess.run(["node", str(ROOT / "web" / "drive.mjs"), f"http://127.0.0.1:{server.server_address[1]}/",
                                 str(work / "steps.json"), str(work / "out.json")],
                                capture_output=True, text=True, timeout=300, cwd=ROOT)
    finally:
        server.shutdown()
        server.server_close()
    if result.returncode != 0:
        raise RuntimeError(f"web/drive.mjs failed: {result.stderr.strip()[-2000:]}")
    return json.loads((work / "out.json").read_text())


def serve(directory, port):
    """Serve `directory` until Ctrl-C, saying where (and when `port` was taken)."""
    server = server_for(directory, port)
    bound = server.server_address[1]
    if bound != port:
        print(f"port {port} is in use; serving on {bound} instead")
    print(f"serving {directory} at http://127.0.0.1:{bound}/  (Ctrl-C stops)", flush=True)
    with server:
        server.serve_forever()

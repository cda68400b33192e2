"""The latent explorer: a static site whose page rebuilds a run's decoder with TensorFlow.js, and its server
on localhost (tests/browser.py drives the page in Debian's chromium, for the tests and the README's screenshot).

  index.html, explorer.js   the page (from web/): the decoder rebuilt with TensorFlow.js, redrawn on every
                            move of the point (n = 2) or of a slider (n > 2), and the same z decoded under
                            every label at once
  tf.min.js                 TensorFlow.js, from npm (`npm ci` installs the version package-lock.json pins)
  manifest.json             the decoder's layers, the class names, where each weight lies in weights.bin, and
                            with --sampler gmm the run's fitted mixtures (a button draws z from them)
  weights.bin               the decoder's weights, float32
"""
import errno
import http.server
import json
import os
import shutil
import stat
import urllib.parse
from pathlib import Path

import numpy as np

from model import names as model_names
from cvae import ROOT
from cvae.datasets import load_for
from cvae.errors import UsageError, UserFacingError
from cvae.files import files_in, replace_folder, sha256_of
from cvae.generation import encode_means

TFJS = ROOT / "node_modules" / "@tensorflow" / "tfjs" / "dist" / "tf.min.js"
PAGE = ("index.html", "explorer.js")
WRITTEN = (*PAGE, "tf.min.js", "manifest.json", "weights.bin")  # all that an explorer folder holds
FORMAT = 1  # manifest.json's layout; web/explorer.js reads this number and refuses another
Z_SPAN = 0.99  # the plane and the sliders span the prior's 1%-99% quantiles
CODES_SHOWN = 2000  # test images whose latent means are drawn behind the plane (the plain vae, n = 2)
PORTS_TRIED = 20


def activation_name(activation):
    """The page's name of a Keras layer's activation function (tf.nn.silu is named swish)."""
    name = getattr(activation, "__name__", "")
    name = "silu" if name == "swish" else name
    if name not in ("relu", "softplus", "linear", "silu"):
        raise UserFacingError(f"explore.py cannot yet run the activation {name or activation!r} in the browser")
    return name


def layer_spec(layer, add_weight):
    """A decoder step (model.blocks) as the page runs it: {"kind", its settings, "kernel"/"bias": [byte offset,
    shape]}."""
    import keras
    from model import blocks
    if isinstance(layer, blocks.CodeAdded):
        return {"kind": "add_code", "kernel": add_weight(layer.dense.kernel), "bias": add_weight(layer.dense.bias)}
    if isinstance(layer, blocks.Reshaped):
        return {"kind": "reshape", "shape": list(layer.shape)}
    if isinstance(layer, blocks.UpSampled):
        return {"kind": "upsample"}
    if isinstance(layer, blocks.Activated):
        return {"kind": "activation", "activation": activation_name(blocks.ACTIVATION)}
    if isinstance(layer, blocks.Cropped):
        return {"kind": "crop", "crop": [layer.top, layer.bottom, layer.left, layer.right]}
    if isinstance(layer, blocks.ResidualBlock):
        return {"kind": "residual", "activation": activation_name(blocks.ACTIVATION),
                "first": layer_spec(layer.first, add_weight), "second": layer_spec(layer.second, add_weight)}
    if isinstance(layer, keras.layers.Dense):
        return {"kind": "dense", "activation": activation_name(layer.activation), "kernel": add_weight(layer.kernel),
                "bias": add_weight(layer.bias)}
    if isinstance(layer, keras.layers.Reshape):
        return {"kind": "reshape", "shape": list(layer.target_shape)}
    if isinstance(layer, keras.layers.Conv2DTranspose):
        strides = set(layer.strides)
        if len(strides) != 1 or not layer.use_bias:
            raise UserFacingError(f"explore.py cannot yet run {layer.name} (uneven strides or no bias) in the browser")
        return {"kind": "deconv", "strides": strides.pop(), "padding": layer.padding,
                "activation": activation_name(layer.activation), "kernel": add_weight(layer.kernel),
                "bias": add_weight(layer.bias)}
    if isinstance(layer, keras.layers.Conv2D):
        if set(layer.strides) != {1} or set(layer.dilation_rate) != {1} or layer.padding != "same" \
                or not layer.use_bias:
            raise UserFacingError(f"explore.py cannot yet run {layer.name} (a convolution with strides, dilation, "
                                  f"valid padding or no bias) in the browser")
        return {"kind": "conv", "activation": activation_name(layer.activation), "kernel": add_weight(layer.kernel),
                "bias": add_weight(layer.bias)}
    if isinstance(layer, keras.layers.Cropping2D):
        (top, bottom), (left, right) = layer.cropping
        return {"kind": "crop", "crop": [top, bottom, left, right]}
    raise UserFacingError(f"explore.py cannot yet run a {type(layer).__name__} ({layer.name}) in the browser")


def site_files(model, identity, epoch, run_name, codes=None, mixture=None):
    """(manifest dict, weights bytes) of the model's decoder (its declared decoder_layers; the page reshapes
    the last layer's output to the image), and the fitted cvae.samplers.Mixture when given."""
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
                "image_shape": list(model.image_shape), "likelihood": model.likelihood.name,
                "class_names": identity.class_names(), "z_range": round(float(model.prior.quantile(Z_SPAN)), 4),
                "layers": layers,
                "weights": "weights.bin", "weights_sha256": sha256_of(weights)}
    prior = model.prior.as_mixture()  # a learned prior's components; N(0, I) the page draws itself
    if prior is not None:
        manifest["prior"] = {name: [np.round(np.asarray(group, np.float32), 5).tolist() for group in per_class]
                             for name, per_class in prior.items()}  # per class: classes may hold unequal counts
    if codes is not None:
        manifest["codes"] = codes
    if mixture is not None:
        manifest["mixture"] = {name: np.asarray(getattr(mixture, name), np.float32).tolist()
                               for name in ("weights", "means", "cholesky")}
    return manifest, weights


def test_codes(model, identity, data_dir):
    """[[z0, z1, label]] of the first CODES_SHOWN test images (the plain vae, n = 2): where the data lie."""
    data = load_for(identity, data_dir)
    images, labels = data.test_images[:CODES_SHOWN], data.test_labels[:CODES_SHOWN]
    means = encode_means(model, images, labels)
    return [[round(float(a), 3), round(float(b), 3), int(label)] for (a, b), label in zip(means, labels)]


def explorer_or_why_not(out):
    """None when `out` holds an explorer of this FORMAT and nothing else (it may be replaced), else why it may
    not be written."""
    try:
        manifest = json.loads((out / "manifest.json").read_text()) if not (out / "manifest.json").is_symlink() else None
    except (OSError, UnicodeDecodeError, ValueError):
        manifest = None
    ours = isinstance(manifest, dict) and manifest.get("model") in model_names() \
        and isinstance(manifest.get("layers"), list) \
        and manifest.get("weights") == "weights.bin" and isinstance(manifest.get("weights_sha256"), str)
    if not ours:
        return f"{out} is not empty and holds no explorer; give an empty or new folder with --out"
    if manifest.get("format") != FORMAT:
        return (f"{out} holds an explorer of another version (manifest format {manifest.get('format')}, this "
                f"explore.py writes {FORMAT}); remove it or give another --out")
    files, other = files_in(out)
    foreign = other + sorted(set(files) - set(WRITTEN))
    if foreign:
        return (f"--out {out} holds {', '.join(foreign[:5])}, which an explorer does not write; refusing to write "
                f"there (move them away, or give another --out)")
    return None


def check_tfjs():
    """UserFacingError unless TensorFlow.js is installed, which every explorer folder copies."""
    if not TFJS.exists():
        raise UserFacingError(f"TensorFlow.js is not installed ({TFJS} is missing): run `npm ci` in {ROOT} (it "
                              f"installs the version package-lock.json pins, from npm)")


def check_explorable(run):
    """UsageError unless the run's model has a latent space and a decoder the page can rebuild (its
    decoder_layers, the Keras layers its decoder applies in order)."""
    if not run.model.has_latent_space:
        raise UsageError(f"{run.identity.model} is a classifier: it has no latent space to explore")
    if not hasattr(run.model, "decoder_layers"):
        raise UsageError(f"explore.py rebuilds a decoder from the list of Keras layers it applies in order, and "
                         f"{run.identity.model} declares none (its decoder_layers, README: Adding a model)")


def write_explorer(run, out, data_dir, mixture=None):
    """Write the explorer of a TrainedRun into the folder `out`: new, empty, or an earlier explorer (replaced
    whole, when it holds nothing else); with `mixture` (the run's cvae.samplers.Mixture) the page can draw z
    from it. Returns (the bytes of weights written, whether an earlier explorer was replaced)."""
    check_explorable(run)
    check_tfjs()
    out = Path(out)
    model = run.model
    codes = test_codes(model, run.identity, data_dir) if model.latent_dim == 2 and not model.conditional else None
    manifest, weights = site_files(model, run.identity, run.epoch, run.name, codes, mixture)
    replaced = replace_folder(out, lambda folder: write_files(folder, manifest, weights), "an explorer",
                              explorer_or_why_not)
    return len(weights), replaced


def write_files(out, manifest, weights):
    """The page, TensorFlow.js, the weights and the manifest, into the new folder `out`."""
    for name in PAGE:
        shutil.copyfile(ROOT / "web" / name, out / name)
    shutil.copyfile(TFJS, out / "tf.min.js")
    (out / "weights.bin").write_bytes(weights)
    (out / "manifest.json").write_text(json.dumps(manifest) + "\n")


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".json": "application/json", ".bin": "application/octet-stream"}


class SiteHandler(http.server.BaseHTTPRequestHandler):
    """Serves exactly the files an explorer folder holds (WRITTEN; "/" is index.html), each a regular file read
    without following a link, to requests that name this machine by a loopback name in their Host header (a
    page of another site cannot reach it by rebinding a name of its own): 404 for any other path, 400 for
    another Host. Nothing else of the disk is reachable, and no folder is listed."""
    site = None  # the folder served; set by server_for

    def do_GET(self):
        self.serve(body=True)

    def do_HEAD(self):
        self.serve(body=False)

    def serve(self, body):
        host, port = host_and_port(self.headers.get("Host") or "")
        if host not in LOOPBACK_NAMES or (port and port != str(self.server.server_address[1])):
            return self.send_error(400, "Host must be this machine's loopback address")
        name = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path).lstrip("/") or "index.html"
        if name not in WRITTEN:
            return self.send_error(404)
        try:
            # O_NONBLOCK: a FIFO put in a file's place opens at once (and is then refused) instead of hanging.
            fd = os.open(self.site / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return self.send_error(404)
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO, a folder, a device: no file of the site
            os.close(fd)
            return self.send_error(404)
        with os.fdopen(fd, "rb") as f:
            data = f.read()
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPES.get(Path(name).suffix, "application/octet-stream"))
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, *args):  # one line per request would bury the URL
        pass


def host_and_port(header):
    """("localhost", "8000") of a Host header "localhost:8000"; an IPv6 address keeps its brackets."""
    if header.startswith("["):
        host, _, rest = header.partition("]")
        return host + "]", rest.removeprefix(":")
    host, _, port = header.partition(":")
    return host, port


class SiteServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # a broken request is the client's; no traceback here
        pass


def server_for(directory, port):
    """An HTTP server of the explorer folder `directory` bound to 127.0.0.1 at `port`, or the next free port
    (port 0: any)."""
    handler = type("Handler", (SiteHandler,), {"site": Path(directory)})
    candidates = range(port, min(port + PORTS_TRIED, 65536)) if port else [0]
    for candidate in candidates:
        try:
            return SiteServer(("127.0.0.1", candidate), handler)
        except OSError as err:
            if err.errno != errno.EADDRINUSE:
                raise
    raise UserFacingError(f"ports {candidates[0]}-{candidates[-1]} are all in use; pass another --port")


def serve(directory, port):
    """Serve `directory` until Ctrl-C, saying where (and when `port` was taken)."""
    server = server_for(directory, port)
    bound = server.server_address[1]
    if bound != port:
        print(f"port {port} is in use; serving on {bound} instead")
    print(f"serving {directory} at http://127.0.0.1:{bound}/  (Ctrl-C stops)", flush=True)
    with server:
        server.serve_forever()

"""The regression check for refactors: train every model for 2 epochs on --subset 2000 with
--deterministic and print the sha256 of its final weights.

    python -m tests.weight_hashes            # print {run: sha256} as JSON (from the repository's root)
    python -m tests.weight_hashes --record   # write tests/weight_hashes.json
    python -m tests.weight_hashes --check    # exit 1 unless the hashes equal the recorded ones

A change that only reshapes code must give the same hashes, bit for bit. Float results depend on the
CPU's instruction set (which picks oneDNN's and Eigen's kernels) and the TensorFlow build, not on the CPU's
name: two machines that report "AMD EPYC" gave different weights. So the recorded file keeps a fingerprint of
the float behaviour, the sha256 of a few fixed operations' outputs at the models' shapes (matmul, convolution,
transposed convolution and the activations, in float32 and bfloat16); --check on a machine whose fingerprint
differs says so (exit 3, and the test skips with that reason) instead of comparing. To move the reference to
this machine, run --record at a commit known to be good (git stash or a worktree of it), then check the change
against it.

The runs train one after the other through train.py's main() in this process (each seeds everything
itself: in separate processes they give the same hashes, checked when this was written). The hash
covers the model's variables as stored in the checkpoint (noise-generator states included, optimizer
slots not): the sorted digests of the tensors, so renaming or reordering variables does not change it.
"""
import argparse
import contextlib
import hashlib
import io
import json
import platform
import sys
import tempfile
from pathlib import Path

RECORDED = Path(__file__).with_suffix(".json")
COMMON = ["--subset", "2000", "-e", "2", "-b", "100", "--deterministic"]
RUNS = {
    "vae": ["vae", "-n", "2"],
    "vae --binarize": ["vae", "-n", "2", "--binarize"],
    "cvae_fc3": ["cvae_fc3", "-n", "2"],
    "cvae_fc3 -c 1": ["cvae_fc3", "-n", "2", "-c", "1"],
    "cvae_cnn2": ["cvae_cnn2", "-n", "2"],
    "cvae_cnn3": ["cvae_cnn3", "-n", "2"],
    "cvae_cnn3 --binarize -c 1": ["cvae_cnn3", "-n", "2", "--binarize", "-c", "1"],
    "cvae_fc3 --likelihood logistic": ["cvae_fc3", "-n", "2", "--likelihood", "logistic"],
    "cnn": ["cnn"],
    "m2 --labels 100": ["m2", "-n", "2", "--labels", "100"],
}
MODEL_VARIABLES_SKIP = ("optimizer/", "epoch/", "save_counter/", "_CHECKPOINTABLE_OBJECT_GRAPH")


def fingerprint():
    """The sha256 of fixed TensorFlow operations' outputs on fixed inputs, at the shapes the models compute
    (a dense layer, a strided convolution, a transposed one, the activations and the losses' transcendentals),
    in float32 and bfloat16, with the TensorFlow version: two machines share it when their kernels round alike."""
    import numpy as np
    import tensorflow as tf
    rng = np.random.default_rng(2014)
    digest = hashlib.sha256(tf.__version__.encode())
    x = rng.standard_normal((100, 794)).astype(np.float32)
    kernel = rng.standard_normal((794, 500)).astype(np.float32) * 0.05
    images = rng.standard_normal((16, 28, 28, 11)).astype(np.float32)
    filters = rng.standard_normal((6, 6, 11, 16)).astype(np.float32) * 0.1
    up = rng.standard_normal((16, 7, 7, 16)).astype(np.float32)
    up_filters = rng.standard_normal((4, 4, 1, 16)).astype(np.float32) * 0.1
    for dtype in (tf.float32, tf.bfloat16):
        dense = tf.matmul(tf.cast(x, dtype), tf.cast(kernel, dtype))
        conv = tf.nn.conv2d(tf.cast(images, dtype), tf.cast(filters, dtype), strides=3, padding="SAME")
        deconv = tf.nn.conv2d_transpose(tf.cast(up, dtype), tf.cast(up_filters, dtype), [16, 28, 28, 1], strides=4)
        outputs = [dense, conv, deconv]
        if dtype == tf.float32:
            outputs += [tf.nn.softplus(dense), tf.sigmoid(dense), tf.exp(dense * 0.1), tf.math.log1p(tf.abs(dense)),
                        tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.sigmoid(x), logits=x)]
        for output in outputs:
            digest.update(np.asarray(tf.cast(output, tf.float32)).tobytes())
    return digest.hexdigest()


def machine():
    """The CPU's name and the TensorFlow build, for a reader: fingerprint() decides what compares."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import tensorflow as tf
    return f"{cpu}; tensorflow {tf.__version__}"


def checkpoint_hash(ckpt_dir):
    """sha256 over the sorted sha256s of the model's tensors in the newest checkpoint of ckpt_dir."""
    import tensorflow as tf
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(ckpt_dir)))
    digests = sorted(hashlib.sha256(reader.get_tensor(key).tobytes()).hexdigest()
                     for key in reader.get_variable_to_shape_map() if not key.startswith(MODEL_VARIABLES_SKIP))
    return hashlib.sha256("".join(digests).encode()).hexdigest()


def weight_hashes(log=print):
    import train
    hashes = {}
    with tempfile.TemporaryDirectory(prefix="weight-hashes-") as log_dir:
        for name, args in RUNS.items():
            run_log = Path(log_dir) / name.replace(" ", "_")
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                status = train.main([*args, *COMMON, "--log-dir", str(run_log)])
            if status != 0:
                raise SystemExit(f"train.py {' '.join(args)} failed with status {status}:\n{printed.getvalue()}")
            (ckpt_dir,) = run_log.glob("*/ckpt")
            hashes[name] = checkpoint_hash(ckpt_dir)
            log(f"{name:<28} {hashes[name]}")
    return hashes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--record", action="store_true", help=f"write the hashes to {RECORDED.name}")
    action.add_argument("--check", action="store_true", help=f"compare with {RECORDED.name}")
    args = parser.parse_args(argv)
    from cvae import import_tensorflow_quietly
    import_tensorflow_quietly()
    import tensorflow as tf
    tf.get_logger().setLevel("ERROR")  # retracing notices: each run builds its own steps, as intended
    here = fingerprint()
    if args.check:
        recorded = json.loads(RECORDED.read_text())
        if recorded.get("fingerprint") != here:
            print(f"the hashes were recorded on a machine whose float results differ from this one's ('{recorded['machine']}', "
                  f"fingerprint {str(recorded.get('fingerprint'))[:12]}; this is '{machine()}', {here[:12]}): not "
                  f"comparable; run --record at a known-good commit on this machine")
            return 3
    hashes = weight_hashes(log=lambda line: print(line, file=sys.stderr))
    if args.record:
        RECORDED.write_text(json.dumps({"machine": machine(), "fingerprint": here, "hashes": hashes}, indent=2) + "\n")
        print(f"wrote {RECORDED}")
    elif args.check:
        differ = [name for name in RUNS if recorded["hashes"].get(name) != hashes[name]]
        if differ:
            print(f"weights differ from the recorded ones for: {', '.join(differ)}")
            return 1
        print(f"all {len(hashes)} runs give the recorded weights, bit for bit")
    else:
        print(json.dumps(hashes, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

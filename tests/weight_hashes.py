"""The regression check for refactors: train every model for 2 epochs on --subset 2000 with
--deterministic and print the sha256 of its final weights.

    python tests/weight_hashes.py                       # print {run: sha256} as JSON
    python tests/weight_hashes.py --record              # write tests/weight_hashes.json
    python tests/weight_hashes.py --check               # exit 1 unless the hashes equal the recorded ones

A change that only reshapes code must give the same hashes, bit for bit. Float results depend on the
CPU and the TensorFlow build, so the recorded file names the machine it was made on; --check on another
machine says so (exit 3) instead of comparing. To move the reference to a new machine, run --record at a
commit known to be good, there.

Each run trains through train.py's main(), in its own process, and the hash covers the model's
variables as stored in the checkpoint (noise-generator states included, optimizer slots not): the
sorted digests of the tensors, so renaming or reordering variables does not change it.
"""
import argparse
import hashlib
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
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
    "cnn": ["cnn"],
    "m2 --labels 100": ["m2", "-n", "2", "--labels", "100"],
}
# Train through train.py's main, then hash the checkpoint's model variables, in one process.
TRAIN_AND_HASH = """
import hashlib, pathlib, sys
import train
if train.main(sys.argv[2:]) != 0:
    sys.exit(1)
import tensorflow as tf
(ckpt_dir,) = pathlib.Path(sys.argv[1]).glob("*/ckpt")
reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(ckpt_dir)))
skip = ("optimizer/", "epoch/", "save_counter/", "_CHECKPOINTABLE_OBJECT_GRAPH")
digests = sorted(hashlib.sha256(reader.get_tensor(key).tobytes()).hexdigest()
                 for key in reader.get_variable_to_shape_map() if not key.startswith(skip))
print(hashlib.sha256("".join(digests).encode()).hexdigest())
"""


def machine():
    """What the float results depend on: the CPU model and the TensorFlow build."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    version = subprocess.run([sys.executable, "-c", "import tensorflow as tf; print(tf.__version__)"],
                             capture_output=True, text=True, check=True).stdout.strip()
    return f"{cpu}; tensorflow {version}"


def weight_hashes(log=print):
    hashes = {}
    with tempfile.TemporaryDirectory(prefix="weight-hashes-") as log_dir:
        for name, args in RUNS.items():
            run_log = Path(log_dir) / name.replace(" ", "_")
            result = subprocess.run([sys.executable, "-c", TRAIN_AND_HASH, str(run_log), *args, *COMMON,
                                     "--log-dir", str(run_log)], capture_output=True, text=True, cwd=ROOT)
            if result.returncode != 0:
                raise SystemExit(f"train.py {' '.join(args)} failed:\n{result.stderr[-2000:]}")
            digest = result.stdout.strip().splitlines()[-1]
            hashes[name] = digest
            log(f"{name:<28} {digest}")
    return hashes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--record", action="store_true", help=f"write the hashes to {RECORDED.name}")
    action.add_argument("--check", action="store_true", help=f"compare with {RECORDED.name}")
    args = parser.parse_args(argv)
    here = machine()
    if args.check:
        recorded = json.loads(RECORDED.read_text())
        if recorded["machine"] != here:
            print(f"the hashes were recorded on '{recorded['machine']}', this is '{here}': not comparable; "
                  f"run --record at a known-good commit on this machine")
            return 3
    hashes = weight_hashes(log=lambda line: print(line, file=sys.stderr))
    if args.record:
        RECORDED.write_text(json.dumps({"machine": here, "hashes": hashes}, indent=2) + "\n")
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

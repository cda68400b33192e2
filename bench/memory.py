"""Peak resident memory (RSS) of train.py for each model, beside what TensorFlow takes by itself.

    python -m bench.memory                    # every model, 2 epochs each on full MNIST (a few minutes)
    python -m bench.memory --models vae cnn

Each row is one process, its peak RSS read by wait4 when it ends:
  python + TensorFlow   `import tensorflow` and nothing else: TensorFlow's own share
  + MNIST in memory     that, plus dataset.load_mnist (uint8 arrays, 55 MB)
  train.py MODEL        `train.py MODEL -e 2` into a temporary log directory (m2 with --labels 100)
"""
import argparse
import os
import subprocess
import sys
import tempfile

from bench.throughput import ROOT
from model import names as model_names

STAGES = {
    "python + TensorFlow": "import tensorflow",
    "+ MNIST in memory": "import tensorflow; from cvae import mnist; mnist.load_mnist(log=lambda *a: None)",
}


def peak_rss_mb(command):
    """Peak RSS in MB (10^6 bytes) of the process `command` runs, which must succeed."""
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    _, status, usage = os.wait4(process.pid, 0)
    stderr = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{stderr[-2000:]}")
    return usage.ru_maxrss * 1024 / 1e6  # ru_maxrss is in KiB on Linux


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=model_names(), default=list(model_names()))
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args(argv)
    from model.registry import model_class
    rows = [(stage, peak_rss_mb([sys.executable, "-c", code])) for stage, code in STAGES.items()]
    with tempfile.TemporaryDirectory() as log_dir:
        for name in args.models:
            extra = ["--labels", "100"] if model_class(name).semi_supervised else []
            command = [sys.executable, "train.py", name, "-e", str(args.epochs), "--log-dir", log_dir, *extra]
            rows.append((f"train.py {name}", peak_rss_mb(command)))
            print(f"{rows[-1][0]}: {rows[-1][1]:,.0f} MB", file=sys.stderr)
    print("| process | peak RSS, MB |")
    print("|---|---|")
    for name, mb in rows:
        print(f"| {name} | {mb:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

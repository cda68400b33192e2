"""What the TensorBoard images cost train.py each epoch (cvae.epoch_images.EpochImages: test reconstructions and
samples from fixed codes, written beside the scalars).

    python -m bench.epoch_images                  # every generative model, n = 20, 3 epochs on full MNIST
    python -m bench.epoch_images --models cvae_cnn3 --epochs 4

Each model is trained by cvae.training.train() into a temporary directory, as train.py trains it, with
EpochImages.write timed on every call. "epoch" is the time between two progress lines (training, test metrics,
CSV, checkpoint and TensorBoard, images included); the first epoch (tracing, compilation) is left out.
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from cvae import import_tensorflow_quietly

GENERATIVE = ("vae", "cvae_fc3", "cvae_cnn2", "cvae_cnn3", "m2")


def measure(name, epochs, latent_dim):
    """(median seconds of one EpochImages.write, median seconds of one epoch) after the first epoch."""
    from cvae import training
    from cvae import epoch_images
    from cvae.config import RunIdentity, TrainingSettings
    from cvae.rundir import RunDir
    from model.registry import model_class
    writes, progress = [], []
    write = epoch_images.EpochImages.write

    def timed_write(self, step):
        began = time.perf_counter()
        write(self, step)
        writes.append(time.perf_counter() - began)

    def log(line):
        if line.startswith("epoch "):
            progress.append(time.perf_counter())

    epoch_images.EpochImages.write = timed_write
    try:
        with tempfile.TemporaryDirectory() as log_dir:
            semi_supervised = model_class(name).semi_supervised  # it trains on 100 labels, as the README's m2
            identity = RunIdentity(name, latent_dim, labels=100 if semi_supervised else None)
            run_dir = RunDir(Path(log_dir) / identity.directory_name())
            with run_dir.lock():
                training.train(identity, TrainingSettings(epochs=epochs), run_dir, log=log)
    finally:
        epoch_images.EpochImages.write = write
    epoch_seconds = [b - a for a, b in zip(progress, progress[1:])]
    return statistics.median(writes[1:]), statistics.median(epoch_seconds)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=GENERATIVE, default=list(GENERATIVE))
    parser.add_argument("--epochs", type=int, default=3, help="at least 3: the first is left out")
    parser.add_argument("-n", "--latent-dim", type=int, default=20)
    args = parser.parse_args(argv)
    if args.epochs < 3:
        parser.error("--epochs must be at least 3 (the first epoch is left out, and a median needs two)")
    import_tensorflow_quietly()
    rows = []
    for name in args.models:
        image_seconds, epoch_seconds = measure(name, args.epochs, args.latent_dim)
        rows.append((name, image_seconds, epoch_seconds))
        print(f"{name}: images {image_seconds * 1000:.0f} ms of a {epoch_seconds:.1f} s epoch", file=sys.stderr)
    print(f"| model (n = {args.latent_dim}) | TensorBoard images, ms | epoch, s | share of the epoch |")
    print("|---|---|---|---|")
    for name, image_seconds, epoch_seconds in rows:
        print(f"| `{name}` | {image_seconds * 1000:.0f} | {epoch_seconds:.1f} | {image_seconds / epoch_seconds:.2%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

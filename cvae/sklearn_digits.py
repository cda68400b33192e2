"""scikit-learn's 1,797 bundled 8 x 8 handwritten digits as an image folder: the README's example of data of
one's own that no one here made (sklearn.datasets.load_digits reads them from scikit-learn's own files; nothing
is downloaded).

    python -m cvae.sklearn_digits data/sklearn_digits     # then: python train.py MODEL --dataset data/sklearn_digits --image-size 28

One folder per class (0 ... 9) of PNG files, white ink on black like MNIST: the 17 ink levels (0-16) scaled to
0-255, with a 1-pixel black border (MNIST's digits do not touch the frame either). The same files every time,
so runs on them get the same name (cvae_cnn3_2_sklearn_digits_06c14bec).
"""
import argparse
import sys
from pathlib import Path


def write_folder(out):
    """The digits as out/LABEL/NNNN.png; returns how many were written."""
    import numpy as np
    import tensorflow as tf
    from sklearn.datasets import load_digits
    digits = load_digits()
    for i, (image, label) in enumerate(zip(digits.images, digits.target)):
        (out / str(label)).mkdir(parents=True, exist_ok=True)
        pixels = np.pad(np.round(image * 255 / 16).astype(np.uint8), 1)[..., None]
        tf.io.write_file(str(out / str(label) / f"{i:04d}.png"), tf.io.encode_png(pixels))
    return len(digits.images)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m cvae.sklearn_digits", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the folder to write (e.g. data/sklearn_digits); made if missing")
    args = parser.parse_args(argv)
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"{args.out} is not empty: give a new folder (its files would mix with these)")
    from cvae import import_tensorflow_quietly
    import_tensorflow_quietly()
    count = write_folder(args.out)
    print(f"wrote {count:,} PNG files of 10 x 10 pixels into {args.out}/0 ... 9/ (scikit-learn's digits)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

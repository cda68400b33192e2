"""Colour MNIST: a colour data set built from MNIST, for the README's colour run. No colour image set can be
had on these machines without a download at run time, so this one is a construction, and says so.

    python -m cvae.colour_mnist data/colour_mnist.npz     # then: python train.py MODEL --dataset data/colour_mnist.npz

Each MNIST digit (its standard split, 60,000 training and 10,000 test images) is padded to 32 x 32 and drawn
in a colour on a background of another colour: pixel = (1 - g) background + g ink, g the digit's gray level
in [0, 1]. Ink and background are drawn for each image with one seeded numpy generator (SEED): hues uniform,
the ink bright (value 0.75 to 1) and the background dark (value 0.05 to 0.35), saturation 0.5 to 1 for both,
so the digit always stands out but neither colour says which digit it is. The same seed gives the same file,
byte for byte (its sha256 is tested). Written as an .npz of uint8 images [N, 32, 32, 3], labels, test_images,
test_labels and class_names, which train.py reads as any .npz of one's own.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

SEED = 26
SIZE = 32
INK_VALUE, BACKGROUND_VALUE, SATURATION = (0.75, 1.0), (0.05, 0.35), (0.5, 1.0)


def hsv_to_rgb(hue, saturation, value):
    """[N] each in [0, 1] -> [N, 3] RGB in [0, 1] (the standard hexcone conversion)."""
    sector = np.floor(hue * 6).astype(int) % 6
    f = hue * 6 - np.floor(hue * 6)
    p, q, t = value * (1 - saturation), value * (1 - f * saturation), value * (1 - (1 - f) * saturation)
    choices = [(value, t, p), (q, value, p), (p, value, t), (p, q, value), (t, p, value), (value, p, q)]
    return np.stack([np.select([sector == s for s in range(6)], [choice[channel] for choice in choices])
                     for channel in range(3)], axis=1)


def random_colours(rng, count, values):
    return hsv_to_rgb(rng.random(count), rng.uniform(*SATURATION, count), rng.uniform(*values, count))


def colourize(digits, rng):
    """uint8 gray digits [N, 28, 28(, 1)] -> uint8 [N, 32, 32, 3]: each in a random bright ink on a random dark
    background, padded by 2 pixels of background on every side."""
    gray = np.pad(digits.reshape(len(digits), 28, 28) / 255.0, ((0, 0), (2, 2), (2, 2)))[..., None]
    ink = random_colours(rng, len(digits), INK_VALUE)[:, None, None, :]
    background = random_colours(rng, len(digits), BACKGROUND_VALUE)[:, None, None, :]
    return np.round(255 * ((1 - gray) * background + gray * ink)).astype(np.uint8)


def build(mnist, seed=SEED):
    """{array name: array} of colour MNIST from an ImageSet of MNIST."""
    rng = np.random.default_rng(seed)
    return {"images": colourize(mnist.train_images, rng), "labels": np.asarray(mnist.train_labels, np.int64),
            "test_images": colourize(mnist.test_images, rng), "test_labels": np.asarray(mnist.test_labels, np.int64),
            "class_names": np.array([str(digit) for digit in range(10)])}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m cvae.colour_mnist", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the .npz to write (e.g. data/colour_mnist.npz)")
    parser.add_argument("--seed", type=int, default=SEED, help="the generator's seed (the README's file: the default)")
    args = parser.parse_args(argv)
    if args.out.suffix != ".npz":
        parser.error(f"{args.out}: give a file name ending in .npz")
    from cvae.data import DATA_DIR
    from cvae.files import atomic_file
    from cvae.mnist import load_mnist
    arrays = build(load_mnist(DATA_DIR), args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(args.out) as f:
        np.savez(f, **arrays)
    print(f"wrote {args.out}: {len(arrays['images']):,} training and {len(arrays['test_images']):,} test images of "
          f"32 x 32 x 3, MNIST's digits in colour (seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

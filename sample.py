"""Draw new images from a trained run: `python sample.py cvae_cnn3 -n 2 --digit 7 --count 64 --out sevens.png`.

z is drawn from N(0, std^2 I) (the prior at --std 1) and decoded under each requested label. The
output is a grid PNG (one block of rows per label) or, for a .npz file, the raw images as uint8
[N, H, W, C] (MNIST: [N, 28, 28, 1]) with their labels [N] (and the codes z [N, n] they were decoded from). The run is named
with the same flags as plot.py (or --run DIR); the model is rebuilt from its config.json and checkpoint.
"""
import argparse
import math
import sys
from pathlib import Path

import numpy as np

from cvae.cli import (HelpFormatter, add_debug_flag, add_run_flags, add_sampler_flags, class_of, noise_std,
                      parse_run_args, positive_int_up_to, random_seed, run_tool)
from cvae.limits import MAX_COUNT
from cvae.errors import UsageError
from cvae.files import atomic_file

FORMATS = (".png", ".npz")
MAX_GRID_IMAGES = 4096  # 256 rows of 16: a PNG of about 14,000 pixels in height


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Sample images from a model trained by train.py and write them as a grid PNG or an .npz.",
        formatter_class=HelpFormatter)
    add_run_flags(parser)
    parser.add_argument("--digit", action="append", default=None, metavar="CLASS",
                        help="class to generate, by name or index (a digit on MNIST); repeat for several, or 'all' "
                             "(the default). Conditional models only")
    parser.add_argument("--count", type=positive_int_up_to(MAX_COUNT), default=16, help="images per label")
    parser.add_argument("--std", type=noise_std, default=1.0, help="std of z around 0 (1: the prior); --sampler prior")
    add_sampler_flags(parser)
    parser.add_argument("--seed", type=random_seed, default=0, help="seed of z: the same seed gives the same images")
    parser.add_argument("--out", type=Path, required=True,
                        help="where to write: FILE.png (a grid) or FILE.npz (arrays)")
    add_debug_flag(parser)
    args = parse_run_args(parser, argv)
    if args.out.suffix not in FORMATS:
        parser.error(f"--out must end in .png or .npz, got {args.out}")
    if args.sampler == "gmm" and args.std != 1.0:
        parser.error("--std scales the prior; --sampler gmm draws from the fitted mixtures as they are")
    return args


def requested_labels(model, name, digits, class_names):
    """The labels to decode under: the requested classes in order (all of them for 'all' or none given);
    [None] for an unconditional model, which takes no --digit."""
    if not model.conditional:
        if digits:
            raise UsageError(f"{name} is unconditional: it takes no --digit")
        return [None]
    if not digits or "all" in digits:
        return list(range(len(class_names)))
    return list(dict.fromkeys(class_of(digit, class_names, "--digit") for digit in digits))


def sample(args):
    from cvae.cli import mixture_for, open_run
    from cvae.data import check_fits
    from cvae.generation import draw
    run = open_run(args, args.epoch)
    model = run.model
    if not model.has_latent_space:
        raise UsageError(f"{run.identity.model} is a classifier: it has no latent space to sample from")
    labels = requested_labels(model, run.identity.model, args.digit, run.class_names())
    total = len(labels) * args.count
    if args.out.suffix == ".png" and total > MAX_GRID_IMAGES:
        raise UsageError(f"{total:,} images ({args.count:,} for each of {len(labels)} labels) are more than a PNG grid "
                         f"shows ({MAX_GRID_IMAGES:,} at most); write them to FILE.npz, or ask for fewer with --count")
    check_fits(total * (math.prod(model.image_shape) + 4 * model.latent_dim), f"{total:,} images",
               "ask for fewer with --count or --digit")
    mixture = mixture_for(args, run)
    images, y, z = draw(model, [0 if label is None else label for label in labels], args.count, args.std, args.seed,
                        mixture)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.suffix == ".npz":
        arrays = {"images": images, "z": z} | ({"labels": y} if model.conditional else {})
        with atomic_file(args.out) as f:
            np.savez_compressed(f, **arrays)
    else:
        from cvae import figures
        from cvae.run_figures import likelihood_shown
        source = (f"z ~ N(0, {args.std:g}² I)" if mixture is None else
                  f"z from mixtures of {mixture.components} Gaussians fitted to the training codes")
        title = f"{run.name}, epoch {run.epoch}: {source}, seed {args.seed}{likelihood_shown(run.identity)}"
        figures.plot_samples_by_label(images, labels, args.count, run.class_names(), args.out, title)
    print(f"wrote {args.out}: {len(images)} images ({args.count} per label) from {run.directory} at epoch {run.epoch}")
    return 0


def main(argv=None):
    return run_tool(parse_args, argv, sample)


if __name__ == "__main__":
    sys.exit(main())

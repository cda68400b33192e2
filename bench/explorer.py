"""How fast the latent explorer decodes in headless Chromium, and how close it stays to Python, per README model.

    python -m bench.explorer                               # every README model, one table
    python -m bench.explorer --screenshot img/explorer.png # also the README's screenshot (cvae_cnn3, n = 2)

Each model's decoder is written as explore.py writes it (the shipped pretrained/ weights where there are
some, else the model's initial weights: the time does not depend on the values) and driven by
web/drive.mjs in Debian's chromium: it moves the point or three sliders, reads back the decoded images,
and times explorer.benchmark() (the mean of 500 decodes of one image after a warm-up). The target is
under 5 ms per decode on 2 CPU cores.
"""
import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from cli import import_tensorflow_quietly

# The README's runs: (model, latent dim); m2 with its 100 labels.
README_MODELS = [("vae", 2), ("vae", 20), ("cvae_fc3", 2), ("cvae_fc3", 20), ("cvae_cnn2", 20), ("cvae_cnn3", 2),
                 ("cvae_cnn3", 20), ("m2", 50)]
TARGET_MS = 5.0


def steps_for(latent_dim, conditional, screenshot=None):
    moves = [{"drag": [0.8, 0.25]}] if latent_dim == 2 else [{"slider": [0, 1.2]}, {"slider": [1, -0.8]},
                                                              {"slider": [min(latent_dim, 20) - 1, 0.5]}]
    steps = [*moves, {"read": True}] + ([{"label": 7}, {"read": True}] if conditional else [])
    steps.append({"bench": 500})
    if screenshot:
        steps.append({"screenshot": str(Path(screenshot).resolve())})
    return steps


def measure(name, latent_dim, work, screenshot=None):
    """(source of the weights, ms per decode, max |browser - python| over the images read)."""
    import explore
    from model.registry import build_model
    from pretrained import PRETRAINED_DIR, PretrainedRun
    from rundir import RunConfig, run_dir_name
    shipped = PretrainedRun(PRETRAINED_DIR / run_dir_name(name, latent_dim))
    if shipped.path.is_dir():
        model, config, epoch = shipped.load_model()
        source = f"pretrained/{shipped.name}"
    else:
        config = RunConfig(model=name, latent_dim=latent_dim, labels=100 if name == "m2" else None)
        model, epoch, source = build_model(name, latent_dim), 0, "initial weights"
    site = work / f"{name}_{latent_dim}"
    site.mkdir()
    explore.write_files(site, *explore.site_files(model, config, epoch, site.name))
    out = explore.drive(site, steps_for(latent_dim, model.conditional, screenshot), work)
    if out["error"]:
        raise RuntimeError(f"{site.name}: the page says: {out['error']}")
    difference = max(float(np.max(np.abs(np.array(read["image"]) - np.asarray(
        model.generate(np.array([read["z"]], np.float32), np.array([read["label"]], np.int32))).reshape(784))))
        for read in out["reads"])
    return source, out["bench"][0], difference


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshot", type=Path, default=None,
                        help="also save the page of cvae_cnn3, n = 2 (pretrained) as this PNG")
    args = parser.parse_args(argv)
    import_tensorflow_quietly()
    import explore
    if not explore.TFJS.exists():
        sys.exit("TensorFlow.js is not installed: run `npm ci` first")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, latent_dim in README_MODELS:
            shot = args.screenshot if (name, latent_dim) == ("cvae_cnn3", 2) else None
            rows.append((f"{name}, n = {latent_dim}", *measure(name, latent_dim, Path(tmp), shot)))
    print(f"| model | weights | ms per decode (target < {TARGET_MS:g}) | max abs difference from Python |")
    print("|---|---|---|---|")
    for model, source, ms, difference in rows:
        print(f"| {model} | {source} | {ms:.2f} | {difference:.1e} |")
    if args.screenshot:
        print(f"wrote {args.screenshot}")


if __name__ == "__main__":
    main()

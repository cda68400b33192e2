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

from cvae import import_tensorflow_quietly
from cvae.readme_runs import FIGURE_RUNS
from model import names as model_names

# The README's runs with a latent space, on MNIST, in the registry's order of models.
MEASURED = sorted((run for run in FIGURE_RUNS if run.identity.latent_dim is not None and run.identity.dataset == "mnist"),
                  key=lambda run: (model_names().index(run.identity.model), run.identity.latent_dim))
TARGET_MS = 5.0


def steps_for(latent_dim, conditional, screenshot=None):
    moves = [{"drag": [0.8, 0.25]}] if latent_dim == 2 else [{"slider": [0, 1.2]}, {"slider": [1, -0.8]},
                                                              {"slider": [min(latent_dim, 20) - 1, 0.5]}]
    steps = [*moves, {"read": True}] + ([{"label": 7}, {"read": True}] if conditional else [])
    steps.append({"bench": 500})
    if screenshot:
        steps.append({"screenshot": str(Path(screenshot).resolve())})
    return steps


def measure(readme_run, work, screenshot=None):
    """(source of the weights, ms per decode, max |browser - python| over the images read)."""
    from cvae import explorer
    from cvae.rundir import PRETRAINED_DIR, PretrainedRun
    from tests.browser import drive
    from model.registry import build_model
    identity = readme_run.identity
    shipped = PretrainedRun(PRETRAINED_DIR / readme_run.name)
    if readme_run.shipped:
        run = shipped.load()
        model, epoch, source = run.model, run.epoch, f"pretrained/{shipped.name}"
    else:
        model, epoch, source = build_model(identity.model, identity.latent_dim), 0, "initial weights"
    site = work / readme_run.name
    site.mkdir()
    explorer.write_files(site, *explorer.site_files(model, identity, epoch, site.name))
    out = drive(site, steps_for(identity.latent_dim, model.conditional, screenshot), work)
    if out["error"]:
        raise RuntimeError(f"{site.name}: the page says: {out['error']}")
    difference = max(float(np.max(np.abs(np.array(read["image"]) - np.asarray(
        model.generate(np.array([read["z"]], np.float32), np.array([read["label"]], np.int32))).reshape(-1))))
        for read in out["reads"])
    return source, out["bench"][0], difference


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshot", type=Path, default=None,
                        help="also save the page of cvae_cnn3, n = 2 (pretrained) as this PNG")
    args = parser.parse_args(argv)
    import_tensorflow_quietly()
    from cvae import explorer
    if not explorer.TFJS.exists():
        sys.exit("TensorFlow.js is not installed: run `npm ci` first")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in MEASURED:
            shot = args.screenshot if run.name == "cvae_cnn3_2" else None
            rows.append((f"{run.identity.model}, n = {run.identity.latent_dim}", *measure(run, Path(tmp), shot)))
    print(f"| model | weights | ms per decode (target < {TARGET_MS:g}) | max abs difference from Python |")
    print("|---|---|---|---|")
    for model, source, ms, difference in rows:
        print(f"| {model} | {source} | {ms:.2f} | {difference:.1e} |")
    if args.screenshot:
        print(f"wrote {args.screenshot}")


if __name__ == "__main__":
    main()

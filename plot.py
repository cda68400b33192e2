"""Figures from a trained run: `python plot.py cvae_cnn3 -n 2` writes figure/cvae_cnn3_2/*.png.

The model is rebuilt from the run's config.json and checkpoint (`--run log/cvae_cnn3_2` names the run by
its directory), so no training flag is repeated. What each figure shows: cvae.run_figures.
"""
import argparse
import sys
from pathlib import Path

from cvae.cli import (HelpFormatter, add_debug_flag, add_run_flags, add_sampler_flags, class_of, noise_std,
                      parse_run_args, random_seed, run_tool)
from cvae.errors import UsageError, UserFacingError


def parse_args(argv=None):
    from cvae.run_figures import FIGURES, ON_REQUEST  # here, after the tool's signal handlers are in place: it loads matplotlib
    parser = argparse.ArgumentParser(
        description="Plot figures of a model trained by train.py into FIGURE_DIR/RUN/. "
                    f"Without -m, every figure that applies to the model but {', '.join(ON_REQUEST)}.",
        formatter_class=HelpFormatter)
    add_run_flags(parser)
    parser.add_argument("-m", "--mode", choices=list(FIGURES), default=None, nargs="+", action="extend",
                        metavar="KIND",
                        help="re: reconstructions; gen_ave: decoded class-mean codes; gen_rand: class-mean "
                             "code plus noise, and prior samples (a model that ignores labels: prior samples only); embed: 2-D latent means; manifold: decoded "
                             "latent grid (n = 2); analogy: one style, every digit; interpolate: decoded straight lines "
                             "between test codes (PNG and GIF); traverse: the most-used latent dimensions swept "
                             "-3 to 3 (n > 2; PNG and GIF); pseudo: a VampPrior's learned pseudo-inputs; confusion: asked vs read class of generated images, "
                             "prior and fitted sampler (judged by the run's classifier, trained first if missing); "
                             "curve: learning curves")
    parser.add_argument("-s", "--std", type=noise_std, default=0.1, help="noise std for gen_rand")
    parser.add_argument("-t", "--target", default=None,
                        help="class for gen_rand, by name or index (a digit on MNIST; default: all)")
    parser.add_argument("--seed", type=random_seed, default=0, help="seed for the noise in generated figures")
    add_sampler_flags(parser)
    parser.add_argument("--figure-dir", type=Path, default=Path("figure"))
    add_debug_flag(parser)
    return parse_run_args(parser, argv)


def plot(args):
    from cvae.cli import fitted_mixture, open_run
    from cvae.datasets import load_for
    from cvae.rundir import DamagedFile
    from cvae import evaluation
    from cvae.run_figures import FIGURES, ON_REQUEST, FigureOptions, PlottedRun, title_of, why_not
    run = open_run(args, args.epoch)
    model, class_names = run.model, run.class_names()
    target = None if args.target is None else class_of(args.target, class_names, "-t")
    asked = list(dict.fromkeys(args.mode or []))  # -m re manifold, or -m re -m manifold: each once, in order
    refused = next(filter(None, (why_not(kind, model) for kind in asked)), None)
    if refused:
        raise UsageError(refused)
    kinds = asked or [k for k in FIGURES if k not in ON_REQUEST and why_not(k, model) is None]
    out_dir = run.folder_in(args.figure_dir)
    if args.epoch is not None:
        out_dir = out_dir / f"epoch-{args.epoch:04d}"
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        metrics = run.directory.read_metrics()[:run.epoch] if "curve" in kinds else []
    except DamagedFile as err:
        if asked == ["curve"]:
            raise UserFacingError(f"{err}; the learning curve is drawn from it (the other figures are not)")
        print(f"warning: {err}; the learning curve is left out")
        kinds.remove("curve")
        metrics = []
    plotted = PlottedRun(
        model, title_of(run), class_names, metrics, load_data=lambda: load_for(run.identity, args.data_dir),
        load_mixture=lambda: fitted_mixture(args, run),
        load_judge=lambda: evaluation.judge(run.identity, args.log_dir, args.data_dir))
    options = FigureOptions(seed=args.seed, std=args.std, target=target, sampler=args.sampler)
    for kind in kinds:
        for path in FIGURES[kind](plotted, out_dir, options):
            print(f"wrote {path}")
    return 0


def main(argv=None):
    return run_tool(parse_args, argv, plot)


if __name__ == "__main__":
    sys.exit(main())

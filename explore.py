"""Move through a trained latent space in the browser: `python explore.py cvae_cnn3 -n 2 --pretrained`.

Writes a static site to explorer/RUN/ and serves it on localhost (the URL is printed): the page rebuilds
the run's decoder with TensorFlow.js and redraws on every move of the point (n = 2) or of a slider (n > 2),
decoding the same z under every label at once (what the folder holds: cvae.explorer).

No Python runs per frame: with --no-serve the folder can be copied to any static web host.
"""
import argparse
import sys
from pathlib import Path

from cvae.cli import (HelpFormatter, add_debug_flag, add_run_flags, add_sampler_flags, parse_run_args, port_number,
                      run_tool)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Write an interactive latent explorer of a trained run (a static site: the decoder runs in "
                    "the browser with TensorFlow.js) to OUT (default explorer/RUN/) and serve it on localhost.",
        formatter_class=HelpFormatter)
    add_run_flags(parser)
    parser.add_argument("--port", type=port_number, default=8000,
                        help="serve on this localhost port, or the next free one")
    parser.add_argument("--no-serve", action="store_true", help="only write the folder")
    parser.add_argument("--out", type=Path, default=None, help="the site's folder (default: explorer/RUN/)")
    add_sampler_flags(parser)  # gmm: the page gets a button that draws z from the fitted mixtures
    add_debug_flag(parser)
    return parse_run_args(parser, argv)


def explore(args):
    from cvae import explorer
    from cvae.cli import mixture_for, open_run
    run = open_run(args, args.epoch)  # a missing run is the first thing to hear about, before TensorFlow.js
    out = args.out if args.out is not None else run.folder_in("explorer")
    explorer.check_explorable(run)  # what the run cannot do is said whatever is installed
    explorer.check_tfjs()  # before --sampler gmm's fit (half a minute), not only when the folder is written
    size, replaced = explorer.write_explorer(run, out, args.data_dir, mixture_for(args, run))
    print(f"wrote {out}: the decoder of {run.directory} at epoch {run.epoch} ({size / 1e3:.0f} kB of weights)"
          + ("; it replaced the explorer that was there" if replaced else ""))
    if not args.no_serve:
        explorer.serve(out, args.port)
    return 0


def main(argv=None):
    return run_tool(parse_args, argv, explore, interrupted=lambda args: "stopped")


if __name__ == "__main__":
    sys.exit(main())

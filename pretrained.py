"""Weights that ship with the repository, so the README's figures need no training:
`python plot.py cvae_cnn3 -n 2 --pretrained` on a fresh clone. pretrained/RUN/ holds, for the README
runs whose weights are under 1 MB (cvae.readme_runs):

  config.json       the run's configuration, as in log/RUN/ (it rebuilds the model)
  metrics.csv       its numbers per epoch (the learning curve)
  weights.index     a TensorFlow checkpoint of the model's variables and its epoch, keyed by layer and
  weights.data-*    weight name as in log/RUN/ckpt/, without the optimizer's state
  SHA256SUMS        the sha256 of each file above; check by hand with `sha256sum -c SHA256SUMS`

plot.py, evaluate.py, sample.py, export.py and explore.py read them with --pretrained (or --run
pretrained/RUN) and refuse a file whose sha256 differs. `python pretrained.py` (the end of `make figures`)
refreshes them from log/.
"""
import argparse
import sys
from pathlib import Path

from cvae.cli import HelpFormatter, add_debug_flag, run_tool
from cvae.errors import UserFacingError
from cvae.readme_runs import SHIPPED


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Refresh pretrained/ (the weights that ship with the repository) from the runs of the same name "
                    "in LOG_DIR. make figures runs this after training them.",
        formatter_class=HelpFormatter)
    parser.add_argument("runs", nargs="*", metavar="RUN", default=list(SHIPPED),
                        help=f"the runs to refresh (default: all of {', '.join(SHIPPED)})")
    parser.add_argument("--log-dir", type=Path, default=Path("log"))
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="write the copies into DIR/RUN instead of the repository's pretrained/ (which --pretrained "
                             "reads; any copy opens with --run DIR/RUN, checked against its SHA256SUMS)")
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    unknown = [run for run in args.runs if run not in SHIPPED]
    if unknown:
        parser.error(f"not a shipped run: {', '.join(unknown)} (choose from {', '.join(SHIPPED)})")
    return args


def refresh(args):
    from cvae.pretrained import publish
    from cvae.rundir import PRETRAINED_DIR, RunDir
    missing = [run for run in args.runs if RunDir(args.log_dir / run).latest_checkpoint() is None]
    if missing:
        raise UserFacingError(f"no trained run in {', '.join(str(args.log_dir / run) for run in missing)}; "
                              f"make figures trains them")
    for run in args.runs:
        publish(RunDir(args.log_dir / run), (args.out or PRETRAINED_DIR) / run)
    return 0


def main(argv=None):
    return run_tool(parse_args, argv, refresh)


if __name__ == "__main__":
    sys.exit(main())

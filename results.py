"""The README's results tables, made from the eval.json files that evaluate.py writes (never typed by hand).

    python results.py                      # print the tables of the runs under log/
    python results.py --readme README.md   # take the README's runs' new evaluations, then rewrite its tables

Six tables, each between its own markers: MNIST runs (`results`), semi-supervised `m2` runs
(`semi-supervised`), Fashion-MNIST runs (`fashion-mnist`), runs on gray data of one's own (`own-data`), runs
on colour images (`colour`), and sample quality from the prior and the fitted sampler (`sample-quality`, runs
evaluated with it).
With --readme, the README's tables are rendered whole from its runs' records, img/RUN/eval.json beside their
figures: a run under the log directory that the README has a record of gets its record replaced by its new
eval.json, and a run it has none of goes in only when --add names it (so one's own runs in log/ stay out of the
README); the other records stay as they are, so re-evaluating some runs leaves the others' rows alone.

A partial run never replaces a README record by accident: one trained on --subset, evaluated on part of
the test set, or with fewer epochs or a smaller k than the record it would replace is refused (and
listed) unless --force. A damaged eval.json or metrics.csv is skipped with a warning naming it.
"""
import argparse
import sys
from pathlib import Path

from cvae.cli import add_debug_flag, run_tool
from cvae.errors import UsageError, UserFacingError
from cvae.results import load_results, tables, update_readme


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Make the results tables from LOG_DIR/*/eval.json.")
    parser.add_argument("--log-dir", type=Path, default=Path("log"))
    parser.add_argument("--readme", type=Path, default=None, help="write the tables into this README too")
    parser.add_argument("--force", action="store_true",
                        help="with --readme: also take evaluations of partial runs (--subset, part of the test set, "
                             "fewer images per class, another seed) and of runs with fewer epochs or a smaller k "
                             "than the record they replace")
    parser.add_argument("--add", action="append", default=[], metavar="RUN_NAME",
                        help="with --readme: also give this run (its directory's name under --log-dir) a record "
                             "in img/ and a row; repeat for more")
    add_debug_flag(parser)
    return parser.parse_args(argv)


def main(argv=None):
    return run_tool(parse_args, argv, make_tables, tensorflow=False)


def warn(line):
    print(line, file=sys.stderr)


def make_tables(args):
    if args.add and args.readme is None:
        raise UsageError("--add puts a run into the README: give --readme README.md too")
    if args.readme is not None and not args.readme.is_file():
        raise UsageError(f"--readme {args.readme} is not a file" + ("" if args.readme.exists() else
                                                                    " (it does not exist)"))
    results = load_results(args.log_dir, warn=warn)
    if not results and args.readme is None:
        raise UserFacingError(f"no readable eval.json under {args.log_dir}; run evaluate.py first")
    for section, body in tables(results).items():
        print(f"## {section}\n{body}\n")
    if args.readme:
        update_readme(args.readme, results, args.log_dir, args.readme.parent / "img", args.force, args.add, warn=warn)
    return 0


if __name__ == "__main__":
    sys.exit(main())

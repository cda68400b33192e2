"""Take a trained model out of the repository: `python export.py cvae_cnn3 -n 2` writes export/cvae_cnn3_2/:

  model.keras     the Keras model: keras.saving.load_model after `import model.registry` (this repo)
  saved_model/    a TensorFlow SavedModel that runs with plain tf.saved_model.load, none of our code
                  (its signatures: cvae.exporting; with --sampler gmm, `sample` draws from the run's
                  fitted mixtures, which the SavedModel holds)
  export.json     model, latent dim, data set, class names, epoch, test ELBO, signatures, sha256 of each file

`python export.py --check DIR` checks an export, after a copy to another machine for instance: every file
against its sha256, then model.keras and the SavedModel loaded and drawing the same images.
"""
import argparse
import sys
from pathlib import Path

from cvae.cli import HelpFormatter, add_debug_flag, add_run_flags, add_sampler_flags, parse_run_args, run_tool


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Export a run trained by train.py as model.keras, a SavedModel with serving signatures, and "
                    "export.json, into OUT (default: export/RUN/).",
        epilog="python export.py --check DIR checks an export: each file's sha256, and both models loaded and "
               "drawing the same images. Loading a SavedModel runs its graph, so one holding operations our exports "
               "do not have is refused before it is loaded.",
        formatter_class=HelpFormatter)
    add_run_flags(parser)
    parser.add_argument("--out", type=Path, default=None, help="the export directory (default: export/RUN/)")
    add_sampler_flags(parser)
    add_debug_flag(parser)
    return parse_run_args(parser, argv)


def export(args):
    from cvae.cli import mixture_for, open_run
    from cvae.exporting import write_export
    run = open_run(args, args.epoch)
    out = args.out if args.out is not None else run.folder_in("export")
    mixture = mixture_for(args, run)
    written = write_export(run, out, mixture)
    print(f"wrote {out}: model.keras, saved_model/ ({', '.join(written.signatures)}), export.json; "
          f"{written.size_bytes / 1e6:.1f} MB, epoch {run.epoch} of {run.directory}"
          + ("; it replaced the export that was there" if written.replaced else "")
          + (f"; `sample` draws from mixtures of {mixture.components} Gaussians" if mixture else ""))
    return 0


def check(directory):
    from cvae.exporting import check_export
    print(check_export(directory))
    return 0


def parse_check_args(argv):
    from cvae.exporting import check_export
    parser = argparse.ArgumentParser(prog="export.py", description=check_export.__doc__.split(";")[0] + ".")
    parser.add_argument("--check", type=Path, required=True, metavar="DIR", help="an export directory")
    add_debug_flag(parser)
    return parser.parse_args(argv)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if "--check" in argv:
        return run_tool(parse_check_args, argv, lambda args: check(args.check))
    return run_tool(parse_args, argv, export)


if __name__ == "__main__":
    sys.exit(main())

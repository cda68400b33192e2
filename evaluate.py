"""Numbers for a trained run: `python evaluate.py cvae_cnn3 -n 2` prints a table and writes log/RUN/eval.json.

  ELBO, reconstruction and KL    nats per test image (mean over the 10,000 test images)
  NLL                            -log p(x) (-log p(x | y) for conditional models), importance-sampled
                                 with k samples from the encoder (Burda et al. 2015)
  class-consistency              conditional models: the fraction of images generated for each digit
                                 that the trained classifier (log/cnn, else pretrained/cnn) reads as that digit
  sample quality                 from the prior and from mixtures fitted to the training codes (sample.py
                                 --sampler gmm): FD (cnn features), precision and recall against the test
                                 images, and the training images' FD as the floor
  test accuracy                  the classifier

What each number is and how it is computed: cvae.evaluation.
"""
import argparse
import sys

from cvae.cli import (HelpFormatter, add_components_flag, add_debug_flag, add_run_flags, parse_run_args, positive_int,
                      positive_int_up_to, random_seed, run_tool)
from cvae.limits import MAX_COUNT
from cvae.errors import UsageError

MAX_NLL_SECONDS = 24 * 3600  # longer NLL estimates need --force


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Evaluate a run trained by train.py: print a table, write LOG_DIR/RUN/eval.json.",
        formatter_class=HelpFormatter)
    add_run_flags(parser, kept_epoch=False)  # it evaluates the latest checkpoint
    parser.add_argument("-k", "--importance-samples", type=positive_int, default=5000,
                        help="samples per test image for the NLL estimate (5000 is the literature's standard)")
    parser.add_argument("--samples", type=positive_int_up_to(MAX_COUNT), default=1000,
                        help="generated images per class (per sampler) for class-consistency and sample quality")
    add_components_flag(parser, "Gaussians in each class's fitted mixture (the gmm sampler; cached beside the run)")
    parser.add_argument("--test-images", type=positive_int_up_to(MAX_COUNT), default=None,
                        help="the ELBO and the NLL of the first N test images only (quick checks; the table says N); "
                             "sample quality is always against every test image")
    parser.add_argument("--seed", type=random_seed, default=0, help="seed of the sampling noise")
    parser.add_argument("--force", action="store_true",
                        help="run an NLL estimate even when it would take more than a day (it is refused otherwise)")
    add_debug_flag(parser)
    return parse_run_args(parser, argv)


def evaluate(args):
    from cvae.cli import open_run
    from cvae.evaluation import TooLong, evaluate
    run = open_run(args)
    out_dir = run.writable_folder(args.log_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        result, rows = evaluate(run, out_dir, args.log_dir, args.data_dir, args.importance_samples, args.samples,
                                args.test_images, args.seed, max_nll_seconds=None if args.force else MAX_NLL_SECONDS,
                                components=args.components)
    except TooLong as err:
        raise UsageError(f"{err}; lower -k or --test-images, or pass --force")
    n = result["latent_dim"]
    print(f"{result['model']}" + (f", n = {n}" if n else "") + (" (pretrained)" if run.directory.read_only else "")
          + f", epoch {result['epoch']}, {result['test_images']:,} test images"
          + (" (binarized)" if result["binarized"] else ""))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    print(f"wrote {out_dir / 'eval.json'}")
    return 0


def main(argv=None):
    return run_tool(parse_args, argv, evaluate, interrupted=lambda args: "interrupted; nothing was written")


if __name__ == "__main__":
    sys.exit(main())

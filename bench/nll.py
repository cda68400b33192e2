"""How long evaluate.py's importance-sampled NLL takes, beside the way it was computed before.

    python -m bench.nll vae -n 50 --binarize                 # a trained run, as evaluate.py names it
    python -m bench.nll vae -n 50 --binarize --test-images 200 --rounds 3

Rows, each the same estimate on the first --test-images test images with the same seed, alternating
--rounds times, median seconds reported:
  previous        x copied k times and the loss summed per pixel (tf.nn.sigmoid_cross_entropy_with_logits),
                  as the estimate did before
  evaluate.py     model/likelihoods.py's Bernoulli now: x . logits - sum softplus(logits), one batched matrix-vector
                  product instead of k copies of x
  decoder alone   only the decoder's forward pass on the same number of z: the part no rewrite of the
                  estimate removes (its matrix products and activations)
Seconds are scaled to the 10,000 MNIST test images; the estimates must agree to 0.01 nats.
"""
import argparse
import statistics
import sys
import time

from cvae import import_tensorflow_quietly
from cvae.cli import add_run_flags, open_run, parse_run_args, positive_int


def previous_log_likelihood(x, logits):
    """The estimate's log p(x | z_i) as it was computed before: x repeated k times."""
    import tensorflow as tf
    from model.losses import bernoulli_nll
    batch, k = tf.shape(logits)[0], tf.shape(logits)[1]
    flat = tf.reshape(logits, [batch * k, -1])
    return -tf.reshape(bernoulli_nll(tf.repeat(x, k, axis=0), flat), [batch, k])


def decoder_alone_seconds(model, images, k, seed):
    """Seconds to decode len(images) x k codes drawn from the prior, in the NLL's chunks."""
    import tensorflow as tf
    from cvae.evaluation import DECODE_CHUNK
    generator = tf.random.Generator.from_seed(seed)
    chunk = min(k, DECODE_CHUNK)
    decode = tf.function(lambda z, y: tf.reduce_sum(model.decode(z, y)))
    y = tf.zeros([chunk], tf.int32)
    decode(generator.normal([chunk, model.latent_dim]), y)  # trace
    began = time.perf_counter()
    for _ in range(-(-len(images) * k // chunk)):
        decode(generator.normal([chunk, model.latent_dim]), y).numpy()
    return time.perf_counter() - began


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_run_flags(parser, kept_epoch=False)
    parser.add_argument("-k", "--importance-samples", type=positive_int, default=5000)
    parser.add_argument("--test-images", type=positive_int, default=200)
    parser.add_argument("--rounds", type=positive_int, default=3)
    args = parse_run_args(parser, argv)
    import_tensorflow_quietly()
    from cvae import evaluation
    from cvae.batches import binarize_fixed
    from cvae.datasets import load_for
    run = open_run(args)
    model, identity, epoch = run.model, run.identity, run.epoch
    data = load_for(identity, args.data_dir)
    images, labels = data.test_images[:args.test_images], data.test_labels[:args.test_images]
    if identity.binarize:
        images = binarize_fixed(images)
    from model import likelihoods  # where the Bernoulli likelihood looks its log-probability up
    current = likelihoods.bernoulli_log_likelihood
    k, scale = args.importance_samples, 10_000 / len(images)

    def estimate(log_likelihood):
        likelihoods.bernoulli_log_likelihood = log_likelihood
        try:
            began = time.perf_counter()
            value = evaluation.importance_sampled_nll(model, images, labels, k, seed=0, log=None)
            return time.perf_counter() - began, value
        finally:
            likelihoods.bernoulli_log_likelihood = current

    variants = {"previous": lambda: estimate(previous_log_likelihood),
                "evaluate.py": lambda: estimate(current),
                "decoder alone": lambda: (decoder_alone_seconds(model, images, k, 0), None)}
    seconds = {name: [] for name in variants}
    values = {}
    for round_ in range(args.rounds):
        for name, run in variants.items():
            took, values[name] = run()
            seconds[name].append(took)
        print(f"round {round_ + 1}/{args.rounds}: " + ", ".join(f"{name} {s[-1]:.1f} s" for name, s in seconds.items()),
              file=sys.stderr)
    n = f", n = {identity.latent_dim}" + (" (binarized)" if identity.binarize else "")
    print(f"{identity.model}{n}, epoch {epoch}: k = {k} on the first {len(images):,} test images, "
          f"medians of {args.rounds} rounds, scaled to 10,000 images")
    print()
    print("| variant | NLL, nats | seconds per 10,000 images | / previous |")
    print("|---|---|---|---|")
    base = statistics.median(seconds["previous"])
    for name, took in seconds.items():
        value = "-" if values[name] is None else f"{values[name]:.4f}"
        print(f"| {name} | {value} | {statistics.median(took) * scale:,.0f} | {base / statistics.median(took):.2f}x |")
    difference = abs(values["previous"] - values["evaluate.py"])
    print(f"\nthe two estimates differ by {difference:.2g} nats ({'within' if difference <= 0.01 else 'NOT within'} 0.01)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

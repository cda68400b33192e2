"""The README's results table, made from the eval.json files that evaluate.py writes (never typed by hand).

    python results.py                  # print the table
    python results.py --readme README.md   # also put it between the README's results markers
"""
import argparse
import json
import sys
from pathlib import Path

START, END = "<!-- results:start -->", "<!-- results:end -->"


def load_results(log_dir):
    results = []
    for path in sorted(Path(log_dir).glob("*/eval.json")):
        results.append(json.loads(path.read_text()))
    return results


def table(results):
    """Markdown: one row per VAE run, then the classifier's accuracy."""
    lines = ["| model | latent dim | epochs | data | test ELBO | NLL (k) | class-consistency | parameters |",
             "|---|---|---|---|---|---|---|---|"]
    order = ["vae", "cvae_fc3", "cvae_cnn2", "cvae_cnn3", "m2"]
    vaes = sorted((r for r in results if r["latent_dim"] is not None),
                  key=lambda r: (r.get("dataset", "mnist"), order.index(r["model"]) if r["model"] in order else 99,
                                 r["latent_dim"], r.get("labels") or 0, r["binarized"]))
    for r in vaes:
        given = " (-log p(x\\|y))" if "class_consistency" in r else ""
        consistency = f"{r['class_consistency']['overall']:.1%}" if "class_consistency" in r else "n/a"
        data = ("Fashion-MNIST " if r.get("dataset") == "fashion_mnist" else "") + \
            ("binarized" if r["binarized"] else "gray") + (f", {r['labels']} labels" if r.get("labels") else "")
        lines.append(f"| `{r['model']}` | {r['latent_dim']} | {r['epoch']} | {data} "
                     f"| {r['elbo']:.2f} | {r['nll']:.2f} ({r['nll_k']}){given} | {consistency} | {r['parameters']:,} |")
    for r in results:
        if r["latent_dim"] is None:
            on = " on Fashion-MNIST" if r.get("dataset") == "fashion_mnist" else ""
            lines.append(f"\nClassifier `{r['model']}`{on}: {r['test_accuracy']:.2%} test accuracy after {r['epoch']} "
                         f"epochs ({r['parameters']:,} parameters).")
    for r in vaes:
        if r.get("labels"):
            lines.append(f"\nSemi-supervised `m2` (n = {r['latent_dim']}) with {r['labels']} labels: "
                         f"**{1 - r['test_accuracy']:.2%} test error** after {r['epoch']} epochs.")
    return "\n".join(lines)


def replace_section(text, body):
    if START not in text or END not in text:
        raise ValueError(f"the README has no {START} ... {END} section")
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    return f"{before}{START}\n{body}\n{END}{after}"


def main(argv=None):
    parser = argparse.ArgumentParser(description="Make the results table from LOG_DIR/*/eval.json.")
    parser.add_argument("--log-dir", type=Path, default=Path("log"))
    parser.add_argument("--readme", type=Path, default=None, help="write the table into this README too")
    args = parser.parse_args(argv)
    results = load_results(args.log_dir)
    if not results:
        print(f"error: no eval.json under {args.log_dir}; run evaluate.py first", file=sys.stderr)
        return 1
    body = table(results)
    print(body)
    if args.readme:
        args.readme.write_text(replace_section(args.readme.read_text(), body))
        print(f"wrote the table into {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

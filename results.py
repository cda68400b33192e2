"""The README's results tables, made from the eval.json files that evaluate.py writes (never typed by hand).

    python results.py                      # print the tables
    python results.py --readme README.md   # also put each table between its markers in the README

Three tables, each between its own markers: MNIST runs (`results`), semi-supervised `m2` runs
(`semi-supervised`) and Fashion-MNIST runs (`fashion-mnist`). With --readme, a run that has an
eval.json under the log directory gets its row written or replaced; the README's rows of runs that
have none are kept as they are, so re-evaluating some runs leaves the others' rows alone.
"""
import argparse
import csv
import json
import re
import sys
from pathlib import Path

ORDER = ["vae", "cvae_fc3", "cvae_cnn2", "cvae_cnn3", "m2"]


def markers(section):
    return f"<!-- {section}:start -->", f"<!-- {section}:end -->"


START, END = markers("results")


def load_results(log_dir):
    """Each run's eval.json, with "training_seconds" added: the sum of metrics.csv's per-epoch training
    times up to the evaluated epoch (test metrics and checkpoints left out), where metrics.csv is there."""
    results = []
    for path in sorted(Path(log_dir).glob("*/eval.json")):
        result = json.loads(path.read_text())
        metrics = path.parent / "metrics.csv"  # read here, not with rundir.py, which imports TensorFlow
        if metrics.exists():
            with open(metrics, newline="") as f:
                rows = [row for row in csv.DictReader(f) if int(row["epoch"]) <= result["epoch"]]
            result["training_seconds"] = sum(float(row["seconds"]) for row in rows)
        results.append(result)
    return results


def sort_key(r):
    return (r.get("dataset", "mnist"), ORDER.index(r["model"]) if r["model"] in ORDER else 99,
            r["latent_dim"], r.get("labels") or 0, r["binarized"])


def nll_cell(r):
    given = " (-log p(x\\|y))" if "class_consistency" in r else ""
    return f"{r['nll']:.2f} ({r['nll_k']}){given}"


def consistency_cell(r):
    return f"{r['class_consistency']['overall']:.1%}" if "class_consistency" in r else "n/a"


def vae_table(results):
    """Markdown: one row per VAE run, then each classifier's accuracy."""
    lines = ["| model | latent dim | epochs | data | test ELBO | NLL (k) | class-consistency | parameters |",
             "|---|---|---|---|---|---|---|---|"]
    for r in sorted((r for r in results if r["latent_dim"] is not None), key=sort_key):
        data = ("Fashion-MNIST " if r.get("dataset") == "fashion_mnist" else "") + \
            ("binarized" if r["binarized"] else "gray")
        lines.append(f"| `{r['model']}` | {r['latent_dim']} | {r['epoch']} | {data} "
                     f"| {r['elbo']:.2f} | {nll_cell(r)} | {consistency_cell(r)} | {r['parameters']:,} |")
    for r in results:
        if r["latent_dim"] is None:
            on = " on Fashion-MNIST" if r.get("dataset") == "fashion_mnist" else ""
            lines.append(f"\nClassifier `{r['model']}`{on}: {r['test_accuracy']:.2%} test accuracy after {r['epoch']} "
                         f"epochs ({r['parameters']:,} parameters).")
    return "\n".join(lines)


def semi_supervised_table(results):
    """Markdown: one row per m2 run, the test error first."""
    lines = ["| model | labels | latent dim | epochs | training time | data | test error | test ELBO | NLL (k) "
             "| class-consistency | parameters |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(results, key=sort_key):
        data = ("Fashion-MNIST" if r.get("dataset") == "fashion_mnist" else "MNIST") + \
            (", binarized" if r["binarized"] else "")
        minutes = f"{r['training_seconds'] / 60:.0f} min" if "training_seconds" in r else "n/a"
        lines.append(f"| `{r['model']}` | {r['labels']:,} | {r['latent_dim']} | {r['epoch']} | {minutes} | {data} "
                     f"| **{1 - r['test_accuracy']:.2%}** | {r['elbo']:.2f} | {nll_cell(r)} | {consistency_cell(r)} "
                     f"| {r['parameters']:,} |")
    return "\n".join(lines)


def semi_supervised(r):
    return r.get("labels") is not None


# section name -> (which eval.json files it shows, how)
SECTIONS = {
    "results": (lambda r: not semi_supervised(r) and r.get("dataset", "mnist") == "mnist", vae_table),
    "semi-supervised": (semi_supervised, semi_supervised_table),
    "fashion-mnist": (lambda r: not semi_supervised(r) and r.get("dataset") == "fashion_mnist", vae_table),
}


def tables(results):
    """{section: markdown} for every section that has at least one result."""
    bodies = {}
    for section, (belongs, make_table) in SECTIONS.items():
        chosen = [r for r in results if belongs(r)]
        if chosen:
            bodies[section] = make_table(chosen)
    return bodies


def table(results):
    return "\n\n".join(tables(results).values())


def cells(line):
    """The cells of a markdown table row; an escaped pipe (\\|) stays inside its cell."""
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip().strip("|"))]


def row_key(row):
    """What identifies a run in a table row ({column: cell}): its model, latent dim, labels and data,
    in the order sort_key gives the runs."""
    model = row["model"].strip("`")
    return (ORDER.index(model) if model in ORDER else 99, model, int(row["latent dim"]),
            int(row.get("labels", "0").replace(",", "")), "binarized" in row["data"], row["data"])


def merge_tables(old, new):
    """`new` (a table body) plus the rows and classifier lines of `old` for runs that `new` lacks,
    in ORDER. Returns (body, kept rows). A table whose columns changed is replaced whole."""
    def split(body):
        lines = [line for line in body.splitlines() if line.strip()]
        header = lines[0] if lines and lines[0].startswith("|") else None
        names = cells(header) if header else []
        rows = {}
        for line in lines[2:] if header else []:
            if line.startswith("|"):
                rows[row_key(dict(zip(names, cells(line))))] = line
        classifiers = {line.split(":")[0]: line for line in lines if line.startswith("Classifier")}
        return header, rows, classifiers

    old_header, old_rows, old_classifiers = split(old)
    new_header, new_rows, new_classifiers = split(new)
    if old_header != new_header:
        return new, []
    kept = [line for key, line in old_rows.items() if key not in new_rows]
    kept += [line for key, line in old_classifiers.items() if key not in new_classifiers]
    rows = {**old_rows, **new_rows}
    classifiers = {**old_classifiers, **new_classifiers}
    body = [new_header, new.splitlines()[1]] + [rows[key] for key in sorted(rows)]
    if classifiers:
        body += [""] + list(classifiers.values())
    return "\n".join(body), kept


def split_section(text, section):
    """(before, body, after) of the README text around the section's markers; the markers stay
    with before and after."""
    start, end = markers(section)
    if start not in text or end not in text:
        raise ValueError(f"the README has no {start} ... {end} section")
    before, rest = text.split(start, 1)
    body, after = rest.split(end, 1)
    return before + start, body.strip("\n"), end + after


def replace_section(text, body, section="results"):
    before, _, after = split_section(text, section)
    return f"{before}\n{body}\n{after}"


def main(argv=None):
    parser = argparse.ArgumentParser(description="Make the results tables from LOG_DIR/*/eval.json.")
    parser.add_argument("--log-dir", type=Path, default=Path("log"))
    parser.add_argument("--readme", type=Path, default=None, help="write the tables into this README too")
    args = parser.parse_args(argv)
    results = load_results(args.log_dir)
    if not results:
        print(f"error: no eval.json under {args.log_dir}; run evaluate.py first", file=sys.stderr)
        return 1
    bodies = tables(results)
    for section, body in bodies.items():
        print(f"## {section}\n{body}\n")
    if args.readme:
        text = args.readme.read_text()
        kept = []
        try:
            for section, body in bodies.items():
                body, kept_rows = merge_tables(split_section(text, section)[1], body)
                text = replace_section(text, body, section)
                kept += kept_rows
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        args.readme.write_text(text)
        print(f"wrote {', '.join(bodies)} into {args.readme}")
        untouched = [section for section in SECTIONS if section not in bodies]
        if untouched:
            print(f"kept the {', '.join(untouched)} table(s) as they were: no eval.json for them")
        if kept:
            print("kept these rows as they were (no eval.json for their runs under "
                  f"{args.log_dir}):\n" + "\n".join(kept))
    return 0


if __name__ == "__main__":
    sys.exit(main())

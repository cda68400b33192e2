"""The README's results tables, made from the eval.json files that evaluate.py writes (never typed by hand).

Five tables, each between its own markers: MNIST runs (`results`), semi-supervised `m2` runs
(`semi-supervised`), Fashion-MNIST runs (`fashion-mnist`), runs on data of one's own (`own-data`), and the
sample quality of every run evaluated with it, from the prior and from the fitted sampler (`sample-quality`).
A run that has an eval.json under the log directory gets its row written or replaced; the README's rows of
runs that have none are kept as they are, so re-evaluating some runs leaves the others' rows alone.

A partial run never replaces a README row by accident: one trained on --subset, evaluated on part of
the test set, or with fewer epochs or a smaller k than the row it would replace is refused (and
listed) unless forced. A damaged eval.json or metrics.csv is skipped with a warning naming it.
No TensorFlow here.
"""
import re
from pathlib import Path

from model import DEFAULT_LIKELIHOOD, OPTIONS, names as model_names
from cvae.errors import UsageError
from cvae.evalrecord import check_result
from cvae.files import parse_json, read_small_file, rewrite_file
from cvae.rundir import DamagedFile, RunDir

MAX_EVAL_BYTES = 10_000_000  # an eval.json holds a few kB; a larger file is not one (a link to /dev/zero, say)
MNIST_TEST_IMAGES = 10000  # for eval.json files written before they recorded the test set's size
README_SAMPLES_PER_CLASS = 1000  # evaluate.py's --samples default, which the README's class-consistency uses


def markers(section):
    return f"<!-- {section}:start -->", f"<!-- {section}:end -->"


START, END = markers("results")


def load_results(log_dir, warn=print):
    """Each run's eval.json, with "path" and "training_seconds" added: the sum of metrics.csv's per-epoch
    training times up to the evaluated epoch (test metrics and checkpoints left out), where metrics.csv
    is there. A damaged eval.json is skipped, and a damaged metrics.csv leaves the time out, each with
    a warning naming the file."""
    results = []
    for path in sorted(Path(log_dir).glob("*/eval.json")):
        try:
            result = parse_json(read_small_file(path, MAX_EVAL_BYTES).decode())
            check_result(result)
        except (OSError, UnicodeDecodeError, ValueError) as err:
            warn(f"warning: skipping {path}: {str(err).splitlines()[0]}")
            continue
        result["path"] = str(path)
        if "options" not in result:  # written before evaluate.py recorded them: the run's identity has them
            try:
                result["options"] = RunDir(path.parent).read_config().identity.options
            except (DamagedFile, OSError, ValueError):
                result["options"] = {}
        try:
            rows = [row for row in RunDir(path.parent).read_metrics() if row["epoch"] <= result["epoch"]]
            if rows:
                result["training_seconds"] = sum(row["seconds"] for row in rows)
        except (DamagedFile, KeyError) as err:
            warn(f"warning: {path.parent / 'metrics.csv'} is damaged ({str(err).splitlines()[0]}); "
                 f"training time of {path.parent.name} left out")
        results.append(result)
    return results


def partial_reasons(result):
    """Why `result` is not a full run's evaluation as the README's tables give it (trained on a subset, part
    of the test set, fewer generated images per class, another sampling seed): []."""
    reasons = []
    if result.get("training_subset") is not None:
        reasons.append(f"trained on --subset {result['training_subset']}")
    total = result.get("test_images_in_data_set", MNIST_TEST_IMAGES)
    if result.get("test_images", total) < total:
        reasons.append(f"evaluated on {result['test_images']:,} of {total:,} test images")
    per_sampler = result.get("sample_quality", {}).get("samples_per_class", README_SAMPLES_PER_CLASS)
    consistency = result.get("class_consistency", {})  # eval.json before 2026-12-07 said "per digit" of any data
    samples = consistency.get("samples_per_class", consistency.get("samples_per_digit", per_sampler))
    if not isinstance(samples, int) or samples < README_SAMPLES_PER_CLASS:
        reasons.append(f"class-consistency from {samples} images per class (the README's use "
                       f"{README_SAMPLES_PER_CLASS:,})")
    if result.get("seed", 0) != 0:
        reasons.append(f"evaluated with --seed {result['seed']} (the README's rows use 0)")
    return reasons


def weaker_than_row(result, row):
    """Why `result` would be a step down from the README row {column: cell} it replaces: fewer epochs,
    or a smaller k for the NLL."""
    reasons = []
    if "epochs" in row and row["epochs"].isdigit() and result["epoch"] < int(row["epochs"]):
        reasons.append(f"{result['epoch']} epochs, the README's row has {row['epochs']}")
    old_k = re.match(r"[-0-9.]+ \((\d+)\)", row.get("NLL (k)", ""))
    if old_k and "nll_k" in result and result["nll_k"] < int(old_k.group(1)):
        reasons.append(f"k = {result['nll_k']}, the README's row has k = {old_k.group(1)}")
    return reasons


def model_order(name):
    """Where a model's rows go in a table: the registry's order (model.names())."""
    order = model_names()
    return order.index(name) if name in order else len(order)


def sort_key(r):
    return (r.get("dataset", "mnist"), model_order(r["model"]), r["latent_dim"], r.get("labels") or 0, r["binarized"],
            sorted(r.get("options", {}).items()))


def model_cell(r):
    """The model's name, and the options it was given other than their defaults (`vamp` `--pseudo-inputs 100`)."""
    return f"`{r['model']}`" + "".join(f" `{OPTIONS[name].flag} {value}`"
                                       for name, value in sorted(r.get("options", {}).items()))


def conditional(r):
    """Whether the run's model is conditional, as evaluate.py records it; eval.json files written before it
    did hold a class-consistency exactly for the conditional models."""
    return r.get("conditional", "class_consistency" in r)


def nll_cell(r):
    given = " (-log p(x\\|y))" if conditional(r) else ""
    per_dim = f" = {r['nll_bits_per_dim']:.3f} bits/dim" if "nll_bits_per_dim" in r else ""
    return f"{r['nll']:.2f}{per_dim} ({r['nll_k']}){given}"


def pixels_cell(r):
    """How a run of one's own data sees its images, and its likelihood when not the default: "32x32 colour,
    logistic"; MNIST's 28x28 gray says nothing more."""
    shape = r.get("image_shape", [28, 28, 1])
    pixels = "" if shape == [28, 28, 1] else f"{shape[0]}x{shape[1]} {'colour' if shape[2] == 3 else 'gray'}"
    likelihood = r.get("likelihood", DEFAULT_LIKELIHOOD)
    likelihood = "" if likelihood == DEFAULT_LIKELIHOOD else likelihood
    return ", ".join(part for part in (pixels, likelihood) if part)


def consistency_cell(r):
    return f"{r['class_consistency']['overall']:.1%}" if "class_consistency" in r else "n/a"


def vae_table(results):
    """Markdown: one row per VAE run, then each classifier's accuracy."""
    lines = ["| model | latent dim | epochs | data | test ELBO | NLL (k) | class-consistency | parameters |",
             "|---|---|---|---|---|---|---|---|"]
    for r in sorted((r for r in results if r["latent_dim"] is not None), key=sort_key):
        data = ("Fashion-MNIST " if r.get("dataset") == "fashion_mnist" else "") + \
            (f"`{r['dataset']}` " if own_data(r) else "") + (pixels_cell(r) or ("binarized" if r["binarized"] else "gray"))
        lines.append(f"| {model_cell(r)} | {r['latent_dim']} | {r['epoch']} | {data} "
                     f"| {r['elbo']:.2f} | {nll_cell(r)} | {consistency_cell(r)} | {r['parameters']:,} |")
    for r in results:
        if r["latent_dim"] is None:
            on = " on Fashion-MNIST" if r.get("dataset") == "fashion_mnist" else \
                f" on `{r['dataset']}`" if own_data(r) else ""
            lines.append(f"\nClassifier `{r['model']}`{on}: {r['test_accuracy']:.2%} test accuracy after {r['epoch']} "
                         f"epochs ({r['parameters']:,} parameters).")
    return "\n".join(lines)


def semi_supervised_table(results):
    """Markdown: one row per m2 run, the test error first."""
    lines = ["| model | labels | latent dim | epochs | training time | data | test error | test ELBO | NLL (k) "
             "| class-consistency | parameters |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(results, key=sort_key):
        data = ("Fashion-MNIST" if r.get("dataset") == "fashion_mnist" else f"`{r['dataset']}`" if own_data(r)
                else "MNIST") + (", binarized" if r["binarized"] else "")
        minutes = f"{r['training_seconds'] / 60:.0f} min" if "training_seconds" in r else "n/a"
        lines.append(f"| {model_cell(r)} | {r['labels']:,} | {r['latent_dim']} | {r['epoch']} | {minutes} | {data} "
                     f"| **{1 - r['test_accuracy']:.2%}** | {r['elbo']:.2f} | {nll_cell(r)} | {consistency_cell(r)} "
                     f"| {r['parameters']:,} |")
    return "\n".join(lines)


def data_cell(r):
    """The data a run was trained on, as the sample-quality table names it (m2: with its labels)."""
    name = ("Fashion-MNIST" if r.get("dataset") == "fashion_mnist" else f"`{r['dataset']}`" if own_data(r)
            else "MNIST")
    labels = f", {r['labels']:,} labels" if semi_supervised(r) else ""
    return name + labels + ", " + (pixels_cell(r) or ("binarized" if r["binarized"] else "gray"))


def sample_quality_table(results):
    """Markdown: one row per run evaluated for sample quality: the Fréchet distance (cnn features) of the
    training images (the floor), then FD, precision, recall and class-consistency from the prior and from the
    fitted mixtures."""
    lines = ["| model | latent dim | epochs | data | gmm components | FD floor | FD prior | FD gmm "
             "| precision prior / gmm | recall prior / gmm | class-consistency prior / gmm |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(results, key=sort_key):
        q = r["sample_quality"]
        prior, gmm = q["prior"], q["gmm"]
        consistency = (f"{prior['class_consistency']:.1%} / {gmm['class_consistency']:.1%}"
                       if "class_consistency" in prior and "class_consistency" in gmm else "n/a")
        lines.append(f"| {model_cell(r)} | {r['latent_dim']} | {r['epoch']} | {data_cell(r)} | {gmm['components']} "
                     f"| {q['fd_floor']:.2f} | {prior['fd']:.2f} | {gmm['fd']:.2f} "
                     f"| {prior['precision']:.3f} / {gmm['precision']:.3f} | {prior['recall']:.3f} / {gmm['recall']:.3f} "
                     f"| {consistency} |")
    return "\n".join(lines)


def semi_supervised(r):
    return r.get("labels") is not None


def colour(r):
    """A run on colour images (its eval.json records their shape)."""
    return r.get("image_shape", [28, 28, 1])[-1] == 3


def own_data(r):
    """A run on a data set of one's own (train.py --dataset PATH), named like digits_3fa9c2d1."""
    return r.get("dataset", "mnist") not in ("mnist", "fashion_mnist")


# section name -> (which eval.json files it shows, how)
SECTIONS = {
    "results": (lambda r: not semi_supervised(r) and r.get("dataset", "mnist") == "mnist", vae_table),
    "semi-supervised": (semi_supervised, semi_supervised_table),
    "fashion-mnist": (lambda r: not semi_supervised(r) and r.get("dataset") == "fashion_mnist", vae_table),
    "own-data": (lambda r: not semi_supervised(r) and own_data(r) and not colour(r), vae_table),
    "colour": (lambda r: not semi_supervised(r) and colour(r), vae_table),
    "sample-quality": (lambda r: "sample_quality" in r, sample_quality_table),
}


def tables(results):
    """{section: markdown} for every section that has at least one result."""
    bodies = {}
    for section, (belongs, make_table) in SECTIONS.items():
        chosen = [r for r in results if belongs(r)]
        if chosen:
            bodies[section] = make_table(chosen)
    return bodies


def cells(line):
    """The cells of a markdown table row; an escaped pipe (\\|) stays inside its cell."""
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip().strip("|"))]


def row_key(row):
    """What identifies a run in a table row ({column: cell}): its model, latent dim, labels and data,
    in the order sort_key gives the runs."""
    model = row["model"].split("`")[1]  # the cell: `MODEL`, then its options (model_cell)
    return (model_order(model), row["model"], int(row["latent dim"]),
            int(row.get("labels", "0").replace(",", "")), "binarized" in row["data"], row["data"])


def split_table(body):
    """(header line, {row key: line}, {classifier key: line}, {row key: {column: cell}}) of a table body."""
    lines = [line for line in body.splitlines() if line.strip()]
    header = lines[0] if lines and lines[0].startswith("|") else None
    names = cells(header) if header else []
    rows, parsed = {}, {}
    for line in lines[2:] if header else []:
        if line.startswith("|"):
            row = dict(zip(names, cells(line)))
            rows[row_key(row)] = line
            parsed[row_key(row)] = row
    classifiers = {line.split(":")[0]: line for line in lines if line.startswith("Classifier")}
    return header, rows, classifiers, parsed


def merge_tables(old, new):
    """`new` (a table body) plus the rows and classifier lines of `old` for runs that `new` lacks,
    in the registry's order of models. Returns (body, kept rows). A table whose columns changed is replaced whole."""
    old_header, old_rows, old_classifiers, _ = split_table(old)
    new_header, new_rows, new_classifiers, _ = split_table(new)
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


def run_name(result):
    """The name of the run an eval.json belongs to: its directory's."""
    return Path(result["path"]).parent.name


def screen(results, make_table, old_body, force, added=()):
    """(accepted results, replaced [(old line, new line)], refused [(eval.json, reasons)], left out [eval.json])
    for one README table. The README's tables hold the README's runs: a run whose row is not in the table yet
    goes in only when `added` names it (its directory's name), and is left out otherwise. A partial run, or
    one weaker than the row it would replace, is refused unless force."""
    old_header, old_rows, old_classifiers, old_parsed = split_table(old_body)
    accepted, replaced, refused, left_out = [], [], [], []
    for result in results:
        new_header, new_rows, new_classifiers, new_parsed = split_table(make_table([result]))
        (key, line), = (new_rows or new_classifiers).items()
        old_line = old_rows.get(key) or old_classifiers.get(key)
        if old_line is None and run_name(result) not in added:
            left_out.append(result["path"])
            continue
        reasons = partial_reasons(result)
        if key in old_parsed and old_header == new_header:
            reasons += weaker_than_row(result, old_parsed[key])
        if reasons and not force:
            refused.append((result["path"], reasons))
            continue
        accepted.append(result)
        if old_line is not None and old_line != line:
            replaced.append((old_line, line))
    return accepted, replaced, refused, left_out


def write_readme(readme, results, force, log_dir, log=print, added=()):
    """Put each section's table into the README (atomically): the rows of runs it has, and new rows of the runs
    `added` names; log what was replaced, kept, refused and left out."""
    unknown = sorted(set(added) - {run_name(result) for result in results})
    if unknown:
        raise UsageError(f"--add {unknown[0]}: no readable {log_dir}/{unknown[0]}/eval.json (evaluate.py writes it)")
    text = readme.read_text()
    kept, replaced, refused, left_out, written = [], [], [], [], []
    for section, (belongs, make_table) in SECTIONS.items():
        chosen = [r for r in results if belongs(r)]
        if not chosen:
            continue
        try:
            old_body = split_section(text, section)[1]
        except ValueError as err:
            raise UsageError(f"{readme}: {err}")
        accepted, section_replaced, section_refused, section_left_out = screen(chosen, make_table, old_body, force,
                                                                              added)
        replaced += section_replaced
        refused += section_refused
        left_out += section_left_out
        if accepted:
            body, kept_rows = merge_tables(old_body, make_table(accepted))
            text = replace_section(text, body, section)
            kept += kept_rows
            written.append(section)
    rewrite_file(readme, text)
    log(f"wrote {', '.join(written) or 'no table'} into {readme}")
    untouched = [section for section in SECTIONS if section not in written]
    if untouched:
        log(f"kept the {', '.join(untouched)} table(s) as they were: no eval.json accepted for them")
    if replaced:
        log("replaced these rows:\n" + "\n".join(f"  {old}\n  -> {new}" for old, new in replaced))
    if kept:
        log(f"kept these rows as they were (no eval.json for their runs under {log_dir}):\n" + "\n".join(kept))
    if left_out:
        log("left out these runs, whose rows the README does not have (--add RUN_NAME puts one in):\n"
            + "\n".join(f"  {path}" for path in dict.fromkeys(left_out)))  # once, though in two tables
    if refused:
        log("refused these partial or weaker runs (--force puts them in anyway):\n"
            + "\n".join(f"  {path}: {'; '.join(reasons)}" for path, reasons in refused))

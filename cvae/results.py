"""The README's results tables, rendered whole from eval.json records (never typed by hand, never read back
from the Markdown).

Six tables, each between its own markers: MNIST runs (`results`), semi-supervised `m2` runs
(`semi-supervised`), Fashion-MNIST runs (`fashion-mnist`), runs on gray data of one's own (`own-data`), runs on
colour images (`colour`), and the sample quality of every run evaluated with it, from the prior and from the
fitted sampler (`sample-quality`).

The README's runs keep their records beside their figures: img/RUN/eval.json, one per row, committed with the
README. `update_readme` takes a run's new eval.json from the log directory into its record when the README has
that run (or --add names it), then renders every table from the records alone: the README's tables are a
function of img/*/eval.json, so the test that renders them again and compares can fail.

A partial run never replaces a README record by accident: one trained on --subset, evaluated on part of the test
set, or with fewer epochs or a smaller k than the record it would replace is refused (and listed) unless forced.
A damaged eval.json or metrics.csv is skipped with a warning naming it. No TensorFlow here.
"""
import json
from pathlib import Path

from model import DEFAULT_LIKELIHOOD, OPTIONS, names as model_names
from cvae.errors import UsageError, UserFacingError
from cvae.evalrecord import check_result
from cvae.files import check_writable, parse_json, read_small_file, rewrite_file, write_atomic
from cvae.rundir import DamagedFile, RunDir

RECORD = "eval.json"  # evaluate.py's file in a run's directory, and the README's record of it in img/RUN/
MAX_EVAL_BYTES = 10_000_000  # an eval.json holds a few kB; a larger file is not one (a link to /dev/zero, say)
MNIST_TEST_IMAGES = 10000  # for eval.json files written before they recorded the test set's size
README_SAMPLES_PER_CLASS = 1000  # evaluate.py's --samples default, which the README's class-consistency uses


def markers(section):
    return f"<!-- {section}:start -->", f"<!-- {section}:end -->"


START, END = markers("results")


def load_results(log_dir, warn=print):
    """Each run's eval.json under `log_dir` (a log directory, or the README's records in img/), with "path"
    added, and "training_seconds" where it has none: the sum of metrics.csv's per-epoch training times up to the
    evaluated epoch (test metrics and checkpoints left out), where metrics.csv is there. A damaged eval.json is
    skipped, and a damaged metrics.csv leaves the time out, each with a warning naming the file."""
    results = []
    for path in sorted(Path(log_dir).glob(f"*/{RECORD}")):
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
        if "training_seconds" not in result:
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


def weaker_than_record(result, record):
    """Why `result` would be a step down from the README's record of the same run: fewer epochs, or a smaller k
    for the NLL."""
    reasons = []
    if result["epoch"] < record["epoch"]:
        reasons.append(f"{result['epoch']} epochs, the README's record has {record['epoch']}")
    if "nll_k" in result and "nll_k" in record and result["nll_k"] < record["nll_k"]:
        reasons.append(f"k = {result['nll_k']}, the README's record has k = {record['nll_k']}")
    return reasons


def model_order(name):
    """Where a model's rows go in a table: the registry's order (model.names())."""
    order = model_names()
    return order.index(name) if name in order else len(order)


def sort_key(r):
    """A table's order: by model (the registry's order) and its options, latent dim, labels, binarization,
    then data (Fashion-MNIST, MNIST, then one's own by name) and likelihood (the default first)."""
    dataset = r.get("dataset", "mnist")
    data = {"fashion_mnist": (0, ""), "mnist": (1, "")}.get(dataset, (2, dataset))
    likelihood = r.get("likelihood", DEFAULT_LIKELIHOOD)
    return (model_order(r["model"]), sorted(r.get("options", {}).items()), r["latent_dim"] or 0, r.get("labels") or 0,
            r["binarized"], data, likelihood != DEFAULT_LIKELIHOOD, likelihood)


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
    classifiers = sorted((r for r in results if r["latent_dim"] is None), key=sort_key)
    if classifiers:
        lines.append("")
    for r in classifiers:
        on = " on Fashion-MNIST" if r.get("dataset") == "fashion_mnist" else \
            f" on `{r['dataset']}`" if own_data(r) else ""
        lines.append(f"Classifier `{r['model']}`{on}: {r['test_accuracy']:.2%} test accuracy after {r['epoch']} "
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


def run_name(result):
    """The name of the run an eval.json belongs to: its directory's."""
    return Path(result["path"]).parent.name




def split_section(text, section):
    """(before, after) of the README text around the section's body; the markers stay with before and after."""
    start, end = markers(section)
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise ValueError(f"the README has no single {start} ... {end} section")
    before, rest = text.split(start, 1)
    return before + start, end + rest.split(end, 1)[1]


def render_readme(text, records):
    """The README's text with each table whose section has a record rendered whole from the records."""
    for section, body in tables(records).items():
        before, after = split_section(text, section)
        text = f"{before}\n{body}\n{after}"
    return text


def screen(results, records, force, added=()):
    """(accepted results, refused [(eval.json, reasons)], left out [eval.json]) of the log's results against the
    README's records {run name: record}. The README holds the README's runs: a run it has no record of goes in
    only when `added` names it. A partial run, or one weaker than the record it would replace, is refused unless
    force."""
    accepted, refused, left_out = [], [], []
    for result in results:
        record = records.get(run_name(result))
        if record is None and run_name(result) not in added:
            left_out.append(result["path"])
            continue
        reasons = partial_reasons(result) + (weaker_than_record(result, record) if record else [])
        if reasons and not force:
            refused.append((result["path"], reasons))
        else:
            accepted.append(result)
    return accepted, refused, left_out


def record_text(result):
    """An eval.json as the README's record keeps it: all of it but where it was read from."""
    return json.dumps({key: value for key, value in result.items() if key != "path"}, indent=1) + "\n"


def write_record(path, result):
    """Write a README record whole; on failure, UserFacingError, with no folder left behind that was made for it."""
    made = [folder for folder in (path.parent.parent, path.parent) if not folder.exists()]
    try:
        for folder in made:
            folder.mkdir()
        write_atomic(path, record_text(result))
    except OSError as err:
        for folder in reversed(made):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise UserFacingError(f"cannot write {path} ({err.strerror}); the README is left as it was") from err


def update_readme(readme, results, log_dir, records_dir, force=False, added=(), log=print, warn=print):
    """Take `results` (load_results of `log_dir`), the evaluations of the README's runs and of the runs `added`
    names, into their records in `records_dir` (img/), then write the README's tables rendered whole from the
    records. Logs what was updated, refused and left out. Each file is replaced whole; the README is written
    last, and as it is a function of the records, running again finishes what an interruption left."""
    unknown = sorted(set(added) - {run_name(result) for result in results})
    if unknown:
        raise UsageError(f"--add {unknown[0]}: no readable {log_dir}/{unknown[0]}/{RECORD} (evaluate.py writes it)")
    records = {run_name(record): record for record in load_results(records_dir, warn)}
    accepted, refused, left_out = screen(results, records, force, added)
    updated = [result for result in accepted if run_name(result) not in records
               or record_text(records[run_name(result)]) != record_text(result)]
    records |= {run_name(result): result for result in updated}
    text = readme.read_text()
    try:  # the whole README first, so that a missing marker stops before any record changes
        rendered = render_readme(text, list(records.values()))
    except ValueError as err:
        raise UsageError(f"{readme}: {err}")
    check_writable(readme)
    updated = [Path(records_dir) / run_name(result) / RECORD for result in updated]
    for path in updated:
        write_record(path, records[path.parent.name])
    rewrite_file(readme, rendered)
    log(f"wrote {readme}'s tables from {len(records)} records in {records_dir}"
        + (", unchanged" if rendered == text else ""))
    if updated:
        log("updated these records from the log's eval.json:\n" + "\n".join(f"  {path}" for path in updated))
    if left_out:
        log("left out these runs, which the README has no record of (--add RUN_NAME puts one in):\n"
            + "\n".join(f"  {path}" for path in left_out))
    if refused:
        log("refused these partial or weaker runs (--force puts them in anyway):\n"
            + "\n".join(f"  {path}: {'; '.join(reasons)}" for path, reasons in refused))

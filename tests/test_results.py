"""cvae.results and results.py: the README's tables, rendered from its runs' records (img/RUN/eval.json), which the
eval.json files that evaluate.py writes replace."""
import json
import shutil

import pytest

from conftest import QUICK_RUN, ROOT, copy_run, run_main, tool
from cvae import results as tables
from cvae.config import RunIdentity
from model import DEFAULT_LIKELIHOOD

evaluate = tool("evaluate")
results = tool("results")


def test_the_readmes_tables_are_what_its_records_render():
    """README.md's tables are a function of img/RUN/eval.json: a hand-edited row, or a record changed without
    running results.py --readme, fails here. Each record sits in the folder its run's identity names."""
    readme = (ROOT / "README.md").read_text()
    records = tables.load_results(ROOT / "img")
    assert len(records) >= 20 and tables.render_readme(readme, records) == readme
    for r in records:
        identity = RunIdentity(r["model"], r["latent_dim"], dataset=r.get("dataset", "mnist"), binarize=r["binarized"],
                               likelihood=r.get("likelihood", DEFAULT_LIKELIHOOD), labels=r.get("labels"),
                               options=r.get("options", {}))
        assert identity.directory_name() == tables.run_name(r)


def readme_with_markers(path, sections, body="old"):
    path.write_text("intro\n" + "".join(f"{start}\n{body} {section}\n{end}\nbetween\n"
                                         for section in sections for start, end in [tables.markers(section)]))
    return path.read_text()


def test_results_table_is_made_from_eval_files(session_runs, tmp_path, capsys):
    # Copies of the two runs, so that no other test's eval.json in the shared runs is listed with theirs.
    for name in ("cnn_subset300", QUICK_RUN):
        copy_run(session_runs, name, tmp_path / "log")
    log_dir = tmp_path / "log"
    for args in (["cvae_cnn3", "-n", "2", "-k", "2", "--samples", "5"], ["cnn"]):
        assert evaluate.main([*args, "--test-images", "100", "--subset", "300", "--log-dir", str(log_dir)]) == 0
    body = tables.tables(tables.load_results(log_dir))["results"]
    assert "| `cvae_cnn3` | 2 | 1 | gray |" in body and "Classifier `cnn`" in body
    readme = tmp_path / "README.md"
    before = readme_with_markers(readme, ("results", "semi-supervised", "sample-quality"))
    # Runs the README has no record of go in only by name: one's own runs in log/ stay out of the README.
    assert results.main(["--log-dir", str(log_dir), "--readme", str(readme), "--force"]) == 0
    assert readme.read_text() == before and not (tmp_path / "img").exists()
    left_out = capsys.readouterr().out.split("left out these runs, which the README has no record of "
                                             "(--add RUN_NAME puts one in):\n")[1].splitlines()
    assert sorted(left_out) == [f"  {log_dir / name / 'eval.json'}" for name in ("cnn_subset300", QUICK_RUN)]
    assert results.main(["--log-dir", str(log_dir), "--readme", str(readme), "--force",  # runs on 300 images
                         "--add", QUICK_RUN, "--add", "cnn_subset300"]) == 0
    assert sorted(path.parent.name for path in (tmp_path / "img").glob("*/eval.json")) == ["cnn_subset300", QUICK_RUN]
    record = json.loads((tmp_path / "img" / QUICK_RUN / "eval.json").read_text())
    evaluated = json.loads((log_dir / QUICK_RUN / "eval.json").read_text())
    assert record == evaluated | {"training_seconds": record["training_seconds"]} and record["training_seconds"] > 0
    text = readme.read_text()
    assert "old results" not in text and "| `cvae_cnn3` |" in text and text.endswith("between\n")
    assert "old semi-supervised" in text  # no m2 record: its table is left alone
    assert "| model | latent dim | epochs | data | gmm components | FD floor |" in text.split("sample-quality:start")[1]


def test_a_record_is_replaced_by_a_full_evaluation_only_and_the_tables_rendered_whole(session_runs, tmp_path,
                                                                                      capsys):
    """The README's tables come from its records alone (a hand edit between the markers is written over); an
    evaluation of a run that has a record replaces it only when it is not partial or weaker, or with --force."""
    assert evaluate.main(["cvae_cnn3", "-n", "2", "-k", "2", "--samples", "5", "--test-images", "100",
                          "--subset", "300", "--log-dir", str(session_runs)]) == 0
    base = {"latent_dim": 20, "binarized": False, "dataset": "mnist", "parameters": 1000, "elbo": -98.1, "nll": 94.56,
            "nll_k": 200, "epoch": 50}
    records = {"vae_20": base | {"model": "vae"},
               "cvae_fc3_50_bin": base | {"model": "cvae_fc3", "latent_dim": 50, "binarized": True, "nll_k": 5000,
                                          "epoch": 100, "class_consistency": {"overall": 0.98}},
               "cvae_cnn3_2": base | {"model": "cvae_cnn3", "latent_dim": 2, "class_consistency": {"overall": 0.99}},
               "cnn": {"model": "cnn", "latent_dim": None, "epoch": 20, "parameters": 45826, "binarized": False,
                       "test_accuracy": 0.9925}}
    for name, record in records.items():
        (tmp_path / "img" / name).mkdir(parents=True)
        (tmp_path / "img" / name / "eval.json").write_text(json.dumps(record))
    readme = tmp_path / "README.md"
    readme_with_markers(readme, ("results", "sample-quality"), body="| a row typed by hand |")
    only_cnn3 = tmp_path / "log"
    copy_run(session_runs, QUICK_RUN, only_cnn3, as_name="cvae_cnn3_2")
    shutil.copy(session_runs / QUICK_RUN / "eval.json", only_cnn3 / "cvae_cnn3_2" / "eval.json")
    # A 1-epoch run on 300 images, k = 2 on 100 test images: refused in place of a 50-epoch, k = 200 record.
    assert results.main(["--log-dir", str(only_cnn3), "--readme", str(readme)]) == 0
    out = capsys.readouterr().out
    assert "refused these partial or weaker runs" in out
    for reason in ("trained on --subset 300", "evaluated on 100 of 10,000 test images",
                   "1 epochs, the README's record has 50", "k = 2, the README's record has k = 200"):
        assert reason in out
    assert json.loads((tmp_path / "img" / "cvae_cnn3_2" / "eval.json").read_text()) == records["cvae_cnn3_2"]
    table, rest = readme.read_text().split(tables.END)
    assert "typed by hand" not in table and "| `cvae_cnn3` | 2 | 50 | gray | -98.10 |" in table
    assert "typed by hand | sample-quality" in rest  # no record has sample quality: that table is left alone
    assert results.main(["--log-dir", str(only_cnn3), "--readme", str(readme), "--force"]) == 0
    rows = [line for line in readme.read_text().split(tables.END)[0].splitlines() if line.startswith("| `")]
    assert [row.split(" | ")[0:3] for row in rows] == [["| `vae`", "20", "50"], ["| `cvae_fc3`", "50", "100"],
                                                         ["| `cvae_cnn3`", "2", "1"]]  # the registry's order
    assert "Classifier `cnn`: 99.25% test accuracy after 20 epochs (45,826 parameters)." in readme.read_text()
    assert f"updated these records from the log's eval.json:\n  {tmp_path / 'img' / 'cvae_cnn3_2' / 'eval.json'}" \
        in capsys.readouterr().out
    assert json.loads((tmp_path / "img" / "cvae_cnn3_2" / "eval.json").read_text())["epoch"] == 1


def test_a_readme_without_a_tables_markers_is_refused_before_any_record_changes(session_runs, tmp_path, capsys):
    copy_run(session_runs, QUICK_RUN, tmp_path / "log")
    shutil.copy(session_runs / QUICK_RUN / "eval.json", tmp_path / "log" / QUICK_RUN / "eval.json")
    readme = tmp_path / "README.md"
    text = readme_with_markers(readme, ("semi-supervised",))
    status, _, err = run_main(results.main, ["--log-dir", str(tmp_path / "log"), "--readme", str(readme), "--force",
                                             "--add", QUICK_RUN], capsys)
    assert status == 2 and "has no single <!-- results:start --> ... <!-- results:end --> section" in err
    assert readme.read_text() == text and not (tmp_path / "img").exists()


def test_add_names_a_run_with_an_eval_file_and_needs_readme(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(f"{tables.START}\n{tables.END}\n")
    (tmp_path / "log" / "cnn").mkdir(parents=True)
    (tmp_path / "log" / "cnn" / "eval.json").write_text(
        '{"model": "cnn", "latent_dim": null, "epoch": 1, "parameters": 5, "binarized": false, "test_accuracy": 0.5}')
    for args, message in ((["--add", "cnn"], "--add puts a run into the README: give --readme README.md too"),
                          (["--readme", str(readme), "--add", "cnn_2"],
                           f"--add cnn_2: no readable {tmp_path / 'log'}/cnn_2/eval.json (evaluate.py writes it)")):
        assert results.main(["--log-dir", str(tmp_path / "log"), *args]) == 2
        assert capsys.readouterr().err.strip().endswith(message)
    assert results.main(["--log-dir", str(tmp_path / "log"), "--readme", str(readme), "--add", "cnn", "--force"]) == 0
    assert "Classifier `cnn`: 50.00% test accuracy" in readme.read_text()


def test_semi_supervised_rows_go_to_their_own_table():
    m2 = {"model": "m2", "latent_dim": 50, "epoch": 30, "parameters": 1417710, "binarized": False,
          "dataset": "mnist", "labels": 100, "test_accuracy": 0.9712, "elbo": -101.234, "nll": 97.5, "nll_k": 200,
          "class_consistency": {"overall": 0.95}}
    fashion_cnn = {"model": "cnn", "latent_dim": None, "epoch": 20, "parameters": 45826, "binarized": False,
                   "dataset": "fashion_mnist", "labels": None, "test_accuracy": 0.9}
    bodies = tables.tables([m2, fashion_cnn])
    assert set(bodies) == {"semi-supervised", "fashion-mnist"}
    assert "| `m2` | 100 | 50 | 30 | n/a | MNIST | **2.88%** | -101.23 | 97.50 (200) (-log p(x\\|y)) | 95.0% |" \
        in bodies["semi-supervised"]
    assert "Classifier `cnn` on Fashion-MNIST: 90.00% test accuracy" in bodies["fashion-mnist"]


def test_colour_rows_go_to_their_own_table_with_bits_per_dim_and_a_bad_shape_is_refused():
    colour = {"model": "cvae_cnn3", "latent_dim": 20, "epoch": 30, "parameters": 56919, "binarized": False,
              "dataset": "colour_mnist_420af299", "labels": None, "elbo": -9709.62, "nll": 9485.0, "nll_k": 200,
              "likelihood": "logistic", "image_shape": [32, 32, 3], "nll_bits_per_dim": 4.4546,
              "class_consistency": {"overall": 0.5}}
    gray_own = {**colour, "dataset": "digits_12345678", "image_shape": [28, 28, 1], "likelihood": "bernoulli"}
    del gray_own["nll_bits_per_dim"]
    bodies = tables.tables([colour, gray_own])
    assert set(bodies) == {"colour", "own-data"}
    assert ("| `cvae_cnn3` | 20 | 30 | `colour_mnist_420af299` 32x32 colour, logistic | -9709.62 | 9485.00 = 4.455 "
            "bits/dim (200) (-log p(x\\|y)) | 50.0% | 56,919 |") in bodies["colour"]
    assert "`digits_12345678` gray | -9709.62 | 9485.00 (200)" in bodies["own-data"]
    for bad in ({"image_shape": ["<b>", 2, 3]}, {"image_shape": [32, 32]}, {"likelihood": "<script>"},
                {"nll_bits_per_dim": "4"}):
        with pytest.raises(ValueError):
            tables.check_result({**colour, **bad})


def test_runs_that_differ_in_a_model_option_get_a_row_each():
    """vamp and vamp --pseudo-inputs 100: one row each, the option in the model's cell, the default first."""
    base = {"model": "vamp", "latent_dim": 50, "epoch": 100, "binarized": True, "elbo": -91.0, "nll": 87.0,
            "nll_k": 5000, "parameters": 1, "dataset": "mnist"}
    table = tables.vae_table([base | {"options": {"pseudo_inputs": 100}, "epoch": 135}, base])
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert rows[0].startswith("| `vamp` | 50 | 100 |") and rows[1].startswith("| `vamp` `--pseudo-inputs 100` | 50 | 135 |")
    assert len(rows) == 2


def test_an_eval_json_of_before_the_per_class_names_is_still_read():
    """eval.json files written before 2026-12-07 say "samples_per_digit" (of any data set); the README's
    refusal of a run judged on fewer samples per class reads either name."""
    for key in ("samples_per_class", "samples_per_digit"):
        result = {"class_consistency": {"overall": 0.9, key: 10}}
        assert tables.partial_reasons(result) == [
            f"class-consistency from 10 images per class (the README's use {tables.README_SAMPLES_PER_CLASS:,})"]

"""cvae.results and results.py: the README's tables, made from the eval.json files that evaluate.py writes."""
import pytest

from conftest import QUICK_RUN, copy_run, tool
from cvae import results as tables

evaluate = tool("evaluate")
results = tool("results")


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
    m2_start, m2_end = tables.markers("semi-supervised")
    quality_start, quality_end = tables.markers("sample-quality")
    readme.write_text(f"intro\n{tables.START}\nold\n{tables.END}\nmiddle\n{m2_start}\nold m2\n{m2_end}\n"
                      f"{quality_start}\n{quality_end}\nrest\n")
    before = readme.read_text()
    # Rows the README does not have yet go in only by name: one's own runs in log/ stay out of the README.
    assert results.main(["--log-dir", str(log_dir), "--readme", str(readme), "--force"]) == 0
    assert readme.read_text() == before
    left_out = capsys.readouterr().out.split("left out these runs, whose rows the README does not have "
                                             "(--add RUN_NAME puts one in):\n")[1].splitlines()
    assert sorted(left_out) == [f"  {log_dir / name / 'eval.json'}" for name in ("cnn_subset300", QUICK_RUN)]
    assert results.main(["--log-dir", str(log_dir), "--readme", str(readme), "--force",  # runs on 300 images
                         "--add", QUICK_RUN, "--add", "cnn_subset300"]) == 0
    text = readme.read_text()
    assert "\nold\n" not in text and "| `cvae_cnn3` |" in text and text.endswith("rest\n")
    assert f"{m2_start}\nold m2\n{m2_end}" in text  # no m2 eval.json here: its table is kept
    assert "| model | latent dim | epochs | data | gmm components | FD floor |" in text.split(quality_start)[1]


def test_results_replace_only_the_rows_of_evaluated_runs(session_runs, tmp_path, capsys):
    """A README row whose run has no eval.json here is kept; the evaluated run's row is replaced."""
    assert evaluate.main(["cvae_cnn3", "-n", "2", "-k", "2", "--samples", "5", "--test-images", "100",
                          "--subset", "300", "--log-dir", str(session_runs)]) == 0
    header = ("| model | latent dim | epochs | data | test ELBO | NLL (k) | class-consistency | parameters |\n"
              "|---|---|---|---|---|---|---|---|\n")
    old_cnn3 = "| `cvae_cnn3` | 2 | 50 | gray | -1.00 | 1.00 (200) (-log p(x\\|y)) | 99.0% | 40,293 |"
    kept_vae = "| `vae` | 20 | 50 | gray | -98.10 | 94.56 (200) | n/a | 1,316,824 |"
    kept_fc3 = "| `cvae_fc3` | 50 | 100 | binarized | -88.08 | 84.04 (5000) (-log p(x\\|y)) | 98.0% | 1,371,884 |"
    classifier = "Classifier `cnn`: 99.25% test accuracy after 20 epochs (45,826 parameters)."
    assert len(tables.cells(kept_fc3)) == 8 and tables.cells(kept_fc3)[5] == "84.04 (5000) (-log p(x\\|y))"
    readme = tmp_path / "README.md"
    quality_start, quality_end = tables.markers("sample-quality")
    readme.write_text(f"{tables.START}\n{header}{old_cnn3}\n{kept_vae}\n{kept_fc3}\n\n{classifier}\n{tables.END}\n"
                      f"{quality_start}\n{quality_end}\n")
    only_cnn3 = tmp_path / "log"
    (only_cnn3 / "cvae_cnn3_2").mkdir(parents=True)
    (only_cnn3 / "cvae_cnn3_2" / "eval.json").write_text((session_runs / QUICK_RUN / "eval.json").read_text())
    before = readme.read_text()
    # A 1-epoch run on 300 images, k = 2 on 100 test images: refused in place of a 50-epoch, k = 200 row.
    assert results.main(["--log-dir", str(only_cnn3), "--readme", str(readme)]) == 0
    assert readme.read_text() == before
    out = capsys.readouterr().out
    assert "refused these partial or weaker runs" in out
    for reason in ("trained on --subset 300", "evaluated on 100 of 10,000 test images", "1 epochs, the README's row has 50",
                   "k = 2, the README's row has k = 200"):
        assert reason in out
    assert results.main(["--log-dir", str(only_cnn3), "--readme", str(readme), "--force"]) == 0
    rows = [line for line in readme.read_text().split(tables.END)[0].splitlines() if line.startswith("| `")]
    assert rows[0] == kept_vae and rows[1] == kept_fc3 and len(rows) == 3  # model order: vae, fc3, cnn3
    assert rows[2].startswith("| `cvae_cnn3` | 2 | 1 | gray |") and old_cnn3 not in rows
    assert classifier in readme.read_text()
    out = capsys.readouterr().out
    assert f"replaced these rows:\n  {old_cnn3}\n  -> {rows[2]}" in out
    assert kept_vae in out.split("kept these rows")[1] and classifier in out.split("kept these rows")[1]


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
    """vamp and vamp --pseudo-inputs 100: one row each, the option in the model's cell, neither replacing the
    other when results.py reads the table back."""
    base = {"model": "vamp", "latent_dim": 50, "epoch": 100, "binarized": True, "elbo": -91.0, "nll": 87.0,
            "nll_k": 5000, "parameters": 1, "dataset": "mnist"}
    table = tables.vae_table([base, base | {"options": {"pseudo_inputs": 100}, "epoch": 135}])
    assert "| `vamp` | 50 | 100 |" in table and "| `vamp` `--pseudo-inputs 100` | 50 | 135 |" in table
    _, rows, _, _ = tables.split_table(table)
    assert len(rows) == 2


def test_an_eval_json_of_before_the_per_class_names_is_still_read():
    """eval.json files written before 2026-12-07 say "samples_per_digit" (of any data set); the README's
    refusal of a run judged on fewer samples per class reads either name."""
    for key in ("samples_per_class", "samples_per_digit"):
        result = {"class_consistency": {"overall": 0.9, key: 10}}
        assert tables.partial_reasons(result) == [
            f"class-consistency from 10 images per class (the README's use {tables.README_SAMPLES_PER_CLASS:,})"]

"""The README's and the documentation's commands and snippets, run as a reader would run them (from the
repository's root)."""
import re
import subprocess
import sys

import pytest

from conftest import ROOT

README = (ROOT / "README.md").read_text()
MODELS_PAGE = (ROOT / "docs" / "models.md").read_text()
EXPORT_PAGE = (ROOT / "docs" / "export.md").read_text()


@pytest.mark.slow  # a fresh Python that loads TensorFlow
def test_the_parameter_count_one_liner_and_the_snippet_that_uses_a_run_elsewhere(tmp_path):
    one_liner = re.search(r'`python -c "(from model[^"]*)"`', MODELS_PAGE).group(1)
    snippet = next(block for block in re.findall(r"```python\n(.*?)```", EXPORT_PAGE, flags=re.S) if "model.save" in block)
    # The snippet on a shipped run, which a fresh clone has, saving into this test's folder.
    snippet = snippet.replace('"log/cvae_cnn3_2"', '"pretrained/cvae_cnn3_2"').replace(
        '"cvae_cnn3_2.keras"', repr(str(tmp_path / "cvae_cnn3_2.keras")))
    script = f"{one_liner}\n{snippet}\nprint(seven.shape)"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    count, shape = result.stdout.strip().splitlines()[-2:]
    assert count == re.search(r"^\| `vae` \|.*\| ([\d,]+) \|$", MODELS_PAGE, flags=re.M).group(1).replace(",", "")
    assert shape == "(1, 28, 28, 1)" and (tmp_path / "cvae_cnn3_2.keras").exists()


@pytest.mark.slow  # a fresh Python: TensorFlow, a short training, an export
def test_the_api_in_ten_lines_runs(tmp_path):
    block = next(block for block in re.findall(r"```python\n(.*?)```", README, flags=re.S) if "cvae.train(" in block)
    for written in ('"log"', '"export/mine"', '"s.png"'):  # into this test's folder, not the repository's
        block = block.replace(written, repr(str(tmp_path / written.strip('"'))))
    result = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "s.png").exists() and (tmp_path / "export" / "mine" / "export.json").exists()
    assert (tmp_path / "log" / "cvae_cnn3_2_subset2000" / "config.json").exists()

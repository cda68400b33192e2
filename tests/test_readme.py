"""The README's commands and snippets, run as a reader would run them (from the repository's root)."""
import re
import subprocess
import sys

import pytest

from conftest import ROOT

README = (ROOT / "README.md").read_text()


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README, flags=re.S)


@pytest.mark.slow  # a fresh Python that loads TensorFlow
def test_the_parameter_count_one_liner_prints_the_tables_count():
    command = re.search(r'`python -c "(from model[^"]*)"`', README).group(1)
    result = subprocess.run([sys.executable, "-c", command], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    table_row = re.search(r"^\| `vae` \|.*\| ([\d,]+) \|$", README, flags=re.M).group(1)
    assert result.stdout.strip().splitlines()[-1] == table_row.replace(",", "")


@pytest.mark.slow  # a fresh Python that loads TensorFlow
def test_the_snippet_that_uses_a_run_elsewhere_runs_on_a_shipped_run(tmp_path):
    snippet = next(block for block in python_blocks() if "run_dir_at" in block)
    snippet = snippet.replace('"log/cvae_cnn3_2"', '"pretrained/cvae_cnn3_2"').replace(
        '"cvae_cnn3_2.keras"', repr(str(tmp_path / "cvae_cnn3_2.keras")))
    result = subprocess.run([sys.executable, "-c", snippet + "\nprint(seven.shape)"], capture_output=True, text=True,
                            cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "(1, 28, 28, 1)" and (tmp_path / "cvae_cnn3_2.keras").exists()

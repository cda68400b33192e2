"""notebooks/: the library used from Python, as a student meets it first (tour.ipynb, on the shipped MNIST
runs) and then on their own colour images (own_colour_images.ipynb). They must not rot: the slow tier runs
them top to bottom; the fast one checks that what is committed is a whole run of each."""
import ast
import json
import re
import subprocess
import sys

import pytest

from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
FIGURES = {"tour.ipynb": 6, "own_colour_images.ipynb": 4}  # the figures each notebook draws, at least


def code_cells(path):
    """The code cells of the committed notebook, as its JSON holds them, with `source` and each output's `text`
    joined into one string. Read as JSON, not with nbformat: importing nbformat's validator (jsonschema and its
    format grammars) takes 4 s, most of this file's time in the fast tier; the slow tests read the notebooks
    with nbformat, which validates them."""
    def joined(text):
        return "".join(text) if isinstance(text, list) else text
    notebook = json.loads(path.read_text())
    assert notebook["nbformat"] == 4
    cells = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    for cell in cells:
        cell["source"] = joined(cell["source"])
        for output in cell["outputs"]:
            if "text" in output:
                output["text"] = joined(output["text"])
    return cells


def test_both_notebooks_are_there():
    assert [path.name for path in NOTEBOOKS] == sorted(FIGURES)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_the_committed_notebook_is_one_whole_run_of_its_cells(path):
    cells = code_cells(path)
    # Run top to bottom in one kernel: execution counts 1, 2, 3, ..., every cell with output, none an error.
    assert [cell["execution_count"] for cell in cells] == list(range(1, len(cells) + 1))
    assert all(cell["outputs"] for cell in cells)
    assert not [output for cell in cells for output in cell["outputs"] if output["output_type"] == "error"]
    figures = sum("image/png" in output.get("data", {}) for cell in cells for output in cell["outputs"])
    assert figures >= FIGURES[path.name]


def test_the_committed_colour_notebook_learned():
    """Its committed run trained for the epochs its cell asks and learned: its test loss after the last epoch
    under 95% of the first's (nats an image)."""
    printed = "".join(output.get("text", "") for cell in code_cells(ROOT / "notebooks" / "own_colour_images.ipynb")
                      for output in cell["outputs"])
    pattern = r"(\d+) epochs; test loss ([\d.]+) nats an image after the first, ([\d.]+) after the last"
    epochs, first, last = re.search(pattern, printed).groups()
    assert int(epochs) == 50 and float(last) < 0.95 * float(first), printed


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_the_notebook_uses_no_private_name(path):
    for cell in code_cells(path):
        tree = ast.parse(cell["source"])
        names = [node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)]
        names += [alias.name for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                  for alias in node.names]
        assert not [name for name in names if name.startswith("_")], cell["source"]


def test_the_library_imports_from_any_folder(tmp_path):
    """As the installed package (pip install -e ., which make does): -I leaves the working folder and
    PYTHONPATH out of sys.path. Importing costs no TensorFlow."""
    script = "import sys, cvae, model; print(cvae.__file__); print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, cwd=tmp_path,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == [str(ROOT / "cvae" / "__init__.py"), "False"]


def run_notebook(notebook, folder):
    """The notebook checked against nbformat's schema, then every cell of it in one kernel; any cell that raises
    fails the test (nbclient's CellExecutionError, with the cell and its traceback). Returns what the cells
    printed."""
    import nbformat
    from nbclient import NotebookClient
    nbformat.validate(notebook)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(folder)}}).execute()
    cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.outputs for cell in cells)
    return "".join(output.get("text", "") for cell in cells for output in cell.outputs)


@pytest.mark.slow  # runs every cell: a kernel, TensorFlow, a short training, an export
def test_the_tour_runs_top_to_bottom(tmp_path):
    import nbformat
    printed = run_notebook(nbformat.read(ROOT / "notebooks" / "tour.ipynb", as_version=4), tmp_path)
    assert "['encode', 'generate', 'reconstruct', 'sample', 'serving_default']" in printed


@pytest.mark.slow  # draws its folder, trains cvae_resnet_vamp (4 epochs here instead of the committed run's 50), fits
def test_the_colour_notebook_runs_top_to_bottom(tmp_path):
    import nbformat
    notebook = nbformat.read(ROOT / "notebooks" / "own_colour_images.ipynb", as_version=4)
    training = [cell for cell in notebook.cells if "epochs=50" in cell.source]
    assert len(training) == 1
    training[0].source = training[0].source.replace("epochs=50", "epochs=4")  # every cell runs; minutes fewer
    printed = run_notebook(notebook, tmp_path)
    assert "900 images in ['circle', 'square', 'triangle']" in printed
    pattern = r"4 epochs; test loss ([\d.]+) nats an image after the first, ([\d.]+) after the last"
    first, last = map(float, re.search(pattern, printed).groups())
    assert last < first, printed
    assert "fitted a mixture of 10 Gaussians to each class" in printed, printed

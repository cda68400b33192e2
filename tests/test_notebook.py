"""notebooks/tour.ipynb: the library used from Python, as a student meets it first. It must not rot: the slow
tier runs it top to bottom; the fast one checks that what is committed is a whole run of it."""
import ast
import subprocess
import sys

import pytest

from conftest import ROOT

NOTEBOOK = ROOT / "notebooks" / "tour.ipynb"


def code_cells():
    import nbformat
    return [cell for cell in nbformat.read(NOTEBOOK, as_version=4).cells if cell.cell_type == "code"]


def test_the_committed_notebook_is_one_whole_run_of_its_cells():
    import nbformat
    nbformat.validate(nbformat.read(NOTEBOOK, as_version=4))
    cells = code_cells()
    # Run top to bottom in one kernel: execution counts 1, 2, 3, ..., every cell with output, none an error.
    assert [cell.execution_count for cell in cells] == list(range(1, len(cells) + 1))
    assert all(cell.outputs for cell in cells)
    assert not [output for cell in cells for output in cell.outputs if output.output_type == "error"]
    assert sum("image/png" in output.get("data", {}) for cell in cells for output in cell.outputs) >= 6


def test_the_notebook_uses_no_private_name():
    for cell in code_cells():
        tree = ast.parse(cell.source)
        names = [node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)]
        names += [alias.name for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                  for alias in node.names]
        assert not [name for name in names if name.startswith("_")], cell.source


def test_the_library_imports_from_any_folder(tmp_path):
    """As the installed package (pip install -e ., which make does): -I leaves the working folder and
    PYTHONPATH out of sys.path. Importing costs no TensorFlow."""
    script = "import sys, cvae, model; print(cvae.__file__); print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, cwd=tmp_path,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == [str(ROOT / "cvae" / "__init__.py"), "False"]


@pytest.mark.slow  # runs every cell: a kernel, TensorFlow, a short training, an export
def test_the_notebook_runs_top_to_bottom(tmp_path):
    import nbformat
    from nbclient import NotebookClient
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # Any cell that raises fails the test (nbclient's CellExecutionError, with the cell and its traceback).
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.outputs for cell in cells)
    printed = "".join(output.get("text", "") for cell in cells for output in cell.outputs)
    assert "['encode', 'generate', 'reconstruct', 'sample', 'serving_default']" in printed

"""The documentation: a README a newcomer reads in two minutes, and the site `make docs` builds from docs/, the
tools' --help and the docstrings, with every tool option and every public name of the API in it."""
import re
import subprocess
import sys

import pytest

from conftest import ROOT
from cvae import TOOLS, PUBLIC

README = (ROOT / "README.md").read_text()


def test_the_readme_is_short_and_links_every_page_of_the_docs():
    assert len(README.splitlines()) <= 250
    pages = sorted(path.name for path in (ROOT / "docs").glob("*.md"))
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in pages:
        assert f"](docs/{page}" in README, f"the README does not link docs/{page}"
        assert f": {page}" in nav, f"mkdocs.yml's nav lacks {page}"


def test_every_table_results_py_writes_is_in_the_readme_and_the_pages_show_them():
    from cvae.results import SECTIONS, markers
    for section in SECTIONS:
        start, end = markers(section)
        assert README.count(start) == 1 and README.count(end) == 1, section
    shown = re.findall(r"<!-- readme-table: ([a-z-]+) -->", "".join(
        path.read_text() for path in (ROOT / "docs").glob("*.md")))
    assert sorted(shown) == sorted(SECTIONS)


def options_of(tool):
    shown = subprocess.run([sys.executable, f"{tool}.py", "--help"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout
    return set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", shown)) - {"--help"}


@pytest.mark.slow  # MkDocs builds the whole site (about 15 s on 2 cores)
def test_the_site_builds_without_a_warning_and_holds_every_option_and_public_name(tmp_path):
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                           cwd=ROOT, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-3000:]
    assert "WARNING" not in built.stderr
    tools = (tmp_path / "site" / "tools" / "index.html").read_text()
    for tool in TOOLS:
        assert f"{tool}.py" in tools
        missing = [option for option in options_of(tool) if option not in tools]
        assert not missing, f"{tool}.py's {missing} are not in the tools page"
    api = (tmp_path / "site" / "python" / "index.html").read_text()
    import ast
    trained = ast.parse((ROOT / "cvae" / "trainedrun.py").read_text())
    (run_class,) = [node for node in trained.body if isinstance(node, ast.ClassDef) and node.name == "TrainedRun"]
    methods = [node.name for node in run_class.body if isinstance(node, ast.FunctionDef) and not node.name.startswith("_")]
    for name in [*PUBLIC, *(attribute for _, attribute in PUBLIC.values()), *methods]:
        assert f"{name}" in api, f"{name} is not in the Python API page"
    home = (tmp_path / "site" / "index.html").read_text()
    assert 'href="tools/"' in home and (tmp_path / "site" / "img" / "cvae_cnn3_2" / "manifold.png").is_file()
    assert 'src="img/cvae_cnn3_2/manifold.png"' in home

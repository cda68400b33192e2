"""The repository's layering, read from the source (every import, at the top of a file or inside a function):
the command-line tools at the root import the library and the models, never each other; the library
`cvae` imports its modules in the order cvae/__init__.py lists them, and the models nothing of it."""
import ast
import re

import pytest

from conftest import ROOT

TOOLS = sorted(path.stem for path in ROOT.glob("*.py"))
PACKAGES = ("cvae", "model", "bench", "tests")


def module_name(path):
    relative = path.relative_to(ROOT).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def sources():
    """{module name: path} of every Python file of the repository's own (tools, packages, tests)."""
    found = {path.stem: path for path in ROOT.glob("*.py")}
    for package in PACKAGES:
        found.update({module_name(path): path for path in (ROOT / package).rglob("*.py")})
    return found


def imported(path, modules):
    """The repository's modules that the file at `path` imports, anywhere in it: `import a.b` and
    `from a.b import c` give a.b, and a.b.c too when that is a module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


@pytest.fixture(scope="module")
def graph():
    modules = sources()
    return {name: imported(path, modules) - {name} for name, path in modules.items()}


def library_order():
    """The modules of cvae in the order cvae/__init__.py's docstring lists them."""
    doc = ast.get_docstring(ast.parse((ROOT / "cvae" / "__init__.py").read_text()))
    return [f"cvae.{name}" for name in re.findall(r"^  (\w+) ", doc, flags=re.M)]


def test_the_root_holds_only_the_command_line_tools():
    assert TOOLS == ["evaluate", "explore", "export", "plot", "pretrained", "results", "sample", "train"]


def test_no_module_imports_a_command_line_tool(graph):
    importers = {name: sorted(set(TOOLS) & targets) for name, targets in graph.items()
                 if not name.startswith("tests.") and set(TOOLS) & targets}
    assert importers == {}


def test_the_library_lists_every_module_it_has():
    order = library_order()
    assert sorted(order) == sorted(module_name(path) for path in (ROOT / "cvae").glob("*.py")
                                   if path.name != "__init__.py")


def test_each_library_module_imports_only_modules_listed_before_it(graph):
    order = library_order()
    upward = {name: sorted(target for target in graph[name] if target in order and order.index(target) > order.index(name))
              for name in order}
    assert {name: targets for name, targets in upward.items() if targets} == {}


def test_the_models_import_nothing_of_the_library_or_the_tools(graph):
    assert {name: sorted(targets) for name, targets in graph.items()
            if name.startswith("model") and any(not t.startswith("model") for t in targets)} == {}


def find_cycle(nodes):
    """A list of modules that import each other in a circle (its first one again at the end), or None:
    depth-first search over {module: imported modules}."""
    state, path = {}, []

    def visit(name):
        state[name] = "open"
        path.append(name)
        for target in sorted(nodes.get(name, ())):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[name] = "done"
        return None

    for name in sorted(nodes):
        if name not in state:
            cycle = visit(name)
            if cycle:
                return cycle
    return None


def test_no_import_circle(graph):
    """Among the repository's modules; the tests are left out (they import at will)."""
    assert find_cycle({name: {t for t in targets if not t.startswith("tests")} for name, targets in graph.items()
                       if not name.startswith("tests")}) is None


def test_the_checks_find_what_they_look_for(tmp_path):
    """The walk sees imports inside functions, and a circle is found: the checks above can fail."""
    (tmp_path / "a.py").write_text("import os\n\ndef f():\n    from b import g\n")
    (tmp_path / "b.py").write_text("import c\n")
    (tmp_path / "c.py").write_text("from a import f\n")
    modules = {name: tmp_path / f"{name}.py" for name in "abc"}
    nodes = {name: imported(path, modules) for name, path in modules.items()}
    assert nodes == {"a": {"b"}, "b": {"c"}, "c": {"a"}}
    assert find_cycle(nodes) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_dir_of_cvae_lists_its_lazy_api_and_modules_without_importing_them():
    """Issue 38: tab completion on `cvae.` offered nothing of open_run, train or export."""
    import subprocess
    import sys
    code = ("import sys, cvae; names = dir(cvae); "
            "print(all(n in names for n in ('open_run', 'train', 'export', 'figures', 'samplers')), "
            "'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "False"]

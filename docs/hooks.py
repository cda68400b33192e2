"""MkDocs hooks (mkdocs.yml `hooks:`): the site is made from the repository as it is, nothing copied by hand.

- The home page is README.md, its links into docs/ made site links.
- img/ (the README's figures, made by plot.py) joins the site, so the pages' `../img/...` links work there as
  they do on GitHub.
- `<!-- tool-options -->` (docs/tools.md) becomes each command-line tool's --help, run at build time.
- `<!-- readme-table: NAME -->` becomes the README's table between `<!-- NAME:start -->` and `<!-- NAME:end -->`,
  which results.py writes from the runs' eval.json files.
- A link to a repository file outside the site (bench/README.md, a notebook, the LICENSE) is shown as its path.
"""
import os
import re
import subprocess
import sys

from mkdocs.structure.files import File

from cvae import ROOT, TOOLS  # importing cvae loads no TensorFlow
LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")


def on_files(files, config):
    files.append(File.generated(config, "index.md", content=(ROOT / "README.md").read_text()))
    for path in sorted((ROOT / "img").rglob("*")):
        if path.is_file():
            files.append(File.generated(config, path.relative_to(ROOT).as_posix(), abs_src_path=str(path)))
    return files


def site_link(match, home):
    bang, text, target = match.groups()
    if re.match(r"[a-z]+:|#", target):
        return match.group(0)
    if not home:  # a page of docs/: its targets are relative to docs/
        if target.startswith("../"):
            target = target[3:]
        elif not target.startswith("img/"):
            return match.group(0)  # another page of the site
    path, _, anchor = target.partition("#")
    if path.startswith("docs/"):
        return f"{bang}[{text}]({path[5:]}{'#' + anchor if anchor else ''})"
    if path == "README.md":
        return f"{bang}[{text}](index.md{'#' + anchor if anchor else ''})"
    if path.startswith("img/"):
        return f"{bang}[{text}]({target})"
    return f"{text} (`{path}`)" if text.strip("`") != path else f"`{path}`"


def readme_table(name):
    readme = (ROOT / "README.md").read_text()
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start not in readme or end not in readme:
        raise ValueError(f"README.md has no {start} ... {end} table")
    return readme.split(start, 1)[1].split(end, 1)[0].strip()


def tool_options():
    sections = []
    for tool in TOOLS:
        shown = subprocess.run([sys.executable, f"{tool}.py", "--help"], cwd=ROOT, capture_output=True, text=True,
                               check=True, env={**os.environ, "COLUMNS": "100"}).stdout
        sections.append(f"## {tool}.py\n\n```text\n{shown.rstrip()}\n```\n")
    return "\n".join(sections)


def on_page_markdown(markdown, page, config, files):
    home = page.file.src_uri == "index.md"
    markdown = LINK.sub(lambda match: site_link(match, home), markdown)
    markdown = re.sub(r"<!-- readme-table: ([a-z-]+) -->", lambda m: readme_table(m.group(1)), markdown)
    return markdown.replace("<!-- tool-options -->", tool_options())

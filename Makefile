# The README's two commands. A fresh machine needs only Python 3.11 and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
DEMO_EPOCHS ?= 15
# make figures EPOCHS=1 trains every README run for one epoch instead of its own (a quick check of the target).
EPOCHS ?=

.PHONY: demo check test figures docs notebook clean

# Rebuilt whenever requirements.txt or pyproject.toml changes: the pinned packages, then the repository itself
# as an editable install, so that `import cvae, model` works from any folder.
$(VENV)/installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

# What the tests need beyond the tools: nbclient and ipykernel, to run the notebooks; pytest-xdist, to run them
# on two processes.
$(VENV)/test-installed: $(VENV)/installed tests/requirements.txt
	$(PY) -m pip install --quiet -r tests/requirements.txt
	touch $@

# MkDocs and mkdocstrings, for `make docs` (the tests build the site too: tests/requirements.txt includes these).
$(VENV)/docs-installed: $(VENV)/installed docs/requirements.txt
	$(PY) -m pip install --quiet -r docs/requirements.txt
	touch $@

# JupyterLab, and .venv registered as a kernel inside .venv itself (--sys-prefix: nothing written to ~).
$(VENV)/notebook-installed: $(VENV)/test-installed notebooks/requirements.txt
	$(PY) -m pip install --quiet -r notebooks/requirements.txt
	$(PY) -m ipykernel install --sys-prefix --name cvae --display-name "cvae (.venv)"
	touch $@

# TensorFlow.js for explore.py and playwright-core for its browser test, as package-lock.json pins them.
# Without npm the explorer cannot be written and its browser tests skip (they say why).
node_modules/.installed: package-lock.json
	@if command -v npm >/dev/null; then npm ci --no-audit --no-fund --silent && touch $@; \
	else echo "npm not found: explore.py and its browser tests need it (apt-get install npm)"; fi

demo: $(VENV)/installed
	$(PY) train.py cvae_cnn3 -n 2 -e $(DEMO_EPOCHS)
	$(PY) plot.py cvae_cnn3 -n 2

# Tests run in TEST_WORKERS processes (pytest-xdist), each test file's tests in one of them (--dist loadscope: a
# file's fixtures are made once). Two, as the machine's two cores: most of a test's time is Python and TensorFlow's
# graph building, one core each (make check on 2 cores: 72 s in one process, 44 s in two).
TEST_WORKERS ?= 2
PYTEST := $(VENV)/bin/pytest -q -n $(TEST_WORKERS) --dist loadscope

# The fast tier: everything but the tests marked slow (subprocess trainings, signals, tf.distribute,
# the download, long trainings). Under a minute on 2 cores; run it after every change.
check: $(VENV)/test-installed
	$(PYTEST) -m "not slow" tests

# Every test, the slowest ten listed at the end. CI runs this.
test: $(VENV)/test-installed node_modules/.installed
	$(PYTEST) --durations=10 tests

# The README's figures: every run of cvae/readme_runs.py trained from scratch and plotted into img/, then
# the small ones copied into pretrained/ (pretrained.py) and the explorer's screenshot taken (needs npm ci and
# chromium). `python -m cvae.readme_runs` prints the commands.
figures: $(VENV)/installed node_modules/.installed
	$(PY) -m cvae.readme_runs --python $(PY) $(if $(EPOCHS),--epochs $(EPOCHS)) > $(VENV)/figures.sh
	sh -ex $(VENV)/figures.sh

# The documentation site, into site/: README.md as its home page, docs/*.md, each tool's --help, and the Python
# reference from the docstrings. Warnings are errors (a broken link fails the build).
docs: $(VENV)/docs-installed
	$(VENV)/bin/mkdocs build --strict
	@echo "open site/index.html in a browser"

# The notebooks in JupyterLab, with .venv as their kernel ("cvae (.venv)").
notebook: $(VENV)/notebook-installed
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf $(VENV) log figure explorer node_modules site

# The README's two commands. A fresh machine needs only Python 3.11 and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
DEMO_EPOCHS ?= 15

.PHONY: demo test clean

# Rebuilt whenever requirements.txt changes.
$(VENV)/installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

demo: $(VENV)/installed
	$(PY) train.py cvae_cnn3 -n 2 -e $(DEMO_EPOCHS)
	$(PY) plot.py cvae_cnn3 -n 2

test: $(VENV)/installed
	$(PY) -m pytest -q tests

clean:
	rm -rf $(VENV) log figure

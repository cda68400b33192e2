# The README's two commands. A fresh machine needs only Python 3.11 and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
DEMO_EPOCHS ?= 15
# The README's figures: MODEL:LATENT runs, trained from scratch for FIGURE_EPOCHS, plotted into img/;
# the small ones (pretrained.py's SHIPPED) are then copied into pretrained/ without their optimizer state.
FIGURE_RUNS := cvae_cnn3:2 cvae_cnn3:20 cvae_fc3:2 cvae_fc3:20 cvae_cnn2:20 vae:2 vae:20
FIGURE_EPOCHS ?= 50
CNN_EPOCHS ?= 20
M2_EPOCHS ?= 30

.PHONY: demo check test figures clean

# Rebuilt whenever requirements.txt changes.
$(VENV)/installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

# TensorFlow.js for explore.py and playwright-core for its browser test, as package-lock.json pins them.
# Without npm the explorer cannot be written and its browser tests skip (they say why).
node_modules/.installed: package-lock.json
	@if command -v npm >/dev/null; then npm ci --no-audit --no-fund --silent && touch $@; \
	else echo "npm not found: explore.py and its browser tests need it (apt-get install npm)"; fi

demo: $(VENV)/installed
	$(PY) train.py cvae_cnn3 -n 2 -e $(DEMO_EPOCHS)
	$(PY) plot.py cvae_cnn3 -n 2

# The fast tier: everything but the tests marked slow (subprocess trainings, signals, tf.distribute,
# the download, long trainings). Under a minute on 2 cores; run it after every change.
check: $(VENV)/installed
	$(PY) -m pytest -q -m "not slow" tests

# Every test, the slowest ten listed at the end. CI runs this.
test: $(VENV)/installed node_modules/.installed
	$(PY) -m pytest -q --durations=10 tests

figures: $(VENV)/installed node_modules/.installed
	set -e; for run in $(FIGURE_RUNS); do \
	  model=$${run%:*}; n=$${run#*:}; \
	  $(PY) train.py $$model -n $$n -e $(FIGURE_EPOCHS) --restart; \
	  $(PY) plot.py $$model -n $$n --figure-dir img; \
	done
	$(PY) train.py cnn -e $(CNN_EPOCHS) --restart
	$(PY) plot.py cnn --figure-dir img
	$(PY) pretrained.py
	$(PY) -m bench.explorer --screenshot img/explorer.png  # needs npm ci and chromium
	$(PY) train.py m2 -n 50 --labels 100 -e $(M2_EPOCHS) --restart
	$(PY) plot.py m2 -n 50 --labels 100 --figure-dir img
	$(PY) train.py cvae_fc3 -n 20 -e $(FIGURE_EPOCHS) --dataset fashion_mnist --restart
	$(PY) plot.py cvae_fc3 -n 20 --dataset fashion_mnist --figure-dir img

clean:
	rm -rf $(VENV) log figure explorer node_modules

# The two set-up commands of README.md. Each creates .venv from setup.py if it is missing.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python

.PHONY: train test test-slow

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[tests]'
	touch $@

# SparseBERT on MRPC (MiniLM teacher, 90%-sparse student) into runs/mrpc.
train: $(VENV)/.installed
	$(PY) -m tf_sparsebert.train --flagfile=configs/mrpc.flags

# The fast test suite (tiny models; what CI runs).
test: $(VENV)/.installed
	$(PY) -m pytest -q tests

# Slow tests on the real MiniLM checkpoint.
test-slow: $(VENV)/.installed
	$(PY) -m pytest -q -m slow tests

# The two set-up commands of README.md. Each creates .venv from setup.py if it is missing.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python

MEDIAPIPE_VENV ?= .venv-mediapipe

.PHONY: train test test-slow bazel-test

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[tests]'
	touch $@

# MediaPipe's TextClassifier in its own venv (its numpy/protobuf pins clash with TensorFlow's).
$(MEDIAPIPE_VENV)/.installed: tflite/requirements-mediapipe.txt
	$(PYTHON) -m venv $(MEDIAPIPE_VENV)
	$(MEDIAPIPE_VENV)/bin/pip install -q -r tflite/requirements-mediapipe.txt
	touch $@

# SparseBERT on MRPC (MiniLM teacher, 90%-sparse student) into runs/mrpc.
train: $(VENV)/.installed
	$(PY) -m tf_sparsebert.train --flagfile=configs/mrpc.flags

# The fast test suite (tiny models; what CI runs).
test: $(VENV)/.installed $(MEDIAPIPE_VENV)/.installed
	$(PY) -m pytest -q tests

# Slow tests on the real MiniLM checkpoint.
test-slow: $(VENV)/.installed
	$(PY) -m pytest -q -m slow tests

# Bazel: build every target and run the unit tests with the venv's interpreter and packages.
# Needs Debian's bazel-bootstrap and bazel-rules-java (WORKSPACE's rules_java; installed here with
# apt if missing).
bazel-test: $(VENV)/.installed
	command -v bazel >/dev/null && test -d /usr/share/bazel/rules/java \
	    || apt-get install -y -q bazel-bootstrap bazel-rules-java
	bazel build //... --python_path=$(CURDIR)/$(PY)
	bazel test //... --python_path=$(CURDIR)/$(PY) \
	    --test_env=PYTHONPATH=$(CURDIR)/$(VENV)/lib/python3.11/site-packages

# `make test` on a fresh clone: creates .venv, installs the project with its test extra, runs the suite.
# Re-running skips the install unless pyproject.toml changed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test demo benchmark clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

# The whole pipeline on generated data and a tiny random TIPS model (about a minute on 2 CPU cores).
demo: $(STAMP)
	$(VENV)/bin/tipsomaly demo

benchmark: $(STAMP)
	$(PY) benchmarks/pixel_metrics.py

clean:
	rm -rf $(VENV) .pytest_cache

# seisforge: `make demo` and `make test` are all a new user needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.seisforge-installed

.PHONY: demo test lint venv clean gamma-venv

venv: $(STAMP)

# CPU torch first, from the exact version: a bare `torch` would pull gigabytes of CUDA wheels.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev,scale,wavefield,deploy,foundation,compress,catalog,cloud]" torch==2.13.0
	$(BIN)/python -m pip install -q --no-deps pyocto==0.2.2
	touch $(STAMP)

# GaMMA pins scikit-learn==1.7 exactly: it gets its own environment, called as a subprocess (docs/catalog.md)
GAMMA_VENV := .venv-gamma
$(GAMMA_VENV)/bin/python:
	$(PYTHON) -m venv $(GAMMA_VENV)
	$(GAMMA_VENV)/bin/python -m pip install -q gmma==1.2.17 pandas pyarrow

gamma-venv: $(GAMMA_VENV)/bin/python

demo: $(STAMP)
	$(BIN)/seisforge demo --out runs/demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks experiments

test: $(STAMP) $(GAMMA_VENV)/bin/python lint
	$(BIN)/python -m pytest -q

clean:
	rm -rf runs/demo .pytest_cache

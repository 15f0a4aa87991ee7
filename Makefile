# seisforge: `make demo` and `make test` are all a new user needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.seisforge-installed

.PHONY: demo test lint venv clean

venv: $(STAMP)

# CPU torch first, from the exact version: a bare `torch` would pull gigabytes of CUDA wheels.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev,scale,wavefield,deploy,foundation,compress]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/seisforge demo --out runs/demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

clean:
	rm -rf runs/demo .pytest_cache

# One entry point per task, for people and CI alike.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test test-fast test-slow test-outage check bench clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

## run: the service on its embedded default (SQLite in ./data), on 127.0.0.1:8080
run: $(STAMP)
	$(BIN)/buddo serve

## test: the whole suite, SQLite and PostgreSQL (PostgreSQL skipped with a notice when
## no server answers, except under CI=true where that is a failure)
test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

## test-fast: everything but the tests marked slow or outage
test-fast: $(STAMP)
	$(BIN)/pytest -m "not slow and not outage" $(PYTEST_ARGS)

## test-slow: only the tests marked slow (multi-process races, crashes, large workloads)
test-slow: $(STAMP)
	$(BIN)/pytest -m "slow and not outage" $(PYTEST_ARGS)

## test-outage: the store-outage tests (they stop and restart the local PostgreSQL cluster)
test-outage: $(STAMP)
	$(BIN)/pytest -m outage $(PYTEST_ARGS)

## check: lint and strict typing of the packages
check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## bench: the benchmark suite; writes benchmarks/results/*.json and docs/benchmarks.md
bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache

# streamml: the two commands are `make demo` and `make test`. Each sets up what it needs
# (virtual environment, packages, Kafka jars, MinIO, container engine, images), idempotently.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

.PHONY: demo test lint unit integration setup-venv clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

setup-venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/streamml demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy --strict src/streamml

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit --doctest-modules src/streamml

integration: $(STAMP)
	scripts/test-integration.sh

test: lint unit integration

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

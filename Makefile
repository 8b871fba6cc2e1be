# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA ?= ../shared/data/locomo

.PHONY: demo test lint typecheck unit bench bench-locomo bench-scale bench-locomo-pg bench-scale-pg clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/engram demo

test: $(STAMP) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check engramdb tests
	$(BIN)/ruff format --check engramdb tests

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -q

bench: bench-locomo

bench-locomo: $(STAMP)
	$(BIN)/engram bench locomo --data $(DATA)

bench-scale: $(STAMP)
	$(BIN)/engram bench scale --n 100000

# the same on PostgreSQL: a private server (engram pgserver) and a fresh database per run
bench-locomo-pg: $(STAMP)
	$(BIN)/engram bench locomo --data $(DATA) --store "$$($(BIN)/engram pgserver --database locomo)"

bench-scale-pg: $(STAMP)
	$(BIN)/engram bench scale --n 100000 --store "$$($(BIN)/engram pgserver --database scale)"

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache bench/results

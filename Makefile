# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
DATA ?= ../shared/data/locomo

.PHONY: demo test lint typecheck unit bench bench-locomo bench-scale bench-locomo-pg bench-scale-pg clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# the demo, the service (engram serve, engram mcp) and benchmarks; tests need dev tools
$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[bench,server]'
	touch $(RUN_STAMP)

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $(DEV_STAMP) $(RUN_STAMP)

demo: $(RUN_STAMP)
	$(BIN)/engram demo

test: $(DEV_STAMP) lint typecheck unit

lint: $(DEV_STAMP)
	$(BIN)/ruff check engramdb tests
	$(BIN)/ruff format --check engramdb tests

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

unit: $(DEV_STAMP)
	$(BIN)/python -m pytest -q

bench: bench-locomo

bench-locomo: $(RUN_STAMP)
	$(BIN)/engram bench locomo --data $(DATA)

bench-scale: $(RUN_STAMP)
	$(BIN)/engram bench scale --n 100000

# the same on PostgreSQL: a private server (engram pgserver) and a fresh database per run
bench-locomo-pg: $(DEV_STAMP)
	$(BIN)/engram bench locomo --data $(DATA) --store "$$($(BIN)/engram pgserver --database locomo)"

bench-scale-pg: $(DEV_STAMP)
	$(BIN)/engram bench scale --n 100000 --store "$$($(BIN)/engram pgserver --database scale)"

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache bench/results

# backstack developer commands. `make help` lists them. Only python3 (3.11+) is needed: the first
# target run creates .venv and installs the project; it re-installs when pyproject.toml changes.

.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := demo

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

.PHONY: help install serve test lint fix bench js-deps docs

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

install: $(STAMP) ## Create .venv and install backstack with its dev tools

$(DEMO)/backstack.toml: | $(STAMP)
	$(BIN)/backstack init $(DEMO) --example todos

serve: $(STAMP) $(DEMO)/backstack.toml ## Run the demo project (./demo, created on first run) on http://127.0.0.1:8000
	$(BIN)/backstack serve --dir $(DEMO)

lint: $(STAMP) ## ruff, mypy --strict and the import layering contracts
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

fix: $(STAMP) ## Let ruff fix what it can
	$(BIN)/ruff check --fix .

# Node dependencies for tests/compat (supabase-js) go here, e.g. `npm ci --prefix tests/compat/js`.
js-deps:
	@true

test: lint js-deps ## lint, then the whole test suite (set BACKSTACK_REQUIRE_SERVICES=1 to fail instead of skip without PostgreSQL)
	$(BIN)/pytest

bench: $(STAMP) ## Benchmarks against PocketBase (scripts/bench.sh)
	scripts/bench.sh

docs: $(STAMP) ## Regenerate the reference blocks of docs/cli.md and docs/settings.md
	$(BIN)/python -m backstack.cli.reference

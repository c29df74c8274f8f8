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

serve: $(STAMP) $(DEMO)/backstack.toml ## Run the demo project (./demo, created on first run) on http://127.0.0.1:8000 (one worker: quick restarts)
	$(BIN)/backstack serve --dir $(DEMO) --workers $${BACKSTACK_WORKERS:-1}

lint: $(STAMP) ## ruff (lint and format check), mypy --strict and the import layering contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

fix: $(STAMP) ## Let ruff fix what it can and format the code
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Node packages for tests/compat (supabase-js), installed again when package.json or the lock changes.
# Without npm the supabase-js tests skip (and fail under BACKSTACK_REQUIRE_SERVICES=1, as in CI).
JS := tests/compat/js
$(JS)/node_modules/.installed: $(JS)/package.json $(JS)/package-lock.json
	@if command -v npm >/dev/null; then \
		cd $(JS) && (npm ci --no-audit --no-fund || npm install --no-audit --no-fund) && touch node_modules/.installed; \
	else echo "npm not found: the supabase-js compatibility tests will not run" >&2; fi

js-deps: $(JS)/node_modules/.installed ## npm packages for the supabase-js compatibility tests (tests/compat/js)

# Two passes: every test not marked `serial` on TEST_WORKERS pytest-xdist workers (work stealing: an
# idle worker takes tests queued for a busy one, so one slow test no longer leaves a tail), then the `serial`
# ones (they time themselves, or stop and restart servers) alone, so no other test's load skews them.
# Both passes run even when the first fails; each prints its ten slowest tests.
TEST_WORKERS ?= 3
test: lint js-deps ## lint, then the whole test suite (set BACKSTACK_REQUIRE_SERVICES=1 to fail instead of skip without PostgreSQL, node or chromium)
	status=0; \
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal -m "not serial" --durations=10 || status=$$?; \
	$(BIN)/pytest -m serial --durations=10 || status=$$((status ? status : $$?)); \
	exit $$status

bench: $(STAMP) ## Benchmarks against PocketBase (scripts/bench.sh)
	scripts/bench.sh

docs: $(STAMP) ## Regenerate the reference blocks of docs/cli.md and docs/settings.md
	$(BIN)/python -m backstack.cli.reference

# The project's commands. `make demo` is the README's main command; `.ci/run` runs `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PY        := .venv/bin/python
STATE_DIR ?= .local
STACK_ENV := $(STATE_DIR)/stack.env
TWIN      := $(PY) -m local_twin --state-dir $(STATE_DIR)
# Run a command with the twin's settings (connection string, GeoCatalog URL, ...) in its environment.
WITH_STACK = test -f $(STACK_ENV) || { echo "the twin is not up: run 'make up' first" >&2; exit 1; }; \
             set -a; . $(STACK_ENV); set +a;
UP_FLAGS  ?=
DIR       ?= samples/demo-catalog
# Children mutmut runs at once: one more than the 2 cores, because each child also waits on its fork and pipes.
MUTATE_WORKERS ?= 3

.PHONY: help setup up down demo status drop logs lint format test test-fast bench bench-pipeline mutate clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: ## venvs (pip) and node 22 + Azurite (npm ci), all pinned; a second run is a no-op
	@scripts/setup.sh

up: setup ## start Azurite, the GeoCatalog emulator and the host loop in the background
	@$(TWIN) up $(UP_FLAGS)

down: ## stop exactly the processes `make up` started
	@if [ -x $(PY) ]; then $(TWIN) down; else echo "nothing to stop (no .venv)"; fi

demo: setup ## up, drop the sample catalog, follow the job, show its items via STAC search (DOWN=1 stops after)
	@$(TWIN) demo $(UP_FLAGS) $(if $(DOWN),--down,)

status: ## the jobs in the ledger, one line each
	@$(WITH_STACK) $(PY) -m ingest_core status

drop: ## upload a catalog folder to the watched container: make drop DIR=path/to/catalog
	@$(WITH_STACK) $(PY) -m ingest_core drop $(DIR) --prefix $$(basename $(DIR))

logs: ## follow the twin's logs
	@tail -n 50 -F $(STATE_DIR)/logs/*.log

lint: setup ## ruff check + format check
	@$(PY) -m ruff check .
	@$(PY) -m ruff format --check .

format: setup ## apply ruff's formatting and safe fixes
	@$(PY) -m ruff format .
	@$(PY) -m ruff check --fix .

test: setup lint ## set up, lint, then run the whole test suite (unit, integration, contract, infra, e2e)
	@start=$$(date +%s); \
	rc=0; $(PY) -m pytest tests/ -q -p no:cacheprovider || rc=$$?; \
	echo "make test: pytest took $$(( $$(date +%s) - start ))s"; exit $$rc

test-fast: setup ## everything but the end-to-end tests
	@$(PY) -m pytest tests/ -q -m "not e2e"

bench: setup ## the app against the manual procedure (own Azurite + emulator, ~4 min): BENCH_ARGS="--catalogs 20"
	@$(PY) -m bench.versus_manual $(BENCH_ARGS)

bench-pipeline: setup ## handle_drop case by case, scaling, memory (ingest_core internals): BENCH_ARGS="--drops 5"
	@$(PY) -m bench.pipeline_bench $(BENCH_ARGS)

mutate: ## mutation testing of the core modules on the fast unit tier (mutmut; docs/mutation.md)
	@scripts/setup.sh --python-only
	@rm -rf mutants .mutmut-cache && mkdir -p .mutmut-cache
	@start=$$(date +%s); \
	rc=0; PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 $(PY) -m mutmut run --max-children $(MUTATE_WORKERS) >.mutmut-cache/run.log 2>&1 || rc=$$?; \
	secs=$$(( $$(date +%s) - start )); \
	if [ $$rc -ne 0 ]; then tail -n 40 .mutmut-cache/run.log; echo "mutmut run failed ($$rc): see .mutmut-cache/run.log"; exit $$rc; fi; \
	$(PY) scripts/mutation_score.py --seconds $$secs

clean: down ## stop the twin and remove its state and logs
	@rm -rf $(STATE_DIR)/logs $(STATE_DIR)/certs $(STATE_DIR)/deliveries.json $(STATE_DIR)/hostloop.json

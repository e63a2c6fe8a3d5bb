# Two commands do everything on a fresh machine:  make run  |  make test
# While working: make check (lint, types, unit, component and integration tests)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# axe-core, the accessibility rules the browser tests run on every page state they reach
# (pinned where the tests read it, tests/browser/accessibility.py; installed by make test).
# Defined before the rules: a prerequisite is expanded where its rule is read.
AXE_VERSION := $(shell sed -n 's/^AXE_VERSION = "\([^"]*\)".*/\1/p' tests/browser/accessibility.py)
AXE := .tools/axe-core-$(AXE_VERSION)/node_modules/axe-core/axe.min.js

.PHONY: run test check api-lint system-deps deps ferretdb lint typecheck docs docs-check compose-check k8s-check bench \
	bench-store bench-compare chaos wipe-data clean

$(BIN)/python: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/python

system-deps:
	bash deploy/system-deps.sh

deps: $(BIN)/python ferretdb

## ferretdb: build the embedded MongoDB-compatible store once into .tools/ (needs Go)
ferretdb: $(BIN)/python
	$(BIN)/python -m deploy.ferretdb build

## run: the whole stack on this machine (gateway on http://127.0.0.1:8000), data in .data/
run: deps
	bash deploy/system-deps.sh redis-server
	$(BIN)/python -m deploy.localstack run

## wipe-data: delete everything `make run` keeps (MFA_DATA_DIR, default .data/)
wipe-data: $(BIN)/python
	$(BIN)/python -m deploy.localstack wipe

## test: every test tier, lint, types and the generated docs
test: system-deps deps $(AXE) lint typecheck docs-check api-lint compose-check k8s-check
	$(BIN)/python -m pytest -n 2 --dist loadfile

## check: the fast loop: lint, types, and the tests that start no service process
check: $(BIN)/python
	$(BIN)/ruff check shared services deploy tests bench
	$(BIN)/ruff format --check shared services deploy tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -n 2 --dist loadfile -m "not e2e and not browser and not slow" \
		tests/unit tests/component tests/integration

lint: $(BIN)/python
	$(BIN)/ruff check shared services deploy tests bench
	$(BIN)/ruff format --check shared services deploy tests bench

typecheck: $(BIN)/python
	$(BIN)/mypy

## docs: regenerate the AsyncAPI and OpenAPI documents in docs/
docs: $(BIN)/python
	$(BIN)/python -m deploy.apidocs write

docs-check: $(BIN)/python
	$(BIN)/python -m deploy.apidocs check

## api-lint: docs/openapi.json through Redocly's recommended rules (0 errors; the
## warnings left are listed with their reasons in docs/architecture.md)
REDOCLY_VERSION := 2.77.0
REDOCLY := .tools/redocly-$(REDOCLY_VERSION)/node_modules/.bin/redocly
$(REDOCLY):
	npm install --prefix .tools/redocly-$(REDOCLY_VERSION) --no-audit --no-fund --silent \
		@redocly/cli@$(REDOCLY_VERSION)

api-lint: $(REDOCLY)
	$(REDOCLY) lint docs/openapi.json --format=stylish

$(AXE):
	npm install --prefix .tools/axe-core-$(AXE_VERSION) --no-audit --no-fund --silent \
		axe-core@$(AXE_VERSION)

## compose-check: parse docker-compose.yml with compose-go, Docker Compose's own loader
compose-check: $(BIN)/python
	$(BIN)/python -m deploy.compose check docker-compose.yml

## k8s-check: render deploy/k8s overlays (kustomize) and validate every object (kubeconform)
k8s-check: $(BIN)/python
	$(BIN)/python -m deploy.k8s check

## bench: throughput and latency of the code check through the real stack
bench: deps
	$(BIN)/python -m bench.run

## bench-compare: privacyIDEA 3.14 and this project on this machine, one client, one run
bench-compare: deps
	$(BIN)/python -m bench.compare

## chaos: the fault suite at 500 logins a fault, a 10-minute soak; writes docs/reliability.md
chaos: deps
	$(BIN)/python -m bench.faults --logins 500
	$(BIN)/python -m bench.soak --minutes 10
	$(BIN)/python -m bench.reliability

## bench-store: one store operation as a collection grows from 100 to 100,000 documents
bench-store: deps
	$(BIN)/python -m bench.store

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache

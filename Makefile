# mcp-lok — the developer's entry points. `make help` lists them.
# Everything runs from a project virtualenv (.venv) that `make venv` creates on demand.

SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST := $(BIN)/pytest
FEATURE ?=

.DEFAULT_GOAL := help

.PHONY: help venv engines images conformance test test-unit test-e2e test-e2e-feature test-e2e-junit \
        test-e2e-verbose coverage lint parser bench bench-bridges demo clean

help: ## Show the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 20

$(BIN)/mcp-lok: pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

venv: $(BIN)/mcp-lok ## Create .venv and install mcp-lok with its dev extras

engines: ## Install Docker and Podman when missing and start both (needs root)
	scripts/ensure-engines.sh

images: engines ## Build the test and demo images locally (no registry), cached by content
	scripts/build-images.sh --engine all

conformance: ## Install the MCP conformance suite, the MCP Inspector and their Node under build/ (pinned, cached)
	scripts/install-conformance.sh

test: venv images conformance ## Everything: lint, unit, property and e2e tests on both engines
	$(MAKE) --no-print-directory lint
	$(PYTEST) tests --cov=mcp_lok.policy --cov-branch --cov-fail-under=100 \
	  --cov-report=term-missing:skip-covered --durations=25

test-unit: venv ## Unit and property tests (no engine needed)
	$(PYTEST) tests/unit

test-e2e: venv images conformance ## End-to-end tests on real Docker and Podman
	$(PYTEST) tests/e2e

test-e2e-feature: venv images conformance ## One feature area or tag: FEATURE=permissions | FEATURE=@policy
	@test -n "$(FEATURE)" || { echo "usage: make test-e2e-feature FEATURE=<name or @tag>"; exit 2; }
	@if [[ "$(FEATURE)" == @* ]]; then \
	  $(PYTEST) tests/e2e -m "$(patsubst @%,%,$(FEATURE))"; \
	else \
	  $(PYTEST) tests/e2e -k "$(FEATURE)"; \
	fi

test-e2e-junit: venv images conformance ## End-to-end tests with a JUnit report in target/junit.xml
	@mkdir -p target
	$(PYTEST) tests/e2e --junitxml=target/junit.xml

test-e2e-verbose: venv images conformance ## End-to-end tests, every step and log shown
	$(PYTEST) tests/e2e -vv -rA --log-cli-level=INFO

coverage: venv ## Unit tests with branch coverage: target/coverage/html and summary.md
	@mkdir -p target/coverage
	$(PYTEST) tests/unit --cov=mcp_lok --cov-branch \
	  --cov-report=html:target/coverage/html --cov-report=term
	$(BIN)/coverage report --format=markdown > target/coverage/summary.md
	@echo "summary: target/coverage/summary.md"

lint: venv ## ruff (lint + format check) and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	scripts/typecheck.sh

parser: venv ## Regenerate policy/_lalr.py after changing policy/grammar.lark
	$(BIN)/python scripts/generate_parser.py

bench: venv ## Benchmarks; results go to bench/RESULTS.md by hand after review
	$(BIN)/python bench/compile_bench.py $(BENCH_ARGS)
	$(BIN)/python bench/startup_bench.py --engine docker --engine podman $(BENCH_ARGS)
	$(BIN)/python bench/roundtrip_bench.py --engine docker --engine podman $(BENCH_ARGS)
	$(BIN)/python bench/audit_bench.py --engine docker --engine podman $(BENCH_ARGS)
	$(BIN)/python bench/egress_bench.py --engine docker --engine podman $(BENCH_ARGS)
	$(MAKE) bench-bridges

BENCH_PEERS := target/bench-py/bin/mcp-proxy target/bench-node/node_modules/.bin/supergateway

bench-bridges: venv $(BENCH_PEERS) ## mcp-lok's proxy against the PyPI/npm bridges (installed under target/)
	$(BIN)/python bench/bridges_bench.py --engine docker --engine podman $(BENCH_ARGS)

# the peers are benchmark subjects, not dependencies: each in a throwaway place of its own
target/bench-py/bin/mcp-proxy:
	python3 -m venv target/bench-py
	target/bench-py/bin/pip install --quiet mcp-proxy

target/bench-node/node_modules/.bin/supergateway:
	mkdir -p target/bench-node
	cd target/bench-node && NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
	  npm install --no-audit --no-fund --silent mcp-proxy supergateway

demo: venv images ## Run mcp-server-time locked down; the MCP SDK client calls it through the proxy
	$(BIN)/python scripts/demo.py

clean: ## Remove build outputs (not the venv)
	rm -rf build dist target .pytest_cache .mypy_cache .ruff_cache

# Everything a developer or CI needs, from a fresh clone: Python 3.11+, Node 20+, and (for the
# console's browser tests) Debian's chromium and chromium-driver, installed here when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP_PY := $(VENV)/.installed
STAMP_NODE := node_modules/.installed

.PHONY: install browser run test lint format bench clean

install: $(STAMP_PY) $(STAMP_NODE) browser

## Headless Chromium and its WebDriver from Debian (tests/test_console.py drives them with Selenium).
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	fi

$(STAMP_PY): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

$(STAMP_NODE): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

local.settings.json:
	cp local.settings.sample.json local.settings.json
	@echo "Created local.settings.json from local.settings.sample.json"

## Serve the app on http://127.0.0.1:7071 with Azurite (Ctrl-C stops everything).
run: install local.settings.json
	$(PY) -m devhost

## Lint, format check, the architecture contracts (import-linter) and the whole test suite
## (unit, Azurite integration, end to end).
test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest

## Cold start first (import time next to azure.functions', the first request after a start: on a
## quiet machine), then storage requests and latency per call (time windows at 100 and 20,000
## rows: equal requests, or it fails), the change feed's sweep with 100 and 20,000 pairs stored
## (flat: it reads by key), inbound keyword throughput through the local host, each kind of
## delivery report and the GET of a kept one, and the optouts tool's 20,000-row import/export
## round trip, against a private Azurite.
bench: install
	$(PY) -m bench.cold_start
	$(PY) -m bench.evidence
	$(PY) -m bench.time_windows
	$(PY) -m bench.bench
	$(PY) -m bench.hotpath
	$(PY) -m bench.sweep
	$(PY) -m bench.inbound
	$(PY) -m bench.delivery_reports
	$(PY) -m bench.bulk
	$(PY) -m bench.cli_roundtrip
	$(PY) -m bench.keys

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache .hypothesis

# Two commands do all the set-up on a fresh machine: `make demo` and `make test` (see README.md).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# Dagster's instance is this project (dagster.yaml here); what it stores stays inside the project.
export DAGSTER_HOME := $(CURDIR)
export JOURNEYS_DAGSTER_STORAGE ?= $(CURDIR)/.dagster_home
export JOURNEYS_DATA_DIR ?= $(CURDIR)/data
export JOURNEYS_WAREHOUSE_PATH ?= $(JOURNEYS_DATA_DIR)/warehouse.duckdb
export DBT_PROFILES_DIR := $(CURDIR)/dbt_project
export DO_NOT_TRACK := 1
# Tools started by Dagster (dbt, code servers) come from the project's environment.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: install manifest browser demo test lint format ui bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

# dbt's manifest, which Dagster reads to build the asset graph.
manifest: install
	cd dbt_project && ../$(BIN)/dbt parse --quiet

# Headless Chromium and its driver for the UI and report tests: Debian packages, installed once (root, or sudo).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || { \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver; }

demo: manifest
	$(BIN)/python -m orchestration.demo

test: manifest browser
	$(BIN)/pytest

lint: manifest
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@# the dbt templater opens the warehouse while compiling: its folder must exist on a fresh checkout
	mkdir -p $(dir $(JOURNEYS_WAREHOUSE_PATH))
	cd dbt_project && ../$(BIN)/sqlfluff lint models

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

ui: manifest
	$(BIN)/dagster dev -m orchestration.definitions -h 127.0.0.1 -p 3000

# Long benchmarks, outside the test suite: the generator at 100k customers (must stay under 60 s); the whole
# journey_run job at 100k customers, checked against the ground truth; a full then an incremental journey run
# at 100k customers; and the engine-vs-reference differential test on 2,000 generated histories. (1M customers:
# the journey engine's peak memory, 14 GB at 100k, does not fit this machine yet; see the README.) Then activation
# throughput into a local batch API (SendGrid mail send server) against that server's measured capacity.
bench: manifest
	$(BIN)/python tests/benchmarks/bench_generator.py
	$(BIN)/python tests/benchmarks/bench_pipeline.py
	$(BIN)/python tests/benchmarks/bench_journeys.py --customers 100000
	HYPOTHESIS_PROFILE=explore JOURNEYS_DIFFERENTIAL_EXAMPLES=10 $(BIN)/pytest -q tests/test_journey_engine.py
	$(BIN)/python tests/benchmarks/bench_activations.py

clean:
	rm -rf data .dagster_home/* dbt_project/target dbt_project/logs

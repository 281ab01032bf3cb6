# Two commands do all the set-up on a fresh machine: `make demo` and `make test` (see README.md).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# Dagster's instance is this project (dagster.yaml here); what it stores stays inside the project.
export DAGSTER_HOME := $(CURDIR)
export JOURNEYS_DAGSTER_STORAGE ?= $(CURDIR)/.dagster_home
export JOURNEYS_DATA_DIR ?= $(CURDIR)/data
export JOURNEYS_WAREHOUSE_PATH ?= $(JOURNEYS_DATA_DIR)/warehouse.duckdb
# The Spark target's warehouse folder and metastore (docs/scaling.md).
export JOURNEYS_SPARK_DIR ?= $(JOURNEYS_DATA_DIR)/spark
export DBT_PROFILES_DIR := $(CURDIR)/dbt_project
export DO_NOT_TRACK := 1
# Tools started by Dagster (dbt, code servers) come from the project's environment.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# System packages (Chromium, Java) are installed as root, or with sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install manifest browser demo report test lint format ui bench clean spark-env spark-build

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

# The Spark toolchain (docs/scaling.md): a separate venv, .venv-spark, with dbt-spark in session mode and pyspark,
# which ships every jar Spark local mode needs (Hive metastore on embedded Derby, parquet): nothing is downloaded
# when dbt runs. Needs Java 17: installed from Debian (openjdk-17-jre-headless) when `java` is absent.
SPARK_VENV := .venv-spark
SPARK_BIN := $(SPARK_VENV)/bin
spark-env: $(SPARK_VENV)/.installed

$(SPARK_VENV)/.installed: constraints.txt requirements-spark.txt
	@command -v java >/dev/null 2>&1 || { \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq openjdk-17-jre-headless; }
	@java -version 2>&1 | head -1
	$(PYTHON) -m venv $(SPARK_VENV)
	$(SPARK_BIN)/pip install --quiet --upgrade pip
	$(SPARK_BIN)/pip install --quiet -c constraints.txt -r requirements-spark.txt
	touch $@

# The part of the project that builds on Spark today (docs/scaling.md, "What builds"): the sample data if absent
# (as `make demo` makes it), the Spark landing step, then dbt build of SPARK_SELECT on the target spark, as of
# the sample data's end, with its own target path (target/spark), so the DuckDB parse and manifest in target/ that
# Dagster and `make demo` start from are left as they are. Not yet `make demo`: the journey engine, policy, measurement and activation do not run
# on Spark.
SPARK_SELECT ?= suppression_list path:models/staging path:models/intermediate/identity path:models/marts/identity \
	path:models/marts/quality path:models/intermediate/segments path:models/marts/segments \
	consent_history erased_customers int_messages_resolved_to_customers channel_reachability customer_send_hours \
	customer_channel_preferences sessions conversions touchpoints int_attribution_conversions_in_window \
	int_attribution_path_touches int_attribution_rule_based_credits attribution_paths attribution_path_summary \
	attribution_campaign_path_summary attribution_rule_based path:models/intermediate/journeys
SPARK_AS_OF ?= 2026-11-01T00:00:00
spark-build: spark-env manifest
	$(BIN)/python -m sample_business --data-dir $(JOURNEYS_DATA_DIR) --if-absent
	PYTHONPATH=$(CURDIR) $(SPARK_BIN)/python -m orchestration.spark_landing
	cd dbt_project && ../$(SPARK_BIN)/dbt build --target spark --target-path target/spark --exclude-resource-type unit_test \
		--indirect-selection cautious --select $(SPARK_SELECT) --vars '{"as_of": "$(SPARK_AS_OF)", "run_id": "spark-build"}'

# dbt's manifest, which Dagster reads to build the asset graph. The warehouse is named as a run names it
# (orchestration/dbt_assets.py, JourneysDbtCliResource), so every run's first dbt step starts from this saved parse.
manifest: install
	cd dbt_project && JOURNEYS_WAREHOUSE_PATH=warehouse.duckdb ../$(BIN)/dbt parse --quiet

# Headless Chromium and its driver for the UI and report tests: Debian packages, installed once (root, or sudo).
browser:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || { \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver; }

demo: manifest
	$(BIN)/python -m orchestration.demo

# The measurement report (docs/measurement.md): data/reports/journeys_report.html from the BI copy (else the warehouse).
report: install
	$(BIN)/python -m measurement.report

# Test files run on two workers, one file per worker at a time (module fixtures are built once).
test: manifest browser
	$(BIN)/pytest -n 2 --dist loadfile

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
# at 100k customers; touchpoints and attribution at 100k, checked against the planted truth; the
# engine-vs-reference differential test on 2,000 generated histories; activation throughput, one-row (webhook)
# and batched (SendGrid), against each local sink's measured capacity (DRT_PYTHON=<venv>/bin/python, a venv with
# drt-core, adds drt-core against the same sinks; it is never a project dependency); and the CRM / audience diff
# sync at 20k customers; 50 erasure requests on a copy of the demo warehouse. (1M customers: the journey engine's peak memory, 14 GB at 100k, does not fit this machine
# yet; see the README.)
bench: manifest
	$(BIN)/python tests/benchmarks/bench_generator.py
	$(BIN)/python tests/benchmarks/bench_pipeline.py
	$(BIN)/python tests/benchmarks/bench_journeys.py --customers 100000
	$(BIN)/python tests/benchmarks/bench_attribution.py --customers 100000
	HYPOTHESIS_PROFILE=explore JOURNEYS_DIFFERENTIAL_EXAMPLES=10 $(BIN)/pytest -q tests/test_journey_engine.py
	$(BIN)/python tests/benchmarks/bench_activations.py $(if $(DRT_PYTHON),--drt-python $(DRT_PYTHON))
	$(BIN)/python tests/benchmarks/bench_sync.py --customers 20000
	@# 50 erasure requests on a copy of the demo's warehouse (made first if absent)
	[ -f $(JOURNEYS_WAREHOUSE_PATH) ] || $(MAKE) demo
	$(BIN)/python tests/benchmarks/bench_erasure.py --warehouse $(JOURNEYS_WAREHOUSE_PATH) --requests 50

clean:
	rm -rf data .dagster_home/* dbt_project/target dbt_project/logs

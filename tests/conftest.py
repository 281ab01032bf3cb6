"""Shared fixtures. Integration fixtures run the real thing: the generator, DuckDB, dbt, Dagster."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# `make test` (and CI) explore the same generated examples every time, so main stays green or red for a reason;
# HYPOTHESIS_PROFILE=explore draws new examples on every run (for long local or bench runs).
settings.register_profile("deterministic", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))


@pytest.fixture(scope="session", autouse=True)
def _isolated_dagster_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never write into the project's own Dagster storage or warehouse."""
    storage = tmp_path_factory.mktemp("dagster_storage")
    os.environ["DAGSTER_HOME"] = str(PROJECT_ROOT)
    os.environ["JOURNEYS_DAGSTER_STORAGE"] = str(storage)


# The longest test files, longest first (seconds measured 2026-12-03 with 2 workers: module fixtures plus tests).
# `make test` runs whole files per worker (--dist loadfile) in collection order: starting the longest first keeps
# one long file from running alone at the end while the other worker idles. Order only: every file still runs
# whole, in its own order.
LONGEST_FILES = (
    "test_pipeline.py",  # ~345 s
    "test_erasure.py",  # ~290 s
    "test_policy.py",  # ~260 s
    "test_identity.py",  # ~130 s
    "test_segments.py",  # ~100 s
    "test_journey_engine.py",  # ~90 s
    "test_spark_landing.py",  # ~65 s (when the Spark venv is there)
    "test_ui.py",  # ~50 s
    "test_report.py",  # ~47 s
    "test_policy_learning.py",  # ~40 s
)


def pytest_collection_modifyitems(session, config, items) -> None:
    rank = {name: position for position, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONGEST_FILES)))  # stable: same order within a file

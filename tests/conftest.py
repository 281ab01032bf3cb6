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

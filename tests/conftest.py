"""Shared fixtures. Integration fixtures run the real thing: the generator, DuckDB, dbt, Dagster."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_REFERENCE = PROJECT_ROOT.parent / "shared" / "reference"


@pytest.fixture(scope="session", autouse=True)
def _isolated_dagster_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never write into the project's own Dagster storage or warehouse."""
    storage = tmp_path_factory.mktemp("dagster_storage")
    os.environ["DAGSTER_HOME"] = str(PROJECT_ROOT)
    os.environ["JOURNEYS_DAGSTER_STORAGE"] = str(storage)

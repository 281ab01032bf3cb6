"""Every DuckDB connection to the warehouse is capped and spills beside the warehouse (docs/operations.md,
"Memory"): dbt's (dbt_project/profiles.yml) and the Python steps' (WarehouseResource)."""

import json

import duckdb
import pytest

from orchestration.resources import WarehouseResource
from tests.dbt_cli import run_dbt

pytestmark = pytest.mark.integration


def _settings(con: duckdb.DuckDBPyConnection) -> tuple[str, str]:
    return con.execute("select current_setting('memory_limit'), current_setting('temp_directory')").fetchone()


def test_python_steps_connect_with_the_configured_cap(tmp_path, monkeypatch):
    monkeypatch.setenv("JOURNEYS_DUCKDB_MEMORY_LIMIT", "1GB")
    with WarehouseResource(path=str(tmp_path / "warehouse.duckdb")).connect() as con:
        assert _settings(con)[0] == "953.6 MiB"  # DuckDB reports 1 GB in GiB
    monkeypatch.delenv("JOURNEYS_DUCKDB_MEMORY_LIMIT")
    with WarehouseResource(path=str(tmp_path / "warehouse.duckdb")).connect() as con:
        assert _settings(con)[0] == "3.7 GiB"  # the default, 4 GB


def test_dbt_connects_with_the_cap_and_spills_beside_the_warehouse(tmp_path, monkeypatch):
    monkeypatch.setenv("JOURNEYS_DUCKDB_MEMORY_LIMIT", "1GB")
    warehouse = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(warehouse)).close()
    shown = run_dbt(
        [
            "show",
            "--inline",
            "select current_setting('memory_limit') as cap, current_setting('temp_directory') as spill",
            "--output",
            "json",
        ],
        warehouse,
        tmp_path / "target",
    )
    assert shown.returncode == 0, shown.stdout[-3000:]
    rows = json.loads(shown.stdout[shown.stdout.index("{") :])["show"]
    assert rows == [{"cap": "953.6 MiB", "spill": "warehouse.duckdb.tmp"}]

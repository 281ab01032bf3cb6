"""Where things live. Every path can be moved with an environment variable; defaults stay inside the project."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


@dataclass(frozen=True)
class Paths:
    data_dir: Path
    warehouse: Path

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def ground_truth_dir(self) -> Path:
        return self.data_dir / "ground_truth"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"


def paths_from_env() -> Paths:
    """JOURNEYS_DATA_DIR (default ./data) and JOURNEYS_WAREHOUSE_PATH (default <data_dir>/warehouse.duckdb)."""
    data_dir = Path(os.environ.get("JOURNEYS_DATA_DIR", PROJECT_ROOT / "data")).resolve()
    warehouse = Path(os.environ.get("JOURNEYS_WAREHOUSE_PATH", data_dir / "warehouse.duckdb")).resolve()
    return Paths(data_dir=data_dir, warehouse=warehouse)


DEFAULT_DUCKDB_MEMORY_LIMIT = "4GB"


def duckdb_memory_limit() -> str:
    """DuckDB's memory cap for every connection to the warehouse: JOURNEYS_DUCKDB_MEMORY_LIMIT (default 4GB, as
    in dbt_project/profiles.yml). Past it DuckDB spills to <warehouse>.tmp instead of failing."""
    return os.environ.get("JOURNEYS_DUCKDB_MEMORY_LIMIT", DEFAULT_DUCKDB_MEMORY_LIMIT)


def put_environment_tools_on_path() -> None:
    """Tools installed with this Python (dbt) are found by name, even when the venv is not activated:
    dagster-dbt starts `dbt` by name, for example when `dagster dev` prepares the dbt project."""
    tools = str(Path(sys.prefix) / "bin")
    current = os.environ.get("PATH", "")
    if tools not in current.split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join(p for p in (tools, current) if p)

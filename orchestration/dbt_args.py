"""Pure functions that build dbt's command-line arguments. Unit-tested without Dagster."""

from __future__ import annotations

import json
from collections.abc import Sequence


def dbt_vars(as_of: str, run_id: str) -> dict[str, str]:
    return {"as_of": as_of, "run_id": run_id}


def dbt_build_args(as_of: str, run_id: str, full_refresh: bool = False, select: Sequence[str] = ()) -> list[str]:
    """Models and data tests. Unit tests check the SQL, not the data: they run in the test suite (as dbt
    recommends, not in production builds), which also spares every run their fixtures."""
    args = [
        "build",
        "--vars",
        json.dumps(dbt_vars(as_of, run_id), sort_keys=True),
        "--exclude-resource-type",
        "unit_test",
    ]
    if full_refresh:
        args.append("--full-refresh")
    if select:
        args += ["--select", *select]
    return args

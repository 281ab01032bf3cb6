"""Pure functions that build dbt's command-line arguments. Unit-tested without Dagster."""

from __future__ import annotations

import json
from collections.abc import Sequence


def dbt_vars(as_of: str, run_id: str, journeys: Sequence[str] = ()) -> dict:
    """journeys: the run decides only for these (var journeys__selected); empty: all journeys."""
    variables: dict = {"as_of": as_of, "run_id": run_id}
    if journeys:
        variables["journeys__selected"] = sorted(journeys)
    return variables


def dbt_build_args(
    as_of: str,
    run_id: str,
    full_refresh: bool = False,
    select: Sequence[str] = (),
    journeys: Sequence[str] = (),
) -> list[str]:
    """Models and data tests. Unit tests check the SQL, not the data: they run in the test suite (as dbt
    recommends, not in production builds), which also spares every run their fixtures."""
    args = [
        "build",
        "--vars",
        json.dumps(dbt_vars(as_of, run_id, journeys), sort_keys=True),
        "--exclude-resource-type",
        "unit_test",
    ]
    if full_refresh:
        args.append("--full-refresh")
    if select:
        args += ["--select", *select]
    return args

"""Pure functions that build dbt's command line and the run's settings, and the environment dbt starts with.
Unit-tested without Dagster."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager


def dbt_run_env(as_of: str, run_id: str, journeys: Sequence[str] = ()) -> dict[str, str]:
    """The run's settings for dbt, as the environment variables the models read while executing (macro
    run_setting). Not --vars: dbt re-parses the whole project when the command line's vars change, and these
    change every run (docs/decisions/0015-run-settings-outside-the-parse.md).

    journeys: the run decides only for these (JOURNEYS_SELECTED, comma-separated); empty: all journeys."""
    unsafe = [journey for journey in journeys if "," in journey or not journey.strip()]
    if unsafe:
        raise ValueError(f"journey ids must be non-empty and contain no comma: {unsafe!r}")
    return {"JOURNEYS_AS_OF": as_of, "JOURNEYS_RUN_ID": run_id, "JOURNEYS_SELECTED": ",".join(sorted(journeys))}


def dbt_build_args(full_refresh: bool = False, select: Sequence[str] = ()) -> list[str]:
    """Models and data tests. Unit tests check the SQL, not the data: they run in the test suite (as dbt
    recommends, not in production builds), which also spares every run their fixtures."""
    args = ["build", "--exclude-resource-type", "unit_test"]
    if full_refresh:
        args.append("--full-refresh")
    if select:
        args += ["--select", *select]
    return args


@contextmanager
def environment_with(values: Mapping[str, str]) -> Iterator[None]:
    """os.environ with `values` set, restored afterwards (dagster-dbt copies os.environ when it starts dbt; the
    tests' in-process dbt reads it while it runs)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

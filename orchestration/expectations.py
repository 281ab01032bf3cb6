"""Great Expectations validation of frames read from DuckDB.

GX's SQL datasource over duckdb-engine fails on this stack (every metric errors), so we read the rows to
validate from DuckDB into pandas (only the columns the suite needs) and validate with GX's pandas path.
See docs/decisions/0003-great-expectations-on-frames.md.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

# No usage analytics leave this machine (and there is no network to send them to).
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx
import pandas as pd
from great_expectations.data_context.types.base import ProgressBarsConfig

logging.getLogger("great_expectations").setLevel(logging.WARNING)


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str
    column: str | None
    success: bool
    unexpected_count: int | None


@dataclass(frozen=True)
class ValidationOutcome:
    suite: str
    success: bool
    rows: int
    outcomes: list[ExpectationOutcome]

    def failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]


def validate_frame(frame: pd.DataFrame, suite_name: str, expectations: list) -> ValidationOutcome:
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas(name=f"{suite_name}_source")
    asset = source.add_dataframe_asset(name=suite_name)
    batch = asset.add_batch_definition_whole_dataframe(f"{suite_name}_batch").get_batch(
        batch_parameters={"dataframe": frame}
    )
    suite = context.suites.add(gx.ExpectationSuite(name=suite_name, expectations=expectations))
    result = batch.validate(suite)
    outcomes = [
        ExpectationOutcome(
            expectation=r.expectation_config.type,
            column=r.expectation_config.kwargs.get("column"),
            success=bool(r.success),
            unexpected_count=(r.result or {}).get("unexpected_count"),
        )
        for r in result.results
    ]
    return ValidationOutcome(suite=suite_name, success=bool(result.success), rows=len(frame), outcomes=outcomes)


def actions_due_expectations() -> list:
    """What must hold for every due action before anything is sent (frame: see actions_due_are_sendable)."""
    return [
        gx.expectations.ExpectColumnValuesToBeUnique(column="action_id"),
        gx.expectations.ExpectColumnValuesToNotBeNull(column="action_id"),
        gx.expectations.ExpectColumnValuesToBeInSet(
            column="destination", value_set=["email", "sms", "push", "in_app", "webhook", "crm", "audience"]
        ),
        gx.expectations.ExpectColumnValuesToMatchRegex(column="email_address", regex=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
        gx.expectations.ExpectColumnValuesToBeInSet(column="has_address", value_set=[True]),
        gx.expectations.ExpectColumnValuesToBeInSet(column="is_due_by_now", value_set=[True]),
    ]

"""The op behind the set_journey_status job: a marketer pauses or resumes a journey from the Launchpad."""

from datetime import datetime
from typing import Literal

import dagster as dg
from pydantic import Field

from orchestration.erasure_assets import REQUESTED_BY_TAG
from orchestration.journey_status import JourneyStatusError, set_journey_status
from orchestration.resources import WarehouseResource, resolve_as_of


class JourneyStatusConfig(dg.Config):
    journey_id: str = Field(description="The journey to pause or resume, e.g. browse_abandonment.")
    status: Literal["paused", "active"] = Field(
        description="paused: hold its actions (nothing sent, nothing lost); active: release them (unless stale)."
    )
    reason: str = Field(description="Why: kept in journey_config.journey_status_changes and shown in `why`.")
    changed_by: str = Field(
        default="",
        description="Who makes the change. Empty: the run's journeys/requested_by tag, else 'dagster-ui'.",
    )
    effective_at: str | None = Field(
        default=None,
        description="UTC, ISO 8601, from when it applies (runs with a later as_of). Empty: now.",
    )


@dg.op(name="record_journey_status", description="Records a journey status change in the warehouse.")
def set_journey_status_op(
    context: dg.OpExecutionContext, config: JourneyStatusConfig, warehouse: WarehouseResource
) -> None:
    changed_by = config.changed_by or context.run.tags.get(REQUESTED_BY_TAG) or "dagster-ui"
    effective_at = datetime.fromisoformat(resolve_as_of(config.effective_at)) if config.effective_at else None
    with warehouse.connect() as con:
        try:
            change = set_journey_status(
                con, config.journey_id, config.status, config.reason, changed_by, effective_at, context.run_id
            )
        except JourneyStatusError as error:
            raise dg.Failure(str(error)) from error
    message = (
        f"journey {change.journey_id}: {change.previous_status} -> {change.status} from {change.effective_at} UTC"
        if change.recorded
        else f"journey {change.journey_id} is already {change.status}: nothing recorded"
    )
    context.log.info(message)

"""Schedules, visible and switchable in the UI (Automation). All ship stopped: a fresh clone or a new deployment
never starts messaging customers or deleting data on its own; an operator turns each one on (docs/operations.md).

A scheduled journey run decides as of its tick time (as_of = the scheduled execution time), so a late start or
a retried tick decides exactly what the tick would have, and each tick is one run (Dagster keys runs by tick).
"""

from datetime import UTC, datetime

import dagster as dg

from orchestration.erasure_assets import REQUESTED_BY_TAG
from orchestration.jobs import MEASUREMENT, journey_run_job, measurement_job, retention_purge_job

SCHEDULE_TIMEZONE = "UTC"


def as_of_for_tick(scheduled_at: datetime) -> str:
    """A tick's logical time: naive UTC, ISO 8601, whole seconds."""
    return scheduled_at.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat()


@dg.schedule(
    name="journey_run_every_15_minutes",
    job=journey_run_job,
    cron_schedule="*/15 * * * *",
    execution_timezone=SCHEDULE_TIMEZONE,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="The journey run every 15 minutes, deciding as of the tick time; one at a time (run queue).",
)
def journey_run_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    as_of = as_of_for_tick(context.scheduled_execution_time)
    return dg.RunRequest(
        run_key=f"journey_run:{as_of}",
        run_config={"resources": {"run_settings": {"config": {"as_of": as_of}}}},
        tags={REQUESTED_BY_TAG: "schedule:journey_run_every_15_minutes"},
    )


@dg.schedule(
    name="measurement_daily",
    job=measurement_job,
    cron_schedule="0 5 * * *",
    execution_timezone=SCHEDULE_TIMEZONE,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Measurement models rebuilt daily at 05:00 UTC (skipped while no measurement model exists).",
)
def measurement_schedule(context: dg.ScheduleEvaluationContext):
    if not MEASUREMENT.resolve(context.repository_def.asset_graph):
        return dg.SkipReason("no measurement models yet (asset group `measurement` is empty)")
    as_of = as_of_for_tick(context.scheduled_execution_time)
    return dg.RunRequest(
        run_key=f"measurement:{as_of}",
        run_config={"resources": {"run_settings": {"config": {"as_of": as_of}}}},
        tags={REQUESTED_BY_TAG: "schedule:measurement_daily"},
    )


@dg.schedule(
    name="retention_purge_daily",
    job=retention_purge_job,
    cron_schedule="30 3 * * *",
    execution_timezone=SCHEDULE_TIMEZONE,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Raw rows older than the retention (default 400 days) deleted daily at 03:30 UTC, audited.",
)
def retention_purge_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=f"retention_purge:{as_of_for_tick(context.scheduled_execution_time)}",
        tags={REQUESTED_BY_TAG: "schedule:retention_purge_daily"},
    )


schedules = [journey_run_schedule, measurement_schedule, retention_purge_schedule]

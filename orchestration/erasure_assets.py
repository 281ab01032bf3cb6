"""Erasure (in every journey run, between the dbt build and activation) and the raw retention purge (own job)."""

import time

import dagster as dg

from orchestration.erasure import DEFAULT_RETENTION_DAYS, execute_erasures, purge_raw
from orchestration.resources import WarehouseResource

ERASED_CUSTOMERS = dg.AssetKey(["policy", "erased_customers"])
ERASURES = dg.AssetKey(["audit", "erasures"])
PURGES = dg.AssetKey(["audit", "purges"])
# Who asked for a run, when the launcher says so; a run without it is the (daily) schedule's.
REQUESTED_BY_TAG = "journeys/requested_by"


@dg.asset(
    key=ERASURES,
    deps=[ERASED_CUSTOMERS],
    group_name="policy",
    description=(
        "Executes each erasure request once: deletes the person's rows from every warehouse table with a personal "
        "column, cancels their pending actions, queues CRM/audience deletions (activation.erasure_deletions), "
        "and audits it (audit.erasures). Runs before activation. See docs/erasure.md."
    ),
)
def erasure(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    started = time.monotonic()
    with warehouse.connect() as con:
        report = execute_erasures(con, run_id=context.run.run_id)
    context.log.info(
        "erasure: %d requests executed (%d rows deleted), %d executed before; %d unresolved; sweep deleted %d rows",
        len(report.executed),
        report.rows_deleted,
        report.already_executed,
        len(report.unresolved),
        sum(report.swept_rows.values()),
    )
    return dg.MaterializeResult(
        metadata={
            # request ids and counts only: no customer ids or emails in Dagster's event log
            "requests_executed": len(report.executed),
            "request_ids": dg.MetadataValue.json([e["request_id"] for e in report.executed]),
            "rows_deleted": report.rows_deleted,
            "executed_before": report.already_executed,
            "unresolved_request_ids": dg.MetadataValue.json(report.unresolved),
            "rows_swept_again": dg.MetadataValue.json(report.swept_rows),
            "duration_s": round(time.monotonic() - started, 3),
        }
    )


class RetentionPurgeConfig(dg.Config):
    retention_days: int = DEFAULT_RETENTION_DAYS
    """Raw rows whose event time is older than this many days before the run are deleted."""


def requested_by_from_tags(tags: dict[str, str]) -> str:
    if tags.get(REQUESTED_BY_TAG):
        return tags[REQUESTED_BY_TAG]
    if tags.get("dagster/schedule_name"):
        return f"schedule:{tags['dagster/schedule_name']}"
    return "schedule"


@dg.asset(
    key=PURGES,
    group_name="policy",
    description=(
        "Deletes raw event rows older than the retention (default 400 days, by each table's event time) and "
        "audits it in audit.purges. Its own job, retention_purge. See docs/erasure.md."
    ),
)
def retention_purge(
    context: dg.AssetExecutionContext, config: RetentionPurgeConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    requested_by = requested_by_from_tags(context.run.tags)
    with warehouse.connect() as con:
        report = purge_raw(con, config.retention_days, run_id=context.run.run_id, requested_by=requested_by)
    context.log.info(
        "retention purge (%d days, cutoff %s, by %s): %s",
        config.retention_days,
        report.cutoff.isoformat(),
        requested_by,
        ", ".join(f"raw.{t} {n}" for t, n in report.rows_deleted.items()),
    )
    return dg.MaterializeResult(
        metadata={
            "retention_days": config.retention_days,
            "cutoff": report.cutoff.isoformat(),
            "requested_by": requested_by,
            "rows_deleted": dg.MetadataValue.json(report.rows_deleted),
        }
    )

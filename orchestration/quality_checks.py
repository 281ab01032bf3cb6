"""Quality gates as asset checks. Blocking checks stop activation for the run when they fail."""

import dagster as dg

from orchestration.expectations import actions_due_expectations, validate_frame
from orchestration.resources import WarehouseResource

ACTIONS_DUE = dg.AssetKey(["policy", "actions_due"])
REJECTED_ROWS = dg.AssetKey(["quality", "rejected_rows"])

# A raw table whose rejected share exceeds this is more likely a broken export than a few bad rows.
MAX_REJECTED_SHARE = 0.05


@dg.asset_check(
    asset=ACTIONS_DUE,
    blocking=True,
    description=(
        "Great Expectations on what is about to be sent: unique, non-null action ids; known destinations; an "
        "address for every email/SMS/push message, a well-formed one for email; nothing due before its time."
    ),
)
def actions_due_are_sendable(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect(read_only=True) as con:
        frame = con.execute(
            """
            select
                action_id,
                destination,
                case when channel = 'email' then address end as email_address,
                channel not in ('email', 'sms', 'push') or address is not null as has_address,
                send_after <= decided_as_of as is_due_by_now
            from policy.actions_due
            """
        ).df()
    outcome = validate_frame(frame, "actions_due", actions_due_expectations())
    return dg.AssetCheckResult(
        passed=outcome.success,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "rows_validated": outcome.rows,
            "failed_expectations": [f"{f.expectation}({f.column}): {f.unexpected_count}" for f in outcome.failures()],
        },
    )


@dg.asset_check(
    asset=REJECTED_ROWS,
    description=f"Each raw table's rejected share stays under {MAX_REJECTED_SHARE:.0%} (a broken export, not noise).",
)
def rejected_share_is_small(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect(read_only=True) as con:
        rows = con.execute(
            """
            with landed as (
                select table_name, sum(row_count) as landed_rows from raw._landed_files group by table_name
            ),
            rejected as (
                select source_table, count(*) as rejected_rows from quality.rejected_rows group by source_table
            )
            select landed.table_name, landed.landed_rows, coalesce(rejected.rejected_rows, 0)
            from landed left join rejected on rejected.source_table = landed.table_name
            order by 1
            """
        ).fetchall()
    shares = {table: rejected / landed if landed else 0.0 for table, landed, rejected in rows}
    too_high = {t: round(s, 4) for t, s in shares.items() if s > MAX_REJECTED_SHARE}
    return dg.AssetCheckResult(
        passed=not too_high,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "rejected_share_by_table": {t: round(s, 4) for t, s in shares.items()},
            "too_high": too_high,
        },
    )


quality_checks = [actions_due_are_sendable, rejected_share_is_small]

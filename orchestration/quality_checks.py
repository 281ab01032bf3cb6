"""Quality gates as asset checks. Blocking checks stop everything downstream in the run when they fail: a
broken raw batch or an over-merged identity graph stops the dbt build (nothing is decided, nothing sent); a bad
due action stops activation. Great Expectations suites: orchestration/gx_suites/*.json; results also in the Data
Docs (<data_dir>/gx_docs/index.html)."""

import dagster as dg

from orchestration.expectations import ValidationOutcome, validate
from orchestration.landing import RAW_TABLES
from orchestration.quality_frames import actions_due_frame, identity_distribution, raw_batch_profile
from orchestration.resources import WarehouseResource

ACTIONS_DUE = dg.AssetKey(["policy", "actions_due"])
REJECTED_ROWS = dg.AssetKey(["quality", "rejected_rows"])
CUSTOMER_IDENTITIES = dg.AssetKey(["identity", "customer_identities"])
RAW_CHECK_NAME = "raw_batch_passes_great_expectations"

# A raw table whose rejected share exceeds this is more likely a broken export than a few bad rows.
MAX_REJECTED_SHARE = 0.05


def _metadata(outcome: ValidationOutcome, **extra) -> dict:
    return {
        "suite": f"orchestration/gx_suites/{outcome.suite}.json",
        "rows_validated": outcome.rows,
        "failed_expectations": outcome.failure_summary(),
        "data_docs": dg.MetadataValue.path(str(outcome.docs_index)),
        **extra,
    }


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            RAW_CHECK_NAME,
            asset=dg.AssetKey(["raw", table]),
            blocking=True,
            description=(
                "Great Expectations (suite raw_inputs) on the latest landed batch of this table: every documented "
                "column present, few missing keys, no timestamps in the future, channels and consent states "
                "from the documented vocabulary, volume within bounds. Blocking: a broken export stops the run."
            ),
        )
        for table in RAW_TABLES
    ],
    can_subset=True,
)
def raw_batch_passes_great_expectations(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
    with warehouse.connect(read_only=True) as con:
        frame, loaded_at = raw_batch_profile(con)
    outcome = (
        validate("raw_inputs", frame, run_name=f"raw_inputs-{context.run.run_id}", key_column="table_name")
        if len(frame)
        else None
    )
    profiled = set(frame["table_name"]) if len(frame) else set()
    for check_key in context.selected_asset_check_keys:
        table = check_key.asset_key.path[-1]
        if outcome is None or table not in profiled:
            yield dg.AssetCheckResult(
                asset_key=check_key.asset_key,
                check_name=RAW_CHECK_NAME,
                passed=True,
                metadata={"latest_batch_loaded_at": str(loaded_at), "rows_validated": 0, "note": "no rows in batch"},
            )
            continue
        failed = [f for f in outcome.failures() if table in f.unexpected_keys]
        row = frame[frame["table_name"] == table].iloc[0]
        yield dg.AssetCheckResult(
            asset_key=check_key.asset_key,
            check_name=RAW_CHECK_NAME,
            passed=not failed,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                **_metadata(outcome, latest_batch_loaded_at=str(loaded_at)),
                "failed_expectations": [f"{f.expectation}({f.column})" for f in failed],
                "batch_profile": dg.MetadataValue.json(
                    {k: (None if v != v else v) for k, v in row.to_dict().items()}  # NaN -> null
                ),
            },
        )


@dg.asset_check(
    asset=CUSTOMER_IDENTITIES,
    blocking=True,
    description=(
        "Great Expectations (suite identity_graph): no customer merged from more identifiers or shop accounts than "
        "the suite allows. Blocking: an over-merged identity would send one person's messages to another."
    ),
)
def identity_graph_is_not_over_merged(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
    with warehouse.connect(read_only=True) as con:
        frame, largest = identity_distribution(con)
    outcome = validate("identity_graph", frame, run_name=f"identity_graph-{context.run.run_id}")
    return dg.AssetCheckResult(
        passed=outcome.success,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=_metadata(
            outcome,
            largest_customers=dg.MetadataValue.json([{"customer_id": c, "identifiers": n} for c, n in largest]),
        ),
    )


@dg.asset_check(
    asset=ACTIONS_DUE,
    blocking=True,
    description=(
        "Great Expectations (suite actions_due) on what is about to be sent: unique, non-null action ids; known "
        "destinations; an address for every email/SMS/push message, a well-formed one for email; nothing due "
        "before its time; every action permitted (consent by channel, purpose and region, suppression list, "
        "erasure: recomputed from consent_history and dbt_project.yml); none inside quiet hours (local time); "
        "volume within bounds. Blocking: activation does not run when it fails."
    ),
)
def actions_due_are_sendable(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
    with warehouse.connect(read_only=True) as con:
        frame = actions_due_frame(con)
    outcome = validate("actions_due", frame, run_name=f"actions_due-{context.run.run_id}")
    return dg.AssetCheckResult(
        passed=outcome.success,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=_metadata(
            outcome,
            not_permitted=int((~frame["is_permitted"].astype(bool)).sum()) if len(frame) else 0,
            inside_quiet_hours=int((~frame["is_outside_quiet_hours"].astype(bool)).sum()) if len(frame) else 0,
        ),
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


quality_checks = [
    raw_batch_passes_great_expectations,
    identity_graph_is_not_over_merged,
    actions_due_are_sendable,
    rejected_share_is_small,
]

"""The BI copy and the measurement report, the last two steps of a journey run.

bi/published_warehouse: after every step that writes the warehouse in the run (dbt, erasure, the Python
measurement assets, activation) has succeeded, copies the BI schemas into data/published/warehouse.duckdb with
an atomic rename (docs/bi.md). A run whose upstream step failed skips it, so BI keeps the last successful run's
tables.

measurement/report: writes data/reports/journeys_report.html from the published copy (never contending for the
warehouse's lock). It depends on the measurement marts of the table contract that this code location defines
(docs/measurement.md, "Report"); a contract table not built yet is shown as "not built in this warehouse".
"""

import time

import dagster as dg

from measurement.report import MEASUREMENT_TABLES, report_path, write_report
from orchestration.activation_assets import activation_assets
from orchestration.attribution_assets import attribution_models
from orchestration.dbt_assets import journeys_dbt_models, measurement_dbt_models
from orchestration.erasure_assets import erasure
from orchestration.measurement_assets import measurement_assets
from orchestration.publish import publish_warehouse, published_warehouse_path
from orchestration.resources import WarehouseResource

PUBLISHED_WAREHOUSE = dg.AssetKey(["bi", "published_warehouse"])
REPORT = dg.AssetKey(["measurement", "report"])

# Assets written in Python that write measurement tables (the rest of the measurement marts are dbt models).
PYTHON_MEASUREMENT_ASSETS = [attribution_models, *measurement_assets]
_MEASUREMENT_KEYS = {
    *measurement_dbt_models.keys,
    *(key for asset in PYTHON_MEASUREMENT_ASSETS for key in asset.keys),
}
# The contract tables this code location builds (docs/measurement.md); one not built is reported as such.
MEASUREMENT_MART_KEYS = sorted(
    (key for key in (dg.AssetKey(table.split(".")) for table in MEASUREMENT_TABLES) if key in _MEASUREMENT_KEYS),
    key=lambda key: key.to_user_string(),
)
JOURNEY_MART_KEYS = [
    dg.AssetKey(["journeys", "journey_transitions"]),
    dg.AssetKey(["journeys", "journey_enrollments"]),
    dg.AssetKey(["journeys", "journey_actions"]),
    dg.AssetKey(["policy", "action_states"]),
]
_WRITER_ASSETS = [journeys_dbt_models, measurement_dbt_models, erasure, *activation_assets, *PYTHON_MEASUREMENT_ASSETS]


def last_writers(assets: list[dg.AssetsDefinition]) -> list[dg.AssetKey]:
    """The keys of `assets` that none of them depends on: once these succeeded, every one of them has run
    (each of the others is upstream of one of these). Depending on these alone keeps the graph readable."""
    keys = {key for asset in assets for key in asset.keys}
    upstream = {dep for asset in assets for deps in asset.asset_deps.values() for dep in deps}
    return sorted(keys - upstream, key=lambda key: key.to_user_string())


# Every warehouse writer of the run (dbt, erasure, activation, Python measurement): the copy is taken after them.
LAST_WRITERS = last_writers(_WRITER_ASSETS)


@dg.asset(
    key=PUBLISHED_WAREHOUSE,
    deps=LAST_WRITERS,
    group_name="bi",
    description=(
        "Read-only copy of the BI schemas (identity, segments, journeys, journey_config, policy, quality, "
        "measurement) for BI tools, published with an atomic rename after the run's last write: "
        "data/published/warehouse.duckdb. See docs/bi.md."
    ),
)
def published_warehouse(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    report = publish_warehouse(warehouse.resolved_path(), published_warehouse_path(), run_id=context.run_id)
    context.log.info(
        "published %d tables (%.1f MB) to %s in %.1f s, %s",
        len(report.tables),
        report.bytes / 1e6,
        report.target,
        report.seconds,
        report.summary(),
    )
    changed = {table: action for table, action in sorted(report.actions.items()) if action != "unchanged"}
    if changed:
        context.log.info("published tables rewritten: %s", ", ".join(f"{t} {a}" for t, a in changed.items()))
    return dg.MaterializeResult(
        metadata={
            "path": str(report.target),
            "tables": len(report.tables),
            "rows": sum(report.tables.values()),
            "megabytes": round(report.bytes / 1e6, 1),
            "duration_s": round(report.seconds, 3),
            "mode": report.summary(),
        }
    )


@dg.asset(
    key=REPORT,
    deps=[PUBLISHED_WAREHOUSE, *MEASUREMENT_MART_KEYS, *JOURNEY_MART_KEYS],
    group_name="measurement",
    description=(
        "The measurement report, one self-contained HTML file: customer flows per journey (Sankey), funnels, "
        "journey performance, attribution across models, experiment and holdout results with intervals. "
        "Written from the published BI copy to data/reports/journeys_report.html."
    ),
)
def report(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    started = time.monotonic()
    written = write_report(published_warehouse_path(), report_path())
    missing = sorted(table for table, rows in written.tables_read.items() if rows is None)
    context.log.info("report %s: %d charts; not built: %s", written.path, len(written.charts), missing or "none")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(written.path)),
            "charts": len(written.charts),
            "tables_not_built": dg.MetadataValue.json(missing),
            "megabytes": round(written.bytes / 1e6, 1),
            "duration_s": round(time.monotonic() - started, 3),
        }
    )


report_assets = [published_warehouse, report]

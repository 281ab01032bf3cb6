"""Journey definitions: validate dbt_project/journeys/*.yml and load them into the warehouse for the engine.

A file that fails validation is refused with a message naming the file, the node and the field; the other
journeys still load and run (JOURNEYS.md invariant 8). A valid journey that names an event field, customer
attribute or segment the warehouse does not have is refused the same way, saying which, rather than run wrongly.
"""

import json
import os
from pathlib import Path

import dagster as dg
import pyarrow as pa

from journey_engine.spec import load_journeys
from journey_engine.tables import journey_tables, write_journey_tables
from orchestration.dbt_assets import dbt_project
from orchestration.resources import WarehouseResource
from orchestration.settings import DBT_PROJECT_DIR


def journeys_dir() -> Path:
    """dbt_project/journeys, or JOURNEYS_DEFINITIONS_DIR (for trying journeys out before committing them)."""
    return Path(os.environ.get("JOURNEYS_DEFINITIONS_DIR", DBT_PROJECT_DIR / "journeys"))


CONFIG_TABLES = ("journeys", "journey_nodes", "journey_branches", "journey_conditions", "journey_exit_rules")


def documented_columns(manifest_path: Path, model: str) -> set[str] | None:
    """The columns a dbt model documents in its YAML (its contract with journey files); None if unknown."""
    if not manifest_path.exists():
        return None
    nodes = json.loads(manifest_path.read_text())["nodes"]
    node = nodes.get(f"model.journeys.{model}")
    return set(node["columns"]) if node and node["columns"] else None


def unknown_columns(
    tables: dict[str, pa.Table], event_columns: set[str] | None, customer_columns: set[str] | None
) -> dict[str, list[str]]:
    """Per journey_id, the event fields and customer attributes it uses that the warehouse does not have."""
    found: dict[str, list[str]] = {}
    for row in tables["journey_conditions"].to_pylist():
        known = event_columns if row["kind"] == "field" else customer_columns if row["kind"] == "attribute" else None
        if known is not None and row["name"] not in known:
            what = "event field" if row["kind"] == "field" else "customer attribute"
            found.setdefault(row["journey_id"], []).append(f"{what} '{row['name']}' ({row['scope']}) does not exist")
    for row in tables["journey_nodes"].to_pylist():
        if row["until_attribute"] and customer_columns is not None and row["until_attribute"] not in customer_columns:
            found.setdefault(row["journey_id"], []).append(
                f"node '{row['node_id']}': customer attribute '{row['until_attribute']}' does not exist"
            )
    for row in tables["journeys"].to_pylist():
        if row["dedupe_key"] and event_columns is not None and row["dedupe_key"] not in event_columns:
            found.setdefault(row["journey_id"], []).append(
                f"dedupe_key event field '{row['dedupe_key']}' does not exist"
            )
    return found


def defined_segments(manifest_path: Path) -> set[str] | None:
    """The segment names dbt defines: models tagged `segment`, named without their `segment_` prefix
    (macros/segment_definitions.sql); None if the manifest is missing."""
    if not manifest_path.exists():
        return None
    nodes = json.loads(manifest_path.read_text())["nodes"]
    return {
        node["name"].removeprefix("segment_")
        for node in nodes.values()
        if node["resource_type"] == "model" and "segment" in node["tags"] and node["config"].get("enabled", True)
    }


def unknown_segments(tables: dict[str, pa.Table], segments: set[str] | None) -> dict[str, list[str]]:
    """Per journey_id, the segments it names (entry, wait_for, conditions, exit rules) that no model defines."""
    found: dict[str, list[str]] = {}
    if segments is None:
        return found

    def check(journey_id: str, segment: str | None, where: str) -> None:
        if segment and segment not in segments:
            known = ", ".join(sorted(segments)) or "none"
            found.setdefault(journey_id, []).append(
                f"{where}: segment '{segment}' is not defined (no model segment_{segment}; defined: {known})"
            )

    for row in tables["journeys"].to_pylist():
        check(row["journey_id"], row["entry_segment"], "entry.segment")
    for row in tables["journey_nodes"].to_pylist():
        check(row["journey_id"], row["wait_segment"], f"node '{row['node_id']}' segment")
    for row in tables["journey_conditions"].to_pylist():
        if row["kind"] in ("in_segment", "not_in_segment"):
            check(row["journey_id"], row["name"], f"{row['kind']} ({row['scope']})")
    for row in tables["journey_exit_rules"].to_pylist():
        check(row["journey_id"], row["left_segment"], "exit_rules.left_segment")
    return found


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            key=dg.AssetKey(["journey_config", table]),
            group_name="journeys",
            description=f"journey_config.{table}: flattened from dbt_project/journeys/*.yml",
        )
        for table in CONFIG_TABLES
    ],
)
def journey_definitions(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    journeys, file_errors = load_journeys(journeys_dir())
    for error in file_errors:
        context.log.error(str(error))
    tables = journey_tables(journeys)
    manifest = dbt_project.manifest_path
    refusals = unknown_segments(tables, defined_segments(manifest))
    missing = unknown_columns(
        tables, documented_columns(manifest, "customer_event_stream"), documented_columns(manifest, "customers")
    )
    for journey_id, problems in missing.items():
        refusals.setdefault(journey_id, []).extend(problems)
    runnable = [j for j in journeys if j.journey_id not in refusals]
    files = {j.journey_id: Path(j.source_file).name for j in journeys if j.source_file}
    refused = [str(e) for e in file_errors]
    for journey_id, problems in sorted(refusals.items()):
        refused.append(f"{files.get(journey_id, journey_id + '.yml')}: not loaded: {'; '.join(problems)}")
        context.log.error(refused[-1])
    with warehouse.connect() as con:
        write_journey_tables(con, runnable)
    for table in CONFIG_TABLES:
        yield dg.MaterializeResult(
            asset_key=dg.AssetKey(["journey_config", table]),
            metadata={
                "journeys_loaded": sorted(j.journey_id for j in runnable),
                "journeys_refused": refused,
            },
        )

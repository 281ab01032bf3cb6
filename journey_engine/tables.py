"""Valid journeys flattened into the `journey_config` tables that the SQL engine reads.

The schemas below are a contract with the dbt models: every column is always present (null when it does not
apply), seconds are int64, flags are bool, and lists and mappings are JSON text. Change them only together with
the models that read them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

import duckdb
import pyarrow as pa

from journey_engine.spec import (
    ActionNode,
    Condition,
    Delay,
    Journey,
    Split,
    WaitFor,
)

SCHEMA = "journey_config"

TABLE_SCHEMAS: dict[str, pa.Schema] = {
    "journeys": pa.schema(
        [
            ("journey_id", pa.string()),
            ("version", pa.int64()),
            ("status", pa.string()),
            ("description", pa.string()),
            ("entry_event", pa.string()),
            ("entry_segment", pa.string()),
            ("dedupe_key", pa.string()),
            ("reentry_rule", pa.string()),
            ("cooldown_seconds", pa.int64()),
            ("holdout_percent", pa.int64()),
            ("priority", pa.int64()),
            ("when_capped", pa.string()),
            ("goal_event", pa.string()),
            ("goal_within_seconds", pa.int64()),
            ("goal_exits", pa.bool_()),
            ("start_node", pa.string()),
            ("definition_hash", pa.string()),
            ("source_file", pa.string()),
        ]
    ),
    "journey_nodes": pa.schema(
        [
            ("journey_id", pa.string()),
            ("version", pa.int64()),
            ("node_id", pa.string()),
            ("node_order", pa.int64()),
            ("node_type", pa.string()),
            ("delay_kind", pa.string()),
            ("next_node", pa.string()),
            ("duration_seconds", pa.int64()),
            ("window_days", pa.string()),
            ("window_start_minute", pa.int64()),
            ("window_end_minute", pa.int64()),
            ("until_attribute", pa.string()),
            ("until_offset_seconds", pa.int64()),
            ("wait_event", pa.string()),
            ("wait_segment", pa.string()),
            ("timeout_seconds", pa.int64()),
            ("on_event_node", pa.string()),
            ("on_timeout_node", pa.string()),
            ("else_node", pa.string()),
            ("action_kind", pa.string()),
            ("channel", pa.string()),
            ("template", pa.string()),
            ("action_fields", pa.string()),
            ("fallback_channels", pa.string()),
            ("action_config", pa.string()),
        ]
    ),
    "journey_branches": pa.schema(
        [
            ("journey_id", pa.string()),
            ("version", pa.int64()),
            ("node_id", pa.string()),
            ("branch_index", pa.int64()),
            ("next_node", pa.string()),
            ("weight", pa.int64()),
        ]
    ),
    "journey_conditions": pa.schema(
        [
            ("journey_id", pa.string()),
            ("version", pa.int64()),
            ("scope", pa.string()),
            ("node_id", pa.string()),
            ("branch_index", pa.int64()),
            ("condition_index", pa.int64()),
            ("kind", pa.string()),
            ("name", pa.string()),
            ("op", pa.string()),
            ("value_json", pa.string()),
            ("within_seconds", pa.int64()),
        ]
    ),
    "journey_exit_rules": pa.schema(
        [
            ("journey_id", pa.string()),
            ("version", pa.int64()),
            ("rule_index", pa.int64()),
            ("exit_event", pa.string()),
            ("left_segment", pa.string()),
        ]
    ),
}


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 kept: the same value always gives the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _condition_dict(condition: Condition) -> dict[str, Any]:
    value = list(condition.value) if isinstance(condition.value, tuple) else condition.value
    return {
        "kind": condition.kind,
        "name": condition.name,
        "op": condition.op,
        "value": value,
        "within_seconds": condition.within_seconds,
    }


def _node_dict(node: Any) -> dict[str, Any]:
    if isinstance(node, Delay):
        window = node.local_window
        until = node.until_attribute
        return {
            "id": node.id,
            "type": node.type,
            "next": node.next,
            "duration_seconds": node.duration_seconds,
            "local_window": None
            if window is None
            else {"days": list(window.days), "start_minute": window.start_minute, "end_minute": window.end_minute},
            "until_attribute": None
            if until is None
            else {"attribute": until.attribute, "offset_seconds": until.offset_seconds},
        }
    if isinstance(node, WaitFor):
        return {
            "id": node.id,
            "type": node.type,
            "event": node.event,
            "segment": node.segment,
            "where": [_condition_dict(condition) for condition in node.where],
            "timeout_seconds": node.timeout_seconds,
            "on_event": node.on_event,
            "on_timeout": node.on_timeout,
        }
    if isinstance(node, Split):
        return {
            "id": node.id,
            "type": node.type,
            "conditions": [
                {"when": [_condition_dict(condition) for condition in branch.when], "next": branch.next}
                for branch in node.conditions
            ],
            "else": node.else_node,
            "random": [{"weight": branch.weight, "next": branch.next} for branch in node.random],
        }
    if isinstance(node, ActionNode):
        return {"id": node.id, "type": node.type, "action": node.action.config(), "next": node.next}
    return {"id": node.id, "type": node.type}


def journey_to_dict(journey: Journey) -> dict[str, Any]:
    """The parsed journey as plain data (durations in seconds, defaults filled in); source_file left out."""
    entry = journey.entry
    return {
        "journey_id": journey.journey_id,
        "version": journey.version,
        "status": journey.status,
        "description": journey.description,
        "entry": {
            "event": entry.event,
            "segment": entry.segment,
            "where": [_condition_dict(condition) for condition in entry.where],
            "dedupe_key": entry.dedupe_key,
            "audience": [_condition_dict(condition) for condition in entry.audience],
        },
        "reentry": {"rule": journey.reentry.rule, "cooldown_seconds": journey.reentry.cooldown_seconds},
        "holdout_percent": journey.holdout_percent,
        "delivery": {"priority": journey.priority, "when_capped": journey.when_capped},
        "exit_rules": [{"event": rule.event, "left_segment": rule.left_segment} for rule in journey.exit_rules],
        "goal": None
        if journey.goal is None
        else {"event": journey.goal.event, "within_seconds": journey.goal.within_seconds, "exits": journey.goal.exits},
        "start_node": journey.start_node,
        "nodes": [_node_dict(node) for node in journey.nodes],
    }


def definition_hash(journey: Journey) -> str:
    """sha256 of the canonical JSON of the parsed journey: changes exactly when the definition does."""
    return hashlib.sha256(canonical_json(journey_to_dict(journey)).encode("utf-8")).hexdigest()


def _journey_row(journey: Journey) -> dict[str, Any]:
    goal = journey.goal
    return {
        "journey_id": journey.journey_id,
        "version": journey.version,
        "status": journey.status,
        "description": journey.description,
        "entry_event": journey.entry.event,
        "entry_segment": journey.entry.segment,
        "dedupe_key": journey.entry.dedupe_key,
        "reentry_rule": journey.reentry.rule,
        "cooldown_seconds": journey.reentry.cooldown_seconds,
        "holdout_percent": journey.holdout_percent,
        "priority": journey.priority,
        "when_capped": journey.when_capped,
        "goal_event": goal.event if goal else None,
        "goal_within_seconds": goal.within_seconds if goal else None,
        "goal_exits": goal.exits if goal else None,
        "start_node": journey.start_node,
        "definition_hash": definition_hash(journey),
        "source_file": journey.source_file,
    }


def _node_row(journey: Journey, order: int, node: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(TABLE_SCHEMAS["journey_nodes"].names)
    row.update(
        journey_id=journey.journey_id, version=journey.version, node_id=node.id, node_order=order, node_type=node.type
    )
    if isinstance(node, Delay):
        row.update(delay_kind=node.kind, next_node=node.next, duration_seconds=node.duration_seconds)
        if node.local_window is not None:
            row.update(
                window_days=",".join(node.local_window.days),
                window_start_minute=node.local_window.start_minute,
                window_end_minute=node.local_window.end_minute,
            )
        if node.until_attribute is not None:
            row.update(
                until_attribute=node.until_attribute.attribute,
                until_offset_seconds=node.until_attribute.offset_seconds,
            )
    elif isinstance(node, WaitFor):
        row.update(
            wait_event=node.event,
            wait_segment=node.segment,
            timeout_seconds=node.timeout_seconds,
            on_event_node=node.on_event,
            on_timeout_node=node.on_timeout,
        )
    elif isinstance(node, Split):
        row.update(else_node=node.else_node)
    elif isinstance(node, ActionNode):
        action = node.action
        row.update(
            next_node=node.next,
            action_kind=action.kind,
            channel=action.channel,
            template=action.template,
            action_fields=canonical_json(list(action.fields)),
            fallback_channels=canonical_json(list(action.fallback_channels)),
            action_config=canonical_json(action.config()),
        )
    return row


def _condition_rows(
    journey: Journey, scope: str, node_id: str | None, branch_index: int | None, conditions: Sequence[Condition]
) -> Iterable[dict[str, Any]]:
    for index, condition in enumerate(conditions):
        has_value = condition.op is not None and condition.op not in ("is_null", "not_null")
        value = list(condition.value) if isinstance(condition.value, tuple) else condition.value
        yield {
            "journey_id": journey.journey_id,
            "version": journey.version,
            "scope": scope,
            "node_id": node_id,
            "branch_index": branch_index,
            "condition_index": index,
            "kind": condition.kind,
            "name": condition.name,
            "op": condition.op,
            "value_json": canonical_json(value) if has_value else None,
            "within_seconds": condition.within_seconds,
        }


def journey_rows(journeys: Iterable[Journey]) -> dict[str, list[dict[str, Any]]]:
    """The rows of each journey_config table, in file order."""
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLE_SCHEMAS}
    for journey in journeys:
        rows["journeys"].append(_journey_row(journey))
        conditions = rows["journey_conditions"]
        conditions.extend(_condition_rows(journey, "entry_where", None, None, journey.entry.where))
        conditions.extend(_condition_rows(journey, "audience", None, None, journey.entry.audience))
        for order, node in enumerate(journey.nodes):
            rows["journey_nodes"].append(_node_row(journey, order, node))
            if isinstance(node, WaitFor):
                conditions.extend(_condition_rows(journey, "wait_where", node.id, None, node.where))
            if isinstance(node, Split):
                branches = node.random or node.conditions
                for index, branch in enumerate(branches):
                    rows["journey_branches"].append(
                        {
                            "journey_id": journey.journey_id,
                            "version": journey.version,
                            "node_id": node.id,
                            "branch_index": index,
                            "next_node": branch.next,
                            "weight": getattr(branch, "weight", None),
                        }
                    )
                for index, branch in enumerate(node.conditions):
                    conditions.extend(_condition_rows(journey, "branch", node.id, index, branch.when))
        for index, rule in enumerate(journey.exit_rules):
            rows["journey_exit_rules"].append(
                {
                    "journey_id": journey.journey_id,
                    "version": journey.version,
                    "rule_index": index,
                    "exit_event": rule.event,
                    "left_segment": rule.left_segment,
                }
            )
    return rows


def journey_tables(journeys: Iterable[Journey]) -> dict[str, pa.Table]:
    """One pyarrow table per journey_config table, with the fixed schemas above."""
    rows = journey_rows(journeys)
    return {name: pa.Table.from_pylist(rows[name], schema=schema) for name, schema in TABLE_SCHEMAS.items()}


def write_journey_tables(con: duckdb.DuckDBPyConnection, journeys: Iterable[Journey]) -> None:
    """Replaces every journey_config table in one transaction: readers see the old set or the new, never a mix."""
    tables = journey_tables(journeys)
    con.execute("begin transaction")
    try:
        con.execute(f"create schema if not exists {SCHEMA}")
        for name, table in tables.items():
            view_name = f"_journey_config_{name}"
            con.register(view_name, table)
            try:
                con.execute(f"create or replace table {SCHEMA}.{name} as select * from {view_name}")
            finally:
                con.unregister(view_name)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise

"""Runs the warehouse journey engine (the dbt models) on given histories, for comparison with the reference.

The engine reads three upstream relations, `customer_event_stream` and `customers` (schema identity) and
`segment_memberships` (schema segments); the harness writes them directly into a fresh DuckDB warehouse, loads
the journeys into `journey_config`, and runs only the journey models with dbt at each as_of, exactly as the
journey_run job does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from journey_engine.reference import History
from journey_engine.spec import Journey
from journey_engine.tables import write_journey_tables
from tests.dbt_cli import run_dbt

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
JOURNEY_MODELS = (
    "int_journey_events",
    "int_journey_local_windows",
    "int_journey_wait_events",
    "int_journey_condition_facts",
    "journey_transitions",
    "journey_actions",
    "journey_enrollments",
    "journey_positions",
)


class EngineWarehouse:
    def __init__(
        self, folder: Path, journeys: Sequence[Journey], history: History, event_fields: dict[str, pa.DataType]
    ):
        self.folder = folder
        self.path = folder / "warehouse.duckdb"
        self.runs = 0
        with duckdb.connect(str(self.path)) as con:
            con.execute("create schema if not exists identity")
            con.register("stream", _events_table(history, event_fields))
            con.execute("create table identity.customer_event_stream as select * from stream")
            con.unregister("stream")
            con.register("people", _customers_table(history))
            con.execute("create table identity.customers as select * from people")
            con.unregister("people")
            con.execute("create schema if not exists segments")
            con.register("memberships", _memberships_table(history))
            con.execute("create table segments.segment_memberships as select * from memberships")
            con.unregister("memberships")
            write_journey_tables(con, list(journeys))

    def land_events_until(self, history: History, event_fields: dict[str, pa.DataType], until: datetime) -> int:
        """The event stream as landed by `until`: only the history's events that occurred by then (a batch of
        on-time data). Returns how many events the stream holds."""
        landed = History(
            history.customers, [e for e in history.events if e["occurred_at"] <= until], history.memberships
        )
        with duckdb.connect(str(self.path)) as con:
            con.register("stream", _events_table(landed, event_fields))
            con.execute("create or replace table identity.customer_event_stream as select * from stream")
            con.unregister("stream")
        return len(landed.events)

    def deploy(self, journeys: Sequence[Journey]) -> None:
        """Replaces the journey definitions, as the journey_definitions asset does when files change."""
        with duckdb.connect(str(self.path)) as con:
            write_journey_tables(con, list(journeys))

    def run(self, as_of: datetime) -> None:
        self.runs += 1
        completed = run_dbt(
            ["run", "--select", *JOURNEY_MODELS],
            self.path,
            self.folder / "target",
            as_of=as_of.isoformat(),
            run_id=f"run-{self.runs - 1}",
        )
        if completed.returncode != 0:
            raise AssertionError(f"dbt failed at as_of {as_of}:\n{completed.stdout[-6000:]}")

    def query(self, sql: str) -> list[tuple]:
        with duckdb.connect(str(self.path), read_only=True) as con:
            return con.execute(sql).fetchall()

    def decisions(self) -> dict[str, list[tuple]]:
        """The engine's output in the reference's comparable form (RunResult.decisions)."""
        transitions = self.query(
            """select enrollment_id, step_number, from_node, to_node, transition_at, reason
               from journeys.journey_transitions"""
        )
        actions = self.query(
            """select action_id, enrollment_id, node_id, action_kind, channel, template, action_fields, variant,
                      scheduled_at
               from journeys.journey_actions"""
        )
        enrollments = self.query(
            """select enrollment_id, journey_id, journey_version, customer_id, entry_event_id, entered_at, variant,
                      status, exited_at, exit_reason, converted_at
               from journeys.journey_enrollments"""
        )
        positions = self.query(
            "select enrollment_id, node_id, since, waiting_for, waits_until from journeys.journey_positions"
        )
        return {
            "enrollments": sorted(
                tuple(zip(ENROLLMENT_FIELDS, (*row[:2], int(row[2]), *row[3:]), strict=True)) for row in enrollments
            ),
            "transitions": sorted(
                tuple(zip(TRANSITION_FIELDS, (*row[:1], int(row[1]), *row[2:]), strict=True)) for row in transitions
            ),
            "actions": sorted(
                tuple(zip(ACTION_FIELDS, (*row[:6], tuple(json.loads(row[6] or "[]")), *row[7:]), strict=True))
                for row in actions
            ),
            "positions": sorted(tuple(zip(POSITION_FIELDS, row, strict=True)) for row in positions),
        }


ENROLLMENT_FIELDS = (
    "enrollment_id",
    "journey_id",
    "version",
    "customer_id",
    "entry_id",
    "entered_at",
    "variant",
    "status",
    "exited_at",
    "exit_reason",
    "converted_at",
)
TRANSITION_FIELDS = ("enrollment_id", "step", "from_node", "to_node", "at", "reason")
ACTION_FIELDS = (
    "action_id",
    "enrollment_id",
    "node_id",
    "kind",
    "channel",
    "template",
    "fields",
    "variant",
    "scheduled_at",
)
POSITION_FIELDS = ("enrollment_id", "node_id", "since", "waiting_for", "until")


def _events_table(history: History, event_fields: dict[str, pa.DataType]) -> pa.Table:
    columns: dict[str, list] = {"event_id": [], "event_name": [], "customer_id": [], "occurred_at": []}
    columns.update({name: [] for name in event_fields})
    for event in history.events:
        for name in columns:
            columns[name].append(event.get(name))
    types = {
        "event_id": pa.string(),
        "event_name": pa.string(),
        "customer_id": pa.string(),
        "occurred_at": pa.timestamp("us"),
    }
    types.update(event_fields)
    return pa.table({name: pa.array(values, types[name]) for name, values in columns.items()})


def _customers_table(history: History) -> pa.Table:
    rows = [{"customer_id": customer_id, **attributes} for customer_id, attributes in history.customers.items()]
    return pa.Table.from_pylist(rows)


def _memberships_table(history: History) -> pa.Table:
    """The history's segment memberships in the columns of the segment_memberships mart the engine reads."""
    rows = history.memberships
    return pa.table(
        {
            "segment_name": pa.array([row["segment"] for row in rows], pa.string()),
            "customer_id": pa.array([row["customer_id"] for row in rows], pa.string()),
            "entered_at": pa.array([row["entered_at"] for row in rows], pa.timestamp("us")),
            "exited_at": pa.array([row.get("exited_at") for row in rows], pa.timestamp("us")),
        }
    )


def reference_decisions(results: Iterable) -> dict[str, list[tuple]]:
    """Merges the reference's per-journey results into one comparable mapping."""
    merged: dict[str, list[tuple]] = {"enrollments": [], "transitions": [], "actions": [], "positions": []}
    for result in results:
        for key, rows in result.decisions().items():
            merged[key].extend(rows)
    return {key: sorted(rows) for key, rows in merged.items()}

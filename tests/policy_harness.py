"""Runs the delivery-policy dbt models on hand-written or generated inputs, in a fresh DuckDB warehouse.

The policy models read a few upstream relations (staging consent and engagement, the identity marts, the journey
actions and config, the learnt send hours and channel preferences). The harness writes those directly as tables,
with the columns the models read, then runs only the policy models (and their data tests) with dbt at each
as_of, as the journey_run job does. Activation is the real ledger code: `send` marks due actions sent the way
the runner does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from activations import ledger
from tests.dbt_cli import run_dbt

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
POLICY_MODELS = (
    "suppression_list",
    "consent_history",
    "channel_reachability",
    "policy_decisions",
    "actions_due",
    "actions_deferred",
    "actions_suppressed",
    "action_states",
)

CUSTOMER_COLUMNS = {
    "customer_id": pa.string(),
    "first_name": pa.string(),
    "email": pa.string(),
    "phone": pa.string(),
    "push_token": pa.string(),
    "time_zone": pa.string(),
    "is_eu": pa.bool_(),
    "has_email": pa.bool_(),
    "has_phone": pa.bool_(),
    "has_push_token": pa.bool_(),
}
CONSENT_COLUMNS = {
    "consent_event_id": pa.string(),
    "customer_id": pa.string(),
    "channel": pa.string(),
    "purpose": pa.string(),
    "consent_status": pa.string(),
    "consent_source": pa.string(),
    "occurred_at": pa.timestamp("us"),
}
ENGAGEMENT_COLUMNS = {
    "message_event_id": pa.string(),
    "customer_id": pa.string(),
    "channel": pa.string(),
    "event_type": pa.string(),
    "bounce_type": pa.string(),
    "occurred_at": pa.timestamp("us"),
}
ACTION_COLUMNS = {
    "action_id": pa.string(),
    "enrollment_id": pa.string(),
    "journey_id": pa.string(),
    "journey_version": pa.int64(),
    "customer_id": pa.string(),
    "node_id": pa.string(),
    "action_kind": pa.string(),
    "channel": pa.string(),
    "template": pa.string(),
    "action_fields": pa.string(),
    "fallback_channels": pa.string(),
    "action_config": pa.string(),
    "variant": pa.string(),
    "scheduled_at": pa.timestamp("us"),
    "decided_in_run": pa.string(),
    "decided_as_of": pa.timestamp("us"),
}


def customer(customer_id: str, time_zone: str = "UTC", is_eu: bool = False, **overrides) -> dict:
    """A reachable customer on every channel unless overridden (email=None etc.)."""
    row = {
        "customer_id": customer_id,
        "first_name": "Alex",
        "email": f"{customer_id}@example.com",
        "phone": "+15550100",
        "push_token": f"token-{customer_id}",
        "time_zone": time_zone,
        "is_eu": is_eu,
    }
    row.update(overrides)
    row["has_email"] = row["email"] is not None
    row["has_phone"] = row["phone"] is not None
    row["has_push_token"] = row["push_token"] is not None
    return row


def consent(customer_id: str, channel: str, status: str, at: datetime, purpose: str = "marketing") -> dict:
    return {
        "consent_event_id": f"ce-{customer_id}-{channel}-{purpose}-{at.isoformat()}",
        "customer_id": customer_id,
        "channel": channel,
        "purpose": purpose,
        "consent_status": status,
        "consent_source": "preference_center",
        "occurred_at": at,
    }


def engagement(customer_id: str, channel: str, event_type: str, at: datetime, bounce_type: str | None = None) -> dict:
    return {
        "message_event_id": f"me-{customer_id}-{channel}-{event_type}-{at.isoformat()}",
        "customer_id": customer_id,
        "channel": channel,
        "event_type": event_type,
        "bounce_type": bounce_type,
        "occurred_at": at,
    }


def message(
    action_id: str,
    customer_id: str,
    channel: str,
    at: datetime,
    journey_id: str = "j",
    fallbacks: Sequence[str] = (),
    purpose: str = "marketing",
    variant: str = "treatment",
    send_time: str = "as_decided",
    channel_choice: str = "as_listed",
) -> dict:
    config = {
        "channel": channel,
        "channel_choice": channel_choice,
        "fallback_channels": list(fallbacks),
        "fields": ["first_name"],
        "kind": "message",
        "purpose": purpose,
        "send_time": send_time,
        "template": "t",
    }
    return {
        "action_id": action_id,
        "enrollment_id": f"enr-{action_id}",
        "journey_id": journey_id,
        "journey_version": 1,
        "customer_id": customer_id,
        "node_id": f"node-{action_id}",
        "action_kind": "message",
        "channel": channel,
        "template": "t",
        "action_fields": '["first_name"]',
        "fallback_channels": json.dumps(list(fallbacks), separators=(",", ":")),
        "action_config": json.dumps(config, sort_keys=True, separators=(",", ":")),
        "variant": variant,
        "scheduled_at": at,
        "decided_in_run": "journeys",
        "decided_as_of": at,
    }


def _table(rows: Iterable[Mapping], columns: Mapping[str, pa.DataType]) -> pa.Table:
    rows = list(rows)
    return pa.table({name: pa.array([row.get(name) for row in rows], kind) for name, kind in columns.items()})


class PolicyWarehouse:
    def __init__(
        self,
        folder: Path,
        customers: Sequence[Mapping],
        journeys: Mapping[str, tuple[int, str]] | None = None,
        best_hours: Mapping[str, int] | None = None,
        channel_ranks: Mapping[str, Sequence[str]] | None = None,
        erased: Sequence[str] = (),
    ):
        """journeys: journey_id -> (priority, when_capped); others default to (50, defer).
        best_hours: customer_id -> learnt best local hour; channel_ranks: customer_id -> channels, preferred first."""
        self.folder = folder
        self.path = folder / "warehouse.duckdb"
        self.runs = 0
        self.consent_rows: list[dict] = []
        self.engagement_rows: list[dict] = []
        self.action_rows: list[dict] = []
        with duckdb.connect(str(self.path)) as con:
            for schema in ("staging", "identity", "journeys", "journey_config", "policy"):
                con.execute(f"create schema {schema}")
            people = _table(customers, CUSTOMER_COLUMNS)  # noqa: F841 (read by DuckDB by name)
            con.execute("create table identity.customers as select * from people")
            con.execute(
                """create table identity.customer_identities as
                   select 'shop_customer_id' as identifier_type, customer_id as identifier_value, customer_id
                   from identity.customers"""
            )
            con.execute(
                """create table identity.customer_event_stream
                   (event_id varchar, customer_id varchar, event_name varchar, occurred_at timestamp)"""
            )
            con.execute("create table journeys.journey_enrollments (enrollment_id varchar, entry_event_id varchar)")
            settings = [{"journey_id": j, "priority": p, "when_capped": w} for j, (p, w) in (journeys or {}).items()]
            settings_table = _table(  # noqa: F841
                settings, {"journey_id": pa.string(), "priority": pa.int64(), "when_capped": pa.string()}
            )
            con.execute("create table journey_config.journeys as select * from settings_table")
            con.execute(
                """create table journey_config.journey_nodes as
                   select 'action' as node_type, '["first_name"]' as action_fields"""
            )
            hours = [
                {"customer_id": c, "best_hour_local": h, "source": "customer"} for c, h in (best_hours or {}).items()
            ]
            hours_table = _table(  # noqa: F841
                hours, {"customer_id": pa.string(), "best_hour_local": pa.int64(), "source": pa.string()}
            )
            con.execute("create table policy.customer_send_hours as select * from hours_table")
            ranks = [
                {"customer_id": c, "channel": channel, "preference_rank": rank}
                for c, channels in (channel_ranks or {}).items()
                for rank, channel in enumerate(channels, start=1)
            ]
            ranks_table = _table(  # noqa: F841
                ranks, {"customer_id": pa.string(), "channel": pa.string(), "preference_rank": pa.int64()}
            )
            con.execute("create table policy.customer_channel_preferences as select * from ranks_table")
            erased_table = _table(  # noqa: F841
                [{"customer_id": c, "request_id": f"era_{c}"} for c in erased],
                {"customer_id": pa.string(), "request_id": pa.string()},
            )
            con.execute("create table policy.erased_customers as select * from erased_table")
            ledger.ensure_ledger(con)
        self._write_inputs()

    def add(self, consents: Sequence[dict] = (), engagements: Sequence[dict] = (), actions: Sequence[dict] = ()):
        self.consent_rows.extend(consents)
        self.engagement_rows.extend(engagements)
        self.action_rows.extend(actions)
        self._write_inputs()

    def _write_inputs(self) -> None:
        with duckdb.connect(str(self.path)) as con:
            for name, rows, columns in (
                ("staging.stg_raw__consent_events", self.consent_rows, CONSENT_COLUMNS),
                ("staging.stg_raw__message_engagement", self.engagement_rows, ENGAGEMENT_COLUMNS),
                ("journeys.journey_actions", self.action_rows, ACTION_COLUMNS),
            ):
                frame = _table(rows, columns)  # noqa: F841
                con.execute(f"create or replace table {name} as select * from frame")

    def run(self, as_of: datetime, journeys: Sequence[str] = ()) -> None:
        """dbt build of the policy models at as_of, for the given journeys only (empty: all), as a run passes
        them."""
        self.runs += 1
        completed = run_dbt(
            ["build", "--select", *POLICY_MODELS],
            self.path,
            self.folder / "target",
            as_of=as_of.isoformat(),
            run_id=f"run-{self.runs}",
            journeys=journeys,
        )
        if completed.returncode != 0:
            raise AssertionError(f"dbt failed at as_of {as_of}:\n{completed.stdout[-6000:]}")

    def send(self, at: datetime, action_ids: Sequence[str] | None = None) -> list[str]:
        """Activation: marks the due actions (or the given ones among them) sent in the real ledger."""
        with duckdb.connect(str(self.path)) as con:
            due = [(a, d) for a, d in con.execute("select action_id, destination from policy.actions_due").fetchall()]
            chosen = [(a, d) for a, d in due if action_ids is None or a in action_ids]
            for action_id, destination in chosen:
                ledger.record_intent(con, destination, [action_id], "activation", at)
                ledger.mark_results(con, destination, [(action_id, "sent", f"msg-{action_id}", None)], at)
        return [a for a, _ in chosen]

    def fail(self, at: datetime, action_ids: Sequence[str]) -> None:
        """Activation: an attempt at the given due actions failed (the ledger records 'failed'; retried later)."""
        with duckdb.connect(str(self.path)) as con:
            for action_id, destination in con.execute(
                "select action_id, destination from policy.actions_due"
            ).fetchall():
                if action_id in action_ids:
                    ledger.record_intent(con, destination, [action_id], "activation", at)
                    ledger.mark_results(con, destination, [(action_id, "failed", None, "HTTP 503")], at)

    def query(self, sql: str, parameters: Sequence | None = None) -> list[tuple]:
        with duckdb.connect(str(self.path), read_only=True) as con:
            return con.execute(sql, parameters).fetchall()

    def state(self, action_id: str) -> tuple:
        """(state, reason, send_after, channel) of one action now."""
        rows = self.query(
            "select state, reason, send_after, channel from policy.action_states where action_id = ?", [action_id]
        )
        assert len(rows) == 1, f"{action_id}: {rows}"
        return rows[0]

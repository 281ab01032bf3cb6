"""The send ledger: one row per (action, destination) with its dispatch state, kept in the warehouse.

Order of work for every batch (see docs/decisions/0002-send-ledger.md):
1. record intent (state 'pending') and commit;
2. send, with the action_id as idempotency key;
3. mark the result ('sent' or 'failed') and commit.
A row still 'pending' at the start of the next run was in flight during a crash: it is resolved by
asking the destination whether it already has the action, never by guessing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import duckdb

LEDGER_TABLE = "activation.send_ledger"

STATES = ("pending", "sent", "failed", "dead")


def ensure_ledger(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists activation")
    con.execute(
        f"""
        create table if not exists {LEDGER_TABLE} (
            action_id varchar not null,
            destination varchar not null,
            state varchar not null,
            attempts integer not null,
            first_attempt_at timestamp not null,
            last_attempt_at timestamp not null,
            provider_message_id varchar,
            error varchar,
            run_id varchar not null,
            primary key (action_id, destination)
        )
        """
    )


def record_intent(
    con: duckdb.DuckDBPyConnection, destination: str, action_ids: Iterable[str], run_id: str, at: datetime
) -> None:
    rows = [(a, destination, "pending", 1, at, at, None, None, run_id) for a in action_ids]
    if not rows:
        return
    con.executemany(
        f"""
        insert into {LEDGER_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?)
        on conflict (action_id, destination) do update set
            state = 'pending',
            attempts = {LEDGER_TABLE}.attempts + 1,
            last_attempt_at = excluded.last_attempt_at,
            run_id = excluded.run_id
        """,
        rows,
    )


def mark_results(
    con: duckdb.DuckDBPyConnection,
    destination: str,
    results: Iterable[tuple[str, str, str | None, str | None]],
    at: datetime,
) -> None:
    """results: (action_id, state, provider_message_id, error)."""
    rows = [(state, message_id, error, at, action_id, destination) for action_id, state, message_id, error in results]
    if not rows:
        return
    con.executemany(
        f"""
        update {LEDGER_TABLE}
        set state = ?, provider_message_id = ?, error = ?, last_attempt_at = ?
        where action_id = ? and destination = ?
        """,
        rows,
    )


def in_flight(con: duckdb.DuckDBPyConnection, destination: str) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            f"select action_id from {LEDGER_TABLE} where destination = ? and state = 'pending' order by action_id",
            [destination],
        ).fetchall()
    ]

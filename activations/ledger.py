"""The send ledger: one row per (action, destination) with its dispatch state, kept in the warehouse.

Order of work for every batch (see docs/decisions/0002-send-ledger.md):
1. record intent (state 'pending') and commit;
2. send, with the action_id as idempotency key;
3. mark the result ('sent' or 'failed') and commit.
A row still 'pending' at the start of the next run was in flight during a crash: it is resolved by
asking the destination whether it already has the action, never by guessing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import duckdb
import pyarrow as pa

LEDGER_TABLE = "activation.send_ledger"


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
    con: duckdb.DuckDBPyConnection, destination: str, action_ids: Sequence[str], run_id: str, at: datetime
) -> None:
    """Marks the actions 'pending' (a retry counts one more attempt). One set-based statement per batch."""
    if not action_ids:
        return
    intents = pa.table({"action_id": pa.array(action_ids, pa.string())})
    con.register("ledger_intents", intents)
    try:
        con.execute(
            f"""
            insert into {LEDGER_TABLE}
            select action_id, ?, 'pending', 1, ?, ?, null, null, ? from ledger_intents
            on conflict (action_id, destination) do update set
                state = 'pending',
                attempts = {LEDGER_TABLE}.attempts + 1,
                last_attempt_at = excluded.last_attempt_at,
                run_id = excluded.run_id
            """,
            [destination, at, at, run_id],
        )
    finally:
        con.unregister("ledger_intents")


def mark_results(
    con: duckdb.DuckDBPyConnection,
    destination: str,
    results: Iterable[tuple[str, str, str | None, str | None]],
    at: datetime,
) -> None:
    """results: (action_id, state, provider_message_id, error). One set-based statement per batch."""
    rows = list(results)
    if not rows:
        return
    action_ids, states, message_ids, errors = (list(column) for column in zip(*rows, strict=True))
    outcome = pa.table(
        {
            "action_id": pa.array(action_ids, pa.string()),
            "state": pa.array(states, pa.string()),
            "provider_message_id": pa.array(message_ids, pa.string()),
            "error": pa.array(errors, pa.string()),
        }
    )
    con.register("ledger_outcome", outcome)
    try:
        con.execute(
            f"""
            update {LEDGER_TABLE} as ledger
            set state = outcome.state,
                provider_message_id = outcome.provider_message_id,
                error = outcome.error,
                last_attempt_at = ?
            from ledger_outcome as outcome
            where ledger.action_id = outcome.action_id and ledger.destination = ?
            """,
            [at, destination],
        )
    finally:
        con.unregister("ledger_outcome")


def in_flight(con: duckdb.DuckDBPyConnection, destination: str) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            f"select action_id from {LEDGER_TABLE} where destination = ? and state = 'pending' order by action_id",
            [destination],
        ).fetchall()
    ]

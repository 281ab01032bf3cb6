"""The send ledger: one row per (action, destination) with its dispatch state, kept in the warehouse.

States: pending (intent recorded, outcome not known yet: in flight), sent (the destination acknowledged it),
failed (the destination refused it with a final error; the API's message is in `error`), dead (retriable errors
until the run's retry budget ran out; `error` holds the last one; the next run sends it again).

Order of work for every group of actions (see docs/decisions/0002-send-ledger.md, 0009-activation-core.md and
0014-ledger-groups.md):
1. record intent for the whole group (state 'pending', one more attempt) in one statement, committed before any
   of its actions is sent;
2. send, with the action_id as idempotency key where the API accepts one;
3. mark the results that came back acknowledged (or refused, or out of retries) in one statement per flush.
A row still 'pending' at the start of the next run had its intent recorded and no result when the run stopped
(in flight, acknowledged but not yet marked, or queued): the destination is asked whether it already holds it
where it can tell; otherwise it is sent again with the same idempotency key.
Every write is one set-based statement (or one transaction of two), from one thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import duckdb

LEDGER_TABLE = "activation.send_ledger"
RUNS_TABLE = "activation.runs"
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
    con.execute(
        f"""
        create table if not exists {RUNS_TABLE} (
            run_id varchar not null,
            destination varchar not null,
            started_at timestamp not null,
            finished_at timestamp not null,
            due integer not null,
            sent integer not null,
            failed integer not null,
            dead integer not null,
            retried integer not null,
            is_dry_run boolean not null,
            is_held boolean not null,
            primary key (run_id, destination, started_at)
        )
        """
    )


def record_intent(
    con: duckdb.DuckDBPyConnection, destination: str, action_ids: Sequence[str], run_id: str, at: datetime
) -> None:
    """Marks the actions 'pending' (one more attempt), set-based: one statement for the whole group. Most groups are
    actions the ledger has never seen: one plain insert. When some were attempted before, the primary key refuses it
    and the group is written as an update of the known rows plus an insert of the others, in one transaction (both
    much faster in DuckDB than insert .. on conflict do update). The ids travel as one list parameter (no Python
    object registered with DuckDB: registering one imports pandas, 0.7 s, the first time)."""
    if not action_ids:
        return
    ids = list(action_ids)
    intents = "(select unnest(?::varchar[]) as action_id)"
    try:
        con.execute(
            f"insert into {LEDGER_TABLE} select action_id, ?, 'pending', 1, ?, ?, null, null, ? from {intents}",
            [destination, at, at, run_id, ids],
        )
        return
    except duckdb.ConstraintException:
        pass
    con.execute("begin transaction")
    try:
        con.execute(
            f"""
            update {LEDGER_TABLE} as ledger
            set state = 'pending', attempts = ledger.attempts + 1, last_attempt_at = ?, run_id = ?
            from {intents} as intent
            where ledger.action_id = intent.action_id and ledger.destination = ?
            """,
            [at, run_id, ids, destination],
        )
        con.execute(
            f"""
            insert into {LEDGER_TABLE}
            select intent.action_id, ?, 'pending', 1, ?, ?, null, null, ? from {intents} as intent
            where not exists (
                select 1 from {LEDGER_TABLE} as ledger
                where ledger.action_id = intent.action_id and ledger.destination = ?
            )
            """,
            [destination, at, at, run_id, ids, destination],
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def mark_results(
    con: duckdb.DuckDBPyConnection,
    destination: str,
    results: Iterable[tuple],
    at: datetime,
) -> None:
    """results: (action_id, state, provider_message_id, error[, extra_attempts]); extra_attempts counts the
    retries made after the attempt record_intent counted (-1 takes back an attempt that was never made). One
    set-based statement for the whole group, its columns as list parameters."""
    rows = [tuple(r) if len(r) == 5 else (*r, 0) for r in results]
    if not rows:
        return
    bad = sorted({r[1] for r in rows} - set(STATES[1:]))
    if bad:
        raise ValueError(f"ledger results: state must be one of sent, failed, dead; got {bad}")
    action_ids, states, message_ids, errors, extra = (list(column) for column in zip(*rows, strict=True))
    con.execute(
        f"""
        update {LEDGER_TABLE} as ledger
        set state = outcome.state,
            provider_message_id = outcome.provider_message_id,
            error = outcome.error,
            attempts = ledger.attempts + outcome.extra_attempts,
            last_attempt_at = ?
        from (
            select
                unnest(?::varchar[]) as action_id,
                unnest(?::varchar[]) as state,
                unnest(?::varchar[]) as provider_message_id,
                unnest(?::varchar[]) as error,
                unnest(?::integer[]) as extra_attempts
        ) as outcome
        where ledger.action_id = outcome.action_id and ledger.destination = ?
        """,
        [at, action_ids, states, message_ids, errors, extra, destination],
    )


def in_flight(con: duckdb.DuckDBPyConnection, destination: str) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            f"select action_id from {LEDGER_TABLE} where destination = ? and state = 'pending' order by action_id",
            [destination],
        ).fetchall()
    ]


def record_run(
    con: duckdb.DuckDBPyConnection,
    *,
    run_id: str,
    destination: str,
    started_at: datetime,
    finished_at: datetime,
    due: int,
    sent: int,
    failed: int,
    dead: int,
    retried: int,
    is_dry_run: bool,
    is_held: bool,
) -> None:
    """One row per activation of a destination: the history the volume cap compares a new run with."""
    con.execute(
        f"insert or replace into {RUNS_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [run_id, destination, started_at, finished_at, due, sent, failed, dead, retried, is_dry_run, is_held],
    )

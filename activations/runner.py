"""The activation core: read what is due, send it through a destination, keep the ledger exact.

Every action is sent with its action_id as idempotency key, and the ledger (activations.ledger) is
written before and after each batch, so a run can be killed at any point and run again without losing
or repeating an action (where the destination can tell what it already holds).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import duckdb

from activations import ledger
from activations.types import ActivationReport, Destination

log = logging.getLogger(__name__)

PERSONAL_FIELDS = ("email", "phone", "push_token", "first_name")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def mask_personal_data(payload: dict) -> dict:
    """A preview copy with personal fields masked: 'jane@example.com' -> 'j***@example.com'."""
    masked = dict(payload)
    for key in PERSONAL_FIELDS:
        value = masked.get(key)
        if isinstance(value, str) and value:
            local, at, domain = value.partition("@")
            masked[key] = f"{local[:1]}***{at}{domain}" if at else f"{value[:1]}***"
    return masked


def _resolve_in_flight(con: duckdb.DuckDBPyConnection, destination: Destination) -> int:
    pending = ledger.in_flight(con, destination.name)
    if not pending:
        return 0
    delivered = destination.delivered_action_ids(pending)
    ledger.mark_results(
        con,
        destination.name,
        [(action_id, "sent", "resolved-after-restart", None) for action_id in sorted(delivered)],
        _now(),
    )
    log.warning(
        "%s: %d actions were in flight when the last run stopped; %d had arrived, %d will be sent again",
        destination.name,
        len(pending),
        len(delivered),
        len(pending) - len(delivered),
    )
    return len(delivered)


def activate(
    con: duckdb.DuckDBPyConnection,
    destination: Destination,
    actions_relation: str,
    run_id: str,
    dry_run: bool = False,
) -> ActivationReport:
    """Send every action of `actions_relation` that the ledger does not show as sent to `destination`."""
    ledger.ensure_ledger(con)
    report = ActivationReport(destination=destination.name, dry_run=dry_run)
    if not dry_run:
        report.resolved_in_flight = _resolve_in_flight(con, destination)

    report.already_sent = con.execute(
        f"""
        select count(*) from {actions_relation} as actions
        inner join {ledger.LEDGER_TABLE} as sent
            on actions.action_id = sent.action_id and sent.destination = ? and sent.state = 'sent'
        """,
        [destination.name],
    ).fetchone()[0]
    due = con.execute(
        f"""
        select actions.* from {actions_relation} as actions
        where not exists (
            select 1 from {ledger.LEDGER_TABLE} as sent
            where sent.action_id = actions.action_id and sent.destination = ? and sent.state = 'sent'
        )
        order by actions.action_id
        """,
        [destination.name],
    )
    columns = [d[0] for d in due.description]
    rows = [dict(zip(columns, values, strict=True)) for values in due.fetchall()]
    report.candidates = len(rows)
    payloads = [_payload(row) for row in rows]
    report.samples = [mask_personal_data(p) for p in payloads[:3]]
    if dry_run:
        log.info("%s: dry run, %d actions would be sent", destination.name, len(payloads))
        return report

    for start in range(0, len(payloads), destination.max_batch_size):
        batch = payloads[start : start + destination.max_batch_size]
        con.execute("begin transaction")
        ledger.record_intent(con, destination.name, [p["action_id"] for p in batch], run_id, _now())
        con.execute("commit")
        results = destination.send_batch(batch)
        con.execute("begin transaction")
        ledger.mark_results(
            con,
            destination.name,
            [(r.action_id, "sent" if r.ok else "failed", r.provider_message_id, r.error) for r in results],
            _now(),
        )
        con.execute("commit")
        report.sent += sum(r.ok for r in results)
        report.failed += sum(not r.ok for r in results)
        log.info("%s: batch of %d sent (%d/%d)", destination.name, len(batch), start + len(batch), len(payloads))
    return report


def _payload(row: dict) -> dict:
    """The wire payload for one action: JSON-safe values, the action_id doubling as idempotency key."""
    payload = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}
    payload["idempotency_key"] = row["action_id"]
    return payload

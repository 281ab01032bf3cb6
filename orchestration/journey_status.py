"""Pause and resume a journey without a code change: an append-only log of status changes in the warehouse.

`journey_config.journey_status_changes` holds who changed which journey's status, when, why, and from when it
applies. Delivery policy reads the latest change in effect at each run's as_of: a paused journey's sendable
actions are deferred with reason `journey_paused` (nothing sent, nothing lost) and released when it resumes,
unless stale by then. Journeys keep enrolling and stepping while paused (docs/operations.md). Set from the UI
(job set_journey_status) or the command line (`journeys pause|resume`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

STATUS_TABLE = "journey_config.journey_status_changes"
STATUSES = ("active", "paused")


class JourneyStatusError(ValueError):
    """A status change that cannot be recorded, with what was expected."""


@dataclass(frozen=True)
class StatusChange:
    journey_id: str
    status: str
    previous_status: str
    recorded: bool  # False when the journey already had this status (nothing written)
    effective_at: datetime


def ensure_status_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists journey_config")
    con.execute(
        f"""
        create table if not exists {STATUS_TABLE} (
            change_id varchar not null,
            journey_id varchar not null,
            status varchar not null,
            reason varchar not null,
            changed_by varchar not null,
            changed_at timestamp not null,
            effective_at timestamp not null,
            run_id varchar
        )
        """
    )


def current_statuses(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, str, str, datetime]]:
    """journey_id -> (status, reason, changed_by, effective_at) of its latest change; journeys never changed are
    absent (active)."""
    ensure_status_table(con)
    rows = con.execute(
        f"""
        select journey_id, status, reason, changed_by, effective_at from {STATUS_TABLE}
        qualify row_number() over (
            partition by journey_id order by effective_at desc, changed_at desc, change_id desc
        ) = 1
        """
    ).fetchall()
    return {journey_id: (status, reason, by, at) for journey_id, status, reason, by, at in rows}


def known_journeys(con: duckdb.DuckDBPyConnection) -> list[str] | None:
    """The journeys the last run loaded (journey_config.journeys); None before the first run."""
    exists = con.execute(
        """select count(*) from information_schema.tables
           where table_schema = 'journey_config' and table_name = 'journeys'"""
    ).fetchone()[0]
    if not exists:
        return None
    return [j for (j,) in con.execute("select journey_id from journey_config.journeys order by 1").fetchall()]


def set_journey_status(
    con: duckdb.DuckDBPyConnection,
    journey_id: str,
    status: str,
    reason: str,
    changed_by: str,
    effective_at: datetime | None = None,
    run_id: str | None = None,
) -> StatusChange:
    """Records a status change. effective_at (UTC, naive) defaults to now; a run whose as_of is earlier does not
    see it (replays stay deterministic)."""
    if status not in STATUSES:
        raise JourneyStatusError(f"status: expected one of {', '.join(STATUSES)}, got '{status}'")
    if not reason or not reason.strip():
        raise JourneyStatusError(f"reason: say why journey '{journey_id}' is set {status} (it is kept in the audit)")
    if not changed_by or not changed_by.strip():
        raise JourneyStatusError("changed_by: expected who makes the change (a name or an email)")
    journeys = known_journeys(con)
    if journeys is None:
        raise JourneyStatusError(
            "no journeys are loaded in this warehouse yet (journey_config.journeys): run a journey run first"
        )
    if journey_id not in journeys:
        raise JourneyStatusError(f"journey_id: '{journey_id}' is not a loaded journey; loaded: {', '.join(journeys)}")
    # microseconds kept: a pause and a resume in the same second must still order (latest wins)
    now = datetime.now(UTC).replace(tzinfo=None)
    effective_at = effective_at or now
    previous = current_statuses(con).get(journey_id, ("active",))[0]
    if previous == status:
        return StatusChange(journey_id, status, previous, recorded=False, effective_at=effective_at)
    con.execute(
        f"insert into {STATUS_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?)",
        [str(uuid.uuid4()), journey_id, status, reason.strip(), changed_by.strip(), now, effective_at, run_id],
    )
    return StatusChange(journey_id, status, previous, recorded=True, effective_at=effective_at)

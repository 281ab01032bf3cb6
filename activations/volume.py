"""The volume safety cap: a run whose volume is far above the recent normal is held until a person approves it.

Recent normal: the median number of due actions over the destination's last `history_runs` activations that were
neither dry runs nor held (activation.runs). Cap: max(min_volume, factor x normal). With fewer than
`min_history_runs` such runs there is no normal yet and nothing is capped.
A held run sends nothing and writes a row to activation.volume_holds. `approve(hold_id, by)` records the approval;
the next run of that destination whose volume is at most the approved one goes ahead and uses the approval up.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import duckdb

from activations.ledger import RUNS_TABLE

HOLDS_TABLE = "activation.volume_holds"


@dataclass(frozen=True)
class VolumeCap:
    factor: float = 5.0
    min_volume: int = 1000
    history_runs: int = 7
    min_history_runs: int = 3
    enabled: bool = True


@dataclass(frozen=True)
class VolumeDecision:
    allowed: bool
    normal: float | None
    cap: int | None
    hold_id: str | None = None
    used_approval: str | None = None


def ensure_holds(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists activation")
    con.execute(
        f"""
        create table if not exists {HOLDS_TABLE} (
            hold_id varchar primary key,
            destination varchar not null,
            run_id varchar not null,
            due integer not null,
            normal double,
            cap integer not null,
            held_at timestamp not null,
            approved_by varchar,
            approved_at timestamp,
            used_by_run varchar
        )
        """
    )


def recent_normal(con: duckdb.DuckDBPyConnection, destination: str, cap: VolumeCap) -> float | None:
    history = con.execute(
        f"""
        select due from {RUNS_TABLE}
        where destination = ? and not is_dry_run and not is_held
        order by started_at desc limit ?
        """,
        [destination, cap.history_runs],
    ).fetchall()
    if len(history) < cap.min_history_runs:
        return None
    values = sorted(v for (v,) in history)
    middle = len(values) // 2
    return float(values[middle]) if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def check_volume(
    con: duckdb.DuckDBPyConnection, destination: str, due: int, cap: VolumeCap, run_id: str, at: datetime
) -> VolumeDecision:
    """Whether `due` actions may go now; holds the run (and records why) when they may not."""
    ensure_holds(con)
    if not cap.enabled:
        return VolumeDecision(True, None, None)
    normal = recent_normal(con, destination, cap)
    if normal is None:
        return VolumeDecision(True, None, None)
    limit = max(cap.min_volume, int(cap.factor * normal))
    if due <= limit:
        return VolumeDecision(True, normal, limit)
    approval = con.execute(
        f"""
        select hold_id from {HOLDS_TABLE}
        where destination = ? and approved_at is not null and used_by_run is null and due >= ?
        order by approved_at limit 1
        """,
        [destination, due],
    ).fetchone()
    if approval:
        con.execute(f"update {HOLDS_TABLE} set used_by_run = ? where hold_id = ?", [run_id, approval[0]])
        return VolumeDecision(True, normal, limit, used_approval=approval[0])
    hold_id = hashlib.sha256(f"{destination}|{run_id}|{at.isoformat()}".encode()).hexdigest()[:16]
    con.execute(
        f"insert into {HOLDS_TABLE} values (?, ?, ?, ?, ?, ?, ?, null, null, null)",
        [hold_id, destination, run_id, due, normal, limit, at],
    )
    return VolumeDecision(False, normal, limit, hold_id=hold_id)


def approve(con: duckdb.DuckDBPyConnection, hold_id: str, approved_by: str, at: datetime) -> dict:
    """A person approves a held run: the next run of its destination with at most the held volume may send."""
    ensure_holds(con)
    if not approved_by.strip():
        raise ValueError("approve: 'approved_by' must name the person approving")
    row = con.execute(
        f"select destination, due, approved_by from {HOLDS_TABLE} where hold_id = ?", [hold_id]
    ).fetchone()
    if row is None:
        raise ValueError(f"approve: no volume hold with hold_id '{hold_id}' in {HOLDS_TABLE}")
    if row[2] is not None:
        raise ValueError(f"approve: hold '{hold_id}' was already approved by {row[2]}")
    con.execute(
        f"update {HOLDS_TABLE} set approved_by = ?, approved_at = ? where hold_id = ?", [approved_by, at, hold_id]
    )
    return {"hold_id": hold_id, "destination": row[0], "due": row[1], "approved_by": approved_by}


def open_holds(con: duckdb.DuckDBPyConnection) -> list[dict]:
    ensure_holds(con)
    cursor = con.execute(
        f"select hold_id, destination, run_id, due, normal, cap, held_at from {HOLDS_TABLE} "
        "where approved_at is null order by held_at"
    )
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]

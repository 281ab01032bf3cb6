"""Landing: append each new raw Parquet file, once, to its table in the warehouse schema `raw`.

Raw tables are append-only and never modified afterwards. Each row gets its lineage (_source_file,
_source_row, _loaded_at). Each file lands in its own transaction together with its entry in
raw._landed_files, so a crash mid-landing leaves no half-landed file, and a re-run lands only what is new.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from orchestration.erasure import ensure_erasure_tables

log = logging.getLogger(__name__)

RAW_TABLES = (
    "customers",
    "consent_events",
    "identifies",
    "sessions",
    "events",
    "orders",
    "order_items",
    "products",
    "subscriptions",
    "support_tickets",
    "message_engagement",
    "erasure_requests",
)

# Tables most exports do not have (no folder, no file): created empty with their documented columns
# (docs/raw_data.md) so staging reads an empty table instead of failing on a missing one.
OPTIONAL_TABLES = {
    "erasure_requests": """
        request_id varchar,
        customer_id varchar,
        email varchar,
        requested_by varchar,
        requested_at timestamp,
        received_at timestamp,
        _source_file varchar,
        _source_row bigint,
        _loaded_at timestamp
    """,
}


class LandingError(RuntimeError):
    """A raw file that cannot land as it is; names the file and what was expected."""


@dataclass
class LandingReport:
    files_landed: list[str] = field(default_factory=list)
    rows_landed: dict[str, int] = field(default_factory=dict)
    files_already_landed: int = 0
    unknown_folders: list[str] = field(default_factory=list)

    @property
    def total_rows(self) -> int:
        return sum(self.rows_landed.values())


def _ensure_landing_log(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists raw")
    con.execute(
        """
        create table if not exists raw._landed_files (
            source_file varchar primary key,
            table_name varchar not null,
            row_count bigint not null,
            landed_at timestamp not null
        )
        """
    )


def _table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    found = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'raw' and table_name = ?",
        [table],
    ).fetchone()
    return bool(found and found[0])


def _columns(con: duckdb.DuckDBPyConnection, relation_sql: str) -> list[str]:
    return [row[0] for row in con.execute(f"describe select * from {relation_sql}").fetchall()]


def _land_file(con: duckdb.DuckDBPyConnection, table: str, path: Path, relative: str, loaded_at: datetime) -> int:
    file_sql = f"read_parquet('{path.as_posix()}', file_row_number = true)"
    select_sql = f"""
        select
            * exclude (file_row_number),
            ?::varchar as _source_file,
            file_row_number as _source_row,
            ?::timestamp as _loaded_at
        from {file_sql}
    """
    con.execute("begin transaction")
    try:
        if not _table_exists(con, table):
            con.execute(f"create table raw.{table} as {select_sql}", [relative, loaded_at])
        else:
            expected = [c for c in _columns(con, f"raw.{table}") if not c.startswith("_")]
            found = [c for c in _columns(con, file_sql) if c != "file_row_number"]
            unexpected = sorted(set(found) - set(expected))
            if unexpected:
                raise LandingError(
                    f"{relative}: columns {unexpected} are not in raw.{table}; expected only {expected} "
                    "(see docs/raw_data.md). The file was not landed."
                )
            con.execute(f"insert into raw.{table} by name {select_sql}", [relative, loaded_at])
        rows = con.execute(f"select count(*) from {file_sql}").fetchone()[0]
        con.execute("insert into raw._landed_files values (?, ?, ?, ?)", [relative, table, rows, loaded_at])
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return rows


def land_files_in_order(
    report: LandingReport,
    data_dir: Path,
    landed: set[str],
    land_file: Callable[[str, Path, str, datetime], int],
) -> None:
    """The landing order, for every engine: each file under <data_dir>/raw/<table>/ not in `landed`, table by
    table and in name order, handed to land_file(table, path, relative path, loaded_at) -> rows; unknown folders
    are reported, not landed. Fills `report`."""
    raw_dir = data_dir / "raw"
    if raw_dir.exists():
        report.unknown_folders = sorted(p.name for p in raw_dir.iterdir() if p.is_dir() and p.name not in RAW_TABLES)
    for name in report.unknown_folders:
        log.warning("raw/%s is not a known raw table (%s); its files are not landed", name, ", ".join(RAW_TABLES))
    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    for table in RAW_TABLES:
        report.rows_landed.setdefault(table, 0)
        for path in sorted((raw_dir / table).glob("*.parquet")):
            relative = path.relative_to(data_dir).as_posix()
            if relative in landed:
                report.files_already_landed += 1
                continue
            rows = land_file(table, path, relative, loaded_at)
            report.files_landed.append(relative)
            report.rows_landed[table] += rows
            log.info("landed %s: %d rows into raw.%s", relative, rows, table)


def land_new_files(con: duckdb.DuckDBPyConnection, data_dir: Path) -> LandingReport:
    """Land every raw file under <data_dir>/raw/<table>/ that has not landed yet, in name order."""
    _ensure_landing_log(con)
    landed = {row[0] for row in con.execute("select source_file from raw._landed_files").fetchall()}
    report = LandingReport()
    land_files_in_order(report, data_dir, landed, lambda *file: _land_file(con, *file))
    for table, columns in OPTIONAL_TABLES.items():
        if not _table_exists(con, table):
            con.execute(f"create table raw.{table} ({columns})")
            log.info("raw/%s has no files yet: created raw.%s empty", table, table)
    # policy.erased_customers reads the erasure tombstones (audit.erasures): they exist before dbt first runs.
    ensure_erasure_tables(con)
    return report

"""A read-only copy of the warehouse's BI schemas, published after each successful journey run.

DuckDB allows one writing process per database file, and a writer excludes readers in other processes. BI tools
therefore never open the warehouse that runs write to: they open the published copy, which a run never writes.
Publishing copies the BI schemas (marts and journey configuration; not raw, staging or intermediate) into a new
file beside the published one, closes it (DuckDB checkpoints, no WAL is left) and renames it over the published
file. The rename is atomic: a reader that opens the path gets either the previous copy or the new one, whole;
a reader that already has the previous copy open keeps reading it (the file stays alive until it closes).
See docs/bi.md.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from orchestration.settings import paths_from_env

# Schemas BI tools query: every mart schema and the journey definitions (node names, versions).
PUBLISHED_SCHEMAS = ("identity", "segments", "journeys", "journey_config", "policy", "quality", "measurement")
# Where the copy records when and from which run it was published.
PUBLICATION_TABLE = "bi_meta.publication"


def published_warehouse_path() -> Path:
    """JOURNEYS_PUBLISHED_WAREHOUSE_PATH, default <JOURNEYS_DATA_DIR>/published/warehouse.duckdb."""
    override = os.environ.get("JOURNEYS_PUBLISHED_WAREHOUSE_PATH")
    if override:
        return Path(override).resolve()
    return paths_from_env().data_dir / "published" / "warehouse.duckdb"


@dataclass(frozen=True)
class PublishReport:
    target: Path
    tables: dict[str, int]  # "schema.table" -> rows copied
    seconds: float
    bytes: int


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish_warehouse(
    source: Path,
    target: Path,
    run_id: str = "manual",
    schemas: tuple[str, ...] = PUBLISHED_SCHEMAS,
) -> PublishReport:
    """Copy `schemas` of `source` (tables and views, views materialised as tables, column comments kept) into
    a new DuckDB file and atomically replace `target` with it. Opens `source` read-only: it fails with DuckDB's
    lock error while another process writes it (a journey run publishes after its last write)."""
    started = time.monotonic()
    source, target = Path(source).resolve(), Path(target).resolve()
    if not source.exists():
        raise FileNotFoundError(f"publish: no warehouse at {source} (run the journey_run job first)")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{os.getpid()}.publishing")
    for leftover in (staging, staging.with_name(staging.name + ".wal")):
        leftover.unlink(missing_ok=True)

    copied: dict[str, int] = {}
    try:
        con = duckdb.connect(str(staging))
        try:
            con.execute("set TimeZone = 'UTC'")
            con.execute("set enable_progress_bar = false")  # a step's log is no terminal
            # Objects are created with the copy's catalog named: a schema could share the file's name.
            here = _quote(con.execute("select current_database()").fetchone()[0])
            con.execute(f"attach {_literal(str(source))} as src (read_only)")
            # One transaction: every table is read from the same snapshot of the source.
            con.execute("begin transaction")
            relations = con.execute(
                """
                select schema_name, table_name, comment from duckdb_tables()
                where database_name = 'src' and schema_name in (select unnest($schemas))
                union all
                select schema_name, view_name, comment from duckdb_views()
                where database_name = 'src' and schema_name in (select unnest($schemas)) and not internal
                order by 1, 2
                """,
                {"schemas": list(schemas)},
            ).fetchall()
            comments = con.execute(
                """
                select schema_name, table_name, column_name, comment from duckdb_columns()
                where database_name = 'src' and schema_name in (select unnest($schemas)) and comment is not null
                """,
                {"schemas": list(schemas)},
            ).fetchall()
            for schema in sorted({schema for schema, _, _ in relations}):
                con.execute(f"create schema {here}.{_quote(schema)}")
            for schema, name, comment in relations:
                relation = f"{_quote(schema)}.{_quote(name)}"
                con.execute(f"create table {here}.{relation} as select * from src.{relation}")
                copied[f"{schema}.{name}"] = con.execute(f"select count(*) from {here}.{relation}").fetchone()[0]
                if comment:
                    con.execute(f"comment on table {here}.{relation} is {_literal(comment)}")
            for schema, name, column, comment in comments:
                con.execute(
                    f"comment on column {_quote(schema)}.{_quote(name)}.{_quote(column)} is {_literal(comment)}"
                )
            con.execute(f"create schema {here}.bi_meta")
            con.execute(
                f"""create table {here}.{PUBLICATION_TABLE} as select
                        $run_id as run_id, $published_at::timestamp as published_at,
                        $source as source_warehouse, $tables::integer as tables_published""",
                {
                    "run_id": run_id,
                    "published_at": datetime.now(UTC).replace(tzinfo=None).isoformat(),
                    "source": str(source),
                    "tables": len(copied),
                },
            )
            con.execute("commit")
            con.execute("detach src")
            con.execute("checkpoint")
        finally:
            con.close()
        _fsync(staging)
        os.replace(staging, target)  # atomic on one file system: readers see the old copy or the new one
        _fsync(target.parent)
    finally:
        staging.unlink(missing_ok=True)
    return PublishReport(target=target, tables=copied, seconds=time.monotonic() - started, bytes=target.stat().st_size)

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
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
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


# Per published table: its columns, row count and content fingerprint, to refresh the next copy incrementally.
PUBLISHED_TABLES = "bi_meta.published_tables"
# Audit tables of erasure and retention (orchestration/erasure.py). A publish after any of them grew is a full
# one: an incremental publish starts from the previous copy's file, whose free blocks may still hold the bytes of
# rows it deleted, and an erased person's rows must leave the BI copy's file too.
ERASURE_AUDITS = ("audit.erasures", "audit.erasure_sweeps", "audit.purges")
# An incremental copy whose file grew past this many times the size of the last full copy (and by more than
# GROWTH_SLACK_BYTES) is rebuilt whole: deleted and replaced rows leave free blocks behind.
MAX_GROWTH = 1.5
GROWTH_SLACK_BYTES = 64 * 2**20
# A changed table whose changed rows exceed this share of its rows is replaced instead of synced row by row.
MAX_SYNC_SHARE = 0.25


@dataclass(frozen=True)
class PublishReport:
    target: Path
    tables: dict[str, int]  # "schema.table" -> rows in the copy
    seconds: float
    bytes: int
    mode: str = "full"  # "full" or "incremental"
    reason: str = ""  # why a publish was full
    # "schema.table" -> "unchanged", "replaced", "created" or "synced +<inserted> -<deleted>" (incremental only)
    actions: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        if self.mode == "full":
            return f"full copy ({self.reason})"
        counts = Counter(action.split(" ")[0] for action in self.actions.values())
        inserted = sum(int(a.split(" ")[1]) for a in self.actions.values() if a.startswith("synced"))
        deleted = sum(-int(a.split(" ")[2]) for a in self.actions.values() if a.startswith("synced"))
        parts = [f"{counts[kind]} {kind}" for kind in ("unchanged", "synced", "replaced", "created") if counts[kind]]
        return f"incremental: {', '.join(parts)} ({inserted:,} rows inserted, {deleted:,} deleted)"


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
    incremental: bool = True,
) -> PublishReport:
    """Copy `schemas` of `source` (tables and views, views materialised as tables, column comments kept) into
    a new DuckDB file and atomically replace `target` with it. Opens `source` read-only: it fails with DuckDB's
    lock error while another process writes it (a journey run publishes after its last write).

    incremental: start the new file from a copy of the previous one and rewrite only what changed: a table whose
    columns, row count and content fingerprint are those recorded at the last publish is kept; a changed one is
    synced row by row (rows no longer in the source deleted, new ones inserted) or, when much of it changed,
    replaced. The publish is full instead when there is no usable previous copy, it is of another warehouse, an
    erasure or retention purge ran since (ERASURE_AUDITS), or the file grew past MAX_GROWTH times its last
    full size. Either way the result holds exactly the source's rows (docs/bi.md)."""
    started = time.monotonic()
    source, target = Path(source).resolve(), Path(target).resolve()
    if not source.exists():
        raise FileNotFoundError(f"publish: no warehouse at {source} (run the journey_run job first)")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{os.getpid()}.publishing")
    for leftover in (staging, staging.with_name(staging.name + ".wal")):
        leftover.unlink(missing_ok=True)

    copied: dict[str, int] = {}
    actions: dict[str, str] = {}
    try:
        with duckdb.connect(str(source), read_only=True) as src:
            audits = _erasure_audit_rows(src)
        previous = _previous_publication(target, source, audits) if incremental else "asked for a full copy"
        if isinstance(previous, dict):
            shutil.copyfile(target, staging)
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
            column_rows = con.execute(
                """
                select schema_name, table_name, column_name, data_type, comment from duckdb_columns()
                where database_name = 'src' and schema_name in (select unnest($schemas))
                order by schema_name, table_name, column_index
                """,
                {"schemas": list(schemas)},
            ).fetchall()
            signatures: dict[tuple[str, str], str] = {}
            for schema, name, column, data_type, _ in column_rows:
                signatures[(schema, name)] = signatures.get((schema, name), "") + f"{column} {data_type}, "
            fingerprints: dict[str, tuple[str, int, int, str]] = {}
            if isinstance(previous, dict):
                wanted = {f"{schema}.{name}" for schema, name, _ in relations}
                for key in sorted(set(previous) - wanted - {""}):  # gone from the source
                    schema, name = key.split(".", 1)
                    con.execute(f"drop table if exists {here}.{_quote(schema)}.{_quote(name)}")
            else:
                for schema in sorted({schema for schema, _, _ in relations}):
                    con.execute(f"create schema {here}.{_quote(schema)}")
            views = {
                (schema, name)
                for schema, name in con.execute(
                    "select schema_name, view_name from duckdb_views() where database_name = 'src' and not internal"
                ).fetchall()
            }
            for schema, name, comment in relations:
                key = f"{schema}.{name}"
                mine, theirs = f"{here}.{_quote(schema)}.{_quote(name)}", f"src.{_quote(schema)}.{_quote(name)}"
                if (schema, name) in views:  # computed once, read several times below
                    con.execute(f"create or replace temp table publish_view_rows as select * from {theirs}")
                    theirs = "publish_view_rows"
                signature = signatures.get((schema, name), "")
                # one read of the source: every row's hash, for the fingerprint and to find the changed rows
                con.execute(
                    f"create or replace temp table publish_source_hashes as "
                    f"select {_ROW_HASH} as row_hash from {theirs} {_ROW}"
                )
                rows, fingerprint = con.execute(
                    "select count(*), coalesce(sum(row_hash::hugeint), 0) from publish_source_hashes"
                ).fetchone()
                before = previous.get(key) if isinstance(previous, dict) else None
                if before is None:
                    if isinstance(previous, dict):
                        con.execute(f"create schema if not exists {here}.{_quote(schema)}")
                        actions[key] = "created"
                    con.execute(f"create table {mine} as select * from {theirs}")
                elif before[:3] == (signature, rows, fingerprint):
                    actions[key] = "unchanged"
                elif before[3] == "replaced":
                    # Changed wholesale last time too (a column that moves with as_of, say): hashing its rows to
                    # find the changed ones would be wasted; it is synced again once it was unchanged or copied.
                    con.execute(f"create or replace table {mine} as select * from {theirs}")
                    actions[key] = "replaced"
                else:
                    actions[key] = _sync_or_replace(con, mine, theirs, before, signature, rows)
                copied[key] = rows
                fingerprints[key] = (signature, rows, fingerprint, actions.get(key, "copied").split(" ")[0])
                con.execute(f"comment on table {mine} is {_literal(comment) if comment else 'null'}")
            for schema, name, column, _, comment in column_rows:
                con.execute(
                    f"comment on column {_quote(schema)}.{_quote(name)}.{_quote(column)} is "
                    f"{_literal(comment) if comment else 'null'}"
                )
            full_bytes = previous.get("", (None, 0, 0, ""))[1] if isinstance(previous, dict) else 0
            _record_publication(con, here, run_id, source, fingerprints, audits, full_bytes)
            con.execute("commit")
            con.execute("detach src")
            con.execute("checkpoint")
        finally:
            con.close()
        if not isinstance(previous, dict):
            # the size of a fresh copy, against which later incremental copies' growth is measured
            with duckdb.connect(str(staging)) as con:
                con.execute(
                    f"update {PUBLICATION_TABLE} set full_copy_bytes = $bytes", {"bytes": staging.stat().st_size}
                )
        _fsync(staging)
        os.replace(staging, target)  # atomic on one file system: readers see the old copy or the new one
        _fsync(target.parent)
    finally:
        staging.unlink(missing_ok=True)
    return PublishReport(
        target=target,
        tables=copied,
        seconds=time.monotonic() - started,
        bytes=target.stat().st_size,
        mode="incremental" if isinstance(previous, dict) else "full",
        reason="" if isinstance(previous, dict) else previous,
        actions=actions,
    )


# A row's hash: the table's alias is the row as a struct. A table's fingerprint is its row count and the sum of its
# row hashes (order-independent, counts duplicates).
_ROW = "as publish_row"
_ROW_HASH = "hash(publish_row)"


def _erasure_audit_rows(src: duckdb.DuckDBPyConnection) -> int:
    """Rows in the erasure and retention audit tables (those that exist): grows whenever either deleted rows."""
    existing = {
        f"{schema}.{name}"
        for schema, name in src.execute("select schema_name, table_name from duckdb_tables()").fetchall()
    }
    return sum(
        src.execute(f"select count(*) from {table}").fetchone()[0] for table in ERASURE_AUDITS if table in existing
    )


def _previous_publication(target: Path, source: Path, audits: int) -> dict[str, tuple] | str:
    """The previous copy's fingerprints ("schema.table" -> (signature, rows, fingerprint); "" -> (None, full copy
    size, 0)) when an incremental publish may start from it, else why not."""
    if not target.exists():
        return "no previous copy"
    try:
        with duckdb.connect(str(target), read_only=True) as con:
            (previous_source, previous_audits, full_bytes) = con.execute(
                f"select source_warehouse, erasure_audit_rows, full_copy_bytes from {PUBLICATION_TABLE}"
            ).fetchone()
            tables = con.execute(
                f"select relation, signature, row_count, fingerprint, last_action from {PUBLISHED_TABLES}"
            ).fetchall()
    except duckdb.Error as error:
        return f"the previous copy records no fingerprints ({type(error).__name__})"
    if previous_source != str(source):
        return f"the previous copy is of another warehouse ({previous_source})"
    if previous_audits != audits:
        return "an erasure or retention purge ran since the previous copy"
    size = target.stat().st_size
    if full_bytes and size > MAX_GROWTH * full_bytes and size > full_bytes + GROWTH_SLACK_BYTES:
        return f"the copy grew past {MAX_GROWTH:g} times its last full size"
    return {"": (None, full_bytes, 0, "")} | {relation: tuple(values) for relation, *values in tables}


def _sync_or_replace(
    con: duckdb.DuckDBPyConnection,
    mine: str,
    theirs: str,
    before: tuple,
    signature: str,
    rows: int,
) -> str:
    """Bring the copy's table `mine` to the source's `theirs` (whose row hashes are in publish_source_hashes): row
    by row when its columns are the same, its rows are distinct and few changed; else replace it. Rows are matched
    by their hash. A new row whose hash equals that of another row of the table (a collision) would be taken for
    it and not inserted: the row count after syncing shows it, and the table is then replaced whole."""
    if before[0] == signature:
        con.execute(
            f"create temp table publish_copy_hashes as "
            f"select {_ROW_HASH} as row_hash, rowid as row_id from {mine} {_ROW}"
        )
        (distinct,) = con.execute("select count(distinct row_hash) from publish_source_hashes").fetchone()
        gone = con.execute(
            "select count(*) from publish_copy_hashes anti join publish_source_hashes using (row_hash)"
        ).fetchone()[0]
        new = con.execute(
            "select count(*) from publish_source_hashes anti join publish_copy_hashes using (row_hash)"
        ).fetchone()[0]
        syncable = distinct == rows and gone + new <= MAX_SYNC_SHARE * max(rows, 1)
        if syncable:
            con.execute(
                f"""delete from {mine} where rowid in (
                        select row_id from publish_copy_hashes anti join publish_source_hashes using (row_hash))"""
            )
            con.execute(
                f"""insert into {mine} select * from {theirs} {_ROW}
                    where {_ROW_HASH} in (select row_hash from publish_source_hashes
                                      anti join publish_copy_hashes using (row_hash))"""
            )
        con.execute("drop table publish_copy_hashes")
        if syncable and con.execute(f"select count(*) from {mine}").fetchone()[0] == rows:
            return f"synced +{new} -{gone}"
    con.execute(f"create or replace table {mine} as select * from {theirs}")
    return "replaced"


def _record_publication(
    con: duckdb.DuckDBPyConnection,
    here: str,
    run_id: str,
    source: Path,
    fingerprints: dict[str, tuple[str, int, int, str]],
    audits: int,
    full_bytes: int,
) -> None:
    con.execute(f"create schema if not exists {here}.bi_meta")
    con.execute(
        f"""create or replace table {here}.{PUBLICATION_TABLE} as select
                $run_id as run_id, $published_at::timestamp as published_at,
                $source as source_warehouse, $tables::integer as tables_published,
                $audits::bigint as erasure_audit_rows, $full_bytes::bigint as full_copy_bytes""",
        {
            "run_id": run_id,
            "published_at": datetime.now(UTC).replace(tzinfo=None).isoformat(),
            "source": str(source),
            "tables": len(fingerprints),
            "audits": audits,
            "full_bytes": full_bytes,
        },
    )
    con.execute(
        f"""create or replace table {here}.{PUBLISHED_TABLES} (
                relation varchar, signature varchar, row_count bigint, fingerprint hugeint, last_action varchar)"""
    )
    con.executemany(
        f"insert into {here}.{PUBLISHED_TABLES} values (?, ?, ?, ?, ?)",
        [[relation, *values] for relation, values in fingerprints.items()],
    )

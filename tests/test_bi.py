"""BI reads the published copy while a run writes the warehouse, and a publish never breaks a reader.

Real DuckDB files and real processes: a writer process holds the warehouse's write lock (as a journey run
does), readers in other processes query the published copy, and publishes swap it while they read.
"""

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from orchestration.publish import PUBLISHED_SCHEMAS, publish_warehouse
from tests.measurement_warehouse import small_warehouse

pytestmark = pytest.mark.integration

# Holds the warehouse's write lock inside an open transaction until told to go on.
WRITER = textwrap.dedent(
    """
    import sys, duckdb
    con = duckdb.connect(sys.argv[1])
    con.execute("begin transaction")
    con.execute("insert into journeys.journey_enrollments values ('enr-late', 'cart', 'treatment')")
    print("locked", flush=True)
    sys.stdin.readline()
    con.execute("commit")
    con.close()
    """
)

# Opens the published copy afresh, again and again, until the stop file appears; reports what it saw.
READER = textwrap.dedent(
    """
    import json, sys, pathlib, duckdb
    path, stop = sys.argv[1], pathlib.Path(sys.argv[2])
    seen, errors, reads = set(), [], 0
    print("reading", flush=True)
    while not stop.exists():
        try:
            with duckdb.connect(path, read_only=True) as con:
                row = con.execute(
                    "select (select run_id from bi_meta.publication),"
                    " (select count(*) from journeys.journey_enrollments),"
                    " (select sum(attributed_conversions) from measurement.channel_attribution)"
                ).fetchone()
            seen.add((row[0], int(row[1]), float(row[2])))
            reads += 1
        except Exception as error:
            errors.append(repr(error))
    print(json.dumps({"seen": sorted(seen), "errors": errors[:5], "reads": reads}))
    """
)


def _main_warehouse(path: Path) -> None:
    """A warehouse with a journey table, a measurement table, and raw and staging schemas BI must not see."""
    with duckdb.connect(str(path)) as con:
        for schema in ("raw", "staging", "journeys", "measurement"):
            con.execute(f"create schema {schema}")
        con.execute("create table raw.events as select 'evt_1' as event_id")
        con.execute("create view staging.stg_events as select * from raw.events")
        con.execute(
            "create table journeys.journey_enrollments (enrollment_id varchar, journey_id varchar, variant varchar)"
        )
        con.execute("comment on column journeys.journey_enrollments.variant is 'treatment or holdout'")
        con.execute("insert into journeys.journey_enrollments values ('enr-1', 'cart', 'treatment')")
        con.execute("insert into journeys.journey_enrollments values ('enr-2', 'cart', 'holdout')")
        con.execute(
            "create table measurement.channel_attribution as select * from (values"
            " ('last_touch', 'email', 2.0, 80.0), ('last_touch', 'paid_search', 1.0, 20.0))"
            " as t(attribution_model, channel, attributed_conversions, attributed_revenue)"
        )


def _add_run(path: Path, n: int) -> None:
    """What a later run changes: one more enrollment and one more attributed conversion."""
    with duckdb.connect(str(path)) as con:
        con.execute("insert into journeys.journey_enrollments values ($1, 'cart', 'treatment')", [f"enr-run-{n}"])
        con.execute("update measurement.channel_attribution set attributed_conversions = attributed_conversions + 1")


def _state(path: Path) -> tuple[str, int, float]:
    with duckdb.connect(str(path), read_only=True) as con:
        run_id, n, conversions = con.execute(
            "select (select run_id from bi_meta.publication), (select count(*) from journeys.journey_enrollments),"
            " (select sum(attributed_conversions) from measurement.channel_attribution)"
        ).fetchone()
    return run_id, int(n), float(conversions)


@pytest.fixture
def warehouses(tmp_path):
    main, published = tmp_path / "warehouse.duckdb", tmp_path / "published" / "warehouse.duckdb"
    _main_warehouse(main)
    publish_warehouse(main, published, run_id="run-1")
    return main, published


def test_publish_copies_the_bi_schemas_only_with_their_column_comments(warehouses):
    _, published = warehouses
    with duckdb.connect(str(published), read_only=True) as con:
        schemas = {s for (s,) in con.execute("select distinct table_schema from information_schema.tables").fetchall()}
        comment = con.execute(
            "select comment from duckdb_columns() where table_name = 'journey_enrollments' and column_name = 'variant'"
        ).fetchone()[0]
    assert schemas == {"journeys", "measurement", "bi_meta"}
    assert comment == "treatment or holdout"
    assert _state(published) == ("run-1", 2, 3.0)


def test_bi_reads_the_published_copy_while_another_process_holds_the_write_lock(warehouses):
    main, published = warehouses
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(main)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout.readline().strip() == "locked"
        # The warehouse itself cannot be opened, not even read-only, while the run writes ...
        with pytest.raises(duckdb.IOException, match="lock"):
            duckdb.connect(str(main), read_only=True)
        # ... and a publish attempted now fails without touching the published copy.
        with pytest.raises(duckdb.IOException, match="lock"):
            publish_warehouse(main, published, run_id="run-during-write")
        # The published copy answers journey and measurement queries meanwhile.
        with duckdb.connect(str(published), read_only=True) as con:
            by_variant = con.execute(
                "select variant, count(*) from journeys.journey_enrollments group by 1 order by 1"
            ).fetchall()
            attribution = con.execute(
                "select channel, attributed_revenue from measurement.channel_attribution order by 1"
            ).fetchall()
        assert by_variant == [("holdout", 1), ("treatment", 1)]
        assert attribution == [("email", 80.0), ("paid_search", 20.0)]
        assert _state(published) == ("run-1", 2, 3.0)
    finally:
        writer.communicate("go\n", timeout=30)
    assert writer.returncode == 0
    publish_warehouse(main, published, run_id="run-2")
    assert _state(published) == ("run-2", 3, 3.0)  # the writer's committed enrollment, published afterwards


def test_publishing_while_readers_read_never_breaks_them(warehouses, tmp_path):
    main, published = warehouses
    # A reader that keeps its connection open across a publish keeps its (old) copy, without error.
    held = duckdb.connect(str(published), read_only=True)
    _add_run(main, 2)
    publish_warehouse(main, published, run_id="run-2")
    assert held.execute("select count(*) from journeys.journey_enrollments").fetchone()[0] == 2
    held.close()
    assert _state(published) == ("run-2", 3, 5.0)

    # Readers opening the copy again and again while it is replaced see one whole copy each time.
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(published), str(stop)], stdout=subprocess.PIPE, text=True
    )
    expected = {("run-2", 3, 5.0)}
    try:
        assert reader.stdout.readline().strip() == "reading"
        for n in range(3, 7):
            _add_run(main, n)
            publish_warehouse(main, published, run_id=f"run-{n}")
            expected.add(_state(published))
            time.sleep(0.3)
    finally:
        stop.touch()
        output, _ = reader.communicate(timeout=60)
    report = json.loads(output)
    seen = {tuple(row) for row in report["seen"]}
    assert report["errors"] == []
    assert seen <= expected, seen - expected
    assert len(seen) >= 3, report  # it read across several swaps
    assert expected == {(f"run-{n}", n + 1, 2 * n + 1.0) for n in range(2, 7)}


def test_the_real_marts_are_published_whole(tmp_path_factory, tmp_path):
    """On a warehouse built by dbt: every table and view of the BI schemas, with its rows; nothing else."""
    warehouse = small_warehouse(tmp_path_factory.getbasetemp() / "measurement_warehouse")
    report = publish_warehouse(warehouse, tmp_path / "published.duckdb", run_id="real")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        expected = {
            f"{schema}.{name}": con.execute(f'select count(*) from "{schema}"."{name}"').fetchone()[0]
            for schema, name in con.execute(
                "select table_schema, table_name from information_schema.tables"
                " where table_schema in (select unnest($1))",
                [list(PUBLISHED_SCHEMAS)],
            ).fetchall()
        }
    assert report.tables == expected
    assert {"journeys.journey_transitions", "journeys.journey_enrollments", "policy.action_states"} <= set(expected)
    assert expected["journeys.journey_transitions"] > 0
    with duckdb.connect(str(report.target), read_only=True) as con:
        schemas = {s for (s,) in con.execute("select distinct table_schema from information_schema.tables").fetchall()}
        described = con.execute(
            "select count(*) from duckdb_columns() where schema_name = 'journeys' and comment is not null"
        ).fetchone()[0]
    assert schemas <= {*PUBLISHED_SCHEMAS, "bi_meta"}
    assert not schemas & {"raw", "staging", "intermediate"}
    assert described > 20  # dbt's persist_docs comments travel with the copy


def _contents(path: Path) -> dict[str, object]:
    """Every published table's rows (sorted), columns and comments: what a BI reader can see."""
    with duckdb.connect(str(path), read_only=True) as con:
        relations = con.execute(
            "select schema_name, table_name from duckdb_tables() where schema_name <> 'bi_meta' order by 1, 2"
        ).fetchall()
        return {
            f"{schema}.{name}": (
                sorted(con.execute(f'select * from "{schema}"."{name}"').fetchall(), key=repr),
                con.execute(
                    "select column_name, data_type, comment from duckdb_columns()"
                    " where schema_name = $1 and table_name = $2 order by column_index",
                    [schema, name],
                ).fetchall(),
            )
            for schema, name in relations
        }


def test_an_incremental_publish_rewrites_only_what_changed_and_equals_a_full_copy(warehouses, tmp_path):
    main, published = warehouses
    fresh = tmp_path / "fresh.duckdb"

    unchanged = publish_warehouse(main, published, run_id="run-2")
    assert (unchanged.mode, set(unchanged.actions.values())) == ("incremental", {"unchanged"})
    with duckdb.connect(str(main)) as con:
        con.execute(
            "insert into journeys.journey_enrollments select 'enr-x' || i, 'cart', 'treatment' from range(200) t(i)"
        )
    grown = publish_warehouse(main, published, run_id="run-2b")
    assert grown.actions["journeys.journey_enrollments"] == "replaced"  # most of its rows are new
    # replaced last time: a change is copied whole again, without hashing its rows, until it was unchanged once
    with duckdb.connect(str(main)) as con:
        con.execute("insert into journeys.journey_enrollments values ('enr-y', 'cart', 'treatment')")
    assert publish_warehouse(main, published, run_id="run-2c").actions["journeys.journey_enrollments"] == "replaced"
    assert publish_warehouse(main, published, run_id="run-2d").actions["journeys.journey_enrollments"] == "unchanged"

    with duckdb.connect(str(main)) as con:
        con.execute("insert into journeys.journey_enrollments values ('enr-3', 'win_back', 'treatment')")
        con.execute("update journeys.journey_enrollments set variant = 'holdout' where enrollment_id = 'enr-1'")
        con.execute("comment on column journeys.journey_enrollments.journey_id is 'the journey file id'")
        con.execute("alter table measurement.channel_attribution add column note varchar")  # new columns
        con.execute("create table journeys.journey_positions as select 'enr-3' as enrollment_id, 'wait' as node_id")
        con.execute("create table measurement.dupes as select * from (values (1), (1), (2)) as t(n)")
    changed = publish_warehouse(main, published, run_id="run-3")
    assert changed.mode == "incremental"
    assert changed.actions == {
        "journeys.journey_enrollments": "synced +2 -1",
        "journeys.journey_positions": "created",
        "measurement.channel_attribution": "replaced",
        "measurement.dupes": "created",
    }
    publish_warehouse(main, fresh, run_id="run-3", incremental=False)
    assert _contents(published) == _contents(fresh)

    # Duplicate rows cannot be matched by hash: the table is replaced, and still equal. A dropped table goes.
    with duckdb.connect(str(main)) as con:
        con.execute("insert into measurement.dupes values (2)")
        con.execute("drop table journeys.journey_positions")
    again = publish_warehouse(main, published, run_id="run-4")
    assert again.actions["measurement.dupes"] == "replaced"
    assert "journeys.journey_positions" not in again.actions
    publish_warehouse(main, fresh, run_id="run-4", incremental=False)
    assert _contents(published) == _contents(fresh)
    assert "journeys.journey_positions" not in _contents(published)


def test_a_publish_after_an_erasure_is_a_full_copy(warehouses):
    """An incremental copy starts from the previous file, whose free blocks may keep deleted rows' bytes: after
    an erasure (or retention purge) the copy is written afresh, so the person's rows leave its file too."""
    main, published = warehouses
    with duckdb.connect(str(main)) as con:
        con.execute("create schema audit")
        con.execute("create table audit.erasures as select 'era-1' as request_id")
        con.execute("delete from journeys.journey_enrollments where enrollment_id = 'enr-1'")
    report = publish_warehouse(main, published, run_id="run-2")
    assert (report.mode, report.reason) == ("full", "an erasure or retention purge ran since the previous copy")
    assert publish_warehouse(main, published, run_id="run-3").mode == "incremental"
    with duckdb.connect(str(main)) as con:
        con.execute("create table audit.purges as select 'raw.events' as table_name")
    assert publish_warehouse(main, published, run_id="run-4").mode == "full"
    with open(published, "rb") as copy:
        assert b"enr-1" not in copy.read()

"""The whole journey_run job, for real: generator -> landing -> dbt build in DuckDB -> checks -> outbox.

Results are compared with the generator's ground truth, never with the pipeline's own output.
"""

import json
import os
import re
import shutil
from collections import Counter
from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from sample_business import generate
from tests.dbt_cli import run_dbt

pytestmark = pytest.mark.integration

AS_OF = "2026-11-01T00:00:00"
CUSTOMERS = 2_000


def _point_project_at(data_dir: Path) -> None:
    os.environ["JOURNEYS_DATA_DIR"] = str(data_dir)
    os.environ["JOURNEYS_WAREHOUSE_PATH"] = str(data_dir / "warehouse.duckdb")


LANDING_TO_STAGING = dg.AssetSelection.groups("raw", "staging", "quality")


def _run(**selection) -> dg.ExecuteInProcessResult:
    from orchestration.definitions import defs

    job = defs.resolve_job_def("journey_run")
    if "asset_selection" in selection and isinstance(selection["asset_selection"], dg.AssetSelection):
        selection["asset_selection"] = selection["asset_selection"].resolve(defs.resolve_asset_graph())
    if selection:
        job = job.get_subset(**selection)
    config = {"resources": {"run_settings": {"config": {"as_of": AS_OF, "dry_run": False}}}}
    return job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), run_config=config, raise_on_error=False)


def _query(data_dir: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def _erased(truth: dict, table: str, reason: str | None = None) -> int:
    """Rows the job's erasure step deletes (the generator's erasure requests): valid ones, one reason, or all."""
    rows = truth["erased_rows"].get(table, {})
    return sum(rows.values()) if reason is None else rows.get(reason, 0)


def _planted(truth: dict) -> Counter:
    """Planted defects, less those carried by customers who asked for erasure (their rows are deleted)."""
    return +Counter(
        {(t, r): n - _erased(truth, t, r) for t, reasons in truth["malformed"].items() for r, n in reasons.items()}
    )


def _valid_rows(truth: dict) -> dict[str, int]:
    return {t: n - _erased(truth, t, "valid") for t, n in truth["valid_rows"].items()}


def _rejected(data_dir: Path) -> Counter:
    rows = _query(data_dir, "select source_table, rejection_reason, count(*) from quality.rejected_rows group by all")
    return Counter({(t, r): n for t, r, n in rows})


def _outbox_lines(data_dir: Path) -> list[dict]:
    """Every line of every destination's outbox file, in file order."""
    files = sorted((data_dir / "outbox").glob("*.jsonl"))
    return [json.loads(line) for path in files for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def one_batch(tmp_path_factory):
    """All data in one batch, the job run twice in a row."""
    data_dir = tmp_path_factory.mktemp("one_batch")
    generate(data_dir, n_customers=CUSTOMERS, seed=11)
    truth = json.loads((data_dir / "ground_truth" / "ground_truth.json").read_text())
    _point_project_at(data_dir)
    first = _run()
    outbox_after_first = _outbox_lines(data_dir)
    second = _run()
    return data_dir, truth, first, second, outbox_after_first


def test_first_run_succeeds_and_every_dbt_test_passes(one_batch):
    _, _, first, _, _ = one_batch
    assert first.success
    evaluations = first.get_asset_check_evaluations()
    assert len(evaluations) > 70
    assert [e.check_name for e in evaluations if not e.passed] == []


def test_a_new_warehouse_starts_from_the_projects_saved_parse(one_batch):
    """dbt runs in the warehouse's folder and names it by its file name, so a new warehouse has the profile of
    the project's saved parse (`make manifest`): no dbt step of its runs re-parses the whole project."""
    data_dir, *_ = one_batch
    logs = sorted((data_dir / "dbt_target").glob("*_dbt_models/dbt.log*"))
    assert {log.parent.name for log in logs} == {"journeys_dbt_models", "measurement_dbt_models"}
    reasons = [
        json.loads(line)["info"]["msg"]
        for log in logs
        for line in log.read_text().splitlines()
        if '"code": "I024"' in line  # UnableToPartialParse: "Unable to do partial parsing because ..."
    ]
    assert reasons == [], reasons
    parses = [line for log in logs for line in log.read_text().splitlines() if "partial parsing" in line.lower()]
    assert parses, "dbt logged how it parsed"


def test_dbt_unit_tests_pass_in_both_incremental_and_full_refresh_modes(one_batch):
    """Unit tests are left out of production builds; here they run against the built warehouse (the
    incremental-mode fixture reads the column types of the existing table)."""
    data_dir, *_ = one_batch
    completed = run_dbt(
        ["test", "--select", "test_type:unit"],
        data_dir / "warehouse.duckdb",
        data_dir / "dbt_target" / "unit_tests",
    )
    assert completed.returncode == 0, completed.stdout[-3000:]
    assert re.search(r"PASS=\d+ WARN=0 ERROR=0", completed.stdout), completed.stdout[-2000:]


def test_rejected_rows_are_exactly_the_planted_defects(one_batch):
    data_dir, truth, *_ = one_batch
    assert _rejected(data_dir) == _planted(truth)


def test_staging_keeps_exactly_the_valid_rows(one_batch):
    data_dir, truth, *_ = one_batch
    assert sum(_erased(truth, t, "valid") for t in truth["valid_rows"]) > 0, "the sample has erasure requests"
    for table, expected in _valid_rows(truth).items():
        (count,) = _query(data_dir, f"select count(*) from staging.stg_raw__{table}")[0]
        assert count == expected, table


def test_raw_tables_hold_every_row_as_written_except_the_erased_ones(one_batch):
    data_dir, truth, *_ = one_batch
    for table, written in truth["rows_written"].items():
        (count,) = _query(data_dir, f"select count(*) from raw.{table}")[0]
        assert count == written - _erased(truth, table), table
    rejected_keys = _query(
        data_dir,
        """select count(*) from quality.rejected_rows as r
           where json_extract_string(r.raw_record, '$._source_file') <> r.source_file""",
    )
    assert rejected_keys == [(0,)], "raw_record must be the landed row itself"


def test_due_actions_were_sent_once_each_with_their_idempotency_key(one_batch):
    data_dir, _, first, _, outbox_after_first = one_batch
    released = {a for (a,) in _query(data_dir, "select action_id from policy.policy_decisions where state = 'due'")}
    assert len(released) > 20, "the sample business must produce due actions to send"
    assert Counter(line["action_id"] for line in outbox_after_first) == Counter(dict.fromkeys(released, 1))
    assert all(line["idempotency_key"] == line["action_id"] for line in outbox_after_first)
    runs = _query(data_dir, "select distinct decided_in_run from policy.policy_decisions where state = 'due'")
    assert runs == [(first.run_id,)]
    states = dict(_query(data_dir, "select state, count(*) from policy.action_states group by all"))
    assert states.get("sent") == len(released) and "due" not in states, states


def test_second_run_is_incremental_and_sends_nothing_twice(one_batch, capsys):
    data_dir, truth, _, second, outbox_after_first = one_batch
    assert second.success
    assert _outbox_lines(data_dir) == outbox_after_first
    assert _query(data_dir, "select count(*) from raw._landed_files") == [(len(truth["rows_written"]),)]

    from orchestration.demo import print_summary
    from orchestration.settings import paths_from_env

    print_summary(second, paths_from_env(), "test data", AS_OF, 1.0)
    summary = capsys.readouterr().out
    assert "new rows landed this run: 0" in summary
    assert "sent this run, all destinations: 0" in summary
    assert f"{'sent':<11} {'-':<15} {len(outbox_after_first):>9,}" in summary  # every release was sent once
    assert "nothing new to send" in summary


CHECK_THEN_ACTIVATE = {
    "asset_selection": {dg.AssetKey(["activation", "email"])},
    "asset_check_selection": {dg.AssetCheckKey(dg.AssetKey(["policy", "actions_due"]), "actions_due_are_sendable")},
}


def test_a_failing_blocking_check_stops_activation(one_batch):
    data_dir, *_ = one_batch
    control = _run(**CHECK_THEN_ACTIVATE)
    assert [e.passed for e in control.get_asset_check_evaluations()] == [True]
    assert len(control.get_asset_materialization_events()) == 1, "with a passing check, activation runs"

    with duckdb.connect(str(data_dir / "warehouse.duckdb")) as con:
        con.execute(
            """insert into policy.actions_due (action_id, customer_id, channel, destination, address, send_after,
                                               decided_as_of)
               values ('bad-action', 'cus_x', 'email', 'email', 'not-an-address', now(), now())"""
        )
    before = _outbox_lines(data_dir)
    result = _run(**CHECK_THEN_ACTIVATE)
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed
    assert result.get_asset_materialization_events() == []
    assert _outbox_lines(data_dir) == before


def test_landing_batch_by_batch_ends_where_one_big_batch_does(tmp_path):
    """Snowplow-style: the same data landed in three batches gives the same staging and rejections.

    Only landing, staging and quality run (the layers this is about; the whole job is covered above), so no
    erasure request is carried out here and every planted row is expected.
    """
    full = tmp_path / "full"
    generate(full, n_customers=600, seed=5, batches=3)
    truth = json.loads((full / "ground_truth" / "ground_truth.json").read_text())
    staged = tmp_path / "staged"
    (staged / "raw").mkdir(parents=True)
    _point_project_at(staged)
    batch_files = sorted({p.name.split("_part")[0].removesuffix(".parquet") for p in full.glob("raw/*/*.parquet")})
    assert len(batch_files) == 3
    for batch in batch_files:
        for source in full.glob(f"raw/*/{batch}*.parquet"):
            target = staged / "raw" / source.parent.name / source.name
            target.parent.mkdir(exist_ok=True)
            shutil.copy(source, target)
        assert _run(asset_selection=LANDING_TO_STAGING).success, batch
    assert _rejected(staged) == +Counter(
        {(t, r): n for t, reasons in truth["malformed"].items() for r, n in reasons.items()}
    )
    for table, expected in truth["valid_rows"].items():
        (count,) = _query(staged, f"select count(*) from staging.stg_raw__{table}")[0]
        assert count == expected, table


def test_journeys_run_in_the_pipeline_and_why_explains_a_customer(one_batch):
    data_dir, *_ = one_batch
    enrolled = _query(
        data_dir,
        """select customer_id, journey_id from journeys.journey_enrollments
           where status <> 'active' order by enrollment_id limit 1""",
    )
    assert enrolled, "the sample business must enrol customers in the template journeys"
    ((customer_id, journey_id),) = enrolled

    from orchestration.why import explain

    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        answer = explain(con, customer_id, journey_id)
        steps = con.execute(
            """select count(*) from journeys.journey_transitions t
               join journeys.journey_enrollments e using (enrollment_id)
               where e.customer_id = ? and e.journey_id = ?""",
            [customer_id, journey_id],
        ).fetchone()[0]
    assert answer.startswith(f"{journey_id} v1: entered")
    assert answer.count("decided in run") == steps
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        assert explain(con, "cus_does_not_exist").startswith("Customer cus_does_not_exist has no enrollment")


def _build_staging(warehouse: Path, target: Path, *extra: str) -> None:
    """dbt build of staging and rejected_rows (models and data tests) on one warehouse."""
    completed = run_dbt(
        [
            "build",
            "--select",
            "path:models/staging",
            "rejected_rows",
            "--indirect-selection",
            "cautious",
            "--exclude-resource-type",
            "unit_test",
            *extra,
        ],
        warehouse,
        target,
        as_of=AS_OF,
    )
    assert completed.returncode == 0, completed.stdout[-3000:]


def _raw_row(warehouse: Path, table: str, where: str) -> dict:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        cursor = con.execute(
            f"select * exclude (_source_file, _source_row, _loaded_at) from raw.{table} where {where} limit 1"
        )
        row = cursor.fetchone()
        return dict(zip([column[0] for column in cursor.description], row, strict=True))


def _land_rows(data_dir: Path, table: str, name: str, rows: list[dict]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from orchestration.landing import land_new_files
    from sample_business.schema import SCHEMAS

    (data_dir / "raw" / table).mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMAS[table]), data_dir / "raw" / table / f"{name}.parquet")
    with duckdb.connect(str(data_dir / "warehouse.duckdb")) as con:
        land_new_files(con, data_dir)


STAGED_RELATIONS = [f"staging.stg_raw__{table}" for table in ("customers", "events", "orders", "consent_events")]


def _differences_from_a_full_rebuild(data_dir: Path, target: Path) -> dict[str, int]:
    """Rows that differ between the incrementally built staging and a --full-refresh of a copy."""
    rebuilt = data_dir / "rebuilt" / "warehouse.duckdb"
    rebuilt.parent.mkdir(exist_ok=True)
    shutil.copy(data_dir / "warehouse.duckdb", rebuilt)
    _build_staging(rebuilt, target, "--full-refresh")
    differing = {}
    with duckdb.connect() as con:
        con.execute(f"attach '{data_dir / 'warehouse.duckdb'}' as incremental (read_only)")
        con.execute(f"attach '{rebuilt}' as rebuilt (read_only)")
        for relation in [*STAGED_RELATIONS, "quality.rejected_rows"]:
            (differing[relation],) = con.execute(
                f"""select count(*) from (
                        (select * from incremental.{relation} except all select * from rebuilt.{relation})
                        union all
                        (select * from rebuilt.{relation} except all select * from incremental.{relation}))"""
            ).fetchone()
    return differing


def test_staging_verdicts_that_later_batches_change_equal_a_full_rebuild(tmp_path):
    """Scenarios the generator does not plant, for incremental staging. An event and an order whose customer
    lands a batch later are rejected (unknown_customer), then staged once the customer has landed, and leave
    rejected_rows. A copy of a staged event, landed later but received an hour earlier, wins the key: the
    staged row becomes the duplicate. After each batch, staging equals a --full-refresh of the same raw rows."""
    data_dir = tmp_path / "data"
    generate(data_dir, n_customers=300, seed=3)
    _point_project_at(data_dir)
    warehouse = data_dir / "warehouse.duckdb"
    target = tmp_path / "dbt_target"
    with duckdb.connect(str(warehouse)) as con:
        from orchestration.landing import land_new_files

        land_new_files(con, data_dir)
    _build_staging(warehouse, target)

    only_copy = "not in (select record_key from quality.rejected_rows where record_key is not null)"
    staged_event = _raw_row(
        warehouse, "events", f"event_id in (select event_id from staging.stg_raw__events) and event_id {only_copy}"
    )
    earlier_copy = staged_event | {
        "page_path": "/received-earlier",
        "received_at": staged_event["received_at"] - timedelta(hours=1),
    }
    late_customer_event = staged_event | {"event_id": "evt_of_a_late_customer", "customer_id": "cus_late"}
    staged_order = _raw_row(warehouse, "orders", "order_id in (select order_id from staging.stg_raw__orders)")
    late_customer_order = staged_order | {"order_id": "ord_of_a_late_customer", "customer_id": "cus_late"}
    _land_rows(data_dir, "events", "batch_9001", [late_customer_event, earlier_copy])
    _land_rows(data_dir, "orders", "batch_9001", [late_customer_order])
    _build_staging(warehouse, target)

    rejected = dict(
        _query(
            data_dir, "select record_key, rejection_reason from quality.rejected_rows where source_file like '%9001%'"
        )
    )
    assert rejected == {"evt_of_a_late_customer": "unknown_customer", "ord_of_a_late_customer": "unknown_customer"}
    assert _query(
        data_dir, f"select page_path from staging.stg_raw__events where event_id = '{staged_event['event_id']}'"
    ) == [("/received-earlier",)]
    assert _query(
        data_dir,
        f"select rejection_reason from quality.rejected_rows where record_key = '{staged_event['event_id']}'",
    ) == [("duplicate_key",)]
    assert _differences_from_a_full_rebuild(data_dir, target) == dict.fromkeys(
        [*STAGED_RELATIONS, "quality.rejected_rows"], 0
    )

    late_customer = _raw_row(warehouse, "customers", "true") | {"customer_id": "cus_late", "email": "late@example.com"}
    _land_rows(data_dir, "customers", "batch_9002", [late_customer])
    _build_staging(warehouse, target)

    assert _query(data_dir, "select count(*) from quality.rejected_rows where record_key like '%late_customer'") == [
        (0,)
    ]
    staged = _query(
        data_dir,
        """select (select count(*) from staging.stg_raw__events where event_id = 'evt_of_a_late_customer'),
                  (select count(*) from staging.stg_raw__orders where order_id = 'ord_of_a_late_customer')""",
    )
    assert staged == [(1, 1)]
    assert _differences_from_a_full_rebuild(data_dir, target) == dict.fromkeys(
        [*STAGED_RELATIONS, "quality.rejected_rows"], 0
    )

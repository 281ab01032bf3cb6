"""Erasure and retention, for real: generator -> journey_run (landing, dbt, erasure, activation) in DuckDB.

The named scenario: a customer who just signed up (so a welcome email is decided for them, not sent yet: the
first run is a dry run) asks for erasure by their email in capitals. The next run erases them before
activation: no row anywhere in the warehouse still carries their customer_id, email (any case) or devices, no
email goes to them, and the CRM and ad audiences get deletion actions with hashed identifiers. The generator's
own requests (by id, by email, by both) are executed in the first run. What must be deleted is recomputed from
the raw files and the generator's identity truth, never taken from the pipeline.
"""

import hashlib
import json
import os
from datetime import datetime
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration.activation_assets import DESTINATIONS
from orchestration.erasure import (
    AUDIT_ERASURES,
    ERASURE_DELETIONS,
    RETENTION_EVENT_TIME,
    TOMBSTONE_RELATIONS,
    ErasureError,
    purge_raw,
)
from sample_business import generate
from sample_business.schema import SCHEMAS

pytestmark = pytest.mark.integration

AS_OF = "2026-11-01T00:00:00"
CUSTOMERS = 300


# The erasure step and activation alone: a re-run of what runs after dbt (dbt's own idempotence is
# tested by test_pipeline.py), so that "a second run changes nothing" costs seconds, not a dbt build.
AFTER_DBT = {
    "asset_selection": {dg.AssetKey(["audit", "erasures"]), *(dg.AssetKey(["activation", d]) for d in DESTINATIONS)}
}


def _run(job_name: str = "journey_run", dry_run: bool = False, subset: dict | None = None, **config):
    from orchestration.definitions import defs

    run_config = (
        {"resources": {"run_settings": {"config": {"as_of": AS_OF, "dry_run": dry_run}}}}
        if job_name == "journey_run"
        else {"ops": {"audit__purges": {"config": config}}}
    )
    job = defs.resolve_job_def(job_name)
    if subset:
        job = job.get_subset(**subset)
    return job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), run_config=run_config, raise_on_error=False)


def _query(data_dir: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def _write_rows(data_dir: Path, table: str, rows: list[dict]) -> None:
    schema = SCHEMAS[table]
    complete = [{name: row.get(name) for name in schema.names} for row in rows]
    pq.write_table(pa.Table.from_pylist(complete, schema=schema), data_dir / "raw" / table / "batch_9002.parquet")


def _outbox(data_dir: Path) -> str:
    path = data_dir / "outbox" / "email.jsonl"
    return path.read_text() if path.exists() else ""


def _people_in_files(data_dir: Path, customer_ids: list[str]) -> dict[str, dict]:
    """From the raw files and the identity truth: each customer's emails, devices and orders."""
    con = duckdb.connect()
    ids = ", ".join(f"'{c}'" for c in customer_ids)
    people = {}
    for customer_id in customer_ids:
        emails = {
            e
            for (e,) in con.execute(
                f"""select lower(trim(email)) from read_parquet('{data_dir}/raw/customers/*.parquet')
                    where customer_id = ? and email is not null
                    union select lower(trim(email)) from read_parquet('{data_dir}/raw/identifies/*.parquet')
                    where customer_id = ? and email is not null""",
                [customer_id, customer_id],
            ).fetchall()
        }
        devices = con.execute(
            f"""select list(distinct anonymous_id), list(distinct device_id)
                from read_parquet('{data_dir}/ground_truth/identity_truth.parquet') where customer_id = ?""",
            [customer_id],
        ).fetchone()
        orders = [
            o
            for (o,) in con.execute(
                f"select distinct order_id from read_parquet('{data_dir}/raw/orders/*.parquet') "
                "where customer_id = ? and order_id is not null",
                [customer_id],
            ).fetchall()
        ]
        people[customer_id] = {
            "emails": emails,
            "anonymous_ids": devices[0],
            "device_ids": devices[1],
            "orders": orders,
        }
    assert ids
    return people


def _expected_raw_rows(data_dir: Path, person: dict, customer_id: str) -> dict[str, int]:
    """Rows of each raw file set that carry the person: the raw.* counts the audit must report."""
    con = duckdb.connect()
    expected = {}
    for table, schema in SCHEMAS.items():
        files = list((data_dir / "raw" / table).glob("*.parquet"))
        if not files:
            continue
        conditions = []
        names = schema.names
        if "customer_id" in names:
            conditions.append(f"customer_id = '{customer_id}'")
        if "email" in names and person["emails"]:
            conditions.append(f"lower(trim(email)) in ({', '.join(repr(e) for e in person['emails'])})")
        for column, values in (("anonymous_id", person["anonymous_ids"]), ("device_id", person["device_ids"])):
            if column in names and values:
                conditions.append(f"{column} in ({', '.join(repr(v) for v in values)})")
        if "order_id" in names and person["orders"]:
            conditions.append(f"order_id in ({', '.join(repr(o) for o in person['orders'])})")
        if not conditions:
            continue
        (count,) = con.execute(
            f"select count(*) from read_parquet('{data_dir}/raw/{table}/*.parquet') where {' or '.join(conditions)}"
        ).fetchone()
        if count:
            expected[f"raw.{table}"] = count
    return expected


def _traces(data_dir: Path, needles: dict[str, set[str]]) -> dict[str, list[str]]:
    """Every table and view of the warehouse, each row as text, searched for each needle (any case).
    needles: kind -> values; customer ids are not searched in the tombstone relations (docs/erasure.md)."""
    found: dict[str, list[str]] = {}
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        relations = [
            r
            for (r,) in con.execute(
                """select table_schema || '.' || table_name from information_schema.tables
                   where table_catalog = current_database()
                   and table_schema not in ('information_schema', 'pg_catalog')"""
            ).fetchall()
        ]
        for relation in relations:
            for kind, values in needles.items():
                if kind == "customer_id" and relation in TOMBSTONE_RELATIONS:
                    continue
                for value in values:
                    (hits,) = con.execute(
                        f"select count(*) from {relation} as row_as_text "
                        "where contains(lower(row_as_text::varchar), ?)",
                        [value.lower()],
                    ).fetchone()
                    if hits:
                        found.setdefault(relation, []).append(f"{kind}={value}: {hits}")
    return found


# Logs of the runs themselves (one row per activation run, read by the volume cap): a second run adds its row.
RUN_LOGS = {"activation.runs"}


def _snapshot(data_dir: Path) -> dict[str, str]:
    """A content hash of every table (order-independent), run logs left out."""
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        relations = [
            r
            for (r,) in con.execute(
                """select table_schema || '.' || table_name from information_schema.tables
                   where table_type = 'BASE TABLE' and table_catalog = current_database()"""
            ).fetchall()
        ]
        return {
            r: con.execute(f"select count(*) || ':' || coalesce(sum(hash(t::varchar)), 0) from {r} as t").fetchone()[0]
            for r in relations
            if r not in RUN_LOGS
        }


@pytest.fixture(scope="module")
def erased(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("erasure")
    generate(data_dir, n_customers=CUSTOMERS, seed=17)
    os.environ["JOURNEYS_DATA_DIR"] = str(data_dir)
    os.environ["JOURNEYS_WAREHOUSE_PATH"] = str(data_dir / "warehouse.duckdb")
    truth = json.loads((data_dir / "ground_truth" / "ground_truth.json").read_text())

    dry = _run(dry_run=True)  # releases due actions, sends nothing; executes the generator's requests
    assert dry.success
    ((welcome_customer, welcome_email, action_id),) = _query(
        data_dir,
        """select customer_id, email, action_id from policy.actions_due
           where email is not null order by send_after desc, action_id limit 1""",
    )
    pending_journey_actions = _query(
        data_dir, "select count(*) from journeys.journey_actions where customer_id = ?", [welcome_customer]
    )[0][0]
    people = _people_in_files(data_dir, [welcome_customer, *[r["customer_id"] for r in truth["erasure_requests"]]])

    request = {
        "request_id": "era_test_welcome",
        "customer_id": None,
        "email": f" {welcome_email.upper()} ",
        "requested_by": "support_agent:agt_test",
        "requested_at": datetime(2026, 10, 31, 12),
        "received_at": datetime(2026, 10, 31, 12, 5),
    }
    names_nobody = request | {"request_id": "era_test_nobody", "email": "  "}
    (data_dir / "raw" / "erasure_requests").mkdir(exist_ok=True)
    pq.write_table(
        pa.Table.from_pylist([request, names_nobody], schema=SCHEMAS["erasure_requests"]),
        data_dir / "raw" / "erasure_requests" / "batch_9001.parquet",
    )
    erasing = _run()
    after_erasure = _snapshot(data_dir)
    outbox_after_erasure = _outbox(data_dir)
    again = _run(subset=AFTER_DBT)
    return {
        "data_dir": data_dir,
        "truth": truth,
        "people": people,
        "welcome": (welcome_customer, welcome_email, action_id, pending_journey_actions),
        "runs": (dry, erasing, again),
        "after_erasure": after_erasure,
        "outbox_after_erasure": outbox_after_erasure,
    }


def _requests(erased) -> dict[str, str]:
    """request_id -> the customer it must erase."""
    planted = {r["request_id"]: r["customer_id"] for r in erased["truth"]["erasure_requests"]}
    return planted | {"era_test_welcome": erased["welcome"][0]}


def test_every_run_succeeds_and_every_request_is_executed_once(erased):
    assert all(run.success for run in erased["runs"])
    audited = _query(erased["data_dir"], f"select request_id, customer_id, run_id from {AUDIT_ERASURES}")
    dry, erasing, _ = erased["runs"]
    run_of = {"era_test_welcome": erasing.run_id}
    assert {(r, c, run_of.get(r, dry.run_id)) for r, c in _requests(erased).items()} == set(audited)


def test_no_trace_of_an_erased_customer_is_left_in_the_warehouse(erased):
    people = erased["people"]
    needles = {
        "customer_id": set(people),
        "email": {e for p in people.values() for e in p["emails"]},
        "anonymous_id": {a for p in people.values() for a in p["anonymous_ids"]},
        "device_id": {d for p in people.values() for d in p["device_ids"]},
    }
    assert all(needles.values())
    assert _traces(erased["data_dir"], needles) == {}


def test_pending_sends_are_stopped_and_nothing_reaches_the_outbox(erased):
    data_dir = erased["data_dir"]
    customer_id, email, action_id, pending_journey_actions = erased["welcome"]
    outbox = _outbox(data_dir)
    assert outbox, "the other due actions are sent"
    assert customer_id not in outbox and email.lower() not in outbox.lower() and action_id not in outbox
    assert _query(data_dir, "select count(*) from activation.send_ledger where action_id = ?", [action_id]) == [(0,)]
    ((cancelled,),) = _query(
        data_dir, f"select pending_actions_cancelled from {AUDIT_ERASURES} where request_id = 'era_test_welcome'"
    )
    assert cancelled == pending_journey_actions  # every decided journey action, the due one included
    for customer in erased["people"]:
        assert customer not in outbox


def test_deletion_actions_carry_only_hashed_identifiers(erased):
    rows = _query(
        erased["data_dir"],
        f"select action_id, request_id, destination, destination_kind, operation, external_id, email_sha256, state "
        f"from {ERASURE_DELETIONS}",
    )
    by_key = {(r[1], r[2]): r for r in rows}
    for request_id, customer_id in _requests(erased).items():
        emails = erased["people"][customer_id]["emails"]
        crm = by_key[(request_id, "crm")]
        audience = by_key[(request_id, "ad_audience")]
        assert crm[0] == hashlib.md5(f"erasure|{request_id}|crm".encode()).hexdigest()
        assert crm[3:6] == ("crm", "delete_contact", customer_id) and crm[6] == [] and crm[7] == "pending"
        assert audience[0] == hashlib.md5(f"erasure|{request_id}|ad_audience".encode()).hexdigest()
        assert audience[3:6] == ("audience", "remove_member", None)
        assert set(audience[6]) == {hashlib.sha256(e.encode()).hexdigest() for e in emails}
    assert len(rows) == 2 * len(_requests(erased))
    assert not any("@" in str(value) for row in rows for value in row)


def test_audit_counts_equal_the_raw_rows_that_carried_the_customer(erased):
    data_dir = erased["data_dir"]
    audited = dict(_query(data_dir, f"select request_id, rows_deleted from {AUDIT_ERASURES}"))
    for request_id, customer_id in _requests(erased).items():
        deleted = json.loads(audited[request_id])
        expected = _expected_raw_rows(data_dir, erased["people"][customer_id], customer_id)
        assert {t: n for t, n in deleted.items() if t.startswith("raw.")} == expected, request_id
        for table, n in expected.items():
            base = f"staging.base_raw__{table.removeprefix('raw.')}"
            assert deleted.get(base, 0) == n, (request_id, base)
        assert deleted.get("identity.customers") == 1, request_id
    ((requested_by, source_files),) = _query(
        data_dir, f"select requested_by, source_files from {AUDIT_ERASURES} where request_id = 'era_test_welcome'"
    )
    assert requested_by == "support_agent:agt_test"
    assert "raw/erasure_requests/batch_9001.parquet" in json.loads(source_files)


def test_a_request_naming_nobody_is_rejected_with_its_reason_and_erases_nothing(erased):
    rejected = _query(
        erased["data_dir"],
        "select record_key, rejection_reason, source_file from quality.rejected_rows "
        "where source_table = 'erasure_requests'",
    )
    assert rejected == [("era_test_nobody", "missing_identifier", "raw/erasure_requests/batch_9001.parquet")]
    assert _query(
        erased["data_dir"], f"select count(*) from {AUDIT_ERASURES} where request_id = 'era_test_nobody'"
    ) == [(0,)]


def test_erased_customers_stay_in_the_policy_model_as_tombstones(erased):
    rows = _query(erased["data_dir"], "select customer_id, request_id from policy.erased_customers")
    assert {(c, r) for r, c in _requests(erased).items()} == set(rows)


def test_running_erasure_and_activation_again_changes_nothing(erased):
    data_dir = erased["data_dir"]
    after = _snapshot(data_dir)
    assert {
        r for r in set(after) | set(erased["after_erasure"]) if after.get(r) != erased["after_erasure"].get(r)
    } == set()
    assert _outbox(data_dir) == erased["outbox_after_erasure"]
    assert _query(data_dir, "select count(*) from audit.erasure_sweeps") == [(0,)]


def test_retention_purge_deletes_exactly_the_old_rows_and_the_next_run_changes_no_decision(erased):
    data_dir = erased["data_dir"]
    decisions = ("journeys.journey_transitions", "journeys.journey_actions", "policy.policy_decisions")
    decided_before = {t: set(_query(data_dir, f"select * from {t}")) for t in decisions}
    event_times = {
        t: [r[0] for r in _query(data_dir, f"select {c} from raw.{t}")] for t, c in RETENTION_EVENT_TIME.items()
    }
    # 90 days of data kept, counted from the wall clock (retention is about real time, not as_of)
    retention_days = (datetime.now() - datetime(2026, 8, 1)).days
    purge = _run("retention_purge", retention_days=retention_days)
    assert purge.success
    audit = _query(data_dir, "select table_name, cutoff, rows_deleted, requested_by, run_id from audit.purges")
    assert {r[0] for r in audit} == set(RETENTION_EVENT_TIME)
    for table, cutoff, rows_deleted, requested_by, run_id in audit:
        expected = sum(1 for t in event_times[table] if t is not None and t < cutoff)
        assert rows_deleted == expected, table
        assert expected > 0, table
        assert _query(data_dir, f"select count(*) from raw.{table}") == [(len(event_times[table]) - expected,)]
        assert (requested_by, run_id) == ("schedule", purge.run_id)

    erasure_records = {
        t: _query(data_dir, f"select * from {t} order by 1") for t in (AUDIT_ERASURES, ERASURE_DELETIONS)
    }
    # An export re-sends an erased customer: an event under their customer_id, an account under their email.
    customer_id, email, *_ = erased["welcome"]
    at = datetime(2026, 10, 31, 18)
    _write_rows(
        data_dir,
        "events",
        [
            {
                "event_id": "evt_again",
                "event_name": "page_viewed",
                "anonymous_id": "anon_again",
                "customer_id": customer_id,
                "occurred_at": at,
                "received_at": at,
            }
        ],
    )
    _write_rows(
        data_dir,
        "customers",
        [
            {
                "customer_id": "cus_again",
                "email": email.upper(),
                "country_code": "DE",
                "time_zone": "Europe/Berlin",
                "signed_up_at": at,
                "updated_at": at,
                "received_at": at,
            }
        ],
    )
    after_purge = _run()  # the whole job again: dbt on purged raw, erasure, activation
    assert after_purge.success
    ((swept,),) = _query(data_dir, "select rows_deleted from audit.erasure_sweeps")
    swept = json.loads(swept)
    assert swept["raw.events"] == 1 and swept["raw.customers"] == 1
    assert _traces(data_dir, {"email": {email}, "customer_id": {"cus_again"}, "anonymous_id": {"anon_again"}}) == {}
    for table in decisions:
        assert decided_before[table] <= set(_query(data_dir, f"select * from {table}")), table
    # the erasure did not run twice, and the erased customers did not come back (the sweep caught them)
    assert {t: _query(data_dir, f"select * from {t} order by 1") for t in erasure_records} == erasure_records
    assert _outbox(data_dir) == erased["outbox_after_erasure"]
    assert _traces(data_dir, {"customer_id": set(erased["people"])}) == {}


def test_a_purge_with_a_retention_below_one_day_is_refused_by_name():
    with pytest.raises(ErasureError, match="retention_days must be at least 1"):
        purge_raw(duckdb.connect(), 0, run_id="r", requested_by="test")

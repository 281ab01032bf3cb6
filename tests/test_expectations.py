"""Great Expectations gates: the versioned suites, the frames DuckDB computes for them, and a blocking check that
really stops activation. Real DuckDB, real dbt (policy models via tests/policy_harness.py), real Dagster."""

import json
import shutil
from datetime import datetime, timedelta

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration.expectations import SUITES_DIR, load_suite, validate
from orchestration.landing import land_new_files
from orchestration.quality_frames import actions_due_frame, identity_distribution, raw_batch_profile
from sample_business.schema import SCHEMAS
from tests.policy_harness import PolicyWarehouse, consent, customer, message


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("JOURNEYS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JOURNEYS_WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))


def test_every_suite_file_loads_and_is_named_after_its_file():
    names = sorted(p.stem for p in SUITES_DIR.glob("*.json"))
    assert names == ["actions_due", "identity_graph", "raw_inputs"]
    for name in names:
        assert load_suite(name).expectations, name


def _write_batch(data_dir, table: str, name: str, rows: list[dict], drop: tuple[str, ...] = ()) -> None:
    schema = SCHEMAS[table]
    columns = {field.name: pa.array([row.get(field.name) for row in rows], field.type) for field in schema}
    for column in drop:
        del columns[column]
    (data_dir / "raw" / table).mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), data_dir / "raw" / table / f"{name}.parquet")


def _consent_rows(prefix: str, n: int, channel: str = "email", status: str = "opted_in", future: bool = False):
    at = datetime(2026, 11, 1, 12, 0)
    return [
        {
            "consent_event_id": f"{prefix}{i}",
            "customer_id": f"cus_{i}",
            "channel": channel,
            "purpose": "marketing",
            "status": status,
            "source": "form",
            "occurred_at": at + timedelta(days=30 if future else 0),
            "received_at": at,
        }
        for i in range(n)
    ]


def test_a_broken_raw_batch_fails_only_its_tables_and_only_the_latest_batch_is_profiled(tmp_path):
    """A good batch passes. The next batch has consent events on 'fax', a customers file without its email
    column and orders received in 2030: those tables fail; the events of the same batch (one missing key in 50)
    pass."""
    _write_batch(tmp_path, "consent_events", "batch_0001", _consent_rows("ce", 50))
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        land_new_files(con, tmp_path)
        frame, _ = raw_batch_profile(con)
    assert list(frame["table_name"]) == ["consent_events"]
    assert validate("raw_inputs", frame, key_column="table_name").success

    _write_batch(tmp_path, "consent_events", "batch_0002", _consent_rows("fax", 20, channel="fax"))
    _write_batch(tmp_path, "customers", "batch_0002", [{"customer_id": "cus_1"}], drop=("email",))
    events = [{"event_id": f"e{i}", "customer_id": "cus_1", "event_name": "page_viewed"} for i in range(49)]
    _write_batch(tmp_path, "events", "batch_0002", [*events, {"event_id": None, "event_name": "page_viewed"}])
    orders = [{"order_id": f"o{i}", "customer_id": "cus_1", "received_at": datetime(2030, 1, 1)} for i in range(2)]
    _write_batch(tmp_path, "orders", "batch_0002", orders)  # received "in 2030": a sender's clock is wrong
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        land_new_files(con, tmp_path)
        frame, _ = raw_batch_profile(con)
    profile = frame.set_index("table_name")
    assert profile.loc["consent_events", "batch_rows"] == 20, "only the latest batch"
    assert profile.loc["consent_events", "unknown_channel_share"] == 1.0
    assert profile.loc["customers", "missing_columns"] == 1
    assert profile.loc["events", "missing_key_share"] == pytest.approx(0.02)
    assert profile.loc["orders", "future_timestamp_share"] == 1.0
    outcome = validate("raw_inputs", frame, key_column="table_name")
    failing = {key for f in outcome.failures() for key in f.unexpected_keys}
    assert failing == {"consent_events", "customers", "orders"}
    assert (tmp_path / "gx_docs" / "index.html").exists()


def test_a_customer_merged_from_too_many_identifiers_fails_the_identity_suite(tmp_path):
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        con.execute("create schema identity")
        con.execute(
            """create table identity.customer_identities as
               select 'cus_ok' as customer_id, 'email' as identifier_type, 'e' || i as identifier_value
               from range(3) t(i)
               union all select 'cus_shared_device', 'device_id', 'd' || i from range(60) t(i)
               union all select null, 'anonymous_id', 'a' || i from range(500) t(i)"""
        )
        frame, largest = identity_distribution(con)
    assert largest[0] == ("cus_shared_device", 60)
    outcome = validate("identity_graph", frame)
    assert [f.column for f in outcome.failures()] == ["identifiers_per_customer"]


T0 = datetime(2026, 11, 10, 0, 0)


@pytest.fixture(scope="module")
def decided_policy(tmp_path_factory):
    """Policy decided for real, once: ana (New York, no opt-out) gets a marketing email, due now."""
    people = [
        customer("ana", "America/New_York"),
        customer("olaf", "America/New_York"),
        customer("berlin", "Europe/Berlin", is_eu=True),
    ]
    folder = tmp_path_factory.mktemp("policy")
    warehouse = PolicyWarehouse(folder, people)
    at = T0 + timedelta(hours=14)
    warehouse.add(
        consents=[consent("olaf", "email", "opted_out", T0), consent("berlin", "sms", "opted_in", T0)],
        actions=[message("welcome_ana", "ana", "email", at)],
    )
    warehouse.run(at + timedelta(minutes=5))
    assert warehouse.state("welcome_ana")[0] == "due"
    return warehouse.path


@pytest.fixture
def policy_warehouse(decided_policy, tmp_path):
    """This test's own copy of the decided warehouse (tests tamper with it)."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(decided_policy, path)
    return path


def _tamper(warehouse, action_id: str, customer_id: str, channel: str, address: str, at) -> None:
    """A due action policy never released (a bug upstream, a manual insert): what the gate must catch."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            """insert into policy.actions_due (action_id, customer_id, journey_id, action_kind, channel, destination,
                                               purpose, address, send_after, decided_as_of)
               values (?, ?, 'j', 'message', ?, ?, 'marketing', ?, ?, ?)""",
            [action_id, customer_id, channel, channel, address, at, at],
        )


def test_permission_and_quiet_hours_are_recomputed_not_taken_from_policy(policy_warehouse):
    at = T0 + timedelta(hours=21, minutes=30)  # 22:30 in Berlin, 16:30 in New York
    _tamper(policy_warehouse, "to_olaf", "olaf", "email", "olaf@example.com", at)
    _tamper(policy_warehouse, "sms_berlin_night", "berlin", "sms", "+4915550100", at)
    _tamper(policy_warehouse, "sms_ana", "ana", "sms", "+15550100", at)  # no SMS opt-in
    with duckdb.connect(str(policy_warehouse), read_only=True) as con:
        frame = actions_due_frame(con).set_index("action_id")
    assert frame["is_permitted"].to_dict() == {
        "welcome_ana": True,
        "to_olaf": False,
        "sms_berlin_night": True,
        "sms_ana": False,
    }
    assert frame["is_outside_quiet_hours"].to_dict() == {
        "welcome_ana": True,
        "to_olaf": True,
        "sms_berlin_night": False,
        "sms_ana": True,
    }


def _check_then_send_email():
    from orchestration.definitions import defs

    job = defs.resolve_job_def("journey_run").get_subset(
        asset_selection={dg.AssetKey(["activation", "email"])},
        asset_check_selection={dg.AssetCheckKey(dg.AssetKey(["policy", "actions_due"]), "actions_due_are_sendable")},
    )
    config = {"resources": {"run_settings": {"config": {"as_of": "2026-11-10T14:05:00"}}}}
    return job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), run_config=config, raise_on_error=False)


def test_a_failing_blocking_check_stops_activation(policy_warehouse, tmp_path):
    """Control: the gate passes and activation sends ana's email. Then a well-formed email to a customer who
    opted out appears in actions_due: the check fails on permission alone, and activation sends nothing."""
    outbox = tmp_path / "outbox" / "email.jsonl"
    control = _check_then_send_email()
    assert [e.passed for e in control.get_asset_check_evaluations()] == [True]
    assert [json.loads(line)["action_id"] for line in outbox.read_text().splitlines()] == ["welcome_ana"]

    _tamper(policy_warehouse, "to_olaf", "olaf", "email", "olaf@example.com", T0 + timedelta(hours=14))
    result = _check_then_send_email()
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed
    assert evaluation.metadata["failed_expectations"].value == [
        "expect_column_values_to_be_in_set(is_permitted): 1 unexpected"
    ]
    assert evaluation.metadata["not_permitted"].value == 1
    assert result.get_asset_materialization_events() == []
    assert [json.loads(line)["action_id"] for line in outbox.read_text().splitlines()] == ["welcome_ana"]
    docs = (tmp_path / "gx_docs" / "index.html").read_text()
    assert "actions_due" in docs

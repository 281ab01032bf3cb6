"""Identity resolution for real: generated raw data landed in DuckDB, dbt builds the identity models, and the
result is compared with the generator's ground truth (identity_truth.parquet), never with itself.

The generator plants no shared identifiers, so stitching must be exact. Two named scenarios add what it does
not plant: a family tablet shared by two customers (the over-merge guard) and a cookie two links away from its
customer with a bound of one iteration (the convergence check must fail the build).
"""

import json
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration.landing import land_new_files
from sample_business import generate
from sample_business.schema import SCHEMAS
from tests.dbt_cli import run_dbt

pytestmark = pytest.mark.integration

AS_OF = "2026-11-01T00:00:00"
CUSTOMERS = 2_000
SEED = 23
IDENTITY_MODELS = ("+customers", "+customer_identities", "+customer_event_stream", "+ambiguous_identifiers")
# Later runs build staging (incremental tables: only the rows landed since) and the identity models themselves.
IDENTITY_ONLY = ("path:models/staging", "path:models/intermediate/identity", "path:models/marts/identity")
IDENTITY_UNIT_TESTS = 9
# No lookback: every incremental run reads only the rows landed since the previous one, the strictest case.
RUN_VARS = {"as_of": AS_OF, "journeys__lookback_hours": 0}
LINEAGE_COLUMNS = ("_loaded_at", "_updated_at", "_customer_id_changed_at", "_identity_changed_at")


def _dbt(warehouse: Path, target: Path, *args: str, run_vars: dict | None = None) -> subprocess.CompletedProcess:
    variables = dict(run_vars or RUN_VARS)
    return run_dbt(args, warehouse, target, as_of=variables.pop("as_of", None), variables=variables)


def _build(
    warehouse: Path,
    target: Path,
    select: tuple[str, ...] = IDENTITY_ONLY,
    with_unit_tests: bool = False,
    run_vars: dict | None = None,
) -> subprocess.CompletedProcess:
    """The selected models with the identity models' data tests (staging's own tests are test_pipeline's
    business). Unit tests read column types from the warehouse, so they need the models built once before."""
    return _dbt(
        warehouse,
        target,
        "build",
        "--select",
        *select,
        "--indirect-selection",
        "buildable",
        "--exclude",
        "test_type:data,path:models/staging",
        *(() if with_unit_tests else ("--exclude-resource-type", "unit_test")),
        run_vars=run_vars,
    )


def _land(data_dir: Path, warehouse: Path) -> None:
    with duckdb.connect(str(warehouse)) as con:
        land_new_files(con, data_dir)


def _query(warehouse: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def _write_raw(data_dir: Path, table: str, name: str, rows: list[dict]) -> None:
    path = data_dir / "raw" / table / f"{name}.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMAS[table]), path)


def _copy_warehouse(source: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, folder / "warehouse.duckdb")
    return folder / "warehouse.duckdb"


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    data_dir = tmp_path_factory.mktemp("identity_sample")
    generate(data_dir, n_customers=CUSTOMERS, seed=SEED, batches=3)
    return data_dir


@pytest.fixture(scope="module")
def dbt_target(tmp_path_factory) -> Path:
    """One target folder for the module, so dbt parses the project once (other dbt runs have their own)."""
    return tmp_path_factory.mktemp("identity_dbt_target")


@pytest.fixture(scope="module")
def full_run(sample, dbt_target, tmp_path_factory) -> Path:
    """All batches landed at once, then one dbt build: the reference the other runs are compared with."""
    data_dir = tmp_path_factory.mktemp("identity_full")
    shutil.copytree(sample / "raw", data_dir / "raw")
    warehouse = data_dir / "warehouse.duckdb"
    _land(data_dir, warehouse)
    built = _build(warehouse, dbt_target, select=IDENTITY_MODELS)
    assert built.returncode == 0, built.stdout[-4000:]
    return warehouse


def _halfway_through(batch_files: list[Path]) -> str:
    """The middle of a batch's received_at window, as an as_of."""
    files = ", ".join(f"'{path.as_posix()}'" for path in batch_files)
    with duckdb.connect() as con:
        (halfway,) = con.execute(
            f"select min(received_at) + (max(received_at) - min(received_at)) / 2 from read_parquet([{files}])"
        ).fetchone()
    return halfway.isoformat()


class BatchedRuns(NamedTuple):
    warehouse: Path
    last_build_output: str
    previous_as_of: str


@pytest.fixture(scope="module")
def batched_runs(sample, dbt_target, tmp_path_factory) -> BatchedRuns:
    """The same files landed batch by batch, dbt after each (incremental after the first): a plain run for
    the first two, a whole build for the last (the identity unit tests, the models, their data tests).

    The first two runs take an as_of halfway through their batch, as a run whose clock lags its data would:
    half of what they land is after their as_of and must be picked up by a later run (no lookback helps)."""
    data_dir = tmp_path_factory.mktemp("identity_batched")
    warehouse = data_dir / "warehouse.duckdb"
    batches = sorted({p.name.split("_part")[0].removesuffix(".parquet") for p in sample.glob("raw/*/*.parquet")})
    assert len(batches) == 3
    previous_as_of = AS_OF
    for number, batch in enumerate(batches, start=1):
        batch_files = sorted(sample.glob(f"raw/*/{batch}*.parquet"))
        for source in batch_files:
            target = data_dir / "raw" / source.parent.name / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
        _land(data_dir, warehouse)
        if number < len(batches):
            previous_as_of = _halfway_through(batch_files)
            lagging = {**RUN_VARS, "as_of": previous_as_of}
            selection = IDENTITY_MODELS if number == 1 else IDENTITY_ONLY
            dbt = _dbt(warehouse, dbt_target, "run", "--select", *selection, run_vars=lagging)
        else:
            dbt = _build(warehouse, dbt_target, with_unit_tests=True)
        assert dbt.returncode == 0, f"{batch}: {dbt.stdout[-4000:]}"
    return BatchedRuns(warehouse, dbt.stdout, previous_as_of)


@pytest.fixture(scope="module")
def identity_truth(sample) -> pa.Table:
    return pq.read_table(sample / "ground_truth" / "identity_truth.parquet")


def _resolved(warehouse: Path, identifier_type: str) -> dict[str, str | None]:
    rows = _query(
        warehouse,
        "select identifier_value, customer_id from identity.customer_identities where identifier_type = ?",
        [identifier_type],
    )
    return dict(rows)


def _precision_recall(truth: dict[str, str | None], resolved: dict[str, str | None]) -> tuple[float, float]:
    """Precision: of the identifiers stitched to a customer, the share stitched to the right one. Recall: of the
    identifiers that belong to a customer, the share stitched to the right one."""
    stitched = [key for key, customer in resolved.items() if customer is not None]
    belonging = [key for key, customer in truth.items() if customer is not None]
    right = [key for key in stitched if truth.get(key) == resolved[key]]
    return len(right) / max(len(stitched), 1), len(right) / max(len(belonging), 1)


def test_every_anonymous_id_resolves_to_its_true_customer(full_run, identity_truth):
    truth = dict(zip(*identity_truth.select(["anonymous_id", "customer_id"]).to_pydict().values(), strict=True))
    resolved = _resolved(full_run, "anonymous_id")

    precision, recall = _precision_recall(truth, resolved)
    print(f"anonymous_id stitching: precision {precision:.4f}, recall {recall:.4f}, {len(truth):,} ids")
    assert (precision, recall) == (1.0, 1.0)
    assert resolved == truth, "visitors who never signed up stay anonymous (null customer_id)"


def test_every_device_seen_with_a_device_id_resolves_to_its_true_customer(full_run, identity_truth):
    """Some devices appear only in server-side events, which carry the anonymous_id and no device_id: those
    are not observable as devices (their anonymous_id is checked above)."""
    truth = dict(zip(*identity_truth.select(["device_id", "customer_id"]).to_pydict().values(), strict=True))
    resolved = _resolved(full_run, "device_id")
    unobservable = set(truth) - set(resolved)
    seen_anywhere = _query(
        full_run,
        """select count(*) from (select device_id from raw.sessions union all select device_id from raw.identifies)
           where device_id in (select unnest(?))""",
        [sorted(unobservable)],
    )
    assert seen_anywhere == [(0,)]
    assert len(unobservable) < 0.01 * len(truth)

    precision, recall = _precision_recall({k: v for k, v in truth.items() if k in resolved}, resolved)
    print(f"device_id stitching: precision {precision:.4f}, recall {recall:.4f}, {len(resolved):,} devices seen")
    assert (precision, recall) == (1.0, 1.0)
    assert set(resolved) <= set(truth)


def test_every_event_belongs_to_the_owner_of_its_cookie(full_run, sample):
    truth_file = (sample / "ground_truth" / "identity_truth.parquet").as_posix()
    (events, agreeing, stitched) = _query(
        full_run,
        f"""select
                count(*),
                count(*) filter (where stream.customer_id is not distinct from truth.customer_id),
                count(*) filter (where stream.is_stitched)
            from identity.customer_event_stream as stream
            left join read_parquet('{truth_file}') as truth on stream.anonymous_id = truth.anonymous_id""",
    )[0]
    truth = json.loads((sample / "ground_truth" / "ground_truth.json").read_text())
    assert events == truth["valid_rows"]["events"]
    assert agreeing == events
    assert stitched > 0.05 * events, "browsing before a login must be stitched to the customer"


def test_customers_profile_has_every_customer_and_every_order(full_run, sample):
    truth = json.loads((sample / "ground_truth" / "ground_truth.json").read_text())
    (customers, orders, identities, ambiguous) = _query(
        full_run,
        """select count(*), sum(orders_count), sum(identities_count),
                  (select count(*) from identity.ambiguous_identifiers)
           from identity.customers""",
    )[0]
    assert customers == truth["valid_rows"]["customers"] == CUSTOMERS
    assert orders == truth["valid_rows"]["orders"]
    assert identities == _query(full_run, "select count(customer_id) from identity.customer_identities")[0][0]
    assert ambiguous == 0, "the sample business plants no shared identifiers: the guard must flag none"


def test_batch_by_batch_runs_end_where_one_full_run_does(full_run, batched_runs):
    """Snowplow-style: incremental runs over the data split into three batches, two of them with a lagging
    as_of, equal one full run (lineage columns, which record when things were landed and written, excepted)."""
    batched = batched_runs.warehouse
    tables = {
        "intermediate.int_identity_links_observed": 0,
        "identity.customer_identities": 0,
        "identity.customers": 0,
        "identity.customer_event_stream": 0,
        "identity.ambiguous_identifiers": 0,
    }
    with duckdb.connect() as con:
        con.execute(f"attach '{full_run}' as full_run (read_only)")
        con.execute(f"attach '{batched}' as batched (read_only)")
        for table in tables:
            columns = [c for (c,) in con.execute(f"select name from pragma_table_info('full_run.{table}')").fetchall()]
            kept = ", ".join(c for c in columns if c not in LINEAGE_COLUMNS)
            (rows,) = con.execute(f"select count(*) from full_run.{table}").fetchone()
            (differing,) = con.execute(
                f"""select count(*) from (
                        (select {kept} from full_run.{table} except all select {kept} from batched.{table})
                        union all
                        (select {kept} from batched.{table} except all select {kept} from full_run.{table}))"""
            ).fetchone()
            tables[table] = differing
            assert rows > 0 or table == "identity.ambiguous_identifiers", table
    assert tables == dict.fromkeys(tables, 0)


def test_incremental_runs_rewrite_only_what_new_data_touches(batched_runs):
    """The last incremental run rewrote exactly the identity components that a link written in that run
    touches, and re-resolved exactly the earlier events whose cookie or shop account changed customer. Events
    it streamed for the first time: those of the last batch, and those the previous run's as_of left out."""
    with duckdb.connect(str(batched_runs.warehouse), read_only=True) as con:
        (last_run,) = con.execute("select max(_updated_at) from identity.customer_identities").fetchone()
        rewritten, expected, identities = con.execute(
            """with touched as (
                   select identity_id from intermediate.int_identity_links_observed where _updated_at = $last_run
                   union
                   select linked_identity_id from intermediate.int_identity_links_observed
                   where _updated_at = $last_run
               ),
               touched_components as (
                   select component_id from identity.customer_identities
                   where identity_id in (select identity_id from touched)
               )
               select
                   count(*) filter (where _updated_at = $last_run),
                   count(*) filter (where component_id in (select component_id from touched_components)),
                   count(*)
               from identity.customer_identities""",
            {"last_run": last_run},
        ).fetchone()
        (last_landing,) = con.execute("select max(_loaded_at) from identity.customer_event_stream").fetchone()
        re_resolved, expected_re_resolved, new_events, events = con.execute(
            """with reassigned as (
                   select identity_id from identity.customer_identities where _customer_id_changed_at = $last_run
               ),
               classified as (
                   select
                       *,
                       _loaded_at = $last_landing or occurred_at > cast($previous_as_of as timestamp) as is_new
                   from identity.customer_event_stream
               )
               select
                   count(*) filter (where _identity_changed_at = $last_run and not is_new),
                   count(*) filter (where not is_new and (
                       'anonymous_id:' || anonymous_id in (select identity_id from reassigned)
                       or 'shop_customer_id:' || tracked_customer_id in (select identity_id from reassigned))),
                   count(*) filter (where is_new),
                   count(*)
               from classified""",
            {"last_run": last_run, "last_landing": last_landing, "previous_as_of": batched_runs.previous_as_of},
        ).fetchone()
    print(
        f"last incremental run: rewrote {rewritten:,} of {identities:,} identities; added {new_events:,} events "
        f"and re-resolved {re_resolved:,} of the {events - new_events:,} streamed before"
    )
    assert rewritten == expected < identities
    assert re_resolved == expected_re_resolved
    assert 0 < re_resolved < 0.1 * (events - new_events), "logins stitch earlier events, and only those"


def _one_device_customers(identity_truth: pa.Table, full_run: Path) -> list[dict]:
    """Customers with exactly one device that is seen with a device_id, with that device and its cookie."""
    seen_devices = set(_resolved(full_run, "device_id"))
    rows = [r for r in identity_truth.to_pylist() if r["customer_id"] is not None and r["device_id"] in seen_devices]
    per_customer: dict[str, list[dict]] = {}
    for row in rows:
        per_customer.setdefault(row["customer_id"], []).append(row)
    return [devices[0] for _, devices in sorted(per_customer.items()) if len(devices) == 1]


def test_a_shared_family_tablet_is_reported_and_merges_nobody(full_run, identity_truth, dbt_target, tmp_path):
    """Scenario: Bob logs in on Ann's tablet (Ann's only device). The tablet and its cookie are now seen with
    two customers: both are reported and stitch nobody; Ann and Bob stay two customers; Ann's anonymous
    browsing on the tablet can no longer be told apart, so it loses its customer; logged-in events keep theirs."""
    ann, bob = _one_device_customers(identity_truth, full_run)[:2]
    warehouse = _copy_warehouse(full_run, tmp_path)
    (tmp_path / "raw" / "identifies").mkdir(parents=True)
    login_at = datetime.fromisoformat(AS_OF) - timedelta(days=1)
    _write_raw(
        tmp_path,
        "identifies",
        "batch_9001",
        [
            {
                "identify_id": "idf_shared_tablet",
                "anonymous_id": ann["anonymous_id"],
                "device_id": ann["device_id"],
                "customer_id": bob["customer_id"],
                "email": None,
                "occurred_at": login_at,
                "received_at": login_at + timedelta(minutes=1),
            }
        ],
    )
    _land(tmp_path, warehouse)
    built = _build(warehouse, dbt_target)
    assert built.returncode == 0, built.stdout[-4000:]

    reported = _query(
        warehouse, "select identity_id, shop_customer_ids from identity.ambiguous_identifiers order by identity_id"
    )
    pair = ", ".join(sorted([ann["customer_id"], bob["customer_id"]]))
    assert reported == [(f"anonymous_id:{ann['anonymous_id']}", pair), (f"device_id:{ann['device_id']}", pair)]
    resolved = dict(
        _query(
            warehouse,
            "select identity_id, customer_id from identity.customer_identities where identity_id in (?, ?, ?, ?)",
            [
                f"anonymous_id:{ann['anonymous_id']}",
                f"device_id:{ann['device_id']}",
                f"shop_customer_id:{ann['customer_id']}",
                f"shop_customer_id:{bob['customer_id']}",
            ],
        )
    )
    assert resolved == {
        f"anonymous_id:{ann['anonymous_id']}": None,
        f"device_id:{ann['device_id']}": None,
        f"shop_customer_id:{ann['customer_id']}": ann["customer_id"],
        f"shop_customer_id:{bob['customer_id']}": bob["customer_id"],
    }
    tablet_events = _query(
        warehouse,
        """select tracked_customer_id is null, count(*), count(customer_id),
                  count(*) filter (where customer_id = tracked_customer_id)
           from identity.customer_event_stream where anonymous_id = ? group by all order by 1""",
        [ann["anonymous_id"]],
    )
    for is_anonymous, events, with_customer, own_customer in tablet_events:
        if is_anonymous:
            assert with_customer == 0, "anonymous events of a shared cookie belong to nobody"
        else:
            assert with_customer == own_customer == events, "logged-in events keep their own customer"


def test_label_propagation_that_did_not_converge_fails_the_build(full_run, identity_truth, dbt_target, tmp_path):
    """Scenario: a cookie seen only anonymously on Ann's device is two links from Ann. With a bound of one
    iteration the convergence test fails the build (the recovery, a --full-refresh with a higher bound, is
    what every other run here does with the default bound)."""
    ann = _one_device_customers(identity_truth, full_run)[0]
    warehouse = _copy_warehouse(full_run, tmp_path)
    (tmp_path / "raw" / "sessions").mkdir(parents=True)
    started_at = datetime.fromisoformat(AS_OF) - timedelta(hours=3)
    session = dict.fromkeys(SCHEMAS["sessions"].names)
    session |= {
        "session_id": "ses_private_window",
        "anonymous_id": "private-window-cookie",
        "device_id": ann["device_id"],
        "started_at": started_at,
        "received_at": started_at + timedelta(minutes=1),
    }
    _write_raw(tmp_path, "sessions", "batch_9001", [session])
    _land(tmp_path, warehouse)
    one_hop = {**RUN_VARS, "journeys__identity_max_iterations": 1}

    failed = _build(
        warehouse,
        dbt_target,
        select=("path:models/staging", "path:models/intermediate/identity", "customer_identities"),
        run_vars=one_hop,
    )
    assert failed.returncode != 0
    assert "FAIL 1 identity_linked_identifiers_share_a_component_customer_identities" in failed.stdout
    resolved = dict(_query(warehouse, "select identity_id, component_id from identity.customer_identities"))
    assert resolved["anonymous_id:private-window-cookie"] != resolved[f"device_id:{ann['device_id']}"]


def test_identity_unit_tests_pass_after_incremental_runs(batched_runs):
    """dbt unit tests of the identity models (label propagation on a chain, the over-merge guard, consent
    and currency, both incremental modes), run in the last batched build: they read column types from the
    warehouse the incremental runs built."""
    passed = [line for line in batched_runs.last_build_output.splitlines() if " PASS " in line and "::" in line]
    identity_units = [line for line in passed if "::identity_" in line or "::customers_" in line or "::event_" in line]
    assert len(identity_units) == IDENTITY_UNIT_TESTS, "\n".join(passed)

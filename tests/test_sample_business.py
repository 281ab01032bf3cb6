"""The sample-business generator keeps its contract (docs/raw_data.md) and plants what it says it plants.

The defect and effect checks recompute everything from the Parquet files with DuckDB, using the rules of
docs/raw_data.md written out here, not the generator's own code, and compare with the ground truth.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sample_business import generate
from sample_business.__main__ import main as cli_main

PROJECT_ROOT = Path(__file__).resolve().parents[1]
AS_OF = datetime(2026, 11, 1)
TABLES = (
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
KEYS = {
    "customers": "customer_id",
    "consent_events": "consent_event_id",
    "identifies": "identify_id",
    "sessions": "session_id",
    "events": "event_id",
    "orders": "order_id",
    "order_items": "order_item_id",
    "products": "product_id",
    "subscriptions": "subscription_id",
    "support_tickets": "ticket_id",
    "message_engagement": "message_event_id",
    "erasure_requests": "request_id",
}
EVENT_TIME = {
    "customers": "signed_up_at",
    "consent_events": "occurred_at",
    "identifies": "occurred_at",
    "sessions": "started_at",
    "events": "occurred_at",
    "orders": "ordered_at",
    "subscriptions": "trial_started_at",
    "support_tickets": "created_at",
    "message_engagement": "occurred_at",
    "erasure_requests": "requested_at",
}
ACCEPTED = {
    "consent_events": {
        "channel": ["email", "sms", "push"],
        "purpose": ["marketing", "transactional"],
        "status": ["opted_in", "opted_out", "pending_confirmation"],
    },
    "events": {
        "event_name": [
            "page_viewed",
            "product_viewed",
            "cart_updated",
            "checkout_started",
            "order_completed",
            "trial_started",
            "feature_used",
            "subscription_renewal_scheduled",
            "subscription_cancelled",
            "logged_in",
        ]
    },
    "orders": {"currency": ["EUR", "USD", "GBP"]},
    "subscriptions": {"plan": ["basic", "plus", "pro"], "status": ["trialing", "active", "past_due", "cancelled"]},
    "support_tickets": {
        "channel": ["email", "chat", "phone"],
        "priority": ["low", "normal", "high", "urgent"],
        "status": ["open", "pending", "solved", "closed"],
    },
    "message_engagement": {
        "channel": ["email", "sms", "push"],
        "event_type": ["sent", "delivered", "opened", "clicked", "bounced", "unsubscribed", "complained"],
    },
}
NULLABLE_ENUMS = {"message_engagement": {"bounce_type": ["hard", "soft"]}}
AMOUNTS = {"orders": ["revenue", "discount_amount"], "order_items": ["quantity", "unit_price"], "products": ["price"]}
CUSTOMER_TABLES = (
    "consent_events",
    "identifies",
    "sessions",
    "events",
    "orders",
    "subscriptions",
    "support_tickets",
    "message_engagement",
)
EVENT_LIKE = ("events", "sessions", "orders", "order_items", "message_engagement", "consent_events", "identifies")
PLANTED_ODDS = {"paid_search": 1.6, "email": 2.0, "affiliate": 1.3, "organic": 1.2, "referral": 1.1, "direct": 1.4}
MONEY = pa.decimal128(12, 2)


# -- fixtures ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("small")
    generate(data_dir, n_customers=2_000, seed=11, batches=3)
    return data_dir


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Enough sessions for the statistical checks (one chunk, so still fast)."""
    data_dir = tmp_path_factory.mktemp("big")
    generate(data_dir, n_customers=20_000, seed=5)
    return data_dir


def truth(data_dir: Path) -> dict:
    return json.loads((data_dir / "ground_truth" / "ground_truth.json").read_text())


# -- an independent reading of the files: defects by the rules of docs/raw_data.md -----------------------------------
def _checks(table: str, as_of: datetime) -> dict[str, str]:
    """reason -> SQL condition, per the contract (each written out here, not taken from the generator)."""
    checks = {"missing_key": f"{KEYS[table]} is null"}
    enums = [
        f"({c} is null or {c} not in ({', '.join(repr(v) for v in values)}))"
        for c, values in ACCEPTED.get(table, {}).items()
    ]
    enums += [
        f"({c} is not null and {c} not in ({', '.join(repr(v) for v in values)}))"
        for c, values in NULLABLE_ENUMS.get(table, {}).items()
    ]
    if enums:
        checks["invalid_value"] = " or ".join(enums)
    if table in CUSTOMER_TABLES:
        checks["unknown_customer"] = (
            "customer_id is not null and customer_id not in (select customer_id from v_customers)"
        )
    if table in EVENT_TIME:
        column = EVENT_TIME[table]
        checks["timestamp_out_of_range"] = (
            f"{column} < timestamp '2000-01-01' or {column} > timestamp '{as_of}' + interval 1 day"
        )
    if table in AMOUNTS:
        checks["negative_amount"] = " or ".join(f"{c} < 0" for c in AMOUNTS[table])
    if table == "customers":
        checks["invalid_email"] = "email is not null and not regexp_full_match(trim(email), '[^@ ]+@[^@ ]+[.][^@ ]+')"
    return checks


def load(data_dir: Path) -> duckdb.DuckDBPyConnection:
    """All raw files (in landing order), every row flagged per reason, and the valid rows as v_<table>."""
    con = duckdb.connect()
    as_of = datetime.fromisoformat(truth(data_dir)["parameters"]["as_of"])
    for table in ("customers", *[t for t in TABLES if t != "customers"]):
        con.execute(f"""
            create table raw_{table} as
            select *, parse_filename(filename) as _file, file_row_number as _row
            from read_parquet('{data_dir}/raw/{table}/*.parquet', filename = true, file_row_number = true)
        """)
        checks = _checks(table, as_of)
        flags = ", ".join(f"coalesce({condition}, false) as f_{reason}" for reason, condition in checks.items())
        defect_count = " + ".join(f"f_{reason}::int" for reason in checks)
        con.execute(f"""
            create table flagged_{table} as
            with flagged as (select *, {flags} from raw_{table}),
            counted as (select *, {defect_count} as n_defects from flagged)
            select *,
                n_defects = 0 and row_number() over (
                    partition by {KEYS[table]}, n_defects = 0 order by received_at, _file, _row) > 1
                    as f_duplicate_key
            from counted
        """)
        con.execute(
            f"create view v_{table} as select * from flagged_{table} where n_defects = 0 and not f_duplicate_key"
        )
    return con


def found_defects(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, int]:
    columns = [c for c in con.table(f"flagged_{table}").columns if c.startswith("f_")]
    counts = con.execute(
        f"select {', '.join(f'count(*) filter ({c})' for c in columns)} from flagged_{table}"
    ).fetchone()
    return {c.removeprefix("f_"): n for c, n in zip(columns, counts, strict=True) if n}


@pytest.fixture(scope="module")
def small_db(small: Path) -> duckdb.DuckDBPyConnection:
    return load(small)


@pytest.fixture(scope="module")
def big_db(big: Path) -> duckdb.DuckDBPyConnection:
    return load(big)


def scalar(con: duckdb.DuckDBPyConnection, sql: str):
    return con.execute(sql).fetchone()[0]


# -- determinism ---------------------------------------------------------------------------------------------------
def _file_bytes(data_dir: Path) -> dict[str, bytes]:
    return {p.relative_to(data_dir).as_posix(): p.read_bytes() for p in sorted(data_dir.rglob("*")) if p.is_file()}


def test_same_parameters_give_identical_bytes_and_another_seed_differs(tmp_path: Path):
    first, second, other = (
        _file_bytes_of_run(tmp_path / "a", 42),
        _file_bytes_of_run(tmp_path / "b", 42),
        _file_bytes_of_run(tmp_path / "c", 43),
    )
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []
    assert first["raw/events/batch_0001.parquet"] != other["raw/events/batch_0001.parquet"]
    assert first["ground_truth/customers_truth.parquet"] != other["ground_truth/customers_truth.parquet"]


def _file_bytes_of_run(data_dir: Path, seed: int) -> dict[str, bytes]:
    generate(data_dir, n_customers=1_500, seed=seed)
    return _file_bytes(data_dir)


def test_worker_count_does_not_change_the_output(tmp_path: Path):
    generate(tmp_path / "one", n_customers=1_500, seed=3, workers=1, chunk_customers=700)  # 3 chunks -> parts
    generate(tmp_path / "two", n_customers=1_500, seed=3, workers=2, chunk_customers=700)
    one, two = _file_bytes(tmp_path / "one"), _file_bytes(tmp_path / "two")
    assert "raw/events/batch_0001_part_002.parquet" in one
    assert one == two


# -- schema --------------------------------------------------------------------------------------------------------
def _documented_columns() -> dict[str, list[str]]:
    """The column lists of the tables section of docs/raw_data.md."""
    doc = (PROJECT_ROOT / "docs" / "raw_data.md").read_text()
    found = {}
    for line in doc.splitlines():
        match = re.match(r"\| `(\w+)` \| `\w+` \| (.*) \|$", line)
        if match:
            without_notes = re.sub(r"\([^)]*\)", "", match.group(2))
            found[match.group(1)] = [c.strip() for c in without_notes.split(",")]
    return found


def _expected_type(column: str) -> pa.DataType:
    if column == "renewal_due_date":
        return pa.date32()
    if column.endswith("_at"):
        return pa.timestamp("us")
    if column.startswith("is_"):
        return pa.bool_()
    if column in ("quantity", "item_count"):
        return pa.int32()
    if column in ("revenue", "discount_amount", "unit_price", "price", "cart_value"):
        return MONEY
    return pa.string()


def test_every_file_has_the_documented_columns_and_types(small: Path):
    documented = _documented_columns()
    assert sorted(documented) == sorted(TABLES)
    for table in TABLES:
        files = sorted((small / "raw" / table).glob("*.parquet"))
        assert files, table
        for path in files:
            schema = pq.read_schema(path)
            assert schema.names == documented[table], path
            assert [f.type for f in schema] == [_expected_type(c) for c in schema.names], path


def test_files_are_batches_of_received_at_and_nothing_arrives_after_as_of(small: Path, small_db):
    start = datetime.fromisoformat(truth(small)["parameters"]["period_start"])
    window = (AS_OF - start) / 3
    for table in TABLES:
        rows = small_db.execute(
            f"select _file, min(received_at), max(received_at) from raw_{table} group by 1"
        ).fetchall()
        for file, low, high in rows:
            batch = int(re.match(r"batch_(\d{4})\.parquet", file).group(1)) - 1
            assert high <= AS_OF
            if batch > 0:
                assert low >= start + batch * window, (table, file)
            if batch < 2:
                assert high < start + (batch + 1) * window, (table, file)


# -- planted defects -----------------------------------------------------------------------------------------------
def test_malformed_rows_are_exactly_the_planted_ones_with_one_defect_each(small: Path, small_db):
    planted = truth(small)["malformed"]
    for table in TABLES:
        assert scalar(small_db, f"select count(*) from flagged_{table} where n_defects > 1") == 0, table
        expected = {reason: n for reason, n in planted[table].items() if n}
        assert found_defects(small_db, table) == expected, table
        assert scalar(small_db, f"select count(*) from v_{table}") == truth(small)["valid_rows"][table], table


def test_every_applicable_reason_is_planted_in_big_tables(small: Path):
    planted = truth(small)["malformed"]
    assert set(planted["customers"]) == {"missing_key", "duplicate_key", "timestamp_out_of_range", "invalid_email"}
    assert set(planted["order_items"]) == {"missing_key", "duplicate_key", "negative_amount"}
    for table in ("events", "sessions", "message_engagement", "consent_events"):
        assert all(n >= 1 for n in planted[table].values()), table
    total = sum(truth(small)["malformed_total"].values())
    assert 0.0015 < total / sum(truth(small)["valid_rows"].values()) < 0.004


def test_a_duplicate_is_received_after_its_original_and_lands_in_the_same_or_a_later_file(small_db):
    for table in TABLES:
        later = small_db.execute(f"""
            select count(*), count(*) filter (
                where d.received_at >= o.received_at and (d._file, d._row) > (o._file, o._row))
            from flagged_{table} d
            join v_{table} o using ({KEYS[table]})
            where d.f_duplicate_key
        """).fetchone()
        assert later[0] == later[1], table


def test_future_timestamps_are_far_after_as_of_and_received_in_time(small_db):
    bad = small_db.execute("""
        select count(*) filter (where occurred_at > timestamp '2026-11-01' + interval 365 day),
               count(*) filter (where occurred_at < timestamp '2000-01-01'),
               max(received_at)
        from flagged_events where f_timestamp_out_of_range
    """).fetchone()
    assert bad[0] >= 1 and bad[1] >= 1 and bad[2] <= AS_OF


def test_erasure_requests_come_in_the_last_batch_for_real_customers_in_every_form(small: Path, small_db):
    """Each request names a customer who signed up before it, by id, by email (capitalised differently) or both."""
    planted = truth(small)["erasure_requests"]
    assert len(planted) == 3 == truth(small)["rows_written"]["erasure_requests"]
    assert {p["identified_by"] for p in planted} == {"customer_id", "email", "both"}
    assert [p.name for p in (small / "raw" / "erasure_requests").glob("*.parquet")] == ["batch_0003.parquet"]
    resolved = dict(
        small_db.execute("""
            select r.request_id, c.customer_id
            from v_erasure_requests r
            join v_customers c
                on c.customer_id = r.customer_id or c.email = lower(trim(r.email))
            where c.signed_up_at < r.requested_at and r.received_at > r.requested_at
        """).fetchall()
    )
    assert resolved == {p["request_id"]: p["customer_id"] for p in planted}
    by_email = small_db.execute(
        "select count(*) from v_erasure_requests where email is not null and email <> lower(trim(email))"
    ).fetchone()[0]
    assert by_email == 2
    assert {r for (r,) in small_db.execute("select requested_by from v_erasure_requests").fetchall()} <= {
        "privacy_portal",
        "support_agent:agt_017",
        "dpo@northwind.example",
    }


# -- referential integrity and consistency of the valid rows ---------------------------------------------------------
def test_valid_rows_reference_valid_rows(small_db):
    orphans = {
        table: f"select count(*) from v_{table} where customer_id is not null "
        "and customer_id not in (select customer_id from v_customers)"
        for table in CUSTOMER_TABLES
    }
    orphans |= {
        "items_order": "select count(*) from v_order_items where order_id not in (select order_id from v_orders)",
        "items_product": "select count(*) from v_order_items "
        "where product_id not in (select product_id from v_products)",
        "events_product": "select count(*) from v_events where product_id is not null "
        "and product_id not in (select product_id from v_products)",
        "events_session": "select count(*) from v_events where session_id is not null "
        "and session_id not in (select session_id from v_sessions)",
        "orders_session": "select count(*) from v_orders where session_id is not null "
        "and session_id not in (select session_id from v_sessions)",
        "events_order": "select count(*) from v_events where order_id is not null "
        "and order_id not in (select order_id from v_orders)",
    }
    assert {name: scalar(small_db, sql) for name, sql in orphans.items()} == dict.fromkeys(orphans, 0)
    for table in ("consent_events", "identifies", "orders", "subscriptions", "support_tickets", "message_engagement"):
        assert scalar(small_db, f"select count(*) from v_{table} where customer_id is null") == 0, table


def test_order_revenue_equals_its_items_and_its_order_completed_event(small_db):
    mismatches = small_db.execute("""
        with lines as (
            select order_id, sum(quantity * unit_price) as subtotal, sum(quantity) as quantity, count(*) as n
            from v_order_items group by 1
        ),
        completed as (
            select order_id, count(*) as n, any_value(customer_id) as customer_id,
                   any_value(occurred_at) as occurred_at, any_value(cart_value) as cart_value
            from v_events where event_name = 'order_completed' group by 1
        )
        select
            count(*) filter (where l.order_id is null or o.revenue <> l.subtotal - o.discount_amount),
            count(*) filter (where o.item_count <> l.quantity),
            count(*) filter (where c.n is distinct from 1 or c.customer_id <> o.customer_id
                             or c.occurred_at <> o.ordered_at or c.cart_value <> o.revenue),
            count(*)
        from v_orders o
        left join lines l using (order_id)
        left join completed c using (order_id)
    """).fetchone()
    assert mismatches[:3] == (0, 0, 0)
    assert mismatches[3] > 500


def test_events_before_a_login_are_anonymous_and_after_it_identified(small_db):
    wrong = small_db.execute("""
        with first_login as (select anonymous_id, min(occurred_at) as at from v_identifies group by 1)
        select
            count(*) filter (where e.customer_id is not null and (l.at is null or e.occurred_at < l.at)),
            count(*) filter (where e.customer_id is null and e.occurred_at >= l.at),
            count(*) filter (where e.customer_id is not null and e.customer_id <> s.customer_id),
            count(*) filter (where e.customer_id is null),
            count(*)
        from v_events e
        join v_sessions s using (session_id)
        left join first_login l on l.anonymous_id = e.anonymous_id
    """).fetchone()
    assert wrong[:3] == (0, 0, 0)
    assert 0.05 < wrong[3] / wrong[4] < 0.5


def test_sessions_on_a_device_do_not_overlap_and_start_with_their_landing_page(small_db):
    overlapping, wrong_landing = small_db.execute("""
        with spans as (
            select s.session_id, s.device_id, s.started_at, s.landing_page,
                   min(e.occurred_at) as first_event, max(e.occurred_at) as last_event,
                   arg_min(e.page_path, e.occurred_at) as first_page
            from v_sessions s join v_events e using (session_id)
            group by all
        ),
        ordered as (
            select *, lead(started_at) over (partition by device_id order by started_at) as next_start from spans
        )
        select count(*) filter (where next_start <= last_event),
               count(*) filter (where first_event <> started_at or first_page <> landing_page)
        from ordered
    """).fetchone()
    assert (overlapping, wrong_landing) == (0, 0)


def test_identity_truth_matches_the_identifies_and_the_visitors(small: Path, small_db):
    small_db.execute(f"create or replace view identity as select * from '{small}/ground_truth/identity_truth.parquet'")
    result = small_db.execute("""
        select
            (select count(*) from v_identifies i join identity t using (anonymous_id)
             where t.customer_id is distinct from i.customer_id or t.device_id <> i.device_id),
            (select count(*) from (select distinct anonymous_id from v_events) e
             anti join identity t using (anonymous_id)),
            (select count(*) from identity where customer_id is null),
            (select count(*) from v_events e join identity t using (anonymous_id)
             where t.customer_id is null and e.customer_id is not null),
            (select count(distinct anonymous_id) from v_identifies)
    """).fetchone()
    assert result[0] == 0 and result[1] == 0 and result[3] == 0
    assert result[2] == truth(small)["parameters"]["n_anonymous_visitors"]
    assert result[4] > truth(small)["parameters"]["n_customers"]  # many customers use several devices


def test_marketing_messages_are_sent_only_with_consent(small_db):
    without_consent = scalar(
        small_db,
        """
        select count(*) from v_message_engagement m
        where m.event_type = 'sent' and coalesce((
            select arg_max(c.status, c.occurred_at) from v_consent_events c
            where c.customer_id = m.customer_id and c.channel = m.channel and c.purpose = 'marketing'
              and c.occurred_at <= m.occurred_at
        ), 'none') <> 'opted_in'
    """,
    )
    assert without_consent == 0


def test_double_opt_in_and_unsubscribes_look_like_the_real_thing(small_db):
    counts = small_db.execute("""
        select
            count(*) filter (where status = 'pending_confirmation'),
            count(*) filter (where source = 'double_opt_in_email' and status = 'opted_in' and is_double_opt_in),
            count(*) filter (where source = 'double_opt_in_email' and not is_double_opt_in),
            count(*) filter (where status = 'opted_out' and source = 'unsubscribe_link')
        from v_consent_events
    """).fetchone()
    assert counts[0] > counts[1] > 0 and counts[2] == 0
    unsubscribed = scalar(
        small_db,
        "select count(*) from v_message_engagement where event_type in "
        "('unsubscribed', 'complained') and channel = 'email'",
    )
    assert unsubscribed == counts[3]


# -- late rows -----------------------------------------------------------------------------------------------------
def test_late_rows_are_the_planted_ones_and_about_late_rate(small: Path, small_db):
    planted = truth(small)["late"]
    for table in EVENT_LIKE:
        if table == "order_items":
            sql = """select count(*) filter (where i.received_at >= o.ordered_at + interval 1 day), count(*)
                     from v_order_items i join v_orders o using (order_id)"""
        else:
            column = EVENT_TIME[table]
            sql = f"""select count(*) filter (where received_at >= {column} + interval 1 day), count(*)
                      from v_{table}"""
        late, total = small_db.execute(sql).fetchone()
        assert late == planted[table], table
        if total > 5_000:
            assert 0.007 < late / total < 0.013, table
        assert scalar(small_db, f"select count(*) from v_{table} where received_at > timestamp '{AS_OF}'") == 0
    for table in ("customers", "products", "subscriptions", "support_tickets"):
        assert planted[table] == 0


# -- planted effects -----------------------------------------------------------------------------------------------
def test_seventy_percent_of_carts_are_abandoned(big: Path, big_db):
    carts, abandoned = big_db.execute("""
        select count(*), count(*) filter (where c.cart_id not in (
            select cart_id from v_events where event_name = 'order_completed' and cart_id is not null))
        from (select distinct cart_id from v_events where event_name = 'cart_updated') c
    """).fetchone()
    assert carts > 5_000
    assert abs(abandoned / carts - 0.70) < 0.01
    assert truth(big)["realized"]["cart_abandonment_share"] == pytest.approx(0.70, abs=0.001)


CHANNEL_SQL = """
    case
        when utm_medium = 'paid_social' or (utm_medium = 'cpc' and utm_source in ('facebook', 'instagram', 'tiktok'))
            then 'paid_social'
        when utm_medium = 'cpc' then 'paid_search'
        when utm_medium = 'email' then 'email'
        when utm_medium = 'affiliate' then 'affiliate'
        when utm_medium is not null then 'other'
        when regexp_matches(coalesce(referrer, ''), '^https?://([a-z0-9-]+[.])*(google|bing|duckduckgo|yahoo|ecosia)[.]')
            then 'organic'
        when referrer is not null then 'referral'
        else 'direct'
    end
"""


def _logistic_fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-likelihood logistic regression by Newton's method; (coefficients, standard errors)."""
    beta = np.zeros(x.shape[1])
    for _ in range(25):
        p = 1 / (1 + np.exp(-x @ beta))
        hessian = x.T @ (x * (p * (1 - p))[:, None])
        beta = beta + np.linalg.solve(hessian, x.T @ (y - p))
    return beta, np.sqrt(np.diag(np.linalg.inv(hessian)))


def test_channel_odds_ratios_recover_the_planted_logit_model(big: Path, big_db):
    big_db.execute(f"create or replace view persona as select * from '{big}/ground_truth/customers_truth.parquet'")
    rows = big_db.execute(f"""
        select {CHANNEL_SQL} as channel, p.persona,
               s.session_id in (select session_id from v_orders where session_id is not null) as converted
        from v_sessions s join persona p using (customer_id)
    """).fetchall()
    channels = ["paid_social", *PLANTED_ODDS]
    personas = sorted({r[1] for r in rows})
    assert {r[0] for r in rows} == set(channels)
    x = np.zeros((len(rows), len(personas) + len(PLANTED_ODDS)))
    for i, (channel, persona, _) in enumerate(rows):
        x[i, personas.index(persona)] = 1
        if channel != "paid_social":
            x[i, len(personas) + list(PLANTED_ODDS).index(channel)] = 1
    y = np.array([r[2] for r in rows], dtype=float)
    beta, se = _logistic_fit(x, y)
    estimated = dict(zip(PLANTED_ODDS, beta[len(personas) :], strict=True))
    errors = dict(zip(PLANTED_ODDS, se[len(personas) :], strict=True))
    for channel, odds in PLANTED_ODDS.items():
        assert abs(estimated[channel] - np.log(odds)) < 3.5 * errors[channel], (channel, np.exp(estimated[channel]))
    assert estimated["email"] > estimated["paid_search"] > estimated["referral"]
    assert min(estimated.values()) > -0.1  # paid_social (odds ratio 1) is the lowest


def test_opens_cluster_at_the_preferred_local_hour(big: Path, big_db):
    big_db.execute(f"create or replace view persona as select * from '{big}/ground_truth/customers_truth.parquet'")
    share, shifted, opens = big_db.execute("""
        with opens as (
            select hour(timezone(c.time_zone, timezone('UTC', m.occurred_at))) as local_hour,
                   p.preferred_hour_local as preferred
            from v_message_engagement m
            join v_customers c using (customer_id)
            join persona p using (customer_id)
            where m.event_type = 'opened'
        )
        select
            avg(((local_hour - preferred + 25) % 24 <= 2)::int),
            avg(((local_hour - preferred + 12 + 25) % 24 <= 2)::int),
            count(*)
        from opens
    """).fetchone()
    assert opens > 10_000
    assert share == pytest.approx(
        truth(big)["effects"]["engagement"]["expected_share_within_1h_of_preferred_hour"], abs=0.03
    )
    assert shifted < 0.2


def test_engagement_is_higher_on_the_preferred_channel(big: Path, big_db):
    big_db.execute(f"create or replace view persona as select * from '{big}/ground_truth/customers_truth.parquet'")
    rates = dict(
        big_db.execute("""
        with delivered as (
            select m.message_id, p.preferred_channel = 'email' as preferred,
                   exists (select 1 from v_message_engagement o
                           where o.message_id = m.message_id and o.event_type = 'opened') as opened
            from v_message_engagement m join persona p using (customer_id)
            where m.channel = 'email' and m.event_type = 'delivered'
        )
        select preferred, avg(opened::int) from delivered group by 1
    """).fetchall()
    )
    assert rates[True] / rates[False] == pytest.approx(1.6, abs=0.15)


def test_trial_conversion_rate_is_as_planted(big_db):
    converted, decided = big_db.execute("""
        select count(started_at), count(*) from v_subscriptions
        where trial_started_at + interval 14 day <= timestamp '2026-11-01'
    """).fetchone()
    assert decided > 1_000
    assert converted / decided == pytest.approx(0.45, abs=0.04)


def test_about_fifty_events_per_customer(big: Path):
    t = truth(big)
    assert 40 < t["valid_rows"]["events"] / t["parameters"]["n_customers"] < 60


# -- CLI -----------------------------------------------------------------------------------------------------------
def test_cli_generates_and_if_absent_leaves_existing_data_alone(tmp_path: Path, capsys: pytest.CaptureFixture):
    assert cli_main(["--data-dir", str(tmp_path), "--customers", "300", "--seed", "1"]) == 0
    assert "events" in capsys.readouterr().out
    before = _file_bytes(tmp_path)
    assert cli_main(["--data-dir", str(tmp_path), "--customers", "400", "--seed", "2", "--if-absent"]) == 0
    assert "nothing generated" in capsys.readouterr().out
    assert _file_bytes(tmp_path) == before

"""The learnt half of delivery policy, for real: generated raw data landed in DuckDB, dbt builds customer_send_hours
and customer_channel_preferences with everything upstream, and what they learnt is compared with what the
generator planted (ground_truth/customers_truth.parquet: preferred_hour_local, preferred_channel).

The floors are measured (docs/policy_learning.md) minus a margin for sampling noise; each test also shows that a
plausible wrong estimator on the same data stays below its floor, so the floors can fail.
"""

import subprocess
from pathlib import Path
from typing import NamedTuple

import duckdb
import pytest

from orchestration.landing import land_new_files
from sample_business import generate
from tests.dbt_cli import run_dbt

pytestmark = pytest.mark.integration

CUSTOMERS = 2_000
SEED = 47
AS_OF = "2026-11-01T00:00:00"  # the end of the sample history
CHANNELS = ("email", "sms", "push")
# Measured on this data (seed 47, 2,000 customers; docs/policy_learning.md): see each test.
OWN_HOUR_ACCURACY_FLOOR = 0.75
WELL_EVIDENCED_HOUR_ACCURACY_FLOOR = 0.90  # customers with 5+ reactions
CHANNEL_AGREEMENT_FLOOR = 0.80
MULTI_CHANNEL_AGREEMENT_FLOOR = 0.55
POLICY_MODELS = ("int_messages_resolved_to_customers", "customer_send_hours", "customer_channel_preferences")
POLICY_MODELS_AND_UPSTREAM = ("+customer_send_hours", "+customer_channel_preferences")


class Warehouse(NamedTuple):
    path: Path
    truth: Path
    build: subprocess.CompletedProcess
    unit_tests: subprocess.CompletedProcess


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Warehouse:
    data_dir = tmp_path_factory.mktemp("policy_learning_sample")
    target = tmp_path_factory.mktemp("policy_learning_dbt_target")
    generate(data_dir, n_customers=CUSTOMERS, seed=SEED, batches=1)
    path = data_dir / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        land_new_files(con, data_dir)
    # models and data tests as production builds them, then the unit tests of the three policy models
    build = _dbt(
        path,
        target,
        "build",
        "--select",
        *POLICY_MODELS_AND_UPSTREAM,
        "--exclude-resource-type",
        "unit_test",
        "--indirect-selection",
        "cautious",
    )
    unit = _dbt(path, target, "test", "--select", *(f"test_type:unit,{model}" for model in POLICY_MODELS))
    return Warehouse(path, data_dir / "ground_truth" / "customers_truth.parquet", build, unit)


def _dbt(warehouse: Path, target: Path, *args: str) -> subprocess.CompletedProcess:
    return run_dbt(args, warehouse, target, as_of=AS_OF)


def _query(warehouse: Warehouse, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse.path), read_only=True) as con:
        con.execute(f"create temp view truth as select * from read_parquet('{warehouse.truth}')")
        return con.execute(sql).fetchall()


def _share(warehouse: Warehouse, sql: str) -> tuple[float, int]:
    """(share of rows where the query's boolean is true, rows) for a query selecting one boolean per row."""
    rows = _query(warehouse, sql)
    assert rows, sql
    return sum(bool(hit) for (hit,) in rows) / len(rows), len(rows)


def test_models_data_tests_and_unit_tests_pass(warehouse):
    assert warehouse.build.returncode == 0, warehouse.build.stdout[-4000:]
    assert " ERROR=0" in warehouse.build.stdout
    assert warehouse.unit_tests.returncode == 0, warehouse.unit_tests.stdout[-4000:]
    assert "PASS=3 WARN=0 ERROR=0" in warehouse.unit_tests.stdout, warehouse.unit_tests.stdout[-2000:]


def test_every_customer_gets_one_send_hour_and_three_ranked_channels(warehouse):
    ((customers,),) = _query(warehouse, "select count(*) from identity.customers")
    assert _query(warehouse, "select count(*), count(distinct customer_id) from policy.customer_send_hours") == [
        (customers, customers)
    ]
    ranks = _query(
        warehouse,
        "select list(channel order by channel), list(preference_rank order by preference_rank)"
        " from policy.customer_channel_preferences group by customer_id",
    )
    assert len(ranks) == customers
    assert {(tuple(channels), tuple(ranks)) for channels, ranks in ranks} == {(tuple(sorted(CHANNELS)), (1, 2, 3))}


def test_learnt_best_hour_recovers_the_planted_preferred_hour(warehouse):
    """Measured at seed 47: 0.83 of customers with own reactions (n = 1,105), 0.96 with 5+ reactions. The same
    mode taken in UTC instead of the customer's local time (a plausible bug) scores 0.01, far below the floor."""
    accuracy, n = _share(
        warehouse,
        "select hours.best_hour_local = truth.preferred_hour_local from policy.customer_send_hours as hours"
        " inner join truth using (customer_id) where hours.source = 'customer'",
    )
    assert n > 800
    assert accuracy >= OWN_HOUR_ACCURACY_FLOOR, accuracy
    well_evidenced, _ = _share(
        warehouse,
        "select hours.best_hour_local = truth.preferred_hour_local from policy.customer_send_hours as hours"
        " inner join truth using (customer_id) where hours.evidence_count >= 5",
    )
    assert well_evidenced >= WELL_EVIDENCED_HOUR_ACCURACY_FLOOR, well_evidenced
    utc_mode, _ = _share(
        warehouse,
        """
        with utc_hours as (
            select customer_id, hour(first_reaction_at) as hour_utc, count(*) as reactions
            from intermediate.int_messages_resolved_to_customers where is_engaged group by all
        )
        select utc_hours.hour_utc = truth.preferred_hour_local from utc_hours inner join truth using (customer_id)
        qualify row_number() over (partition by customer_id order by reactions desc, hour_utc) = 1
        """,
    )
    assert utc_mode < OWN_HOUR_ACCURACY_FLOOR - 0.3, utc_mode


def test_customers_without_enough_evidence_fall_back_to_their_stage_then_the_global_hour(warehouse):
    """Fallbacks are what their level says; the planted hours do not depend on the lifecycle stage, so a
    fallback is right only about as often as the most common planted hour (0.12), far below own evidence."""
    rows = _query(
        warehouse,
        "select source, evidence_count, best_hour_local, segment_best_hour_local, global_best_hour_local"
        " from policy.customer_send_hours",
    )
    fallbacks = [row for row in rows if row[0] != "customer"]
    assert fallbacks and all(evidence == 0 for _, evidence, *_ in fallbacks)  # the default threshold is 1
    for source, _, best, segment, global_ in fallbacks:
        assert (source, best) == (("segment", segment) if segment is not None else ("global", global_))
    assert {source for source, *_ in rows} >= {"customer", "segment"}
    fallback_accuracy, _ = _share(
        warehouse,
        "select hours.best_hour_local = truth.preferred_hour_local from policy.customer_send_hours as hours"
        " inner join truth using (customer_id) where hours.source != 'customer'",
    )
    assert fallback_accuracy < 0.25
    ((global_hour,),) = _query(warehouse, "select distinct global_best_hour_local from policy.customer_send_hours")
    assert 17 <= global_hour <= 21  # where the planted hour weights peak (effects.PREFERRED_HOUR_WEIGHTS)


def _channels_by_customer(warehouse: Warehouse) -> dict[str, tuple[str, list[tuple]]]:
    """customer -> (planted channel, [(channel, rank, has_evidence, lift)] in rank order)."""
    rows = _query(
        warehouse,
        "select preferences.customer_id, truth.preferred_channel, preferences.channel, preferences.preference_rank,"
        " preferences.has_evidence, preferences.engagement_lift from policy.customer_channel_preferences as preferences"
        " inner join truth using (customer_id) order by preferences.customer_id, preferences.preference_rank",
    )
    customers: dict[str, tuple[str, list[tuple]]] = {}
    for customer, planted, *channel in rows:
        customers.setdefault(customer, (planted, []))[1].append(tuple(channel))
    return customers


def test_learnt_channel_ranking_recovers_the_planted_preferred_channel(warehouse):
    """Among customers with deliveries on their planted channel, rank 1 is that channel for 0.89 (n = 1,049, measured at
    seed 47; most of them were only ever messaged on one channel). Among those with evidence on several channels
    it is 0.67 (n = 359), where ranking the evidenced channels in a fixed email, push, sms order would score 0.64: the
    engagement signal is weak at these message counts (docs/policy_learning.md). Reversing the learnt order of the
    evidenced channels falls far below the floors."""
    learnable = {
        customer: (planted, ranked)
        for customer, (planted, ranked) in _channels_by_customer(warehouse).items()
        if any(channel == planted and has_evidence for channel, _, has_evidence, _ in ranked)
    }
    multi = {customer: value for customer, value in learnable.items() if sum(c[2] for c in value[1]) > 1}
    assert len(learnable) > 800 and len(multi) > 200

    def agreement(customers: dict, reverse: bool = False) -> float:
        hits = 0
        for planted, ranked in customers.values():
            evidenced = [channel for channel, _, has_evidence, _ in ranked if has_evidence]
            hits += (evidenced[-1] if reverse else evidenced[0]) == planted
        return hits / len(customers)

    assert agreement(learnable) >= CHANNEL_AGREEMENT_FLOOR, agreement(learnable)
    assert agreement(multi) >= MULTI_CHANNEL_AGREEMENT_FLOOR, agreement(multi)
    assert agreement(multi, reverse=True) < MULTI_CHANNEL_AGREEMENT_FLOOR - 0.15, agreement(multi, reverse=True)
    # the planted channel is engaged with more than the others: its mean lift is higher
    planted_lifts, other_lifts = [], []
    for planted, ranked in multi.values():
        for channel, _, has_evidence, lift in ranked:
            if has_evidence:
                (planted_lifts if channel == planted else other_lifts).append(lift)
    assert sum(planted_lifts) / len(planted_lifts) > sum(other_lifts) / len(other_lifts) + 0.1


def test_channels_without_evidence_follow_the_global_order(warehouse):
    """Customers never messaged get the global order, by global engagement rate: email (opens), push (opens),
    sms (clicks) on this data; every customer's evidenced channels come before the others."""
    customers = _channels_by_customer(warehouse)
    silent = [ranked for _, ranked in customers.values() if not any(c[2] for c in ranked)]
    assert len(silent) > 100
    assert {tuple(channel for channel, *_ in ranked) for ranked in silent} == {("email", "push", "sms")}
    for _, ranked in customers.values():
        evidence = [has_evidence for _, _, has_evidence, _ in ranked]
        assert evidence == sorted(evidence, reverse=True)

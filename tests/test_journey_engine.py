"""The warehouse journey engine (dbt models in DuckDB) against the plain-Python reference interpreter.

Hypothesis generates event histories (batched: one warehouse holds 200 customers, each a history of its own),
random run cadences, and re-runs; the engine's enrollments, transitions, actions and positions must equal the
reference's exactly (JOURNEYS.md: "How we know the engine is right"). Test journeys in tests/journeys cover
every node type the warehouse engine runs.
"""

from __future__ import annotations

import os
import random
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from journey_engine.reference import History, run, run_sequence
from journey_engine.spec import load_journey
from tests.journey_harness import EngineWarehouse, reference_decisions

pytestmark = pytest.mark.integration

JOURNEYS = [load_journey(path) for path in sorted((Path(__file__).parent / "journeys").glob("*.yml"))]
EVENT_FIELDS = {"amount": pa.int64(), "item": pa.string()}
START = datetime(2026, 3, 20)  # a DST change (Europe, 29 March) falls inside the window
WINDOW_MINUTES = 10 * 24 * 60
END = START + timedelta(days=9)


def customer_histories(seed: int, count: int) -> History:
    """`count` customers with up to 8 events each, drawn from `seed` (hypothesis draws the seeds)."""
    rng = random.Random(seed)
    customers, events = {}, []
    for index in range(count):
        customer_id = f"cus_{index:04d}"
        customers[customer_id] = {
            "time_zone": rng.choice(["Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC"]),
            "is_eu": rng.random() < 0.5,
            "first_name": "Alex",
            "orders_count": rng.randint(0, 3),
            "renewal_due_date": rng.choice([None, (START + timedelta(days=rng.randint(0, 14))).date()]),
        }
        for number in range(rng.randint(0, 8)):
            minute = rng.randint(0, WINDOW_MINUTES)
            if rng.random() < 0.2:  # whole hours now and then, so steps and events share instants (ties)
                minute -= minute % 60
            events.append(
                {
                    "event_id": f"evt_{index:04d}_{number}",
                    "customer_id": customer_id,
                    "event_name": rng.choice(["a", "a", "b", "b", "c", "buy", "stop"]),
                    "occurred_at": START + timedelta(minutes=minute),
                    "amount": rng.randint(0, 10),
                    "item": rng.choice(["x", "y"]),
                }
            )
    return History(customers=customers, events=events, memberships=segment_memberships(seed, count))


def segment_memberships(seed: int, count: int) -> list[dict]:
    """Membership intervals of segments vip and lapsed: up to 2 per customer and segment, open or closed, often
    on whole hours (as run times are) so that entries and exits tie with events and steps."""
    rng = random.Random(f"{seed}-segments")
    memberships = []
    for index in range(count):
        for segment in ("vip", "lapsed"):
            moment = rng.randint(0, WINDOW_MINUTES // 2)
            for _ in range(rng.choice([0, 1, 1, 2])):
                entered = moment - moment % 60 if rng.random() < 0.5 else moment
                exited = entered + rng.randint(60, 4 * 24 * 60)
                is_open = rng.random() < 0.3
                memberships.append(
                    {
                        "customer_id": f"cus_{index:04d}",
                        "segment": segment,
                        "entered_at": START + timedelta(minutes=entered),
                        "exited_at": None if is_open else START + timedelta(minutes=exited),
                    }
                )
                if is_open:
                    break
                moment = exited + rng.randint(60, 2 * 24 * 60)
    return memberships


def _assert_same(engine: dict, reference: dict, label: str) -> None:
    for key in reference:
        only_reference = set(reference[key]) - set(engine[key])
        only_engine = set(engine[key]) - set(reference[key])
        assert not only_reference and not only_engine, (
            f"{label}: {key} differ; reference only: {[dict(row) for row in sorted(only_reference)[:3]]}; "
            f"engine only: {[dict(row) for row in sorted(only_engine)[:3]]}"
        )


# No shrinking: every example costs several dbt runs; the failure message names the seed and cadence instead.
@settings(
    # CI: one example (200 customer histories); `make bench` runs 10 (2,000 histories).
    max_examples=int(os.environ.get("JOURNEYS_DIFFERENTIAL_EXAMPLES", "1")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)
@given(
    seed=st.integers(0, 2**32 - 1),
    cadence=st.lists(st.integers(1, 9 * 24 * 60 - 1), min_size=2, max_size=4, unique=True),
)
def test_engine_equals_reference_for_one_run_and_any_cadence_and_reruns(tmp_path_factory, seed, cadence):
    """200 generated histories: one run at the end; a random cadence of runs; a re-run at the same as_of."""
    history = customer_histories(seed, 200)
    one_run = EngineWarehouse(tmp_path_factory.mktemp("one_run"), JOURNEYS, history, EVENT_FIELDS)
    one_run.run(END)
    expected = reference_decisions(run(journey, history, END) for journey in JOURNEYS)
    assert sum(len(rows) for rows in expected.values()) > 200, "the generated histories must exercise the journeys"
    _assert_same(one_run.decisions(), expected, "one run")

    as_ofs = [START + timedelta(minutes=m) for m in sorted(cadence)] + [END]
    stepwise = EngineWarehouse(tmp_path_factory.mktemp("cadence"), JOURNEYS, history, EVENT_FIELDS)
    for as_of in as_ofs:
        stepwise.run(as_of)
    _assert_same(stepwise.decisions(), expected, f"cadence {as_ofs}")
    reference_stepwise = reference_decisions(run_sequence(journey, history, as_ofs) for journey in JOURNEYS)
    _assert_same(reference_stepwise, expected, "reference cadence")

    before = stepwise.query("select * from journeys.journey_transitions order by transition_id")
    stepwise.run(END)
    assert stepwise.query("select * from journeys.journey_transitions order by transition_id") == before, (
        "re-running at the same as_of must change nothing"
    )


BATCH_SEED = 20261203
LAST = START + timedelta(minutes=WINDOW_MINUTES)  # the latest moment a generated event can have


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """One batch: every event landed, one run at the end of the window (the full run)."""
    history = customer_histories(BATCH_SEED, 200)
    warehouse = EngineWarehouse(tmp_path_factory.mktemp("full_run"), JOURNEYS, history, EVENT_FIELDS)
    warehouse.run(END)
    return history, warehouse.decisions()


@pytest.mark.parametrize("batches", [3, 10])
def test_full_run_equals_incremental_runs_over_3_and_10_batches(tmp_path_factory, full_run, batches):
    """The events land in `batches` batches of on-time data (each batch the events that occurred in its share of
    the window), with a run after each, as_of the batch's end: the engine's final enrollments, transitions,
    actions and positions equal those of the full run (one batch, one run), and the full run's equal the
    reference interpreter's."""
    history, full = full_run
    assert sum(len(rows) for rows in full.values()) > 200, "the generated histories must exercise the journeys"
    _assert_same(full, reference_decisions(run(journey, history, END) for journey in JOURNEYS), "full run")

    warehouse = EngineWarehouse(tmp_path_factory.mktemp(f"batches_{batches}"), JOURNEYS, history, EVENT_FIELDS)
    landed = []
    for number in range(1, batches + 1):
        batch_end = START + (END - START) * number / batches
        # the last batch lands the rest, events after END too, as the full run had them (no run sees them yet)
        landed.append(warehouse.land_events_until(history, EVENT_FIELDS, batch_end if number < batches else LAST))
        warehouse.run(batch_end)
    assert landed[0] < landed[-1] == len(history.events), landed  # the stream grew batch by batch
    _assert_same(warehouse.decisions(), full, f"{batches} batches against the full run (as reference)")


EDITED = {journey.journey_id: journey for journey in JOURNEYS} | {
    journey.journey_id: journey for journey in map(load_journey, (Path(__file__).parent / "journeys_v2").glob("*.yml"))
}


@settings(
    max_examples=int(os.environ.get("JOURNEYS_DIFFERENTIAL_EXAMPLES", "1")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)
@given(seed=st.integers(0, 2**32 - 1), deploy_minute=st.integers(2 * 24 * 60, 6 * 24 * 60))
def test_editing_a_live_journey_equals_the_reference(tmp_path_factory, seed, deploy_minute):
    """j_flow v2 is deployed mid-way (tests/journeys_v2): enrollments waiting in the removed wait_b exit with
    node_removed, those waiting in wait_1d (now an exit node) complete, at the deploying run's as_of; the others
    move on under v2 from where they are; nothing committed changes; engine == reference throughout."""
    history = customer_histories(seed, 200)
    deployed_at = START + timedelta(minutes=deploy_minute)
    as_ofs = [deployed_at - timedelta(hours=6), deployed_at, END]
    versions = [[*JOURNEYS], list(EDITED.values()), list(EDITED.values())]
    warehouse = EngineWarehouse(tmp_path_factory.mktemp("edited"), versions[0], history, EVENT_FIELDS)
    committed_before_edit = None
    for journeys, as_of in zip(versions, as_ofs, strict=True):
        warehouse.deploy(journeys)
        warehouse.run(as_of)
        if committed_before_edit is None:
            committed_before_edit = set(warehouse.query("select * from journeys.journey_transitions"))
    expected = reference_decisions(
        run_sequence(
            [by_run[journey_id] for by_run in ({j.journey_id: j for j in v} for v in versions)], history, as_ofs
        )
        for journey_id in EDITED
    )
    _assert_same(warehouse.decisions(), expected, f"edit deployed at {deployed_at}")
    assert committed_before_edit <= set(warehouse.query("select * from journeys.journey_transitions"))
    stranded = dict(
        warehouse.query(
            f"""select reason, count(*) from journeys.journey_transitions
                where to_node = '__exit__' and transition_at = '{deployed_at.isoformat()}'
                  and from_node in ('wait_b', 'wait_1d') group by reason"""
        )
    )
    assert stranded.get("node_removed", 0) > 0 and stranded.get("exit_node", 0) > 0, stranded


def test_journeys_without_condition_splits_run(tmp_path_factory):
    """When no active journey has a split with conditions, the walk's split step has no condition branch to
    render: it used to render `case else .. end`, which is not SQL, and the run failed."""
    without_splits = [journey for journey in JOURNEYS if journey.journey_id in ("j_once", "j_timing")]
    assert len(without_splits) == 2
    history = customer_histories(7, 100)
    warehouse = EngineWarehouse(tmp_path_factory.mktemp("no_splits"), without_splits, history, EVENT_FIELDS)
    warehouse.run(END)
    expected = reference_decisions(run(journey, history, END) for journey in without_splits)
    assert sum(len(rows) for rows in expected.values()) > 0
    _assert_same(warehouse.decisions(), expected, "journeys without condition splits")

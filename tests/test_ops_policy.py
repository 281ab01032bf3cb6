"""Marketers' controls honoured by delivery policy, on the real dbt models (tests/policy_harness.py): pausing a
journey holds its actions (nothing sent, nothing lost) and resuming releases them unless stale; a run launched
for some journeys evaluates only theirs."""

from datetime import datetime, timedelta

import duckdb
import pytest

from orchestration.journey_status import JourneyStatusError, set_journey_status
from tests.policy_harness import PolicyWarehouse, customer, message

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 10, 9, 0)


def _set(warehouse: PolicyWarehouse, journey_id: str, status: str, at: datetime) -> None:
    with duckdb.connect(str(warehouse.path)) as con:
        change = set_journey_status(con, journey_id, status, "price error in the offer", "maria@shop.example", at)
    assert change.recorded


def test_a_paused_journey_holds_its_actions_and_releases_them_on_resume_unless_stale(tmp_path):
    """promo is paused at 09:00. Its emails due at 10:00 and 11:00 are held (deferred, journey_paused); welcome
    (not paused) sends as usual; a held action is not written again while promo stays paused. promo resumes at
    12:00: both held emails are released. Paused again from 12:30, a promo email due at 13:00 is held; a run
    launched for promo only leaves welcome's new action unevaluated (pending). promo resumes two days later,
    past the 48 h email lateness limit: the held email is suppressed as stale, welcome's is released."""
    warehouse = PolicyWarehouse(
        tmp_path, [customer("ana"), customer("bo")], journeys={"promo": (50, "defer"), "welcome": (50, "defer")}
    )
    with duckdb.connect(str(warehouse.path)) as con, pytest.raises(JourneyStatusError, match="'nope' is not a"):
        set_journey_status(con, "nope", "paused", "why", "maria")
    _set(warehouse, "promo", "paused", T0)
    warehouse.add(
        actions=[
            message("promo_ana", "ana", "email", T0 + timedelta(hours=1), journey_id="promo"),
            message("promo_bo", "bo", "email", T0 + timedelta(hours=2), journey_id="promo"),
            message("welcome_ana", "ana", "email", T0 + timedelta(hours=1), journey_id="welcome"),
        ]
    )
    warehouse.run(T0 + timedelta(hours=1, minutes=5))
    assert warehouse.state("promo_ana")[:3] == ("deferred", "journey_paused", T0 + timedelta(hours=1))
    assert warehouse.state("welcome_ana")[0] == "due"
    ((detail,),) = warehouse.query("select detail from policy.actions_deferred where action_id = 'promo_ana'")
    assert detail == (
        "journey promo paused by maria@shop.example at 2026-11-10 09:00 UTC: price error in the offer "
        "(held until it resumes)"
    )
    assert warehouse.send(T0 + timedelta(hours=1, minutes=6)) == ["welcome_ana"]
    warehouse.run(T0 + timedelta(hours=2, minutes=5))
    assert warehouse.state("promo_bo")[:2] == ("deferred", "journey_paused")
    assert warehouse.query("select count(*) from policy.policy_decisions where action_id = 'promo_ana'") == [(1,)]

    _set(warehouse, "promo", "active", T0 + timedelta(hours=3))
    warehouse.run(T0 + timedelta(hours=3, minutes=5))
    assert warehouse.state("promo_ana")[:2] == ("due", None)
    assert warehouse.state("promo_bo")[:2] == ("due", None)
    assert sorted(warehouse.send(T0 + timedelta(hours=3, minutes=6))) == ["promo_ana", "promo_bo"]

    _set(warehouse, "promo", "paused", T0 + timedelta(hours=3, minutes=30))
    warehouse.add(
        actions=[
            message("promo_late", "bo", "email", T0 + timedelta(hours=4), journey_id="promo"),
            message("welcome_bo", "bo", "email", T0 + timedelta(hours=59), journey_id="welcome"),
        ]
    )
    warehouse.run(T0 + timedelta(hours=4, minutes=5), journeys__selected=["promo"])
    assert warehouse.state("promo_late")[:2] == ("deferred", "journey_paused")
    assert warehouse.state("welcome_bo")[:2] == ("pending", None)

    _set(warehouse, "promo", "active", T0 + timedelta(hours=60))
    warehouse.run(T0 + timedelta(hours=60, minutes=5))
    assert warehouse.state("promo_late")[:2] == ("suppressed", "stale")
    assert warehouse.state("welcome_bo")[:2] == ("due", None)

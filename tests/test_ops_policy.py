"""Marketers' controls honoured by delivery policy, on the real dbt models (tests/policy_harness.py): pausing a
journey holds its actions (nothing sent, nothing lost) and resuming releases them unless stale; a run launched
for some journeys evaluates only theirs."""

from datetime import datetime, timedelta

import duckdb
import pytest

from orchestration.journey_status import JourneyStatusError, set_journey_status
from tests.policy_harness import PolicyWarehouse, consent, customer, message

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 10, 9, 0)


def _set(warehouse: PolicyWarehouse, journey_id: str, status: str, at: datetime) -> None:
    with duckdb.connect(str(warehouse.path)) as con:
        change = set_journey_status(con, journey_id, status, "price error in the offer", "maria@shop.example", at)
    assert change.recorded


def test_a_paused_journey_holds_its_actions_and_releases_them_on_resume_unless_stale(tmp_path):
    """promo is paused at 09:00. Its email and SMS to ana due at 10:00 are held (deferred, journey_paused);
    welcome (not paused) sends as usual. At 11:05, still paused, promo's email to bo is held too, ana's are not
    written again, and welcome's new action stays pending because that run was launched for promo only. promo
    resumes at 12:00; at 05:05 the next day the held email is released (19 h late, email allows 48 h) and the
    held SMS is suppressed as stale (SMS allows 12 h); welcome's action is released."""
    people = [customer("ana"), customer("bo")]
    warehouse = PolicyWarehouse(tmp_path, people, journeys={"promo": (50, "defer"), "welcome": (50, "defer")})
    with duckdb.connect(str(warehouse.path)) as con, pytest.raises(JourneyStatusError, match="'nope' is not a"):
        set_journey_status(con, "nope", "paused", "why", "maria")
    _set(warehouse, "promo", "paused", T0)
    warehouse.add(
        consents=[consent("ana", "sms", "opted_in", T0 - timedelta(days=1))],
        actions=[
            message("promo_ana", "ana", "email", T0 + timedelta(hours=1), journey_id="promo"),
            message("promo_sms_ana", "ana", "sms", T0 + timedelta(hours=1), journey_id="promo"),
            message("welcome_ana", "ana", "email", T0 + timedelta(hours=1), journey_id="welcome"),
        ],
    )
    warehouse.run(T0 + timedelta(hours=1, minutes=5))
    assert warehouse.state("promo_ana")[:3] == ("deferred", "journey_paused", T0 + timedelta(hours=1))
    assert warehouse.state("promo_sms_ana")[:2] == ("deferred", "journey_paused")
    assert warehouse.state("welcome_ana")[0] == "due"
    ((detail,),) = warehouse.query("select detail from policy.actions_deferred where action_id = 'promo_ana'")
    assert detail == (
        "journey promo paused by maria@shop.example at 2026-11-10 09:00 UTC: price error in the offer "
        "(held until it resumes)"
    )
    assert warehouse.send(T0 + timedelta(hours=1, minutes=6)) == ["welcome_ana"]

    warehouse.add(
        actions=[
            message("promo_bo", "bo", "email", T0 + timedelta(hours=2), journey_id="promo"),
            message("welcome_bo", "bo", "email", T0 + timedelta(hours=19), journey_id="welcome"),
        ]
    )
    warehouse.run(T0 + timedelta(hours=2, minutes=5), journeys=["promo"])
    assert warehouse.state("promo_bo")[:2] == ("deferred", "journey_paused")
    assert warehouse.query("select count(*) from policy.policy_decisions where action_id = 'promo_ana'") == [(1,)]
    assert warehouse.state("welcome_bo")[:2] == ("pending", None)

    _set(warehouse, "promo", "active", T0 + timedelta(hours=3))
    warehouse.run(T0 + timedelta(hours=20, minutes=5))
    assert warehouse.state("promo_ana")[:2] == ("due", None)
    assert warehouse.state("promo_bo")[:2] == ("due", None)
    assert warehouse.state("promo_sms_ana")[:2] == ("suppressed", "stale")
    assert warehouse.state("welcome_bo")[:2] == ("due", None)

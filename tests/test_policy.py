"""Delivery policy: named scenarios for every rule, on the real dbt models in DuckDB (tests/policy_harness.py).

Defaults under test (dbt_project.yml, docs/policy.md): SMS and push marketing need opt-in; marketing email needs
opt-in in the EU and no opt-out elsewhere; SMS quiet hours 21:00-08:00 local; at most 1 marketing SMS per 24 h.
"""

from __future__ import annotations

import os
import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.policy_harness import PolicyWarehouse, consent, customer, engagement, message

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 10, 0, 0)


def test_eu_customers_need_opt_in_for_marketing_email_others_need_no_opt_out(tmp_path):
    people = [
        customer("eu_silent", "Europe/Berlin", is_eu=True),
        customer("eu_opted_in", "Europe/Berlin", is_eu=True),
        customer("us_silent", "America/New_York"),
        customer("us_opted_out", "America/New_York"),
    ]
    warehouse = PolicyWarehouse(tmp_path, people)
    at = T0 + timedelta(hours=14)
    warehouse.add(
        consents=[
            consent("eu_opted_in", "email", "opted_in", T0),
            consent("us_opted_out", "email", "opted_out", T0),
        ],
        actions=[
            *(message(f"a_{p['customer_id']}", p["customer_id"], "email", at) for p in people),
            message("receipt_eu_silent", "eu_silent", "email", at, purpose="transactional"),
        ],
    )
    warehouse.run(at + timedelta(minutes=5))
    assert warehouse.state("a_eu_silent")[:2] == ("suppressed", "no_consent")
    assert warehouse.state("receipt_eu_silent")[0] == "due"  # transactional: no opt-out is enough
    assert warehouse.state("a_eu_opted_in")[0] == "due"
    assert warehouse.state("a_us_silent")[0] == "due"
    assert warehouse.state("a_us_opted_out")[:2] == ("suppressed", "no_consent")
    (detail,) = warehouse.query("select detail from policy.actions_suppressed where action_id = 'a_eu_silent'")[0]
    assert detail == "email: no consent (opt_in required, latest none)"


def test_sms_decided_at_22_30_local_is_sent_at_08_00_local_next_morning(tmp_path):
    warehouse = PolicyWarehouse(tmp_path, [customer("berlin", "Europe/Berlin", is_eu=True)])
    decided = datetime(2026, 11, 10, 21, 30)  # 22:30 in Berlin (UTC+1)
    warehouse.add(
        consents=[consent("berlin", "sms", "opted_in", T0)], actions=[message("sms", "berlin", "sms", decided)]
    )
    warehouse.run(decided + timedelta(minutes=15))
    assert warehouse.state("sms")[:3] == ("deferred", "quiet_hours", datetime(2026, 11, 11, 7, 0))
    (detail,) = warehouse.query("select detail from policy.actions_deferred")[0]
    assert detail == "quiet hours for sms in Europe/Berlin: deferred to 2026-11-11 08:00 local"
    warehouse.run(datetime(2026, 11, 11, 3, 0))  # a run in the night changes nothing
    assert warehouse.state("sms")[0] == "deferred"
    warehouse.run(datetime(2026, 11, 11, 7, 5))
    assert warehouse.state("sms")[:2] == ("due", None)


def test_quiet_hours_are_local_sydney_and_los_angeles_in_the_same_run(tmp_path):
    people = [customer("sydney", "Australia/Sydney"), customer("los_angeles", "America/Los_Angeles")]
    warehouse = PolicyWarehouse(tmp_path, people)
    decided = datetime(2026, 11, 10, 18, 0)  # 05:00 in Sydney (UTC+11), 10:00 in Los Angeles (UTC-8)
    warehouse.add(
        consents=[consent(p["customer_id"], "sms", "opted_in", T0) for p in people],
        actions=[message(f"sms_{p['customer_id']}", p["customer_id"], "sms", decided) for p in people],
    )
    warehouse.run(decided + timedelta(minutes=1))
    assert warehouse.state("sms_los_angeles")[0] == "due"
    assert warehouse.state("sms_sydney")[:3] == ("deferred", "quiet_hours", datetime(2026, 11, 10, 21, 0))


def test_quiet_hours_end_at_local_eight_on_the_day_clocks_change(tmp_path):
    # Europe: summer time ends on 25 October 2026 (03:00 -> 02:00); 08:00 that morning is 07:00 UTC, not 06:00.
    # America: it ends on 1 November 2026; 08:00 in New York that morning is 13:00 UTC, not 12:00.
    people = [customer("berlin", "Europe/Berlin", is_eu=True), customer("new_york", "America/New_York")]
    warehouse = PolicyWarehouse(tmp_path, people)
    warehouse.add(
        consents=[consent(p["customer_id"], "sms", "opted_in", datetime(2026, 10, 1)) for p in people],
        actions=[
            message("sms_berlin", "berlin", "sms", datetime(2026, 10, 24, 20, 0)),  # 22:00 CEST
            message("sms_new_york", "new_york", "sms", datetime(2026, 11, 1, 2, 0)),  # 22:00 EDT on 31 October
        ],
    )
    warehouse.run(datetime(2026, 10, 24, 20, 5))
    assert warehouse.state("sms_berlin")[:3] == ("deferred", "quiet_hours", datetime(2026, 10, 25, 7, 0))
    warehouse.run(datetime(2026, 11, 1, 2, 5))
    assert warehouse.state("sms_new_york")[:3] == ("deferred", "quiet_hours", datetime(2026, 11, 1, 13, 0))


def test_two_journeys_compete_for_one_daily_sms_slot_and_priority_wins(tmp_path):
    people = [customer("deferring"), customer("dropping")]
    warehouse = PolicyWarehouse(
        tmp_path, people, journeys={"vip": (80, "defer"), "promo": (20, "defer"), "flash": (10, "drop")}
    )
    at = T0 + timedelta(hours=12)
    warehouse.add(
        consents=[consent(p["customer_id"], "sms", "opted_in", T0) for p in people],
        actions=[
            message("promo_sms", "deferring", "sms", at, journey_id="promo"),
            message("vip_sms", "deferring", "sms", at + timedelta(minutes=1), journey_id="vip"),
            message("flash_sms", "dropping", "sms", at, journey_id="flash"),
            message("vip_sms_2", "dropping", "sms", at, journey_id="vip"),
        ],
    )
    warehouse.run(at + timedelta(minutes=5))
    assert warehouse.state("vip_sms")[:2] == ("due", None)
    assert warehouse.state("promo_sms")[:3] == ("deferred", "frequency_cap", at + timedelta(minutes=5, hours=24))
    assert warehouse.state("vip_sms_2")[0] == "due"
    assert warehouse.state("flash_sms")[:2] == ("suppressed", "frequency_cap")
    warehouse.send(at + timedelta(minutes=6))
    # the slot is taken for 24 hours from the release; after that the deferred SMS goes
    warehouse.run(at + timedelta(hours=20))
    assert warehouse.state("promo_sms")[0] == "deferred"
    warehouse.run(at + timedelta(hours=24, minutes=5))
    assert warehouse.state("promo_sms")[:2] == ("due", None)


def test_an_unsubscribe_at_10_stops_a_message_scheduled_at_11_and_one_due_but_not_sent(tmp_path):
    warehouse = PolicyWarehouse(tmp_path, [customer("eu", "Europe/Berlin", is_eu=True)])
    day = datetime(2026, 11, 10)
    warehouse.add(
        consents=[consent("eu", "email", "opted_in", day)],
        actions=[message("early", "eu", "email", day + timedelta(hours=9))],
    )
    warehouse.run(day + timedelta(hours=9, minutes=5))
    assert warehouse.state("early")[0] == "due"  # released, but activation has not sent it (yet)
    warehouse.add(
        engagements=[engagement("eu", "email", "unsubscribed", day + timedelta(hours=10))],
        actions=[message("late", "eu", "email", day + timedelta(hours=11))],
    )
    warehouse.run(day + timedelta(hours=11, minutes=5))
    assert warehouse.state("late")[:2] == ("suppressed", "no_consent")
    assert warehouse.state("early")[:2] == ("suppressed", "no_consent")
    assert warehouse.query("select count(*) from policy.actions_due") == [(0,)]
    (source,) = warehouse.query("select consent_source from policy.consent_history where valid_to is null")[0]
    assert source == "channel_unsubscribed"


def test_holdout_suppression_list_fallback_channel_unreachable_and_stale(tmp_path):
    people = [
        customer("cus_000000000025"),  # on the staff suppression list (dbt_project/seeds/suppression_list.csv)
        customer("no_phone", phone=None),
        customer("nothing", phone=None, email=None),
        customer("holdout"),
        customer("late"),
        customer("bounced"),
        customer("erased"),
    ]
    warehouse = PolicyWarehouse(tmp_path, people, erased=["erased"])
    at = T0 + timedelta(hours=12)
    warehouse.add(
        consents=[consent(p["customer_id"], "sms", "opted_in", T0) for p in people],
        engagements=[engagement("bounced", "email", "bounced", T0, bounce_type="hard")],
        actions=[
            message("hard_bounce", "bounced", "email", at, fallbacks=["sms"]),
            message("erased", "erased", "email", at),
            message("staff", "cus_000000000025", "email", at),
            message("fallback", "no_phone", "sms", at, fallbacks=["email"]),
            message("unreachable", "nothing", "sms", at, fallbacks=["email"]),
            message("held_out", "holdout", "email", at, variant="holdout"),
            message("stale", "late", "email", at - timedelta(hours=49)),
        ],
    )
    warehouse.run(at + timedelta(minutes=5))
    assert warehouse.state("staff")[:2] == ("suppressed", "suppressed")
    assert warehouse.state("erased")[:2] == ("suppressed", "erased")
    assert warehouse.state("fallback") == ("due", None, at, "email")
    assert warehouse.state("unreachable")[:2] == ("suppressed", "unreachable")
    assert warehouse.state("held_out")[:2] == ("suppressed", "holdout")
    assert warehouse.state("stale")[:2] == ("suppressed", "stale")
    assert warehouse.state("hard_bounce") == ("due", None, at, "sms")  # email unreachable after a hard bounce


def test_send_time_optimisation_and_learnt_channel_preference(tmp_path):
    people = [customer("evening", "Europe/Berlin"), customer("pusher", "UTC"), customer("unknown", "UTC")]
    warehouse = PolicyWarehouse(
        tmp_path,
        people,
        best_hours={"evening": 19},
        channel_ranks={"pusher": ["push", "email", "sms"]},
    )
    at = datetime(2026, 11, 10, 9, 0)  # 10:00 in Berlin
    warehouse.add(
        consents=[consent(p["customer_id"], "push", "opted_in", T0) for p in people],
        actions=[
            message("optimal", "evening", "email", at, send_time="optimal"),
            message("optimal_unknown", "unknown", "email", at, send_time="optimal"),  # no learnt hour: as decided
            message("preferred", "pusher", "email", at, fallbacks=["push"], channel_choice="preferred"),
            message("as_listed", "pusher", "email", at + timedelta(minutes=1), fallbacks=["push"]),
        ],
    )
    warehouse.run(at + timedelta(minutes=5))
    assert warehouse.state("optimal")[:3] == ("deferred", "scheduled", datetime(2026, 11, 10, 18, 0))
    (detail,) = warehouse.query("select detail from policy.actions_deferred where action_id = 'optimal'")[0]
    assert detail == "send-time optimisation: best local hour 19:00 (customer), 2026-11-10 19:00 local"
    assert warehouse.state("optimal_unknown")[0] == "due"
    assert warehouse.state("preferred")[::3] == ("due", "push")
    assert warehouse.state("as_listed")[::3] == ("due", "email")
    warehouse.run(datetime(2026, 11, 10, 18, 5))
    assert warehouse.state("optimal")[:2] == ("due", None)


def test_a_failed_delivery_makes_the_channel_unreachable_until_an_attempt_succeeds(tmp_path):
    warehouse = PolicyWarehouse(tmp_path, [customer("flaky")])
    at = T0 + timedelta(hours=12)
    warehouse.add(
        consents=[consent("flaky", "push", "opted_in", T0)],
        actions=[message("first", "flaky", "email", at, fallbacks=["push"])],
    )
    warehouse.run(at + timedelta(minutes=5))
    assert warehouse.state("first")[::3] == ("due", "email")
    warehouse.fail(at + timedelta(minutes=6), ["first"])
    warehouse.add(actions=[message("second", "flaky", "email", at + timedelta(hours=1), fallbacks=["push"])])
    warehouse.run(at + timedelta(hours=1, minutes=5))
    assert warehouse.state("first")[::3] == ("failed", "email")  # retried on its own channel
    assert warehouse.state("second")[::3] == ("due", "push")  # email unreachable: the fallback
    ((reason,),) = warehouse.query(
        "select unreachable_reason from policy.channel_reachability where customer_id = 'flaky' and channel = 'email'"
    )
    assert reason == "delivery_failed"
    warehouse.send(at + timedelta(hours=1, minutes=6), ["first"])
    warehouse.add(actions=[message("third", "flaky", "email", at + timedelta(hours=2), fallbacks=["push"])])
    warehouse.run(at + timedelta(hours=2, minutes=5))
    assert warehouse.state("third")[::3] == ("due", "email")  # the retry succeeded: email is reachable again


def test_every_action_is_in_exactly_one_state_and_reruns_change_nothing(tmp_path):
    warehouse = PolicyWarehouse(tmp_path, [customer("a", "Europe/Berlin"), customer("b", "Asia/Kolkata")])
    at = T0 + timedelta(hours=20)
    warehouse.add(
        consents=[consent(c, "sms", "opted_in", T0) for c in ("a", "b")],
        actions=[
            message(f"{c}_{i}", c, ch, at + timedelta(minutes=i))
            for c in ("a", "b")
            for i, ch in enumerate(["sms", "sms", "email", "push", "email", "email", "email"])
        ],
    )
    warehouse.run(at + timedelta(minutes=30))
    before = warehouse.query("select * from policy.policy_decisions order by decision_id")
    warehouse.run(at + timedelta(minutes=30))
    assert warehouse.query("select * from policy.policy_decisions order by decision_id") == before
    states = warehouse.query("select action_id, state from policy.action_states")
    assert len(states) == 14 and all(s in {"due", "deferred", "suppressed", "sent", "failed"} for _, s in states)


# --- Property: no due action ever violates consent, suppression, caps or quiet hours --------------------------

ZONES = ["Europe/Berlin", "America/Los_Angeles", "Australia/Sydney", "Asia/Kolkata", "UTC"]
QUIET = {"sms": (21 * 60, 8 * 60), "push": (22 * 60, 8 * 60)}
CAPS = [("sms",), ("email",), ("email", "sms", "push")]
CAP_LIMITS = [(1, 24), (3, 168), (3, 24)]


def _generated(seed: int, count: int):
    rng = random.Random(seed)
    people, consents, engagements, actions = [], [], [], []
    start = datetime(2026, 10, 23)  # the European DST change (25 October) falls inside
    for index in range(count):
        cid = f"c{index:03d}"
        people.append(
            customer(
                cid,
                rng.choice(ZONES),
                is_eu=rng.random() < 0.5,
                phone=None if rng.random() < 0.15 else "+15550100",
                email=None if rng.random() < 0.1 else f"{cid}@example.com",
            )
        )
        for channel in ("email", "sms", "push"):
            for _ in range(rng.randint(0, 2)):
                status = rng.choice(["opted_in", "opted_in", "opted_out", "pending_confirmation"])
                consents.append(consent(cid, channel, status, start + timedelta(minutes=rng.randint(0, 4 * 1440))))
        if rng.random() < 0.1:
            engagements.append(
                engagement(cid, "email", "unsubscribed", start + timedelta(minutes=rng.randint(0, 5760)))
            )
        for number in range(rng.randint(0, 6)):
            channel = rng.choice(["email", "email", "sms", "push", "in_app"])
            fallbacks = rng.choice([[], ["email"] if channel != "email" else ["push"]])
            at = start + timedelta(minutes=rng.randint(0, 5 * 1440))
            journey = rng.choice(["high", "low", "drop"])
            actions.append(
                message(
                    f"{cid}_{number}",
                    cid,
                    channel,
                    at,
                    journey_id=journey,
                    fallbacks=fallbacks,
                    variant="holdout" if rng.random() < 0.05 else "treatment",
                )
            )
    return people, consents, engagements, actions


def _local_minute(at: datetime, zone: str) -> int:
    local = at.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(zone))
    return local.hour * 60 + local.minute


def _permitted(channel, purpose, is_eu, status) -> bool:
    if purpose == "marketing" and (channel in ("sms", "push") or (channel == "email" and is_eu)):
        return status == "opted_in"
    return status != "opted_out"


@settings(
    max_examples=int(os.environ.get("JOURNEYS_POLICY_EXAMPLES", "1")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)
@given(
    seed=st.integers(0, 2**32 - 1), cadence=st.lists(st.integers(1440, 6 * 1440), min_size=3, max_size=5, unique=True)
)
def test_no_due_action_ever_violates_consent_suppression_caps_or_quiet_hours(tmp_path_factory, seed, cadence):
    people, consents, engagements, actions = _generated(seed, 60)
    folder = tmp_path_factory.mktemp("policy_property")
    warehouse = PolicyWarehouse(
        folder, people, journeys={"high": (90, "defer"), "low": (10, "defer"), "drop": (50, "drop")}
    )
    warehouse.add(consents=consents, engagements=engagements, actions=actions)
    by_customer = {p["customer_id"]: p for p in people}
    start = datetime(2026, 10, 23)
    for minute in sorted(cadence):
        as_of = start + timedelta(minutes=minute)
        warehouse.run(as_of)
        warehouse.send(as_of)
    decisions = warehouse.query(
        """select action_id, customer_id, channel, purpose, decided_as_of from policy.policy_decisions
           where state = 'due'"""
    )
    assert decisions, "the generated data must release some actions"
    releases: dict[str, list[tuple[datetime, str]]] = {}
    for action_id, cid, channel, purpose, released_at in decisions:
        person = by_customer[cid]
        if channel is None:
            continue  # CRM and audience actions are not messages; no quiet hours or caps
        known = [
            c
            for c in consents
            if c["customer_id"] == cid
            and c["channel"] == channel
            and c["purpose"] == purpose
            and c["occurred_at"] <= released_at
        ]
        known += [
            {"occurred_at": e["occurred_at"], "consent_status": "opted_out", "consent_event_id": e["message_event_id"]}
            for e in engagements
            if e["customer_id"] == cid
            and e["channel"] == channel
            and e["occurred_at"] <= released_at
            and purpose == "marketing"
        ]
        latest = (
            max(known, key=lambda c: (c["occurred_at"], c["consent_event_id"]))["consent_status"] if known else None
        )
        assert _permitted(channel, purpose, person["is_eu"], latest), (action_id, channel, latest)
        assert {"email": person["email"], "sms": person["phone"], "push": person["push_token"]}.get(channel, "-")
        if channel in QUIET:
            start_minute, end_minute = QUIET[channel]
            minute = _local_minute(released_at, person["time_zone"])
            assert not (minute >= start_minute or minute < end_minute), (action_id, released_at, person["time_zone"])
        releases.setdefault(cid, []).append((released_at, channel))
    for cid, released in releases.items():
        for channels, (limit, hours) in zip(CAPS, CAP_LIMITS, strict=True):
            times = sorted(t for t, ch in released if ch in channels)
            for t in times:
                assert sum(1 for u in times if t - timedelta(hours=hours) < u <= t) <= limit, (cid, channels, t)
    states = dict(warehouse.query("select state, count(*) from policy.action_states group by all"))
    assert sum(states.values()) == len(actions) and set(states) <= {"due", "deferred", "suppressed", "sent", "failed"}

"""The reference interpreter against docs/journey_semantics.md: one named scenario per node type and rule, whose
expected outcome a reader can check by eye, then property tests (hypothesis) of cadence invariance, idempotence
and never-rewritten decisions on generated histories."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journey_engine.__main__ import main as cli_main
from journey_engine.reference import (
    History,
    RunResult,
    bucket,
    is_holdout,
    local_to_utc,
    md5_hex,
    run,
    run_sequence,
)
from journey_engine.spec import EXIT_NODE, JOURNEYS_DIR, Journey, journey_from_text, load_journey, load_journeys

T0 = datetime(2024, 3, 4, 10, 0)  # Monday 4 March 2024, 10:00 UTC
MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
EMAIL = "{kind: message, channel: email, template: reminder, fields: [first_name]}"


def journey(body: str, **top: object) -> Journey:
    """A test journey: entry on cart_updated and re-entry `never` unless the body says otherwise."""
    header = {"journey_id": "test_journey", "version": 1, "entry": "{event: cart_updated}", **top}
    text = "\n".join(f"{key}: {value}" for key, value in header.items()) + "\n" + body
    return journey_from_text(text)


def event(event_id: str, name: str, at: datetime, customer: str = "c1", **fields: object) -> dict:
    return {"event_id": event_id, "customer_id": customer, "event_name": name, "occurred_at": at, **fields}


def history(*events: dict, customers: dict | None = None, memberships: tuple = ()) -> History:
    return History(customers or {"c1": {"time_zone": "UTC"}}, list(events), list(memberships))


def path(result: RunResult, enrollment: int = 0) -> list[tuple]:
    """(from_node, to_node, reason, at) of one enrollment, in order."""
    enrollment_id = result.enrollments[enrollment].enrollment_id
    return [
        (transition.from_node, transition.to_node, transition.reason, transition.at)
        for transition in result.transitions
        if transition.enrollment_id == enrollment_id
    ]


def sent(result: RunResult) -> list[tuple[str, datetime]]:
    return [(action.node_id, action.scheduled_at) for action in result.actions]


def template(name: str) -> Journey:
    return load_journey(JOURNEYS_DIR / f"{name}.yml")


# --- delay (duration), action, exit node, exit rules ----------------------------------------------------------

CART_REMINDER = journey(
    f"""
exit_rules: [{{event: order_completed}}]
start_node: wait_1h
nodes:
  - {{id: wait_1h, type: delay, duration: 1h, next: reminder}}
  - {{id: reminder, type: action, action: {EMAIL}, next: done}}
  - {{id: done, type: exit}}
"""
)


# Two reminders: the enrollment ends 1h + 1d after entry.
CART_REMINDER_BODY = f"""
start_node: wait_1h
nodes:
  - {{id: wait_1h, type: delay, duration: 1h, next: reminder}}
  - {{id: reminder, type: action, action: {EMAIL}, next: wait_1d}}
  - {{id: wait_1d, type: delay, duration: 1d, next: second_reminder}}
  - {{id: second_reminder, type: action, action: {EMAIL}, next: done}}
  - {{id: done, type: exit}}
"""


def test_delay_then_action_then_exit_node() -> None:
    result = run(CART_REMINDER, history(event("e1", "cart_updated", T0)), as_of=T0 + DAY)
    assert path(result) == [
        (None, "wait_1h", "entry", T0),
        ("wait_1h", "reminder", "delay", T0 + HOUR),
        ("reminder", "done", "next", T0 + HOUR),
        ("done", EXIT_NODE, "exit_node", T0 + HOUR),
    ]
    assert sent(result) == [("reminder", T0 + HOUR)]
    (enrollment,) = result.enrollments
    assert (enrollment.status, enrollment.exited_at, enrollment.exit_reason) == ("completed", T0 + HOUR, "exit_node")
    assert result.positions == []


def test_customer_buys_30_minutes_after_abandoning_gets_no_email() -> None:
    result = run(
        CART_REMINDER,
        history(event("e1", "cart_updated", T0), event("e2", "order_completed", T0 + 30 * MINUTE)),
        as_of=T0 + DAY,  # the order and the reminder's time are first seen in the same run: the order still wins
    )
    assert sent(result) == []
    assert path(result)[-1] == ("wait_1h", EXIT_NODE, "exit_rule", T0 + 30 * MINUTE)
    assert (result.enrollments[0].status, result.enrollments[0].exit_reason) == ("exited", "exit_rule")


def test_exit_at_the_same_instant_as_the_action_wins() -> None:
    result = run(
        CART_REMINDER,
        history(event("e1", "cart_updated", T0), event("e2", "order_completed", T0 + HOUR)),
        as_of=T0 + DAY,
    )
    assert sent(result) == []
    assert path(result)[-1] == ("wait_1h", EXIT_NODE, "exit_rule", T0 + HOUR)


def test_exit_event_at_the_entry_instant_does_not_count() -> None:
    result = run(
        CART_REMINDER,
        history(event("e1", "cart_updated", T0), event("e2", "order_completed", T0)),
        as_of=T0 + DAY,
    )
    assert sent(result) == [("reminder", T0 + HOUR)]


def test_an_enrollment_waiting_in_a_delay_has_a_position() -> None:
    result = run(CART_REMINDER, history(event("e1", "cart_updated", T0)), as_of=T0 + 30 * MINUTE)
    (position,) = result.positions
    assert (position.node_id, position.since, position.waiting_for, position.until) == (
        "wait_1h",
        T0,
        "time",
        T0 + HOUR,
    )
    assert result.enrollments[0].status == "active" and sent(result) == []


def test_exit_rule_on_leaving_a_segment() -> None:
    leaves = journey(
        f"""
exit_rules: [{{left_segment: engaged}}]
start_node: wait_1d
nodes:
  - {{id: wait_1d, type: delay, duration: 1d, next: reminder}}
  - {{id: reminder, type: action, action: {EMAIL}, next: done}}
  - {{id: done, type: exit}}
"""
    )
    membership = {"customer_id": "c1", "segment": "engaged", "entered_at": T0 - DAY, "exited_at": T0 + 2 * HOUR}
    result = run(leaves, history(event("e1", "cart_updated", T0), memberships=(membership,)), as_of=T0 + 2 * DAY)
    assert sent(result) == []
    assert path(result)[-1] == ("wait_1d", EXIT_NODE, "exit_rule", T0 + 2 * HOUR)


def test_events_without_a_customer_never_enter() -> None:
    result = run(CART_REMINDER, history(event("e1", "cart_updated", T0, customer=None)), as_of=T0 + DAY)
    assert result.enrollments == []


def test_a_run_does_not_see_what_happens_after_its_as_of() -> None:
    leaves = journey(CART_REMINDER_BODY, exit_rules="[{left_segment: engaged}]")
    membership = {"customer_id": "c1", "segment": "engaged", "entered_at": T0 - DAY, "exited_at": T0 + 5 * HOUR}
    early = run(leaves, history(event("e1", "cart_updated", T0), memberships=(membership,)), as_of=T0 + 2 * HOUR)
    assert early.enrollments[0].status == "active"  # the segment exit at T0 + 5h has not happened yet
    assert [(position.node_id, position.until) for position in early.positions] == [("wait_1d", T0 + HOUR + DAY)]
    assert all(transition.at <= T0 + 2 * HOUR for transition in early.transitions)


def test_ids_follow_the_documented_formulas() -> None:
    result = run(CART_REMINDER, history(event("e1", "cart_updated", T0)), as_of=T0 + DAY)
    enrollment_id = hashlib.md5(b"test_journey|c1|e1").hexdigest()
    assert result.enrollments[0].enrollment_id == enrollment_id
    assert result.actions[0].action_id == hashlib.md5(f"test_journey|{enrollment_id}|reminder".encode()).hexdigest()
    assert bucket("900150983cd24fb0d6963f7d28e17f72", 100) == 648541476951500027 % 100  # DuckDB gives the same


# --- wait_for -------------------------------------------------------------------------------------------------

WAIT_FOR_ORDER = journey(
    f"""
start_node: wait_order
nodes:
  - {{id: wait_order, type: wait_for, event: order_completed, timeout: 1h, on_event: bought, on_timeout: reminder}}
  - {{id: reminder, type: action, action: {EMAIL}, next: done}}
  - {{id: bought, type: exit}}
  - {{id: done, type: exit}}
"""
)


def test_wait_for_event_exactly_at_the_timeout_boundary_wins() -> None:
    result = run(
        WAIT_FOR_ORDER,
        history(event("e1", "cart_updated", T0), event("e2", "order_completed", T0 + HOUR)),
        as_of=T0 + DAY,
    )
    assert path(result)[1] == ("wait_order", "bought", "event", T0 + HOUR)
    assert sent(result) == []


def test_wait_for_event_a_second_after_the_timeout_is_too_late() -> None:
    result = run(
        WAIT_FOR_ORDER,
        history(event("e1", "cart_updated", T0), event("e2", "order_completed", T0 + HOUR + timedelta(seconds=1))),
        as_of=T0 + DAY,
    )
    assert path(result)[1] == ("wait_order", "reminder", "timeout", T0 + HOUR)
    assert sent(result) == [("reminder", T0 + HOUR)]


def test_timeout_exactly_at_as_of_is_decided_in_that_run() -> None:
    carts = history(event("e1", "cart_updated", T0))
    at_timeout = run(WAIT_FOR_ORDER, carts, as_of=T0 + HOUR)
    assert sent(at_timeout) == [("reminder", T0 + HOUR)]
    just_before = run(WAIT_FOR_ORDER, carts, as_of=T0 + HOUR - timedelta(seconds=1))
    assert sent(just_before) == []
    (position,) = just_before.positions
    assert (position.node_id, position.waiting_for, position.until) == ("wait_order", "event", T0 + HOUR)


def test_wait_for_only_counts_events_matching_where() -> None:
    first_use = journey(
        f"""
start_node: wait_use
nodes:
  - id: wait_use
    type: wait_for
    event: feature_used
    where: [{{field: feature_name, op: "=", value: wishlist_alerts}}]
    timeout: 1d
    on_event: tutorial
    on_timeout: done
  - {{id: tutorial, type: action, action: {EMAIL}, next: done}}
  - {{id: done, type: exit}}
"""
    )
    result = run(
        first_use,
        history(
            event("e1", "cart_updated", T0),
            event("e2", "feature_used", T0 + HOUR, feature_name="early_access"),
            event("e3", "feature_used", T0 + 2 * HOUR, feature_name="wishlist_alerts"),
        ),
        as_of=T0 + 2 * DAY,
    )
    assert path(result)[1] == ("wait_use", "tutorial", "event", T0 + 2 * HOUR)


def test_wait_for_a_segment_counts_only_an_entry_after_arrival() -> None:
    becomes_vip = journey(
        f"""
start_node: wait_vip
nodes:
  - {{id: wait_vip, type: wait_for, segment: vip, timeout: 1d, on_event: welcome, on_timeout: done}}
  - {{id: welcome, type: action, action: {EMAIL}, next: done}}
  - {{id: done, type: exit}}
"""
    )
    already = {"customer_id": "c1", "segment": "vip", "entered_at": T0 - DAY, "exited_at": None}
    result = run(becomes_vip, history(event("e1", "cart_updated", T0), memberships=(already,)), as_of=T0 + 2 * DAY)
    assert path(result)[1] == ("wait_vip", "done", "timeout", T0 + DAY)
    later = {"customer_id": "c1", "segment": "vip", "entered_at": T0 + 3 * HOUR, "exited_at": None}
    result = run(becomes_vip, history(event("e1", "cart_updated", T0), memberships=(later,)), as_of=T0 + 2 * DAY)
    assert path(result)[1] == ("wait_vip", "welcome", "event", T0 + 3 * HOUR)


# --- entry: re-entry rules, dedupe key, audience ---------------------------------------------------------------


def three_carts(*times: datetime) -> History:
    return history(*(event(f"e{index}", "cart_updated", at) for index, at in enumerate(times, start=1)))


def test_reentry_never_enrolls_a_customer_once() -> None:
    result = run(CART_REMINDER, three_carts(T0, T0 + 2 * DAY), as_of=T0 + 5 * DAY)
    assert [enrollment.entry_id for enrollment in result.enrollments] == ["e1"]
    assert [(skipped.entry_id, skipped.reason) for skipped in result.skipped_entries] == [("e2", "reentry_never")]


def test_reentry_always_waits_until_the_active_enrollment_ended() -> None:
    always = journey(CART_REMINDER_BODY, reentry="{rule: always}")
    ends = T0 + HOUR + DAY  # after the second reminder
    result = run(always, three_carts(T0, T0 + 30 * MINUTE, ends), as_of=T0 + 3 * DAY)
    # e2 arrives while e1 still waits; e1 ends at the instant e3 arrives, so e3 may enter.
    assert [enrollment.entry_id for enrollment in result.enrollments] == ["e1", "e3"]
    assert [(skipped.entry_id, skipped.reason) for skipped in result.skipped_entries] == [("e2", "reentry_active")]


def test_reentry_during_the_cooldown_is_refused() -> None:
    cooldown = journey(CART_REMINDER_BODY, reentry="{rule: cooldown, cooldown: 1d}")
    ended = T0 + HOUR + DAY  # e1 completes after its second reminder
    result = run(cooldown, three_carts(T0, ended + 2 * HOUR, ended + DAY), as_of=T0 + 5 * DAY)
    assert [enrollment.entry_id for enrollment in result.enrollments] == ["e1", "e3"]  # e3: exactly 1d after the end
    assert [(skipped.entry_id, skipped.reason) for skipped in result.skipped_entries] == [("e2", "reentry_cooldown")]


def test_win_back_the_order_that_ends_an_enrollment_starts_the_next() -> None:
    orders = history(
        *(
            event(f"o{index}", "order_completed", T0 + offset * DAY)
            for index, offset in enumerate((0, 10, 100, 175), start=1)
        )
    )
    result = run(template("win_back"), orders, as_of=T0 + 200 * DAY)
    # o2 ends o1's enrollment (ordered again) and starts its own; that one lapses at day 10 + 60 + 14 = 84;
    # o3 (day 100) falls in the 90-day cool-down; o4 (day 175) is 91 days after the end.
    assert [enrollment.entry_id for enrollment in result.enrollments] == ["o1", "o2", "o4"]
    assert [(skipped.entry_id, skipped.reason) for skipped in result.skipped_entries] == [("o3", "reentry_cooldown")]
    assert path(result, 0)[-2:] == [
        ("wait_next_order", "ordered_again", "event", T0 + 10 * DAY),
        ("ordered_again", EXIT_NODE, "exit_node", T0 + 10 * DAY),
    ]
    assert [node for node, _ in sent(result)[:2]] == ["win_back_offer", "last_reminder"]
    assert result.enrollments[1].exited_at == T0 + 84 * DAY


def test_dedupe_key_allows_one_enrollment_per_key_value() -> None:
    per_product = journey(
        CART_REMINDER_BODY, entry="{event: product_viewed, dedupe_key: product_id}", reentry="{rule: always}"
    )
    views = history(
        event("e1", "product_viewed", T0, product_id="p1"),
        event("e2", "product_viewed", T0 + 2 * DAY, product_id="p1"),  # e1's enrollment has ended by now
        event("e3", "product_viewed", T0 + 4 * DAY, product_id="p2"),
        event("e4", "product_viewed", T0 + 6 * DAY, product_id=None),
        event("e5", "product_viewed", T0 + 8 * DAY, product_id=None),
    )
    result = run(per_product, views, as_of=T0 + 10 * DAY)
    assert [enrollment.entry_id for enrollment in result.enrollments] == ["e1", "e3", "e4", "e5"]  # null never matches
    assert [(skipped.entry_id, skipped.reason) for skipped in result.skipped_entries] == [("e2", "dedupe")]


def test_entry_where_and_audience_filter_candidates() -> None:
    filtered = journey(
        CART_REMINDER_BODY,
        entry="{event: cart_updated, where: [{field: cart_value, op: '>', value: 20}], "
        "audience: [{attribute: country_code, op: in, value: [DE, FR]}]}",
        reentry="{rule: always}",
    )
    customers = {"c1": {"country_code": "DE"}, "c2": {"country_code": "US"}}
    carts = history(
        event("e1", "cart_updated", T0, cart_value=10),
        event("e2", "cart_updated", T0 + 2 * HOUR, cart_value=50),
        event("e3", "cart_updated", T0, customer="c2", cart_value=50),
        customers=customers,
    )
    result = run(filtered, carts, as_of=T0 + DAY)
    assert [enrollment.entry_id for enrollment in result.enrollments] == ["e2"]
    assert [(skipped.entry_id, skipped.reason) for skipped in result.skipped_entries] == [("e3", "audience")]


def test_segment_entry_enrolls_at_entered_at() -> None:
    on_segment = journey(CART_REMINDER_BODY, entry="{segment: lapsing}")
    membership = {"customer_id": "c1", "segment": "lapsing", "entered_at": T0, "exited_at": None}
    result = run(on_segment, history(memberships=(membership,)), as_of=T0 + DAY)
    (enrollment,) = result.enrollments
    assert (enrollment.entry_id, enrollment.entered_at) == ("segment:lapsing:2024-03-04T10:00:00.000000", T0)
    assert enrollment.enrollment_id == md5_hex("test_journey", "c1", "segment:lapsing:2024-03-04T10:00:00.000000")


# --- holdout --------------------------------------------------------------------------------------------------


def test_holdout_bucketing_is_deterministic_and_near_the_percentage() -> None:
    with_holdout = journey(CART_REMINDER_BODY, holdout_percent=20)
    customers = {f"c{index}": {} for index in range(2000)}
    carts = history(*(event(f"e{index}", "cart_updated", T0, customer=f"c{index}") for index in range(2000)))
    carts.customers = customers
    first = run(with_holdout, carts, as_of=T0 + DAY)
    assert run(with_holdout, carts, as_of=T0 + DAY) == first
    for enrollment in first.enrollments:
        expected = int(hashlib.md5(enrollment.enrollment_id.encode()).hexdigest()[:15], 16) % 100 < 20
        assert (enrollment.variant == "holdout") == expected
    share = sum(enrollment.variant == "holdout" for enrollment in first.enrollments) / 2000
    assert 0.17 < share < 0.23
    # Held-out enrollments walk the same path; their actions are decided, marked holdout, never sent.
    assert len(first.actions) == 2000
    assert {action.variant for action in first.actions} == {"holdout", "treatment"}
    assert not is_holdout(first.enrollments[0].enrollment_id, 0)


# --- split: random, conditions ----------------------------------------------------------------------------------

AB_TEST = journey(
    f"""
start_node: wait_1h
nodes:
  - {{id: wait_1h, type: delay, duration: 1h, next: ab}}
  - {{id: ab, type: split, random: [{{weight: 70, next: variant_a}}, {{weight: 30, next: variant_b}}]}}
  - {{id: variant_a, type: action, action: {EMAIL}, next: done}}
  - {{id: variant_b, type: action, action: {{kind: message, channel: sms, template: reminder_sms}}, next: done}}
  - {{id: done, type: exit}}
"""
)


def test_random_split_is_sticky_and_roughly_proportional_over_10k_enrollments() -> None:
    size = 10_000
    carts = history(*(event(f"e{index}", "cart_updated", T0, customer=f"c{index}") for index in range(size)))
    carts.customers = {f"c{index}": {} for index in range(size)}
    once = run(AB_TEST, carts, as_of=T0 + DAY)
    chosen = {action.enrollment_id: action.node_id for action in once.actions}
    share_a = sum(node == "variant_a" for node in chosen.values()) / size
    assert 0.68 < share_a < 0.72
    for enrollment_id, node in list(chosen.items())[:200]:
        expected = "variant_a" if int(md5_hex(enrollment_id, "ab")[:15], 16) % 100 < 70 else "variant_b"
        assert node == expected
    # Sticky: deciding in pieces (before and after the split) gives every enrollment the same branch.
    stepped = run_sequence(AB_TEST, carts, [T0 + 30 * MINUTE, T0 + DAY])
    assert {action.enrollment_id: action.node_id for action in stepped.actions} == chosen


CONDITION_SPLIT = journey(
    f"""
start_node: check
nodes:
  - id: check
    type: split
    conditions:
      - when: [{{attribute: is_eu, op: "=", value: true}}, {{has_event: page_viewed, within: 7d}}]
        next: eu_active
      - when: [{{in_segment: vip}}]
        next: vip
      - when: [{{attribute: country_code, op: is_null}}]
        next: unknown_country
    else: other
  - {{id: eu_active, type: action, action: {EMAIL}, next: done}}
  - {{id: vip, type: action, action: {EMAIL}, next: done}}
  - {{id: unknown_country, type: action, action: {EMAIL}, next: done}}
  - {{id: other, type: action, action: {EMAIL}, next: done}}
  - {{id: done, type: exit}}
"""
)


@pytest.mark.parametrize(
    ("attributes", "page_view_at", "vip_since", "branch"),
    [
        ({"is_eu": True, "country_code": "DE"}, T0 - 6 * DAY, None, "eu_active"),
        ({"is_eu": True, "country_code": "DE"}, T0 - 7 * DAY, None, "other"),  # (t - 7d, t]: exactly 7d is out
        ({"is_eu": True, "country_code": "DE"}, T0 + MINUTE, None, "other"),  # after the split: not yet seen
        ({"is_eu": False, "country_code": "US"}, T0 - DAY, T0 - DAY, "vip"),
        ({"is_eu": None, "country_code": "US"}, T0 - DAY, None, "other"),  # null is false for "="
        ({"is_eu": False, "country_code": "US"}, T0 - DAY, T0 + MINUTE, "other"),  # not yet vip at t
        ({"is_eu": False}, None, None, "unknown_country"),
    ],
)
def test_condition_split_takes_the_first_branch_that_holds_at_arrival(
    attributes: dict, page_view_at: datetime | None, vip_since: datetime | None, branch: str
) -> None:
    events = [event("e1", "cart_updated", T0)]
    if page_view_at is not None:
        events.append(event("e0", "page_viewed", page_view_at))
    memberships = ({"customer_id": "c1", "segment": "vip", "entered_at": vip_since, "exited_at": None},)
    result = run(
        CONDITION_SPLIT,
        history(*events, customers={"c1": attributes}, memberships=memberships if vip_since else ()),
        as_of=T0 + DAY,
    )
    assert path(result)[1] == ("check", branch, "condition", T0)


# --- goal -----------------------------------------------------------------------------------------------------


def test_goal_conversion_is_recorded_and_the_journey_goes_on() -> None:
    measured = journey(CART_REMINDER_BODY, goal="{event: order_completed, within: 3d}")
    result = run(
        measured,
        history(event("e1", "cart_updated", T0), event("e2", "order_completed", T0 + 2 * HOUR)),
        as_of=T0 + 5 * DAY,
    )
    assert result.enrollments[0].converted_at == T0 + 2 * HOUR
    assert [node for node, _ in sent(result)] == ["reminder", "second_reminder"]


def test_goal_exit_ends_the_enrollment_and_suppresses_later_actions() -> None:
    exits = journey(CART_REMINDER_BODY, goal="{event: order_completed, within: 3d, exits: true}")
    result = run(
        exits,
        history(event("e1", "cart_updated", T0), event("e2", "order_completed", T0 + 2 * HOUR)),
        as_of=T0 + 5 * DAY,
    )
    assert sent(result) == [("reminder", T0 + HOUR)]
    assert path(result)[-1] == ("wait_1d", EXIT_NODE, "goal", T0 + 2 * HOUR)
    enrollment = result.enrollments[0]
    assert (enrollment.status, enrollment.exit_reason, enrollment.converted_at) == ("exited", "goal", T0 + 2 * HOUR)


def test_goal_after_the_journey_completed_still_counts_within_the_window() -> None:
    measured = journey(CART_REMINDER_BODY, goal="{event: order_completed, within: 3d, exits: true}")
    orders_late = history(event("e1", "cart_updated", T0), event("e2", "order_completed", T0 + 2 * DAY))
    result = run(measured, orders_late, as_of=T0 + 5 * DAY)
    enrollment = result.enrollments[0]
    assert (enrollment.status, enrollment.exit_reason) == ("completed", "exit_node")
    assert enrollment.converted_at == T0 + 2 * DAY
    too_late = history(event("e1", "cart_updated", T0), event("e2", "order_completed", T0 + 3 * DAY + MINUTE))
    assert run(measured, too_late, as_of=T0 + 5 * DAY).enrollments[0].converted_at is None


def test_goal_and_exit_rule_at_the_same_instant_end_with_reason_goal() -> None:
    result = run(
        template("browse_abandonment"),
        history(event("v1", "product_viewed", T0, product_id="p1"), event("o1", "order_completed", T0 + 2 * DAY)),
        as_of=T0 + 40 * DAY,
    )
    assert sent(result) == [("reminder_email", T0 + DAY)]
    assert path(result)[-1] == ("wait_until_day_3", EXIT_NODE, "goal", T0 + 2 * DAY)


# --- delay: local window (DST) and until_attribute ---------------------------------------------------------------

DAYTIME = journey(
    f"""
start_node: daytime
nodes:
  - id: daytime
    type: delay
    until_local_window: {{days: [mon, tue, wed, thu, fri, sat, sun], start: "09:00", end: "18:00"}}
    next: reminder
  - {{id: reminder, type: action, action: {EMAIL}, next: done}}
  - {{id: done, type: exit}}
"""
)
WEEKDAYS_ONLY = journey(
    f"""
start_node: daytime
nodes:
  - id: daytime
    type: delay
    until_local_window: {{days: [mon, tue, wed, thu, fri], start: "09:00", end: "18:00"}}
    next: reminder
  - {{id: reminder, type: action, action: {EMAIL}, next: done}}
  - {{id: done, type: exit}}
"""
)


@pytest.mark.parametrize(
    ("window", "arrives", "moves", "why"),
    [
        (DAYTIME, datetime(2024, 3, 4, 10, 0), datetime(2024, 3, 4, 10, 0), "11:00 CET is inside: at once"),
        (DAYTIME, datetime(2024, 3, 4, 17, 0), datetime(2024, 3, 5, 8, 0), "18:00 CET: the end is exclusive"),
        (DAYTIME, datetime(2024, 3, 30, 20, 0), datetime(2024, 3, 31, 7, 0), "09:00 CEST on the day of the change"),
        (DAYTIME, datetime(2024, 3, 31, 17, 0), datetime(2024, 4, 1, 7, 0), "09:00 CEST the day after the change"),
        (DAYTIME, datetime(2024, 10, 26, 17, 0), datetime(2024, 10, 27, 8, 0), "09:00 CET on the day back"),
        (DAYTIME, datetime(2024, 10, 27, 17, 0), datetime(2024, 10, 28, 8, 0), "18:00 CET is out: next morning"),
        (WEEKDAYS_ONLY, datetime(2024, 3, 8, 17, 30), datetime(2024, 3, 11, 8, 0), "Friday evening: Monday 09:00"),
    ],
)
def test_local_window_delay_in_berlin_across_dst_changes(
    window: Journey, arrives: datetime, moves: datetime, why: str
) -> None:
    result = run(
        window,
        history(event("e1", "cart_updated", arrives), customers={"c1": {"time_zone": "Europe/Berlin"}}),
        as_of=arrives + 5 * DAY,
    )
    assert path(result)[1] == ("daytime", "reminder", "delay", moves), why


def test_local_times_in_a_dst_gap_move_forward_and_in_a_fold_take_the_later_occurrence() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # 02:30 does not exist on 31 March (clocks jump 02:00 -> 03:00): it means 03:30 CEST = 01:30 UTC.
    assert local_to_utc(date(2024, 3, 31), 150, berlin) == datetime(2024, 3, 31, 1, 30)
    # 02:30 happens twice on 27 October: the later one, 02:30 CET = 01:30 UTC (as DuckDB's timezone() does).
    assert local_to_utc(date(2024, 10, 27), 150, berlin) == datetime(2024, 10, 27, 1, 30)
    assert local_to_utc(date(2024, 10, 27), 0, berlin) == datetime(2024, 10, 26, 22, 0)


def test_missing_time_zone_means_utc() -> None:
    friday_evening = datetime(2024, 3, 8, 18, 30)
    result = run(
        WEEKDAYS_ONLY, history(event("e1", "cart_updated", friday_evening), customers={"c1": {}}), T0 + 30 * DAY
    )
    assert path(result)[1] == ("daytime", "reminder", "delay", datetime(2024, 3, 11, 9, 0))


@pytest.mark.parametrize(
    ("due", "reminder_at", "why"),
    [
        # Local midnight of 15 March in Berlin is 14 March 23:00 UTC; minus 3 days: Tuesday 12 March 00:00 CET;
        # then the working-hours window: Tuesday 09:00 CET = 08:00 UTC.
        (date(2024, 3, 15), datetime(2024, 3, 12, 8, 0), "three days before, then working hours"),
        # Midnight of 2 April is 1 April 22:00 UTC (CEST); minus 72 hours is Friday 29 March 23:00 CET (days are
        # 24 hours), outside working hours; the next weekday 09:00 is Monday 1 April 09:00 CEST = 07:00 UTC.
        (date(2024, 4, 2), datetime(2024, 4, 1, 7, 0), "the offset crosses the DST change in hours"),
        (date(2024, 3, 1), datetime(2024, 3, 4, 10, 0), "a due date in the past: at once (inside working hours)"),
        (None, datetime(2024, 3, 4, 10, 0), "no due date: at once"),
    ],
)
def test_renewal_reminder_until_attribute_then_local_window(due: date | None, reminder_at: datetime, why: str) -> None:
    customers = {"c1": {"time_zone": "Europe/Berlin", "renewal_due_date": due}}
    result = run(
        template("renewal"),
        history(event("e1", "subscription_renewal_scheduled", T0), customers=customers),
        as_of=T0 + 60 * DAY,
    )
    assert sent(result) == [("renewal_reminder", reminder_at)], why


# --- templates end to end -------------------------------------------------------------------------------------


def test_browse_abandonment_without_an_order_walks_the_whole_escalation() -> None:
    result = run(
        template("browse_abandonment"),
        history(event("v1", "product_viewed", T0, product_id="p1")),
        as_of=T0 + 40 * DAY,
    )
    assert sent(result) == [
        ("reminder_email", T0 + DAY),
        ("discount_sms", T0 + 3 * DAY),  # 10:00 UTC is inside the customer's 10:00-20:00 window
        ("add_to_retargeting", T0 + 4 * DAY),
        ("remove_from_retargeting", T0 + 7 * DAY),
        ("bigger_discount_email", T0 + 10 * DAY),
        ("win_back_email", T0 + 30 * DAY),
    ]


def test_abandoned_cart_customer_buys_30_minutes_after_abandoning_gets_no_email() -> None:
    result = run(
        template("abandoned_cart"),
        history(
            event("c1", "cart_updated", T0, cart_id="k1", cart_value=40),
            event("o1", "order_completed", T0 + 30 * MINUTE, order_id="x"),
        ),
        as_of=T0 + 3 * DAY,
    )
    assert sent(result) == []
    assert path(result)[1:] == [
        ("wait_order_1h", "purchased", "event", T0 + 30 * MINUTE),
        ("purchased", EXIT_NODE, "exit_node", T0 + 30 * MINUTE),
    ]
    assert result.enrollments[0].converted_at == T0 + 30 * MINUTE


def test_trial_onboarding_celebrates_and_prompts_an_active_user() -> None:
    uses = [event(f"u{day}", "feature_used", T0 + day * DAY + HOUR, feature_name="member_prices") for day in range(14)]
    result = run(template("trial_onboarding"), history(event("t1", "trial_started", T0), *uses), as_of=T0 + 30 * DAY)
    assert [node for node, _ in sent(result)] == [
        "welcome_email",
        "tutorial_in_app",
        "feature_email_day_3",
        "feature_email_day_7",
        "celebrate_milestone",
        "feature_email_day_14",
        "upgrade_prompt",
    ]


# --- paused journeys and edits --------------------------------------------------------------------------------


def test_paused_journey_enrolls_nobody_and_candidates_seen_while_paused_never_enroll() -> None:
    active = journey(CART_REMINDER_BODY, reentry="{rule: always}")
    paused = journey(CART_REMINDER_BODY, reentry="{rule: always}", status="paused")
    carts = three_carts(T0, T0 + 3 * DAY)
    assert run(paused, carts, as_of=T0 + 5 * DAY).enrollments == []
    result = run_sequence([active, paused, active], carts, [T0 + 30 * MINUTE, T0 + 4 * DAY, T0 + 6 * DAY])
    assert [enrollment.entry_id for enrollment in result.enrollments] == ["e1"]
    assert [(skipped.entry_id, skipped.reason) for skipped in result.skipped_entries] == [("e2", "paused")]
    # e1 was frozen while paused and moved on afterwards at its event times.
    assert sent(result) == [("reminder", T0 + HOUR), ("second_reminder", T0 + HOUR + DAY)]
    assert {action.decided_in_run for action in result.actions} == {2}


def test_a_removed_node_ends_its_enrollments_and_kept_nodes_carry_on() -> None:
    version_1 = journey(CART_REMINDER_BODY, reentry="{rule: always}")
    version_2 = journey(
        f"""
start_node: wait_1h
nodes:
  - {{id: wait_1h, type: delay, duration: 1h, next: reminder}}
  - {{id: reminder, type: action, action: {EMAIL}, next: done}}
  - {{id: done, type: exit}}
""",
        version=2,
        reentry="{rule: always}",
    )
    carts = history(
        event("e1", "cart_updated", T0),
        event("e2", "cart_updated", T0, customer="c2"),
        event("e3", "cart_updated", T0 + DAY, customer="c3"),  # arrives after version 2 is deployed
        customers={"c1": {}, "c2": {}, "c3": {}},
    )
    result = run_sequence([version_1, version_2], carts, [T0 + 2 * HOUR, T0 + 3 * DAY])
    first, second, third = result.enrollments
    # c1 and c2 waited in wait_1d, which version 2 removed: they leave at the run's as_of.
    for removed in (first, second):
        assert (removed.version, removed.status, removed.exit_reason) == (1, "exited", "node_removed")
    assert path(result, 0)[-1] == ("wait_1d", EXIT_NODE, "node_removed", T0 + 3 * DAY)
    assert (third.version, third.status) == (2, "completed")
    # The reminders decided under version 1 stand and are not decided again.
    assert [(action.node_id, action.decided_in_run) for action in result.actions] == [
        ("reminder", 0),
        ("reminder", 0),
        ("reminder", 1),
    ]


def test_exit_rules_added_by_a_new_version_do_not_reach_back_before_the_last_run() -> None:
    without_exit = journey(CART_REMINDER_BODY)
    with_exit = journey(CART_REMINDER_BODY, version=2, exit_rules="[{event: order_completed}]")
    carts = history(
        event("e1", "cart_updated", T0),
        event("o1", "order_completed", T0 + 30 * MINUTE),  # before run 0's as_of: decided under version 1
        event("o2", "order_completed", T0 + 5 * HOUR),
    )
    result = run_sequence([without_exit, with_exit], carts, [T0 + 2 * HOUR, T0 + 3 * DAY])
    assert sent(result) == [("reminder", T0 + HOUR)]
    assert path(result)[-1] == ("wait_1d", EXIT_NODE, "exit_rule", T0 + 5 * HOUR)


# --- runs: idempotence ----------------------------------------------------------------------------------------


def test_running_twice_at_the_same_as_of_changes_nothing() -> None:
    carts = three_carts(T0, T0 + 3 * DAY)
    once = run_sequence(template("abandoned_cart"), carts, [T0 + 2 * DAY])
    twice = run_sequence(template("abandoned_cart"), carts, [T0 + 2 * DAY, T0 + 2 * DAY])
    assert twice == once


def test_runs_must_go_forward_in_time() -> None:
    with pytest.raises(ValueError, match="runs go forward in time"):
        run_sequence(CART_REMINDER, three_carts(T0), [T0 + DAY, T0])


# --- simulate -------------------------------------------------------------------------------------------------


def test_simulate_prints_each_step_with_its_reason(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(
        '{"event_name": "cart_updated", "occurred_at": "2024-03-04T10:00:00Z", "cart_id": "k1", "cart_value": 40}\n'
        '{"event_name": "order_completed", "occurred_at": "2024-03-04T12:30:00+01:00", "order_id": "o1"}\n'
    )
    code = cli_main(
        [
            "simulate",
            "--journey",
            str(JOURNEYS_DIR / "abandoned_cart.yml"),
            "--customer-events",
            str(events),
            "--customer",
            '{"customer_id": "c42", "orders_count": 3}',
            "--as-of",
            "2024-03-06T00:00:00",
        ]
    )
    output = capsys.readouterr().out
    assert code == 0
    assert "2024-03-04 11:00:00  wait_order_1h -> reminder_email" in output
    assert "timeout: no order_completed within 1h" in output
    assert "action reminder_email: message email cart_reminder [first_name, cart_id, cart_value]" in output
    assert "wait_order_1d -> purchased" in output and "event: order_completed line-2 at 2024-03-04 11:30:00" in output
    assert "completed at 2024-03-04 11:30:00 (exit_node)" in output


# --- properties: cadence invariance, idempotence, decisions never rewritten -------------------------------------

KITCHEN_SINK = journey_from_text(
    f"""
journey_id: kitchen_sink
version: 1
entry:
  event: cart_updated
  where: [{{field: cart_id, op: not_null}}]
  dedupe_key: cart_id
  audience: [{{not_in_segment: blocked}}]
reentry: {{rule: cooldown, cooldown: 2h}}
holdout_percent: 30
exit_rules: [{{event: subscription_cancelled}}, {{left_segment: engaged}}]
goal: {{event: order_completed, within: 2d, exits: true}}
start_node: wait_use
nodes:
  - id: wait_use
    type: wait_for
    event: feature_used
    where: [{{field: feature_name, op: in, value: [wishlist_alerts, early_access]}}]
    timeout: 3h
    on_event: ab
    on_timeout: check
  - id: check
    type: split
    conditions:
      - when: [{{has_event: page_viewed, within: 1d}}]
        next: daytime
      - when: [{{in_segment: engaged}}]
        next: wait_vip
      - when: [{{attribute: is_eu, op: "=", value: true}}, {{attribute: orders_count, op: ">=", value: 1}}]
        next: daytime
    else: until_renewal
  - id: daytime
    type: delay
    until_local_window: {{days: [mon, tue, wed, thu, fri], start: "09:00", end: "17:30"}}
    next: email_1
  - {{id: email_1, type: action, action: {EMAIL}, next: ab}}
  - {{id: wait_vip, type: wait_for, segment: vip, timeout: 1d, on_event: crm_1, on_timeout: ab}}
  - {{id: crm_1, type: action, action: {{kind: crm, operation: upsert_contact, properties: {{stage: vip}}}}, next: ab}}
  - {{id: until_renewal, type: delay, until_attribute: {{attribute: renewal_due_date, offset: -1d}}, next: ab}}
  - {{id: ab, type: split, random: [{{weight: 2, next: a_wait}}, {{weight: 1, next: b_audience}}]}}
  - {{id: a_wait, type: delay, duration: 90m, next: push_1}}
  - {{id: push_1, type: action, action: {{kind: message, channel: push, template: nudge}}, next: done}}
  - {{id: b_audience, type: action, action: {{kind: audience, operation: add, audience: retarget}}, next: done}}
  - {{id: done, type: exit}}
"""
)
ALL_JOURNEYS = [KITCHEN_SINK, *load_journeys(JOURNEYS_DIR)[0]]
START = datetime(2024, 3, 25)  # a week before Europe's spring DST change
HORIZON_HALF_HOURS = 70 * 48  # histories and runs span 70 days, in half-hour steps so that instants collide
END = START + timedelta(minutes=30 * HORIZON_HALF_HOURS)
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]
EVENT_NAMES = [
    "cart_updated",
    "order_completed",
    "feature_used",
    "page_viewed",
    "product_viewed",
    "trial_started",
    "subscription_renewal_scheduled",
    "subscription_cancelled",
]


def half_hours(low: int = 0, high: int = HORIZON_HALF_HOURS) -> st.SearchStrategy[datetime]:
    return st.integers(low, high).map(lambda steps: START + timedelta(minutes=30 * steps))


def event_names_of(journey: Journey) -> list[str]:
    """The events a journey reacts to (entry, exits, goal, wait_for, has_event), plus one it ignores."""
    names = {journey.entry.event, journey.goal.event if journey.goal else None, "page_viewed"}
    names.update(rule.event for rule in journey.exit_rules)
    for node in journey.nodes:
        names.add(getattr(node, "event", None))
        for branch in getattr(node, "conditions", ()):
            names.update(condition.name for condition in branch.when if condition.kind == "has_event")
    return sorted(names - {None})


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Journey, History, list[datetime]]:
    """A journey, a history of up to 3 customers whose events cluster around a few moments (so that waits,
    exits and entries interact), and the as_of values of up to 6 runs before the final run at END."""
    journey = draw(st.sampled_from([KITCHEN_SINK] * 6 + ALL_JOURNEYS))  # half of the cases: every node type
    anchors = draw(st.lists(half_hours(), min_size=1, max_size=3))
    moments = st.tuples(st.sampled_from(anchors), st.integers(0, 4 * 48)).map(
        lambda pair: min(END, pair[0] + timedelta(minutes=30 * pair[1]))
    )
    customer_ids = [f"c{index}" for index in range(draw(st.integers(1, 3)))]
    customers = {
        customer_id: {
            "first_name": "Ada",
            "time_zone": draw(st.sampled_from(ZONES)),
            "is_eu": draw(st.sampled_from([True, False, None])),
            "orders_count": draw(st.integers(0, 3)),
            "lifetime_revenue": draw(st.sampled_from([0, 120.5, 800])),
            "renewal_due_date": draw(st.none() | st.dates(date(2024, 3, 20), date(2024, 6, 10))),
        }
        for customer_id in customer_ids
    }
    raw_events = draw(
        st.lists(
            st.tuples(
                st.sampled_from(customer_ids),
                st.sampled_from(event_names_of(journey)),
                moments,
                st.sampled_from([None, "k1", "k2"]),
                st.sampled_from(["wishlist_alerts", "early_access", "member_prices"]),
            ),
            max_size=20,
        )
    )
    entries = draw(
        st.lists(
            st.tuples(st.sampled_from(customer_ids), st.just(journey.entry.event), moments, st.just("k1"), st.just("")),
            min_size=1,
            max_size=4,
        )
    )
    events = [
        event(f"e{index:02d}", name, at, customer, cart_id=cart, product_id=cart, feature_name=feature, cart_value=40)
        for index, (customer, name, at, cart, feature) in enumerate([*entries, *raw_events])
    ]
    raw_memberships = draw(
        st.lists(
            st.tuples(
                st.sampled_from(customer_ids),
                st.sampled_from(["engaged", "vip", "blocked"]),
                moments,
                st.none() | st.integers(1, 400),
            ),
            max_size=4,
        )
    )
    memberships = [
        {
            "customer_id": customer,
            "segment": segment,
            "entered_at": entered,
            "exited_at": None if length is None else entered + timedelta(minutes=30 * length),
        }
        for customer, segment, entered, length in raw_memberships
    ]
    cadence = sorted(draw(st.lists(moments, max_size=6)))
    return journey, History(customers, events, memberships), cadence


PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_cadence_invariance_any_run_cadence_gives_the_single_run_result(scenario: tuple) -> None:
    journey, generated, cadence = scenario
    single = run(journey, generated, END)
    as_ofs = [*cadence, END]
    stepped = run_sequence(journey, generated, as_ofs)
    assert stepped.decisions() == single.decisions()
    # Each run decided only what had happened by its as_of.
    assert all(transition.at <= as_ofs[transition.decided_in_run] for transition in stepped.transitions)
    assert all(action.scheduled_at <= as_ofs[action.decided_in_run] for action in stepped.actions)


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_idempotence_rerunning_the_last_run_changes_nothing(scenario: tuple) -> None:
    journey, generated, cadence = scenario
    once = run_sequence(journey, generated, [*cadence, END])
    again = run_sequence(journey, generated, [*cadence, END, END])
    assert again == once  # including decided_in_run: the re-run decided nothing


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_committed_decisions_are_never_rewritten(scenario: tuple) -> None:
    journey, generated, cadence = scenario
    as_ofs = [*cadence, END]
    earlier = run_sequence(journey, generated, as_ofs[:1])
    for runs in range(2, len(as_ofs) + 1):
        later = run_sequence(journey, generated, as_ofs[:runs])
        assert set(earlier.transitions) <= set(later.transitions)
        assert set(earlier.actions) <= set(later.actions)
        assert all(transition.at <= as_ofs[runs - 2] for transition in earlier.transitions)
        earlier = later

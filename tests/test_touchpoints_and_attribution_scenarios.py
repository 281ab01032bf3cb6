"""Named scenarios through the real measurement models (dbt in DuckDB) and the attribution asset, default settings.

One warehouse holds every scenario; each customer is one scenario whose expected outcome can be checked by eye:
- c1 "three sessions then an order": paid_search (day 0), email (day 5), direct (day 9), order of 100 on day 10;
- c2 "an order without any touch": unattributed in every model;
- c3 "a touch outside the lookback": an organic session 40 days before the order does not count, a referral
  session the day before does; the order is in EUR (20 EUR = 21.74 USD);
- c4 "never converts": events 20 min apart are one session, 35 min apart two, and new marketing parameters
  5 minutes later a third; a non-converting path direct > direct > paid_social;
- c5 "an email opened, then an order": the delivered event is a touchpoint but not a path touch (defaults);
- c6 "trial to paid, then a renewal": subscription charges typed trial_to_paid and renewal;
- v7 an anonymous visitor: a session without customer, on no path;
- c8 "only direct": two direct sessions, then an order of 40: last_non_direct falls back to the last touch;
- c9 "two touches": organic (3 days before) and paid_social (1 day before) an order of 60: position_based gives
  each 1/2.
"""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from tests.attribution_harness import MeasurementWarehouse

pytestmark = pytest.mark.integration

T = datetime(2026, 10, 1)
DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)
WINDOW = {
    "as_of": "2026-11-01T00:00:00",
    "measurement__conversion_window_start_date": "2026-10-01",
    "measurement__conversion_window_end_date": "2026-10-31",
}


def _session(session_id, utm_source=None, utm_medium=None, utm_campaign=None, referrer=None):
    return {
        "session_id": session_id,
        "utm_source": utm_source,
        "utm_medium": utm_medium,
        "utm_campaign": utm_campaign,
        "referrer": referrer,
        "landing_page": "/",
    }


def _events(visitor, customer, session_id, *times):
    return [
        {
            "event_id": f"{session_id}-{i}",
            "customer_id": customer,
            "anonymous_id": visitor,
            "session_id": session_id,
            "event_name": "page_viewed",
            "occurred_at": at,
        }
        for i, at in enumerate(times)
    ]


def _order(order_id, customer, at, revenue, currency="USD"):
    return {
        "order_id": order_id,
        "customer_id": customer,
        "currency": currency,
        "revenue": Decimal(revenue),
        "ordered_at": at,
    }


def _message(event_id, customer, event_type, at, campaign="journey_x"):
    return {
        "message_event_id": event_id,
        "message_id": f"msg-{customer}",
        "customer_id": customer,
        "channel": "email",
        "campaign_name": campaign,
        "event_type": event_type,
        "occurred_at": at,
    }


def _inputs() -> dict:
    ten = timedelta(hours=10)
    events = [
        *_events("v1", "c1", "s1a", T + ten, T + ten + 10 * MINUTE, T + ten + 25 * MINUTE),
        *_events("v1", "c1", "s1b", T + 5 * DAY + ten),
        *_events("v1", "c1", "s1c", T + 9 * DAY + ten),
        *_events("v3", "c3", "s3a", T - 25 * DAY),
        *_events("v3", "c3", "s3b", T + 14 * DAY + 9 * 60 * MINUTE),
        *_events("v4", "c4", "s4a", T + ten, T + ten + 20 * MINUTE, T + ten + 55 * MINUTE),
        *_events("v4", "c4", "s4b", T + ten + 60 * MINUTE),
        *_events("v7", None, "s7", T + 3 * DAY),
        *_events("v8", "c8", "s8a", T + 16 * DAY + ten),
        *_events("v8", "c8", "s8b", T + 17 * DAY + ten),
        *_events("v9", "c9", "s9a", T + 21 * DAY + ten),
        *_events("v9", "c9", "s9b", T + 23 * DAY + ten),
    ]
    sessions = [
        _session("s1a", "google", "cpc", "brand"),
        _session("s1b", "newsletter", "email", "nl_1"),
        _session("s1c"),
        _session("s3a", referrer="https://www.google.com/"),
        _session("s3b", referrer="https://blog.example.org/post"),
        _session("s4a"),
        _session("s4b", "facebook", "paid_social", "prospecting"),
        _session("s7", referrer="https://www.bing.com/"),
        _session("s8a"),
        _session("s8b"),
        _session("s9a", referrer="https://duckduckgo.com/"),
        _session("s9b", "instagram", "paid_social", "retargeting"),
    ]
    customers = ["c1", "c2", "c3", "c4", "c5", "c6", "c8", "c9"]
    return {
        "identity.customer_event_stream": events,
        "staging.stg_raw__sessions": sessions,
        "identity.customer_identities": [
            {"identifier_type": "shop_customer_id", "identifier_value": c, "customer_id": c} for c in customers
        ],
        "staging.stg_raw__orders": [
            _order("o1", "c1", T + 10 * DAY + ten, "100.00"),
            _order("o2", "c2", T + 12 * DAY, "50.00"),
            _order("o3", "c3", T + 15 * DAY, "20.00", "EUR"),
            _order("o5", "c5", T + 20 * DAY + 12 * 60 * MINUTE, "10.00"),
            _order("o6a", "c6", T + 15 * DAY + 5 * MINUTE, "9.99"),
            _order("o6b", "c6", T + 25 * DAY, "9.99"),
            _order("o8", "c8", T + 18 * DAY + ten, "40.00"),
            _order("o9", "c9", T + 24 * DAY + ten, "60.00"),
        ],
        "staging.stg_raw__order_items": [
            {"order_id": "o6a", "product_id": "plan_basic"},
            {"order_id": "o6b", "product_id": "plan_basic"},
        ],
        "staging.stg_raw__products": [{"product_id": "plan_basic", "is_subscription": True}],
        "staging.stg_raw__subscriptions": [
            {"subscription_id": "sub6", "customer_id": "c6", "trial_started_at": T + DAY, "started_at": T + 15 * DAY}
        ],
        "staging.stg_raw__message_engagement": [
            _message("m5-delivered", "c5", "delivered", T + 20 * DAY + 8 * 60 * MINUTE),
            _message("m5-opened", "c5", "opened", T + 20 * DAY + 9 * 60 * MINUTE),
        ],
    }


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory) -> MeasurementWarehouse:
    warehouse = MeasurementWarehouse(tmp_path_factory.mktemp("measurement_scenarios"), _inputs())
    warehouse.build(WINDOW)
    warehouse.attribute()
    return warehouse


def _credits(warehouse, model: str) -> dict[tuple[str, str | None], tuple[float, float]]:
    return {
        (channel, campaign): (round(conversions, 6), round(revenue, 4))
        for channel, campaign, conversions, revenue in warehouse.query(
            "select channel, campaign, attributed_conversions, attributed_revenue "
            "from measurement.campaign_attribution where attribution_model = ?",
            [model],
        )
    }


UNATTRIBUTED = {("unattributed", None): (3.0, 69.98)}  # o2 (50), o6a and o6b (9.99 each)


def test_sessions_follow_the_30_minute_rule_and_split_on_new_parameters(scenarios):
    rows = scenarios.query(
        "select anonymous_id, customer_id, channel, campaign, events_count, started_at, ended_at "
        "from measurement.sessions order by anonymous_id, started_at"
    )
    ten = T + timedelta(hours=10)
    v4 = [row for row in rows if row[0] == "v4"]
    assert v4 == [
        ("v4", "c4", "direct", None, 2, ten, ten + 20 * MINUTE),
        ("v4", "c4", "direct", None, 1, ten + 55 * MINUTE, ten + 55 * MINUTE),
        ("v4", "c4", "paid_social", "prospecting", 1, ten + 60 * MINUTE, ten + 60 * MINUTE),
    ]
    assert [row[:5] for row in rows if row[0] == "v1"] == [
        ("v1", "c1", "paid_search", "brand", 3),
        ("v1", "c1", "email", "nl_1", 1),
        ("v1", "c1", "direct", None, 1),
    ]
    assert [row[:3] for row in rows if row[0] in ("v3", "v7")] == [
        ("v3", "c3", "organic"),
        ("v3", "c3", "referral"),
        ("v7", None, "organic"),
    ]


def test_touchpoints_are_sessions_and_message_events(scenarios):
    rows = scenarios.query(
        "select customer_id, touch_type, touch_event, channel, campaign from measurement.touchpoints "
        "where customer_id = 'c5' order by touched_at"
    )
    assert rows == [
        ("c5", "message", "delivered", "email", "journey_x"),
        ("c5", "message", "opened", "email", "journey_x"),
    ]
    assert scenarios.query("select count(*) from measurement.touchpoints where touch_type = 'session'") == [(13,)]


def test_conversions_are_typed_with_revenue_in_usd(scenarios):
    rows = scenarios.query(
        "select conversion_id, customer_id, conversion_type, cast(revenue as double) from measurement.conversions "
        "order by conversion_id"
    )
    assert rows == [
        ("o1", "c1", "order", 100.0),
        ("o2", "c2", "order", 50.0),
        ("o3", "c3", "order", 21.74),
        ("o5", "c5", "order", 10.0),
        ("o6a", "c6", "trial_to_paid", 9.99),
        ("o6b", "c6", "renewal", 9.99),
        ("o8", "c8", "order", 40.0),
        ("o9", "c9", "order", 60.0),
    ]


def test_paths(scenarios):
    rows = scenarios.query(
        "select path_id, channel_path, transformed_path, touches, is_conversion from measurement.attribution_paths "
        "order by path_id"
    )
    assert rows == [
        ("conversion:o1", "paid_search > email > direct", "paid_search > email > direct", 3, True),
        ("conversion:o2", None, None, 0, True),
        ("conversion:o3", "referral", "referral", 1, True),
        ("conversion:o5", "email", "email", 1, True),
        ("conversion:o6a", None, None, 0, True),
        ("conversion:o6b", None, None, 0, True),
        ("conversion:o8", "direct > direct", "direct", 2, True),
        ("conversion:o9", "organic > paid_social", "organic > paid_social", 2, True),
        ("non_conversion:c4", "direct > direct > paid_social", "direct > paid_social", 3, False),
    ]


def _decay(ages: dict[str, float]) -> dict[str, float]:
    """time_decay shares for touches of the given ages in days (half-life 7 days)."""
    total = sum(2 ** (-age / 7) for age in ages.values())
    return {channel: 2 ** (-age / 7) / total for channel, age in ages.items()}


# per model: the shares of c1's order (paid_search, email, direct; ages 10, 5, 1 days) and c9's (organic,
# paid_social; ages 3, 1 days); c8's two direct touches always give direct the whole order
@pytest.mark.parametrize(
    ("model", "c1_shares", "c9_shares"),
    [
        ("first_touch", {"paid_search": 1.0}, {"organic": 1.0}),
        ("last_touch", {"direct": 1.0}, {"paid_social": 1.0}),
        ("last_non_direct", {"email": 1.0}, {"paid_social": 1.0}),
        ("linear", {"paid_search": 1 / 3, "email": 1 / 3, "direct": 1 / 3}, {"organic": 0.5, "paid_social": 0.5}),
        ("position_based", {"paid_search": 0.4, "email": 0.2, "direct": 0.4}, {"organic": 0.5, "paid_social": 0.5}),
        (
            "time_decay",
            _decay({"paid_search": 10, "email": 5, "direct": 1}),
            _decay({"organic": 3, "paid_social": 1}),
        ),
    ],
)
def test_rule_based_models(scenarios, model, c1_shares, c9_shares):
    campaigns = {"paid_search": "brand", "email": "nl_1", "direct": None, "organic": None, "paid_social": "retargeting"}
    expected: dict = {}
    orders = [
        (c1_shares, 100.0),
        (c9_shares, 60.0),
        ({"direct": 1.0}, 40.0),  # c8
        ({"referral": 1.0}, 21.74),  # c3
    ]
    for shares, revenue in orders:
        for channel, share in shares.items():
            conversions, credited = expected.get((channel, campaigns.get(channel)), (0.0, 0.0))
            expected[(channel, campaigns.get(channel))] = (conversions + share, credited + share * revenue)
    expected[("email", "journey_x")] = (1.0, 10.0)  # c5's opened email
    expected.update(UNATTRIBUTED)
    expected = {key: (round(c, 6), round(r, 4)) for key, (c, r) in expected.items()}
    assert _credits(scenarios, model) == expected


@pytest.mark.parametrize(
    "model",
    [
        "first_touch",
        "last_touch",
        "last_non_direct",
        "linear",
        "time_decay",
        "position_based",
        "markov",
        "shapley",
        "fractribution_shapley",
    ],
)
def test_every_model_splits_exactly_the_conversions_and_revenue_in_the_window(scenarios, model):
    rows = scenarios.query(
        "select sum(attributed_conversions), sum(attributed_revenue) from measurement.channel_attribution "
        "where attribution_model = ?",
        [model],
    )
    (conversions, revenue), *_ = rows
    assert round(conversions, 9) == 8 and round(revenue, 6) == 301.72
    campaign_rows = scenarios.query(
        "select channel, sum(attributed_conversions) from measurement.campaign_attribution "
        "where attribution_model = ? group by channel",
        [model],
    )
    channel_rows = scenarios.query(
        "select channel, attributed_conversions from measurement.channel_attribution where attribution_model = ?",
        [model],
    )
    assert {c: round(v, 9) for c, v in campaign_rows} == {c: round(v, 9) for c, v in channel_rows}

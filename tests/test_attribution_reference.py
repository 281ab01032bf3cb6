"""Our measurement models reproduce the published outputs of snowplow's dbt-snowplow-fractribution (0.3.7) on its
own integration-test events (shared/reference/snowplow_fractribution/, read in place).

The reference events are loaded as the upstream relations our models read (page views as web events with their
tracker sessions' marketing parameters, transactions as orders); our dbt models and our Dagster attribution asset
then run with the package's integration-test parameters expressed as our settings: its channel classification as
measurement__channel_rules, conversion window 2022-06-03 to 2022-08-01, 30-day lookback, exposure path
transform, non-converting paths of customers who never converted. Sessions, conversions, paths, the path summary
and the channel attribution of its "shapley" (our fractribution_shapley) and last_touch models must match to 4
decimals.
"""

import csv
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from measurement.attribution import PathRow, fractribution_attribution
from tests.attribution_harness import MeasurementWarehouse

# shared/ lies beside the project's checkout (in CI too)
REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "snowplow_fractribution"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not REFERENCE.is_dir(), reason=f"reference data absent: {REFERENCE} does not exist"),
]

# dbt-snowplow-fractribution's default channel_classification macro, as our rules (first match wins).
SNOWPLOW_CHANNEL_RULES = [
    {"channel": "Paid_Search_Brand", "medium_in": ["cpc", "ppc"], "campaign_matches": "brand"},
    {"channel": "Paid_Search_Generic", "medium_in": ["cpc", "ppc"], "campaign_matches": "generic"},
    {"channel": "Paid_Search_Other", "medium_in": ["cpc", "ppc"], "campaign_not_matches": "brand|generic"},
    {"channel": "Organic_Search", "medium_in": ["organic"]},
    {"channel": "Display_Prospecting", "medium_in": ["display", "cpm", "banner"], "campaign_matches": "prospect"},
    {
        "channel": "Display_Retargeting",
        "medium_in": ["display", "cpm", "banner"],
        "campaign_matches": "retargeting|re-targeting|remarketing|re-marketing",
    },
    {
        "channel": "Display_Other",
        "medium_in": ["display", "cpm", "banner"],
        "campaign_not_matches": "prospect|retargeting|re-targeting|remarketing|re-marketing",
    },
    {"channel": "Video", "campaign_matches": "video|youtube"},
    {"channel": "Video", "source_matches": "video|youtube"},
    {"channel": "Paid_Social_Prospecting", "medium_in": ["social"], "campaign_matches": "prospect"},
    {
        "channel": "Paid_Social_Retargeting",
        "medium_in": ["social"],
        "campaign_matches": "retargeting|re-targeting|remarketing|re-marketing",
    },
    {
        "channel": "Paid_Social_Other",
        "medium_in": ["social"],
        "campaign_not_matches": "prospect|retargeting|re-targeting|remarketing|re-marketing",
    },
    {"channel": "Direct", "source_in": ["(direct)"]},
    {"channel": "Referral", "medium_in": ["referral"]},
    {"channel": "Email", "medium_in": ["email"]},
    {"channel": "Other_Advertising", "medium_in": ["cpc", "ppc", "cpv", "cpa", "affiliates"]},
    {"channel": "Unmatched_Channel"},
]

# The package's integration-test configuration (integration_tests/dbt_project.yml), as our vars.
SNOWPLOW_PARAMETERS = {
    "as_of": "2022-08-02T00:00:00",
    "measurement__channel_rules": SNOWPLOW_CHANNEL_RULES,
    "measurement__conversion_window_start_date": "2022-06-03",
    "measurement__conversion_window_end_date": "2022-08-01",
    "measurement__lookback_days": 30,
    "measurement__path_max_steps": 0,
    "measurement__path_transform": "exposure",
    "measurement__non_converting_paths": "never_converted",
    "measurement__path_message_events": [],
}


def _expected(name: str) -> list[dict]:
    with (REFERENCE / f"snowplow_fractribution_{name}_expected.csv").open() as handle:
        return list(csv.DictReader(handle))


def _reference_inputs() -> dict[str, list[dict]]:
    """Page views on the conversion hosts become web events, each with its tracker session (domain_sessionid)
    and that session's marketing parameters; events with a transaction total become orders. The customer is the
    package's: 'f' + domain_userid (these events have no user_id)."""
    with duckdb.connect() as con:
        result = con.execute(
            "select * from read_csv(?, header = true, all_varchar = true)",
            [str(REFERENCE / "snowplow_fractribution_events.csv")],
        )
        names = [column[0] for column in result.description]
        events = [dict(zip(names, row, strict=True)) for row in result.fetchall()]
    page_views = [e for e in events if e["event_name"] == "page_view" and e["page_urlhost"] == "poplindata.com"]
    transactions = [e for e in events if e["tr_total"] is not None]
    first_of_visitor = {e["domain_userid"]: e for e in events}.values()
    customer = lambda row: "f" + row["domain_userid"]  # noqa: E731
    return {
        "identity.customer_event_stream": [
            {
                "event_id": row["event_id"],
                "customer_id": customer(row),
                "anonymous_id": row["domain_userid"],
                "session_id": row["domain_sessionid"],
                "event_name": "page_viewed",
                "occurred_at": _timestamp(row["derived_tstamp"]),
            }
            for row in page_views
        ],
        "staging.stg_raw__sessions": [
            {
                "session_id": row["domain_sessionid"],
                "utm_source": row["mkt_source"],
                "utm_medium": row["mkt_medium"],
                "utm_campaign": row["mkt_campaign"],
                "referrer": row["refr_urlpath"],
            }
            for row in page_views
        ],
        "identity.customer_identities": [
            {"identifier_type": "shop_customer_id", "identifier_value": customer(row), "customer_id": customer(row)}
            for row in first_of_visitor
        ],
        "staging.stg_raw__orders": [
            {
                "order_id": row["event_id"],
                "customer_id": customer(row),
                "currency": "USD",
                "revenue": _decimal(row["tr_total"]),
                "ordered_at": _timestamp(row["derived_tstamp"]),
            }
            for row in transactions
        ],
    }


def _timestamp(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)


def _decimal(text: str):
    from decimal import Decimal

    return Decimal(text).quantize(Decimal("0.01"))


def _rounded(value, places: int = 4):
    return None if value in (None, "") else round(float(value), places)


@pytest.fixture(scope="module")
def reference_warehouse(tmp_path_factory) -> MeasurementWarehouse:
    warehouse = MeasurementWarehouse(tmp_path_factory.mktemp("fractribution"), _reference_inputs())
    warehouse.build(SNOWPLOW_PARAMETERS)
    warehouse.attribute()
    return warehouse


def test_sessions_match_sessions_by_customer_id(reference_warehouse):
    ours = Counter(
        reference_warehouse.query(
            "select customer_id, strftime(started_at, '%Y-%m-%d %H:%M:%S'), channel, referrer, campaign, "
            "utm_source, utm_medium from measurement.sessions"
        )
    )
    expected = Counter(
        (
            row["customer_id"],
            row["visit_start_tstamp"],
            row["channel"],
            row["referral_path"] or None,
            row["campaign"],
            row["source"],
            row["medium"],
        )
        for row in _expected("sessions_by_customer_id")
    )
    assert sum(expected.values()) == 97
    assert ours == expected


def test_channel_counts_match(reference_warehouse):
    ours = Counter(
        {
            (channel, campaign, source, medium): n
            for channel, campaign, source, medium, n in reference_warehouse.query(
                "select channel, campaign, utm_source, utm_medium, count(*) from measurement.sessions group by all"
            )
        }
    )
    expected = Counter(
        {
            (row["channel"], row["campaign"], row["source"], row["medium"]): int(row["number_of_sessions"])
            for row in _expected("channel_counts")
        }
    )
    assert ours == expected


def test_conversions_match_conversions_by_customer_id(reference_warehouse):
    ours = sorted(
        reference_warehouse.query(
            "select customer_id, strftime(converted_at, '%Y-%m-%d %H:%M:%S'), cast(revenue as double) "
            "from measurement.conversions"
        )
    )
    expected = sorted(
        (row["customer_id"], row["conversion_tstamp"][:19], float(row["revenue"]))
        for row in _expected("conversions_by_customer_id")
    )
    assert ours == expected


def test_paths_to_conversion_match(reference_warehouse):
    ours = sorted(
        reference_warehouse.query(
            "select customer_id, strftime(path_ended_at, '%Y-%m-%d %H:%M:%S'), cast(revenue as double), "
            "channel_path, transformed_path from measurement.attribution_paths where is_conversion"
        )
    )
    expected = sorted(
        (row["customer_id"], row["conversion_tstamp"], float(row["revenue"]), row["path"], row["transformed_path"])
        for row in _expected("paths_to_conversion")
    )
    assert ours == expected


def test_paths_to_non_conversion_match(reference_warehouse):
    ours = sorted(
        reference_warehouse.query(
            "select customer_id, channel_path, transformed_path from measurement.attribution_paths "
            "where not is_conversion"
        )
    )
    expected = sorted(
        (row["customer_id"], row["path"], row["transformed_path"]) for row in _expected("paths_to_non_conversion")
    )
    assert len(expected) == 61
    assert ours == expected


def test_path_summary_matches(reference_warehouse):
    ours = sorted(
        (path, conversions, non_conversions, _rounded(revenue))
        for path, conversions, non_conversions, revenue in reference_warehouse.query(
            "select transformed_path, conversions, non_conversions, revenue from measurement.attribution_path_summary"
        )
    )
    expected = sorted(
        (row["transformed_path"], int(row["conversions"]), int(row["non_conversions"]), _rounded(row["revenue"] or 0))
        for row in _expected("path_summary")
    )
    assert ours == expected


def test_channel_attribution_matches_shapley_and_last_touch(reference_warehouse):
    """The package's 'shapley' is fractribution's leave-one-out rule: our fractribution_shapley."""
    ours = {
        (model, channel): (_rounded(conversions), _rounded(revenue))
        for model, channel, conversions, revenue in reference_warehouse.query(
            "select attribution_model, channel, attributed_conversions, attributed_revenue "
            "from measurement.channel_attribution where attribution_model in ('fractribution_shapley', 'last_touch')"
        )
    }
    names = {"shapley": "fractribution_shapley", "last_touch": "last_touch"}
    expected = {
        (names[row["ATTRIBUTION_TYPE"]], row["CHANNEL"]): (_rounded(row["CONVERSIONS"]), _rounded(row["REVENUE"]))
        for row in _expected("channel_attribution")
    }
    # channels the package lists with 0 (they appear only on non-converting paths) have no row of ours
    assert {key: value for key, value in expected.items() if value != (0.0, 0.0)} == ours
    assert ours[("fractribution_shapley", "Direct")] == (3.5410, 170.1542)


def test_path_fractions_match_path_summary_with_channels(reference_warehouse):
    rows = [
        PathRow(tuple(path.split(" > ")), conversions, non_conversions, float(revenue))
        for path, conversions, non_conversions, revenue in reference_warehouse.query(
            "select transformed_path, conversions, non_conversions, revenue from measurement.attribution_path_summary"
        )
    ]
    _, fractions = fractribution_attribution(rows)
    channels = ("VIDEO", "ORGANIC_SEARCH", "PAID_SEARCH_OTHER", "UNMATCHED_CHANNEL", "REFERRAL", "DIRECT")
    expected = {
        tuple(row["TRANSFORMED_PATH"].split(" > ")): {
            channel.title(): float(row[channel]) for channel in channels if row[channel] and float(row[channel]) > 0
        }
        for row in _expected("path_summary_with_channels")
        if row["ATTRIBUTION_TYPE"] == "shapley" and int(row["CONVERSIONS"]) > 0
    }
    assert {path: {c: round(v, 3) for c, v in shares.items()} for path, shares in fractions.items()} == expected

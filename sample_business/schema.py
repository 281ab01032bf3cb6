"""The landing contract of docs/raw_data.md as data: column types, keys, event times, accepted values.

Why: the writer enforces these schemas on every file (so every batch of a table has identical types),
the defect injector reads which reasons apply to which table from here, and the tests compare the files
against the same definitions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from sample_business.columns import MONEY

TS = pa.timestamp("us")
STR = pa.string()

SCHEMAS: dict[str, pa.Schema] = {
    "customers": pa.schema(
        [
            ("customer_id", STR),
            ("first_name", STR),
            ("email", STR),
            ("phone", STR),
            ("push_token", STR),
            ("country_code", STR),
            ("time_zone", STR),
            ("signed_up_at", TS),
            ("updated_at", TS),
            ("received_at", TS),
        ]
    ),
    "consent_events": pa.schema(
        [
            ("consent_event_id", STR),
            ("customer_id", STR),
            ("channel", STR),
            ("purpose", STR),
            ("status", STR),
            ("source", STR),
            ("is_double_opt_in", pa.bool_()),
            ("occurred_at", TS),
            ("received_at", TS),
        ]
    ),
    "identifies": pa.schema(
        [
            ("identify_id", STR),
            ("anonymous_id", STR),
            ("device_id", STR),
            ("customer_id", STR),
            ("email", STR),
            ("occurred_at", TS),
            ("received_at", TS),
        ]
    ),
    "sessions": pa.schema(
        [
            ("session_id", STR),
            ("anonymous_id", STR),
            ("device_id", STR),
            ("customer_id", STR),
            ("utm_source", STR),
            ("utm_medium", STR),
            ("utm_campaign", STR),
            ("referrer", STR),
            ("landing_page", STR),
            ("started_at", TS),
            ("received_at", TS),
        ]
    ),
    "events": pa.schema(
        [
            ("event_id", STR),
            ("event_name", STR),
            ("anonymous_id", STR),
            ("customer_id", STR),
            ("session_id", STR),
            ("page_path", STR),
            ("product_id", STR),
            ("cart_id", STR),
            ("cart_value", MONEY),
            ("order_id", STR),
            ("feature_name", STR),
            ("occurred_at", TS),
            ("received_at", TS),
        ]
    ),
    "orders": pa.schema(
        [
            ("order_id", STR),
            ("customer_id", STR),
            ("session_id", STR),
            ("currency", STR),
            ("revenue", MONEY),
            ("discount_amount", MONEY),
            ("item_count", pa.int32()),
            ("ordered_at", TS),
            ("received_at", TS),
        ]
    ),
    "order_items": pa.schema(
        [
            ("order_item_id", STR),
            ("order_id", STR),
            ("product_id", STR),
            ("quantity", pa.int32()),
            ("unit_price", MONEY),
            ("received_at", TS),
        ]
    ),
    "products": pa.schema(
        [
            ("product_id", STR),
            ("product_name", STR),
            ("category", STR),
            ("price", MONEY),
            ("is_subscription", pa.bool_()),
            ("updated_at", TS),
            ("received_at", TS),
        ]
    ),
    "subscriptions": pa.schema(
        [
            ("subscription_id", STR),
            ("customer_id", STR),
            ("plan", STR),
            ("status", STR),
            ("trial_started_at", TS),
            ("started_at", TS),
            ("renewal_due_date", pa.date32()),
            ("cancelled_at", TS),
            ("updated_at", TS),
            ("received_at", TS),
        ]
    ),
    "support_tickets": pa.schema(
        [
            ("ticket_id", STR),
            ("customer_id", STR),
            ("channel", STR),
            ("priority", STR),
            ("status", STR),
            ("subject", STR),
            ("body", STR),
            ("created_at", TS),
            ("received_at", TS),
        ]
    ),
    "message_engagement": pa.schema(
        [
            ("message_event_id", STR),
            ("message_id", STR),
            ("customer_id", STR),
            ("channel", STR),
            ("campaign_name", STR),
            ("event_type", STR),
            ("bounce_type", STR),
            ("occurred_at", TS),
            ("received_at", TS),
        ]
    ),
    "erasure_requests": pa.schema(
        [
            ("request_id", STR),
            ("customer_id", STR),
            ("email", STR),
            ("requested_by", STR),
            ("requested_at", TS),
            ("received_at", TS),
        ]
    ),
}
TABLES = tuple(SCHEMAS)

ACCEPTED_VALUES: dict[str, dict[str, tuple[str, ...]]] = {
    "consent_events": {
        "channel": ("email", "sms", "push"),
        "purpose": ("marketing", "transactional"),
        "status": ("opted_in", "opted_out", "pending_confirmation"),
        "source": (
            "signup_form",
            "checkout",
            "preference_center",
            "double_opt_in_email",
            "sms_keyword",
            "unsubscribe_link",
            "support_request",
            "import",
        ),
    },
    "events": {
        "event_name": (
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
        ),
    },
    "orders": {"currency": ("EUR", "USD", "GBP")},
    "subscriptions": {"plan": ("basic", "plus", "pro"), "status": ("trialing", "active", "past_due", "cancelled")},
    "support_tickets": {
        "channel": ("email", "chat", "phone"),
        "priority": ("low", "normal", "high", "urgent"),
        "status": ("open", "pending", "solved", "closed"),
    },
    "message_engagement": {
        "channel": ("email", "sms", "push"),
        "event_type": ("sent", "delivered", "opened", "clicked", "bounced", "unsubscribed", "complained"),
        "bounce_type": ("hard", "soft"),
    },
}

REASONS = (
    "missing_key",
    "duplicate_key",
    "invalid_value",
    "unknown_customer",
    "timestamp_out_of_range",
    "negative_amount",
    "invalid_email",
)


@dataclass(frozen=True)
class TableSpec:
    """What the defect injector and the late-row accounting need to know about one table."""

    name: str
    key: str
    key_prefix: str
    event_time: str | None = None  # the column checked by timestamp_out_of_range
    customer_column: str | None = None
    # column -> values outside the accepted set, used for invalid_value (only columns staging checks)
    invalid_values: dict[str, tuple[str, ...]] = field(default_factory=dict)
    amount_columns: tuple[str, ...] = ()
    email_column: str | None = None
    event_like: bool = False  # gets late rows

    @property
    def reasons(self) -> tuple[str, ...]:
        applicable = ["missing_key", "duplicate_key"]
        if self.invalid_values:
            applicable.append("invalid_value")
        if self.customer_column:
            applicable.append("unknown_customer")
        if self.event_time:
            applicable.append("timestamp_out_of_range")
        if self.amount_columns:
            applicable.append("negative_amount")
        if self.email_column:
            applicable.append("invalid_email")
        return tuple(applicable)


SPECS: dict[str, TableSpec] = {
    "customers": TableSpec("customers", "customer_id", "cus_", "signed_up_at", email_column="email"),
    "consent_events": TableSpec(
        "consent_events",
        "consent_event_id",
        "cev_",
        "occurred_at",
        "customer_id",
        {"channel": ("fax", "letter"), "purpose": ("advertising",), "status": ("maybe", "unknown")},
        event_like=True,
    ),
    "identifies": TableSpec("identifies", "identify_id", "idf_", "occurred_at", "customer_id", event_like=True),
    "sessions": TableSpec("sessions", "session_id", "ses_", "started_at", "customer_id", event_like=True),
    "events": TableSpec(
        "events",
        "event_id",
        "evt_",
        "occurred_at",
        "customer_id",
        {"event_name": ("PageView", "Order Completed", "checkout", "add_to_cart")},
        event_like=True,
    ),
    "orders": TableSpec(
        "orders",
        "order_id",
        "ord_",
        "ordered_at",
        "customer_id",
        {"currency": ("BTC", "XXX", "JPY")},
        amount_columns=("revenue",),
        event_like=True,
    ),
    "order_items": TableSpec(
        "order_items",
        "order_item_id",
        "itm_",
        amount_columns=("unit_price", "quantity"),
        event_like=True,
    ),
    "products": TableSpec("products", "product_id", "prd_", amount_columns=("price",)),
    "subscriptions": TableSpec(
        "subscriptions",
        "subscription_id",
        "sub_",
        "trial_started_at",
        "customer_id",
        {"plan": ("platinum", "family"), "status": ("paused", "expired")},
    ),
    "support_tickets": TableSpec(
        "support_tickets",
        "ticket_id",
        "tkt_",
        "created_at",
        "customer_id",
        {"channel": ("fax", "twitter"), "priority": ("critical",), "status": ("escalated", "reopened")},
    ),
    "message_engagement": TableSpec(
        "message_engagement",
        "message_event_id",
        "mev_",
        "occurred_at",
        "customer_id",
        {"channel": ("fax", "whatsapp"), "event_type": ("viewed", "read", "Opened")},
        event_like=True,
    ),
    # A request may name a customer not landed yet (or never): no unknown_customer check. Requests are a
    # handful per export, so the injector plants no defects in them (it needs 1,000 rows for one per reason).
    "erasure_requests": TableSpec("erasure_requests", "request_id", "era_", "requested_at"),
}

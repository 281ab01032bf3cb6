"""Northwind Plus: trials, paid subscriptions, renewals and cancellations, with their server-side events.

Why: trial onboarding and renewal journeys need a subscription lifecycle whose rates are known
(TRIAL_TO_PAID, MONTHLY_CANCELLATION) and whose every charge is an order (with its order_completed event),
so revenue and subscription status agree with each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from sample_business import columns as col
from sample_business.catalog import Catalog
from sample_business.clock import DAY, HOUR, MINUTE, SECOND, uniform_between
from sample_business.context import ChunkContext
from sample_business.effects import (
    BILLING_CYCLE_DAYS,
    FX_FROM_USD,
    MONTHLY_CANCELLATION,
    PAST_DUE_PROB,
    PAST_DUE_WINDOW_DAYS,
    PERSONAS,
    PLAN_WEIGHTS,
    PLANS,
    TRIAL_DAYS,
    TRIAL_START_MEAN_DAYS_AFTER_SIGNUP,
    TRIAL_TO_PAID,
)
from sample_business.population import People
from sample_business.schema import ACCEPTED_VALUES
from sample_business.vocab import CURRENCIES, FEATURES
from sample_business.web import (
    FEATURE_USED,
    NO_VALUE,
    ORDER_COMPLETED,
    RENEWAL_SCHEDULED,
    SUBSCRIPTION_CANCELLED,
    TRIAL_STARTED,
)

CYCLE = BILLING_CYCLE_DAYS * DAY
STATUSES = ACCEPTED_VALUES["subscriptions"]["status"]
TRIALING, ACTIVE, PAST_DUE, CANCELLED = (STATUSES.index(s) for s in ("trialing", "active", "past_due", "cancelled"))


@dataclass
class Subscriptions:
    table: pa.Table
    events: dict[str, np.ndarray]
    orders: dict[str, np.ndarray]
    items: dict[str, np.ndarray]


def _server_events(
    device: np.ndarray,
    customer: np.ndarray,
    name: int,
    at: np.ndarray,
    order: np.ndarray | None = None,
    value: np.ndarray | None = None,
    feature: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    n = len(at)
    none = np.full(n, -1, dtype=np.int64)
    return {
        "name": np.full(n, name, dtype=np.int8),
        "device": device,
        "customer": customer,
        "session": none,
        "page": none,
        "product": none,
        "cart": none,
        "cart_value": value if value is not None else np.full(n, NO_VALUE, dtype=np.int64),
        "order": order if order is not None else none,
        "feature": feature if feature is not None else none,
        "at": at,
    }


def make_subscriptions(ctx: ChunkContext, people: People, catalog: Catalog, order_offset: int) -> Subscriptions:
    """Subscriptions of this chunk's customers; their charges are orders numbered from order_offset."""
    rng = ctx.rng("subscriptions")
    n, as_of = people.n_customers, ctx.as_of
    persona = people.persona
    active_from = np.maximum(people.signed_up_at, ctx.period_start)
    trial_start = active_from + (rng.exponential(TRIAL_START_MEAN_DAYS_AFTER_SIGNUP, n) * DAY).astype(np.int64)
    has_trial = (rng.random(n) < np.array([p.trial_prob for p in PERSONAS])[persona]) & (trial_start <= as_of - HOUR)
    customer = np.flatnonzero(has_trial)
    m = len(customer)
    started_trial = trial_start[customer]
    plan = rng.choice(len(PLANS), size=m, p=list(PLAN_WEIGHTS.values()))
    trial_end = started_trial + TRIAL_DAYS * DAY
    converts = rng.random(m) < TRIAL_TO_PAID
    paid = converts & (trial_end <= as_of)
    paid_cycles = rng.geometric(MONTHLY_CANCELLATION, size=m)
    cancelled_at = np.where(
        converts,
        trial_end + (paid_cycles - 1) * CYCLE + rng.integers(DAY, CYCLE - DAY, size=m),
        started_trial + rng.integers(DAY, TRIAL_DAYS * DAY, size=m),
    )
    cancelled = cancelled_at <= as_of
    cycles_due = np.where(paid, (as_of - trial_end) // CYCLE + 1, 0)
    last_due = trial_end + (cycles_due - 1) * CYCLE
    past_due = (
        paid
        & ~cancelled
        & (cycles_due >= 2)
        & (as_of - last_due < PAST_DUE_WINDOW_DAYS * DAY)
        & (rng.random(m) < PAST_DUE_PROB)
    )
    charges = np.where(cancelled, np.minimum(paid_cycles, cycles_due), cycles_due) - past_due

    status = np.select([cancelled, past_due, paid], [CANCELLED, PAST_DUE, ACTIVE], TRIALING)
    renewal_due = np.select(
        [~paid, cancelled, past_due],
        [trial_end, trial_end + paid_cycles * CYCLE, last_due],
        trial_end + cycles_due * CYCLE,
    )
    # the renewal date is customer facing: the local calendar date of the renewal instant
    renewal_date = ctx.clock.to_local(renewal_due, people.zone[customer]) // DAY

    # charges: one order each, with order_completed and renewal scheduled server-side events
    charged = np.repeat(np.arange(m), charges)
    cycle = np.arange(len(charged)) - np.repeat(np.cumsum(charges) - charges, charges)
    charge_at = np.minimum(
        trial_end[charged] + cycle * CYCLE + rng.integers(0, 10 * MINUTE, size=len(charged)), as_of - 5 * SECOND
    )
    last_charge = np.full(m, -1, dtype=np.int64)
    np.maximum.at(last_charge, charged, charge_at)
    updated_at = np.maximum.reduce(
        [
            started_trial,
            np.where(paid, trial_end, 0),
            last_charge,
            np.where(cancelled, cancelled_at, 0),
            np.where(past_due, last_due, 0),
        ]
    )
    received_at = np.minimum(updated_at + rng.integers(5 * SECOND, 10 * MINUTE, size=m), as_of)
    table = pa.table(
        {
            "subscription_id": ctx.ids("sub_", np.arange(m)),
            "customer_id": people.customer_ids.take(pa.array(customer)),
            "plan": col.take(col.vocab(list(PLANS)), plan),
            "status": col.take(col.vocab(STATUSES), status),
            "trial_started_at": col.timestamps(started_trial),
            "started_at": col.timestamps(trial_end, ~paid),
            "renewal_due_date": col.dates(renewal_date),
            "cancelled_at": col.timestamps(cancelled_at, ~cancelled),
            "updated_at": col.timestamps(updated_at),
            "received_at": col.timestamps(received_at),
        }
    )

    buyer = customer[charged]
    fx = np.array([FX_FROM_USD[c] for c in CURRENCIES])[people.currency[buyer]]
    price = np.round(np.array(list(PLANS.values()))[plan[charged]] * fx).astype(np.int64)
    order_number = order_offset + np.arange(len(charged))
    orders = {
        "customer": buyer,
        "session": np.full(len(charged), -1),
        "currency": people.currency[buyer],
        "revenue": price,
        "discount": np.zeros(len(charged), dtype=np.int64),
        "item_count": np.ones(len(charged), dtype=np.int32),
        "at": charge_at,
    }
    items = {
        "order": order_number,
        "product": catalog.regular_count + plan[charged],
        "quantity": np.ones(len(charged), dtype=np.int32),
        "unit_price": price,
    }

    device = people.devices.first_of_actor
    usage_end = np.where(cancelled, cancelled_at, as_of)
    rate = np.array([p.feature_uses_per_day for p in PERSONAS])[persona[customer]]
    uses = rng.poisson(rate * (usage_end - started_trial) / DAY)
    user = np.repeat(np.arange(m), uses)
    use_at = uniform_between(rng, started_trial[user], usage_end[user], len(user))
    parts = [
        _server_events(device[customer], customer, TRIAL_STARTED, started_trial),
        _server_events(device[buyer], buyer, ORDER_COMPLETED, charge_at, order=order_number, value=price),
        _server_events(device[buyer], buyer, RENEWAL_SCHEDULED, np.minimum(charge_at + 2 * SECOND, as_of)),
        _server_events(
            device[customer[cancelled]], customer[cancelled], SUBSCRIPTION_CANCELLED, cancelled_at[cancelled]
        ),
        _server_events(
            device[customer[user]],
            customer[user],
            FEATURE_USED,
            use_at,
            feature=rng.integers(0, len(FEATURES), size=len(user)),
        ),
    ]
    events = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    return Subscriptions(table, events, orders, items)

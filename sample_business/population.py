"""Who is in the business: customers (with contacts, persona, preferences), anonymous visitors, devices.

Why one structure for both: web behaviour is generated for "actors" (customers first, then visitors) with
the same code; only customers log in and buy. Arrays here are per customer, per actor or per device.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sample_business import columns as col
from sample_business.clock import DAY, HOUR, SECOND, uniform_between
from sample_business.context import ChunkContext
from sample_business.effects import (
    DEVICES_PER_CUSTOMER,
    MISSING_CONTACT,
    PERSONAS,
    PRE_PERIOD_SIGNUP_SHARE,
    PREFERRED_CHANNEL_WEIGHTS,
    PREFERRED_HOUR_WEIGHTS,
)
from sample_business.vocab import (
    COUNTRIES,
    COUNTRY_SHARES,
    CURRENCIES,
    FIRST_NAMES,
    GLOBAL_EMAIL_DOMAINS,
    GLOBAL_EMAIL_WEIGHTS,
    ZONES,
)

MESSAGE_CHANNELS = ("email", "sms", "push")
LATEST_SIGNUP_BEFORE_AS_OF = 6 * HOUR  # leaves room for the signup session's events before as_of


@dataclass
class Devices:
    actor: np.ndarray  # owning actor (customer or visitor) per device
    rank: np.ndarray  # 0 = the actor's first device
    anonymous_ids: pa.StringArray
    device_ids: pa.StringArray
    first_of_actor: np.ndarray  # per actor: index of its device 0
    count_of_actor: np.ndarray  # per actor: number of devices


@dataclass
class People:
    n_customers: int
    n_visitors: int
    customer_ids: pa.StringArray
    persona: np.ndarray  # per customer
    country: np.ndarray  # per actor
    zone: np.ndarray  # per actor
    currency: np.ndarray  # per actor, index into CURRENCIES
    is_eu: np.ndarray  # per customer
    signed_up_at: np.ndarray  # per customer
    pre_period: np.ndarray  # per customer: signed up before the period
    visitor_first_seen: np.ndarray  # per visitor
    preferred_hour: np.ndarray  # per customer, local hour 0-23
    preferred_channel: np.ndarray  # per customer, index into MESSAGE_CHANNELS
    reachable: np.ndarray  # per customer x (email, sms, push)
    first_names: pa.Array
    emails: pa.Array  # nullable
    customers_table: pa.Table
    devices: Devices

    @property
    def n_actors(self) -> int:
        return self.n_customers + self.n_visitors


def _zones_for(rng: np.random.Generator, country: np.ndarray) -> np.ndarray:
    zone = np.empty(len(country), dtype=np.int16)
    for c, spec in enumerate(COUNTRIES):
        rows = np.flatnonzero(country == c)
        names = [name for name, _ in spec.zones]
        weights = np.array([w for _, w in spec.zones])
        picked = rng.choice(len(names), size=len(rows), p=weights / weights.sum())
        zone[rows] = np.array([ZONES.index(name) for name in names])[picked]
    return zone


def _by_group(groups: np.ndarray, n_groups: int, build) -> pa.Array:
    """Build a column group by group (build(group, row_indices) -> array) and put rows back in order."""
    parts, order = [], []
    for g in range(n_groups):
        rows = np.flatnonzero(groups == g)
        if len(rows):
            parts.append(build(g, rows))
            order.append(rows)
    positions = np.concatenate(order) if order else np.array([], dtype=np.int64)
    inverse = np.empty_like(positions)
    inverse[positions] = np.arange(len(positions))
    return pa.concat_arrays(parts).take(pa.array(inverse))


def _phones(rng: np.random.Generator, country: np.ndarray) -> pa.Array:
    def build(c: int, rows: np.ndarray) -> pa.Array:
        spec = COUNTRIES[c]
        low = 2 * 10 ** (spec.phone_digits - 1) if spec.phone_prefix == "+1" else 0
        numbers = rng.integers(low, 10**spec.phone_digits, size=len(rows))
        return col.format_ids(spec.phone_prefix, numbers, spec.phone_digits)

    return _by_group(country, len(COUNTRIES), build)


def _emails(
    rng: np.random.Generator, first_names: pa.Array, country: np.ndarray, global_numbers: np.ndarray
) -> pa.Array:
    """'<first>.<letter><customer number>@<domain>': unique per customer, a third with a local provider."""
    local_domains = [d for c in COUNTRIES for d in c.email_domains]
    offsets = np.cumsum([0] + [len(c.email_domains) for c in COUNTRIES])[:-1]
    counts = np.array([len(c.email_domains) for c in COUNTRIES])
    n = len(country)
    local_pick = len(GLOBAL_EMAIL_DOMAINS) + offsets[country] + (rng.random(n) * counts[country]).astype(int)
    global_pick = rng.choice(len(GLOBAL_EMAIL_DOMAINS), size=n, p=GLOBAL_EMAIL_WEIGHTS)
    use_local = (rng.random(n) < 1 / 3) & (counts[country] > 0)
    domains = col.take(
        col.vocab(GLOBAL_EMAIL_DOMAINS + tuple(local_domains)), np.where(use_local, local_pick, global_pick)
    )
    letters = col.take(col.vocab(list("abcdefghijklmnopqrstuvwxyz")), rng.integers(0, 26, size=n))
    return col.join(pc.utf8_lower(first_names), ".", letters, pa.array(global_numbers).cast(pa.string()), "@", domains)


def _preferred_channel(rng: np.random.Generator, reachable: np.ndarray) -> np.ndarray:
    """A channel among the reachable ones (by PREFERRED_CHANNEL_WEIGHTS); any channel if none is reachable."""
    weights = np.array([PREFERRED_CHANNEL_WEIGHTS[c] for c in MESSAGE_CHANNELS])
    w = reachable * weights
    w[w.sum(axis=1) == 0] = weights
    cumulative = np.cumsum(w, axis=1)
    u = rng.random(len(w)) * cumulative[:, -1]
    return (cumulative <= u[:, None]).sum(axis=1).astype(np.int8)


def _devices(ctx: ChunkContext, rng: np.random.Generator) -> Devices:
    sizes = np.array(list(DEVICES_PER_CUSTOMER))
    probs = np.array(list(DEVICES_PER_CUSTOMER.values()))
    count = np.concatenate([rng.choice(sizes, size=ctx.n_customers, p=probs), np.ones(ctx.n_visitors, int)])
    first = np.concatenate([[0], np.cumsum(count)[:-1]])
    actor = np.repeat(np.arange(len(count)), count)
    rank = np.arange(len(actor)) - first[actor]
    return Devices(
        actor, rank, col.random_uuids(rng, len(actor)), col.random_hex(rng, len(actor), 16, "dev_"), first, count
    )


def make_people(ctx: ChunkContext) -> People:
    rng = ctx.rng("people")
    n, n_visitors = ctx.n_customers, ctx.n_visitors
    persona = rng.choice(len(PERSONAS), size=n, p=[p.share for p in PERSONAS]).astype(np.int8)
    country = rng.choice(len(COUNTRIES), size=n + n_visitors, p=COUNTRY_SHARES).astype(np.int16)
    zone = _zones_for(rng, country)
    currency = np.array([CURRENCIES.index(c.currency) for c in COUNTRIES], dtype=np.int8)[country]
    is_eu = np.array([c.is_eu for c in COUNTRIES])[country[:n]]

    pre_period = rng.random(n) < PRE_PERIOD_SIGNUP_SHARE
    signed_up_at = np.where(
        pre_period,
        uniform_between(rng, ctx.period_start - 365 * DAY, ctx.period_start - HOUR, n),
        uniform_between(rng, ctx.period_start, ctx.as_of - LATEST_SIGNUP_BEFORE_AS_OF, n),
    )
    visitor_first_seen = uniform_between(rng, ctx.period_start, ctx.as_of - LATEST_SIGNUP_BEFORE_AS_OF, n_visitors)

    reachable = np.stack([rng.random(n) >= MISSING_CONTACT[c] for c in ("email", "phone", "push_token")], axis=1)
    first_names = col.take(col.vocab(FIRST_NAMES), rng.integers(0, len(FIRST_NAMES), size=n))
    emails = col.with_nulls(
        _emails(rng, first_names, country[:n], ctx.first_customer + np.arange(n) + 1), ~reachable[:, 0]
    )
    phones = col.with_nulls(_phones(rng, country[:n]), ~reachable[:, 1])
    push_tokens = col.with_nulls(col.random_hex(rng, n, 40, "pt_"), ~reachable[:, 2])

    customer_ids = ctx.ids("cus_", np.arange(n))
    received_at = signed_up_at + rng.integers(1 * SECOND, 3 * SECOND, size=n)
    table = pa.table(
        {
            "customer_id": customer_ids,
            "first_name": first_names,
            "email": emails,
            "phone": phones,
            "push_token": push_tokens,
            "country_code": col.take(col.vocab([c.code for c in COUNTRIES]), country[:n]),
            "time_zone": col.take(col.vocab(ZONES), zone[:n]),
            "signed_up_at": col.timestamps(signed_up_at),
            "updated_at": col.timestamps(signed_up_at),
            "received_at": col.timestamps(received_at),
        }
    )
    return People(
        n_customers=n,
        n_visitors=n_visitors,
        customer_ids=customer_ids,
        persona=persona,
        country=country,
        zone=zone,
        currency=currency,
        is_eu=is_eu,
        signed_up_at=signed_up_at,
        pre_period=pre_period,
        visitor_first_seen=visitor_first_seen,
        preferred_hour=rng.choice(24, size=n, p=PREFERRED_HOUR_WEIGHTS).astype(np.int8),
        preferred_channel=_preferred_channel(rng, reachable),
        reachable=reachable,
        first_names=first_names,
        emails=emails,
        customers_table=table,
        devices=_devices(ctx, rng),
    )

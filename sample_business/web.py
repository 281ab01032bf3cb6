"""Web behaviour: sessions and their events, carts, orders with their lines, and identity links.

Why it is built session-first: every planted web effect is a property of a session (its channel decides
the conversion odds, a cart is either converted or abandoned, a login splits a session into anonymous and
identified events). Sessions are drawn per actor and device, then expanded into events with numpy
`repeat`, so no Python code runs per event.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sample_business import columns as col
from sample_business.catalog import Catalog
from sample_business.clock import DAY, HOUR, MINUTE, SECOND
from sample_business.context import ChunkContext
from sample_business.effects import (
    ABANDONED_CHECKOUT_PROB,
    ABANDONED_EXTRA_LINES_MEAN,
    CART_ABANDONMENT_SHARE,
    CHANNEL_MIX,
    CHANNEL_ODDS,
    CHANNELS,
    DISCOUNT_PERCENTS,
    EXTRA_QUANTITY_PROB,
    FX_FROM_USD,
    LOGIN_SESSION_RANK,
    MAX_ORDER_LINES,
    PERSONAS,
    PRE_SIGNUP_SESSIONS,
    VISITOR_BROWSE_EVENTS_MEAN,
    VISITOR_EXTRA_SESSIONS_MEAN,
)
from sample_business.messaging import EmailClicks, Messaging
from sample_business.population import People
from sample_business.schema import ACCEPTED_VALUES
from sample_business.vocab import (
    CART_PAGE,
    CHECKOUT_PAGE,
    CONFIRMATION_PAGE,
    CURRENCIES,
    EMAIL_LANDING_PAGES,
    EMAIL_UTM_SOURCES,
    FEATURES,
    GENERAL_PAGE_WEIGHTS,
    GENERAL_PAGES,
    LOGIN_PAGE,
    UTM_CAMPAIGNS,
    UTM_PROFILES,
)

EVENT_NAMES = ACCEPTED_VALUES["events"]["event_name"]
(
    PAGE_VIEWED,
    PRODUCT_VIEWED,
    CART_UPDATED,
    CHECKOUT_STARTED,
    ORDER_COMPLETED,
    TRIAL_STARTED,
    FEATURE_USED,
    RENEWAL_SCHEDULED,
    SUBSCRIPTION_CANCELLED,
    LOGGED_IN,
) = range(len(EVENT_NAMES))
PRE_SIGNUP, SIGNUP, REGULAR, EMAIL_CLICK, VISIT = range(5)  # how a session came about
EMAIL = CHANNELS.index("email")
LATEST_SESSION_START = 6 * HOUR  # before as_of; a session's events span at most 34 gaps of <= 8 min
SESSION_SPACING = 5 * HOUR  # sessions on one device never overlap: a session this close to the previous is dropped
MAX_BROWSE_EVENTS = 25
PRODUCT_VIEW_SHARE = 0.55
PRODUCT_LANDING_SHARE = 0.4
NEVER_LOGS_IN = np.iinfo(np.int32).max

EVENT_DTYPES = {
    "name": np.int8,
    "device": np.int64,
    "customer": np.int64,
    "session": np.int64,
    "page": np.int64,
    "product": np.int64,
    "cart": np.int64,
    "cart_value": np.int64,
    "order": np.int64,
    "feature": np.int64,
    "at": np.int64,
}
ORDER_DTYPES = {
    "customer": np.int64,
    "session": np.int64,
    "currency": np.int8,
    "revenue": np.int64,
    "discount": np.int64,
    "item_count": np.int32,
    "at": np.int64,
}
ITEM_DTYPES = {"order": np.int64, "product": np.int64, "quantity": np.int32, "unit_price": np.int64}
NO_VALUE = np.iinfo(np.int64).min  # cart_value of events without a cart


@dataclass(frozen=True)
class Pages:
    """Every page path: the general pages, the four special ones, then one page per product."""

    paths: pa.StringArray
    n_general: int

    @classmethod
    def build(cls, catalog: Catalog) -> Pages:
        fixed = col.vocab((*GENERAL_PAGES, CART_PAGE, CHECKOUT_PAGE, CONFIRMATION_PAGE, LOGIN_PAGE))
        return cls(pa.concat_arrays([fixed, catalog.product_pages]), len(GENERAL_PAGES))

    def special(self, path: str) -> int:
        return self.n_general + (CART_PAGE, CHECKOUT_PAGE, CONFIRMATION_PAGE, LOGIN_PAGE).index(path)

    def product(self, product: np.ndarray) -> np.ndarray:
        return self.n_general + 4 + product


@dataclass
class Web:
    sessions: pa.Table
    sessions_late: np.ndarray
    identifies: pa.Table
    identifies_late: np.ndarray
    events: dict[str, np.ndarray]
    orders: dict[str, np.ndarray]
    items: dict[str, np.ndarray]
    used_devices: np.ndarray  # per device: appears in a session
    stats: dict[str, int]


@dataclass
class _Sessions:
    actor: np.ndarray
    device: np.ndarray
    start: np.ndarray
    kind: np.ndarray
    channel: np.ndarray
    campaign: np.ndarray  # email sessions: index into campaign names
    newsletter: np.ndarray  # email sessions: from a newsletter (else a journey message)

    def take(self, order: np.ndarray) -> _Sessions:
        return _Sessions(*(getattr(self, f)[order] for f in self.__dataclass_fields__))


def _draw(rng: np.random.Generator, table: dict[int, float], n: int) -> np.ndarray:
    return rng.choice(np.array(list(table)), size=n, p=np.array(list(table.values())))


def _session_skeletons(ctx: ChunkContext, rng: np.random.Generator, people: People, clicks: EmailClicks) -> _Sessions:
    """Sessions per actor: pre-signup, signup, regular, email-click and anonymous visits (unsorted)."""
    n = people.n_customers
    devices = people.devices
    end = ctx.as_of - LATEST_SESSION_START
    zone = people.zone
    s = people.signed_up_at
    active_from = np.maximum(s, ctx.period_start)
    in_period = ~people.pre_period
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]] = []  # (actor, device, start, kind)

    low, high = np.maximum(ctx.period_start, s - 7 * DAY), s - 6 * HOUR
    count = np.where(in_period & (high > low), _draw(rng, PRE_SIGNUP_SESSIONS, n), 0)
    actor = np.repeat(np.arange(n), count)
    parts.append(
        (
            actor,
            devices.first_of_actor[actor],
            ctx.clock.diurnal_times(rng, low[actor], high[actor], zone[actor]),
            PRE_SIGNUP,
        )
    )
    actor = np.flatnonzero(in_period)
    parts.append((actor, devices.first_of_actor[actor], s[actor], SIGNUP))

    rate = np.array([p.sessions_per_30d for p in PERSONAS])[people.persona]
    count = rng.poisson(rate * np.maximum(end - active_from, 0) / (30 * DAY))
    actor = np.repeat(np.arange(n), count)
    n_devices = devices.count_of_actor[actor]
    other = rng.random(len(actor)) >= 0.5
    offset = np.where((n_devices > 1) & other, 1 + (rng.random(len(actor)) * (n_devices - 1)).astype(int), 0)
    parts.append(
        (
            actor,
            devices.first_of_actor[actor] + offset,
            ctx.clock.diurnal_times(rng, active_from[actor], np.full(len(actor), end), zone[actor]),
            REGULAR,
        )
    )

    click_start = clicks.at + rng.integers(2 * SECOND, 20 * SECOND, size=len(clicks.at))
    from_click = np.flatnonzero(click_start < end)
    actor = clicks.customer[from_click]
    parts.append((actor, devices.first_of_actor[actor], click_start[from_click], EMAIL_CLICK))

    visitor = np.arange(people.n_visitors)
    count = 1 + rng.poisson(VISITOR_EXTRA_SESSIONS_MEAN, size=len(visitor))
    visitor = np.repeat(visitor, count)
    first_seen = people.visitor_first_seen[visitor]
    actor = n + visitor
    parts.append(
        (
            actor,
            devices.first_of_actor[actor],
            ctx.clock.diurnal_times(rng, first_seen, np.minimum(first_seen + 30 * DAY, end), zone[actor]),
            VISIT,
        )
    )

    kind = np.concatenate([np.full(len(p[0]), p[3], dtype=np.int8) for p in parts])
    total = len(kind)
    mix_channels = [CHANNELS.index(c) for c in CHANNEL_MIX]
    channel = rng.choice(mix_channels, size=total, p=list(CHANNEL_MIX.values())).astype(np.int8)
    channel[kind == EMAIL_CLICK] = EMAIL
    campaign = np.full(total, -1, dtype=np.int64)
    campaign[kind == EMAIL_CLICK] = clicks.campaign[from_click]
    newsletter = np.zeros(total, dtype=bool)
    newsletter[kind == EMAIL_CLICK] = clicks.is_newsletter[from_click]
    return _Sessions(
        actor=np.concatenate([p[0] for p in parts]),
        device=np.concatenate([p[1] for p in parts]),
        start=np.concatenate([p[2] for p in parts]),
        kind=kind,
        channel=channel,
        campaign=campaign,
        newsletter=newsletter,
    )


def _gaps(rng: np.random.Generator, n: int) -> np.ndarray:
    """Time between two events of a session: 3 s + Exp(45 s), at most 8 min."""
    return np.minimum(3 * SECOND + (rng.exponential(45.0, n) * SECOND).astype(np.int64), 8 * MINUTE)


def _rank_within(groups: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within runs of equal values of a sorted array."""
    n = len(groups)
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]]) if n else np.array([], dtype=np.int64)
    return np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))


def _spaced(device: np.ndarray, start: np.ndarray, keep_always: np.ndarray) -> np.ndarray:
    """Which sessions (sorted by device, start) to keep so that kept sessions of a device never overlap.

    A session starting less than SESSION_SPACING after the previous one on its device is dropped; the kept
    ones are then at least that far apart, longer than any session lasts. Signup sessions are always kept
    (the sessions before them end long before by construction).
    """
    too_close = np.r_[False, (device[1:] == device[:-1]) & (np.diff(start) < SESSION_SPACING)]
    return ~too_close | keep_always


def _first_of_runs(sizes: np.ndarray) -> np.ndarray:
    return np.cumsum(sizes) - sizes


class _WebBuilder:
    def __init__(self, ctx: ChunkContext, people: People, catalog: Catalog, messaging: Messaging):
        self.ctx, self.people, self.catalog, self.messaging = ctx, people, catalog, messaging
        self.rng = ctx.rng("web")
        self.pages = Pages.build(catalog)

    # -- sessions -------------------------------------------------------------------------------------------
    def sessions(self) -> None:
        """Sessions sorted by device and time, and where each device's login happens (its rank)."""
        rng, people = self.rng, self.people
        raw = _session_skeletons(self.ctx, rng, people, self.messaging.email_clicks)
        first_gap = _gaps(rng, len(raw.start))
        signup = raw.kind == SIGNUP
        raw.start = np.where(signup, raw.start - first_gap, raw.start)  # its logged_in event is at signup
        order = np.lexsort((raw.start, raw.device))
        order = order[_spaced(raw.device[order], raw.start[order], raw.kind[order] == SIGNUP)]
        self.s = raw.take(order)
        self.first_gap = first_gap[order]
        self.rank = _rank_within(self.s.device)

        n_devices = len(people.devices.actor)
        per_device = np.bincount(self.s.device, minlength=n_devices)
        login_rank = np.minimum(_draw(rng, LOGIN_SESSION_RANK, n_devices), per_device - 1)
        signup = self.s.kind == SIGNUP
        login_rank[self.s.device[signup]] = self.rank[signup]
        login_rank[people.devices.actor >= people.n_customers] = NEVER_LOGS_IN
        device_login = login_rank[self.s.device]
        self.is_customer = self.s.actor < people.n_customers
        self.logged_in = self.is_customer & (self.rank >= device_login)
        self.login = self.is_customer & (self.rank == device_login)
        self.used_devices = per_device > 0

    def conversions(self) -> None:
        """The planted logit model, then abandoned carts in proportion to conversions."""
        rng, n = self.rng, len(self.s.start)
        baseline = np.array([p.conversion_p_baseline for p in PERSONAS])
        persona = self.people.persona[np.where(self.is_customer, self.s.actor, 0)]
        odds = np.array([CHANNEL_ODDS[c] for c in CHANNELS])[self.s.channel]
        p = baseline[persona]
        linear = np.log(p / (1 - p)) + np.log(odds)
        self.converting = self.logged_in & (rng.random(n) < 1 / (1 + np.exp(-linear)))
        n_converting = int(self.converting.sum())
        n_abandoned = round(CART_ABANDONMENT_SHARE / (1 - CART_ABANDONMENT_SHARE) * n_converting)
        candidates = np.flatnonzero(~self.converting)
        chosen = rng.choice(candidates, size=min(n_abandoned, len(candidates)), replace=False)
        self.abandoned = np.zeros(n, dtype=bool)
        self.abandoned[chosen] = True
        self.has_cart = self.converting | self.abandoned
        self.checkout = self.converting | (self.abandoned & (rng.random(n) < ABANDONED_CHECKOUT_PROB))

    # -- carts and orders ------------------------------------------------------------------------------------
    def lines(self) -> None:
        """Cart lines of every cart session (a converting session's lines are its order's items)."""
        rng, s = self.rng, self.s
        n = len(s.start)
        persona = self.people.persona[np.where(self.is_customer, s.actor, 0)]
        extra = np.array([p.extra_items_mean for p in PERSONAS])[persona]
        extra = np.where(self.converting, extra, ABANDONED_EXTRA_LINES_MEAN)
        self.n_lines = np.where(self.has_cart, 1 + np.minimum(rng.poisson(extra, n), MAX_ORDER_LINES - 1), 0)
        line_session = np.repeat(np.arange(n), self.n_lines)
        m = len(line_session)
        product = self.catalog.draw_products(rng, m)
        quantity = np.where(rng.random(m) < EXTRA_QUANTITY_PROB, 2 + rng.poisson(0.5, m), 1).astype(np.int32)
        fx = np.array([FX_FROM_USD[c] for c in CURRENCIES])[self.people.currency[s.actor[line_session]]]
        unit_price = np.round(self.catalog.price_cents[product] * fx).astype(np.int64)
        line_total = quantity * unit_price
        running = np.cumsum(line_total)
        has_lines = self.n_lines > 0
        before_session = (running - line_total)[_first_of_runs(self.n_lines)[has_lines]]
        self.line_running_value = running - np.repeat(before_session, self.n_lines[has_lines])
        self.subtotal = np.bincount(line_session, weights=line_total, minlength=n).astype(np.int64)
        self.quantity_total = np.bincount(line_session, weights=quantity, minlength=n).astype(np.int32)
        self.line = {"session": line_session, "product": product, "quantity": quantity, "unit_price": unit_price}

        self.cart_number = np.cumsum(self.has_cart) - 1
        self.order_number = np.cumsum(self.converting) - 1
        discounted = rng.random(n) < np.array([p.discount_prob for p in PERSONAS])[persona]
        percent = np.array(DISCOUNT_PERCENTS)[rng.integers(0, len(DISCOUNT_PERCENTS), size=n)]
        self.discount = np.where(discounted, np.round(self.subtotal * percent / 100), 0).astype(np.int64)
        self.revenue = self.subtotal - self.discount

    # -- events ----------------------------------------------------------------------------------------------
    def events(self) -> dict[str, np.ndarray]:
        """Each session laid out as: landing page, [logged_in], browsing, cart lines, [checkout], [order]."""
        rng, s, pages = self.rng, self.s, self.pages
        n_browse = np.minimum(rng.poisson(self._browse_means()), MAX_BROWSE_EVENTS)
        login = self.login.astype(np.int64)
        checkout = self.checkout.astype(np.int64)
        per_session = 1 + login + n_browse + self.n_lines + checkout + self.converting
        session = np.repeat(np.arange(len(s.start)), per_session)
        first_event = _first_of_runs(per_session)
        position = np.arange(len(session)) - first_event[session]
        e = len(session)

        browse_from = 1 + login[session]
        lines_from = browse_from + n_browse[session]
        lines_to = lines_from + self.n_lines[session]
        is_login = (position == 1) & (login[session] == 1)
        is_browse = (position >= browse_from) & (position < lines_from)
        is_cart = (position >= lines_from) & (position < lines_to)
        is_checkout = (position == lines_to) & (checkout[session] == 1)
        is_order = (position == lines_to + checkout[session]) & self.converting[session]
        is_product_view = is_browse & (rng.random(e) < PRODUCT_VIEW_SHARE)

        name = np.full(e, PAGE_VIEWED, dtype=np.int8)
        name[is_login] = LOGGED_IN
        name[is_product_view] = PRODUCT_VIEWED
        name[is_cart] = CART_UPDATED
        name[is_checkout] = CHECKOUT_STARTED
        name[is_order] = ORDER_COMPLETED

        product = np.full(e, -1, dtype=np.int64)
        product[is_product_view] = self.catalog.draw_products(rng, int(is_product_view.sum()))
        product[is_cart] = self.line["product"]
        page = rng.choice(len(GENERAL_PAGES), size=e, p=GENERAL_PAGE_WEIGHTS).astype(np.int64)
        page[is_product_view] = pages.product(product[is_product_view])
        page[position == 0] = self.landing_pages
        page[is_login] = pages.special(LOGIN_PAGE)
        page[is_cart] = pages.special(CART_PAGE)
        page[is_checkout] = pages.special(CHECKOUT_PAGE)
        page[is_order] = pages.special(CONFIRMATION_PAGE)

        cart_value = np.full(e, NO_VALUE, dtype=np.int64)
        cart_value[is_cart] = self.line_running_value
        cart_value[is_checkout] = self.subtotal[session[is_checkout]]
        cart_value[is_order] = self.revenue[session[is_order]]
        with_cart = is_cart | is_checkout | is_order
        cart = np.where(with_cart, self.cart_number[session], -1)
        order = np.where(is_order, self.order_number[session], -1)

        gaps = _gaps(rng, e)
        gaps[position == 0] = 0
        gaps[position == 1] = self.first_gap[session[position == 1]]
        elapsed = np.cumsum(gaps)
        at = s.start[session] + elapsed - elapsed[first_event[session]]
        self.order_at = at[is_order]
        self.login_at = at[is_login]

        identified = self.logged_in[session] & ~(self.login[session] & (position == 0))
        return {
            "name": name,
            "device": s.device[session],
            "customer": np.where(identified, s.actor[session], -1),
            "session": session,
            "page": page,
            "product": product,
            "cart": cart,
            "cart_value": cart_value,
            "order": order,
            "feature": np.full(e, -1, dtype=np.int64),
            "at": at,
        }

    def _browse_means(self) -> np.ndarray:
        persona = self.people.persona[np.where(self.is_customer, self.s.actor, 0)]
        means = np.array([p.browse_events_mean for p in PERSONAS])[persona]
        return np.where(self.is_customer, means, VISITOR_BROWSE_EVENTS_MEAN)

    def landing(self) -> None:
        """The first page of each session (email clicks land on campaign pages or a product)."""
        rng, s, n = self.rng, self.s, len(self.s.start)
        general = rng.choice(len(GENERAL_PAGES), size=n, p=GENERAL_PAGE_WEIGHTS)
        email_pages = np.array([GENERAL_PAGES.index(p) for p in EMAIL_LANDING_PAGES])
        general = np.where(s.channel == EMAIL, email_pages[rng.integers(0, len(email_pages), size=n)], general)
        on_product = rng.random(n) < PRODUCT_LANDING_SHARE
        self.landing_pages = np.where(on_product, self.pages.product(self.catalog.draw_products(rng, n)), general)

    # -- tables ----------------------------------------------------------------------------------------------
    def orders_and_items(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        converting = np.flatnonzero(self.converting)
        orders = {
            "customer": self.s.actor[converting],
            "session": converting,
            "currency": self.people.currency[self.s.actor[converting]],
            "revenue": self.revenue[converting],
            "discount": self.discount[converting],
            "item_count": self.quantity_total[converting],
            "at": self.order_at,
        }
        in_order = self.converting[self.line["session"]]
        items = {
            "order": self.order_number[self.line["session"][in_order]],
            "product": self.line["product"][in_order],
            "quantity": self.line["quantity"][in_order],
            "unit_price": self.line["unit_price"][in_order],
        }
        return orders, items

    def sessions_table(self, campaign_names: pa.StringArray) -> tuple[pa.Table, np.ndarray]:
        rng, s, n = self.rng, self.s, len(self.s.start)
        sources, mediums, referrers = [], [], []
        profile = np.zeros(n, dtype=np.int64)
        paid_campaign = np.full(n, -1, dtype=np.int64)
        flat: list[tuple[str | None, str | None, str | None]] = []
        campaign_vocab: list[str] = []
        for name, options in UTM_PROFILES.items():
            rows = np.flatnonzero(s.channel == CHANNELS.index(name))
            weights = np.array([o[3] for o in options])
            profile[rows] = len(flat) + rng.choice(len(options), size=len(rows), p=weights / weights.sum())
            flat.extend(o[:3] for o in options)
            if name in UTM_CAMPAIGNS:
                names = UTM_CAMPAIGNS[name]
                paid_campaign[rows] = len(campaign_vocab) + rng.integers(0, len(names), size=len(rows))
                campaign_vocab.extend(names)
        email = s.channel == EMAIL
        for values, position in ((sources, 0), (mediums, 1), (referrers, 2)):
            values.extend(o[position] for o in flat)
        email_source = len(flat) + np.where(s.newsletter, 0, 1)
        sources.extend(EMAIL_UTM_SOURCES)
        mediums.extend(["email", "email"])
        referrers.extend([None, None])
        profile = np.where(email, email_source, profile)
        campaigns = pa.concat_arrays([col.vocab(campaign_vocab), campaign_names])
        campaign = np.where(email, len(campaign_vocab) + s.campaign, paid_campaign)

        received_at, is_late = self.ctx.arrivals(rng, s.start)
        devices = self.people.devices
        table = pa.table(
            {
                "session_id": self.ctx.ids("ses_", np.arange(n)),
                "anonymous_id": devices.anonymous_ids.take(pa.array(s.device)),
                "device_id": devices.device_ids.take(pa.array(s.device)),
                "customer_id": col.take(self.people.customer_ids, s.actor, ~self.logged_in),
                "utm_source": pa.array(sources, pa.string()).take(pa.array(profile)),
                "utm_medium": pa.array(mediums, pa.string()).take(pa.array(profile)),
                "utm_campaign": col.take(campaigns, campaign),
                "referrer": pa.array(referrers, pa.string()).take(pa.array(profile)),
                "landing_page": self.pages.paths.take(pa.array(self.landing_pages)),
                "started_at": col.timestamps(s.start),
                "received_at": col.timestamps(received_at),
            }
        )
        return table, is_late

    def identifies_table(self) -> tuple[pa.Table, np.ndarray]:
        """One identify per login: the device's anonymous id seen as the customer, email as typed."""
        rng = self.rng
        login = np.flatnonzero(self.login)
        device, customer = self.s.device[login], self.s.actor[login]
        m = len(login)
        typed = self.people.emails.take(pa.array(customer))
        style = rng.random(m)
        email = pc.if_else(pa.array(style < 0.10), pc.utf8_capitalize(typed), typed)
        email = col.with_nulls(email, style >= 0.85)
        received_at, is_late = self.ctx.arrivals(rng, self.login_at)
        devices = self.people.devices
        table = pa.table(
            {
                "identify_id": self.ctx.ids("idf_", np.arange(m)),
                "anonymous_id": devices.anonymous_ids.take(pa.array(device)),
                "device_id": devices.device_ids.take(pa.array(device)),
                "customer_id": self.people.customer_ids.take(pa.array(customer)),
                "email": email,
                "occurred_at": col.timestamps(self.login_at),
                "received_at": col.timestamps(received_at),
            }
        )
        return table, is_late


def make_web(ctx: ChunkContext, people: People, catalog: Catalog, messaging: Messaging) -> Web:
    builder = _WebBuilder(ctx, people, catalog, messaging)
    builder.sessions()
    builder.conversions()
    builder.lines()
    builder.landing()
    events = builder.events()
    orders, items = builder.orders_and_items()
    sessions, sessions_late = builder.sessions_table(messaging.campaigns.names)
    identifies, identifies_late = builder.identifies_table()
    stats = {
        "sessions": len(builder.s.start),
        "logged_in_sessions": int(builder.logged_in.sum()),
        "converting_sessions": int(builder.converting.sum()),
        "abandoned_carts": int(builder.abandoned.sum()),
        "carts": int(builder.has_cart.sum()),
        "email_click_sessions": int((builder.s.kind == EMAIL_CLICK).sum()),
    }
    return Web(sessions, sessions_late, identifies, identifies_late, events, orders, items, builder.used_devices, stats)


def events_table(
    ctx: ChunkContext, people: People, catalog: Catalog, events: dict[str, np.ndarray]
) -> tuple[pa.Table, np.ndarray]:
    """Web and server-side events (numpy columns from make_web and make_subscriptions) as the raw table."""
    rng = ctx.rng("events")
    n = len(events["at"])
    pages = Pages.build(catalog)
    received_at, is_late = ctx.arrivals(rng, events["at"])
    devices = people.devices

    def ids(prefix: str, numbers: np.ndarray) -> pa.Array:
        return col.with_nulls(ctx.ids(prefix, np.maximum(numbers, 0)), numbers < 0)

    table = pa.table(
        {
            "event_id": ctx.ids("evt_", np.arange(n)),
            "event_name": col.take(col.vocab(EVENT_NAMES), events["name"]),
            "anonymous_id": devices.anonymous_ids.take(pa.array(events["device"])),
            "customer_id": col.take(people.customer_ids, events["customer"]),
            "session_id": ids("ses_", events["session"]),
            "page_path": col.take(pages.paths, events["page"]),
            "product_id": col.take(catalog.product_ids, events["product"]),
            "cart_id": ids("cart_", events["cart"]),
            "cart_value": col.money(events["cart_value"], events["cart_value"] == NO_VALUE),
            "order_id": ids("ord_", events["order"]),
            "feature_name": col.take(col.vocab(FEATURES), events["feature"]),
            "occurred_at": col.timestamps(events["at"]),
            "received_at": col.timestamps(received_at),
        }
    )
    return table, is_late


def orders_tables(
    ctx: ChunkContext, people: People, catalog: Catalog, orders: dict[str, np.ndarray], items: dict[str, np.ndarray]
) -> tuple[pa.Table, np.ndarray, pa.Table, np.ndarray]:
    """Orders and their lines; a line arrives with its order (same received_at, late together)."""
    rng = ctx.rng("orders")
    n = len(orders["at"])
    received_at, is_late = ctx.arrivals(rng, orders["at"])
    session = orders["session"]
    orders_table = pa.table(
        {
            "order_id": ctx.ids("ord_", np.arange(n)),
            "customer_id": people.customer_ids.take(pa.array(orders["customer"])),
            "session_id": col.with_nulls(ctx.ids("ses_", np.maximum(session, 0)), session < 0),
            "currency": col.take(col.vocab(CURRENCIES), orders["currency"]),
            "revenue": col.money(orders["revenue"]),
            "discount_amount": col.money(orders["discount"]),
            "item_count": pa.array(orders["item_count"], pa.int32()),
            "ordered_at": col.timestamps(orders["at"]),
            "received_at": col.timestamps(received_at),
        }
    )
    items_table = pa.table(
        {
            "order_item_id": ctx.ids("itm_", np.arange(len(items["order"]))),
            "order_id": ctx.ids("ord_", items["order"]),
            "product_id": catalog.product_ids.take(pa.array(items["product"])),
            "quantity": pa.array(items["quantity"], pa.int32()),
            "unit_price": col.money(items["unit_price"]),
            "received_at": col.timestamps(received_at[items["order"]]),
        }
    )
    return orders_table, is_late, items_table, is_late[items["order"]]

"""Message engagement history: marketing messages inside consented intervals and how people reacted.

Why: journeys decide channel and send time from past engagement, so the history carries two planted
effects (see effects.py): reactions cluster at each customer's preferred local hour, and open/click rates
are higher on the preferred channel. Every email click also becomes a web session (utm_medium email), so
email attribution in the web data is grounded in real clicks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pyarrow as pa

from sample_business import columns as col
from sample_business.clock import DAY, HOUR, MINUTE, SECOND, WEEK, to_datetime, uniform_between
from sample_business.consent import EMAIL, NEVER, SMS, Consent
from sample_business.context import ChunkContext, RowParts
from sample_business.effects import (
    ENGAGEMENT,
    ENGAGEMENT_EXTRA_DAY_P,
    HARD_BOUNCE_CUSTOMER_SHARE,
    MESSAGES_PER_WEEK,
    NEWSLETTER_SHARE,
    PREFERRED_CHANNEL_FACTOR,
    PREFERRED_HOUR_SHARE,
)
from sample_business.population import MESSAGE_CHANNELS, People
from sample_business.schema import ACCEPTED_VALUES
from sample_business.vocab import JOURNEY_CAMPAIGNS, NEWSLETTER_SCHEDULE

EVENT_TYPES = ACCEPTED_VALUES["message_engagement"]["event_type"]
SENT, DELIVERED, OPENED, CLICKED, BOUNCED, UNSUBSCRIBED, COMPLAINED = range(len(EVENT_TYPES))
HARD, SOFT = 0, 1
LATEST_SEND_BEFORE_AS_OF = 6 * HOUR
NEWSLETTER_JITTER = 20 * MINUTE  # a newsletter goes out to its audience over 20 minutes


@dataclass(frozen=True)
class Campaigns:
    """Every campaign name (newsletters on a weekly schedule, then journey names) and newsletter send times."""

    names: pa.StringArray
    newsletter_times: dict[int, np.ndarray]  # channel -> sorted send times
    newsletter_names: dict[int, np.ndarray]  # channel -> index into names, aligned with the times
    journey_names: dict[int, np.ndarray]  # channel -> indices into names
    n_newsletters: int


def build_campaigns(period_start: int, as_of: int) -> Campaigns:
    names: list[str] = []
    times: dict[int, list[int]] = {}
    name_index: dict[int, list[int]] = {}
    first_day = to_datetime(period_start - period_start % DAY)
    for channel, (weekdays, hour, stem) in NEWSLETTER_SCHEDULE.items():
        c = MESSAGE_CHANNELS.index(channel)
        times[c], name_index[c] = [], []
        for d in range((as_of - period_start) // DAY + 2):
            day = first_day + timedelta(days=d)
            at = period_start - period_start % DAY + d * DAY + hour * HOUR
            if day.weekday() in weekdays and period_start <= at < as_of:
                times[c].append(at)
                name_index[c].append(len(names))
                names.append(f"{stem}_{day:%Y_%m_%d}")
    n_newsletters = len(names)
    journeys = {}
    for channel, journey_names in JOURNEY_CAMPAIGNS.items():
        journeys[MESSAGE_CHANNELS.index(channel)] = np.arange(len(names), len(names) + len(journey_names))
        names.extend(journey_names)
    return Campaigns(
        names=col.vocab(names),
        newsletter_times={c: np.array(t, dtype=np.int64) for c, t in times.items()},
        newsletter_names={c: np.array(i, dtype=np.int64) for c, i in name_index.items()},
        journey_names=journeys,
        n_newsletters=n_newsletters,
    )


@dataclass
class EmailClicks:
    customer: np.ndarray
    at: np.ndarray
    is_newsletter: np.ndarray
    campaign: np.ndarray  # index into Campaigns.names


@dataclass
class Messaging:
    table: pa.Table
    is_late: np.ndarray
    email_clicks: EmailClicks
    campaigns: Campaigns


@dataclass
class _Messages:
    customer: np.ndarray
    channel: np.ndarray
    sent_at: np.ndarray
    campaign: np.ndarray
    is_newsletter: np.ndarray


def _scheduled_messages(
    ctx: ChunkContext, rng: np.random.Generator, consent: Consent, campaigns: Campaigns
) -> _Messages:
    """Per customer and channel, Poisson(MESSAGES_PER_WEEK) messages inside the consented interval."""
    parts = RowParts("customer", "channel", "sent_at", "campaign", "is_newsletter")
    for channel, name in enumerate(MESSAGE_CHANNELS):
        low = np.maximum(consent.marketing_from[:, channel], ctx.period_start)
        high = np.minimum(consent.marketing_until[:, channel], ctx.as_of - LATEST_SEND_BEFORE_AS_OF)
        open_ = (consent.marketing_from[:, channel] != NEVER) & (high > low)
        weeks = np.where(open_, (high - low) / WEEK, 0.0)
        count = rng.poisson(MESSAGES_PER_WEEK[name] * weeks)
        customer = np.repeat(np.arange(len(count)), count)
        m = len(customer)
        times = campaigns.newsletter_times[channel]
        first = np.searchsorted(times, low[customer])
        last = np.searchsorted(times, high[customer] - NEWSLETTER_JITTER)
        newsletter = (rng.random(m) < NEWSLETTER_SHARE) & (last > first)
        pick = np.minimum(first + (rng.random(m) * (last - first)).astype(np.int64), len(times) - 1)
        # one copy of a newsletter per customer
        key = np.where(newsletter, customer * (len(times) + 1) + pick, -1 - np.arange(m))
        _, keep = np.unique(key, return_index=True)
        keep = np.sort(keep)
        customer, newsletter, pick = customer[keep], newsletter[keep], pick[keep]
        m = len(customer)
        journey = campaigns.journey_names[channel]
        sent_at = np.where(
            newsletter,
            times[pick] + rng.integers(0, NEWSLETTER_JITTER, size=m),
            uniform_between(rng, low[customer], high[customer], m),
        )
        campaign = np.where(
            newsletter, campaigns.newsletter_names[channel][pick], journey[rng.integers(0, len(journey), size=m)]
        )
        parts.add(m, customer=customer, channel=channel, sent_at=sent_at, campaign=campaign, is_newsletter=newsletter)
    cols = parts.stack(
        {"customer": np.int64, "channel": np.int8, "sent_at": np.int64, "campaign": np.int64, "is_newsletter": bool}
    )
    return _Messages(cols["customer"], cols["channel"], cols["sent_at"], cols["campaign"], cols["is_newsletter"])


def _last_email_per_customer(messages: _Messages) -> tuple[np.ndarray, np.ndarray]:
    """(customers, index of their last email message) for customers with at least one email."""
    emails = np.flatnonzero(messages.channel == EMAIL)
    order = emails[np.lexsort((messages.sent_at[emails], messages.customer[emails]))]
    customers = messages.customer[order]
    is_last = np.append(customers[1:] != customers[:-1], True) if len(order) else np.array([], dtype=bool)
    return customers[is_last], order[is_last]


class _Engagement:
    """Collects engagement rows (message index, type, bounce type, time)."""

    def __init__(self):
        self.rows = RowParts("message", "event_type", "bounce_type", "at")

    def add(self, messages: np.ndarray, event_type: int, at: np.ndarray, bounce_type: int | np.ndarray = -1):
        self.rows.add(len(messages), message=messages, event_type=event_type, bounce_type=bounce_type, at=at)


def _react(
    ctx: ChunkContext, rng: np.random.Generator, people: People, customer: np.ndarray, after: np.ndarray
) -> np.ndarray:
    return ctx.clock.engagement_times(
        rng, after, people.zone[customer], people.preferred_hour[customer], PREFERRED_HOUR_SHARE, ENGAGEMENT_EXTRA_DAY_P
    )


def _outcomes(
    ctx: ChunkContext,
    rng: np.random.Generator,
    people: People,
    messages: _Messages,
    hard_bounce: np.ndarray,
    out: _Engagement,
) -> tuple[np.ndarray, np.ndarray]:
    """Sent, then delivered or bounced, then opens and clicks. Returns (email clicked?, click time)."""
    m = len(messages.customer)
    channel, customer = messages.channel, messages.customer
    index = np.arange(m)
    out.add(index, SENT, messages.sent_at)

    soft_rate = np.array([ENGAGEMENT[c]["soft_bounce"] for c in MESSAGE_CHANNELS])[channel]
    soft = (rng.random(m) < soft_rate) & ~hard_bounce
    bounced = soft | hard_bounce
    bounce_at = messages.sent_at + rng.integers(SECOND, 5 * MINUTE, size=m)
    out.add(index[bounced], BOUNCED, bounce_at[bounced], np.where(hard_bounce, HARD, SOFT)[bounced])
    delivered_at = messages.sent_at + rng.integers(SECOND, 90 * SECOND, size=m)
    out.add(index[~bounced], DELIVERED, delivered_at[~bounced])

    preferred = people.preferred_channel[customer] == channel
    open_rate = np.array([ENGAGEMENT["email"]["open"], 0.0, ENGAGEMENT["push"]["open"]])[channel]
    open_rate = open_rate * np.where(preferred, PREFERRED_CHANNEL_FACTOR["open"], 1.0)
    opened_at = _react(ctx, rng, people, customer, delivered_at)
    opened = ~bounced & (rng.random(m) < open_rate) & (opened_at <= ctx.as_of)
    out.add(index[opened], OPENED, opened_at[opened])

    click_factor = np.where(preferred, PREFERRED_CHANNEL_FACTOR["click"], 1.0)
    email_click_at = opened_at + rng.integers(5 * SECOND, 120 * SECOND, size=m)
    email_clicked = (
        opened
        & (channel == EMAIL)
        & (rng.random(m) < ENGAGEMENT["email"]["click_given_open"] * click_factor)
        & (email_click_at <= ctx.as_of)
    )
    sms_click_at = _react(ctx, rng, people, customer, delivered_at)
    sms_clicked = (
        ~bounced
        & (channel == SMS)
        & (rng.random(m) < ENGAGEMENT["sms"]["click"] * click_factor)
        & (sms_click_at <= ctx.as_of)
    )
    out.add(index[email_clicked], CLICKED, email_click_at[email_clicked])
    out.add(index[sms_clicked], CLICKED, sms_click_at[sms_clicked])
    return email_clicked, email_click_at


def _opt_out_messages(rng: np.random.Generator, consent: Consent, campaigns: Campaigns) -> _Messages:
    """The message each chained opt-out reacted to: sent 1-30 h before the opt-out."""
    chains = consent.chains
    n = len(chains.customer)
    sent_at = chains.at - rng.integers(HOUR, 30 * HOUR, size=n)
    campaign = np.zeros(n, dtype=np.int64)
    for channel in (EMAIL, SMS):
        rows = chains.channel == channel
        times = campaigns.newsletter_times[channel]
        pick = np.clip(np.searchsorted(times, sent_at[rows]) - 1, 0, max(len(times) - 1, 0))
        campaign[rows] = campaigns.newsletter_names[channel][pick] if len(times) else 0
    return _Messages(chains.customer, chains.channel, sent_at, campaign, np.ones(n, dtype=bool))


def _opt_out_reactions(
    rng: np.random.Generator, consent: Consent, messages: _Messages, offset: int, out: _Engagement
) -> None:
    chains = consent.chains
    n = len(chains.customer)
    index = offset + np.arange(n)
    out.add(index, SENT, messages.sent_at)
    out.add(index, DELIVERED, messages.sent_at + rng.integers(SECOND, 90 * SECOND, size=n))
    is_email = chains.channel == EMAIL
    opened_at = chains.at - rng.integers(30 * SECOND, 5 * MINUTE, size=n)
    out.add(index[is_email], OPENED, opened_at[is_email])
    final = np.where(chains.complained, COMPLAINED, UNSUBSCRIBED)
    out.add(index, final, chains.at)


def make_messaging(ctx: ChunkContext, people: People, consent: Consent, campaigns: Campaigns) -> Messaging:
    rng = ctx.rng("messaging")
    messages = _scheduled_messages(ctx, rng, consent, campaigns)
    chain_messages = _opt_out_messages(rng, consent, campaigns)

    last_customer, last_message = _last_email_per_customer(messages)
    chained = np.zeros(people.n_customers, dtype=bool)
    chained[consent.chains.customer] = True
    bounces_hard = (rng.random(len(last_customer)) < HARD_BOUNCE_CUSTOMER_SHARE) & ~chained[last_customer]
    hard_bounce = np.zeros(len(messages.customer), dtype=bool)
    hard_bounce[last_message[bounces_hard]] = True

    out = _Engagement()
    email_clicked, email_click_at = _outcomes(ctx, rng, people, messages, hard_bounce, out)
    _opt_out_reactions(rng, consent, chain_messages, len(messages.customer), out)

    rows = out.rows.stack({"message": np.int64, "event_type": np.int8, "bounce_type": np.int8, "at": np.int64})
    message = rows["message"]
    customer = np.concatenate([messages.customer, chain_messages.customer])[message]
    channel = np.concatenate([messages.channel, chain_messages.channel])[message]
    campaign = np.concatenate([messages.campaign, chain_messages.campaign])[message]
    received_at, is_late = ctx.arrivals(rng, rows["at"])
    table = pa.table(
        {
            "message_event_id": ctx.ids("mev_", np.arange(len(message))),
            "message_id": ctx.ids("msg_", message),
            "customer_id": people.customer_ids.take(pa.array(customer)),
            "channel": col.take(col.vocab(MESSAGE_CHANNELS), channel),
            "campaign_name": campaigns.names.take(pa.array(campaign)),
            "event_type": col.take(col.vocab(EVENT_TYPES), rows["event_type"]),
            "bounce_type": col.take(col.vocab(("hard", "soft")), rows["bounce_type"]),
            "occurred_at": col.timestamps(rows["at"]),
            "received_at": col.timestamps(received_at),
        }
    )
    clicks = EmailClicks(
        customer=messages.customer[email_clicked],
        at=email_click_at[email_clicked],
        is_newsletter=messages.is_newsletter[email_clicked],
        campaign=messages.campaign[email_clicked],
    )
    return Messaging(table, is_late, clicks, campaigns)

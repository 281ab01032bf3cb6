"""Consent history per customer, channel and purpose, and the marketing intervals it allows.

Why: the engine must never message without permission, so the sample history has to exercise the hard
cases: EU customers who must opt in explicitly, double opt-in that is sometimes never confirmed, opt-outs
through an unsubscribe link or an SMS keyword (with the matching message engagement), later re-opt-ins.
Marketing messages in message_engagement are only sent inside the intervals computed here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from sample_business import columns as col
from sample_business.clock import DAY, HOUR, MINUTE, SECOND, uniform_between
from sample_business.context import ChunkContext, RowParts
from sample_business.effects import CONSENT, ENGAGEMENT_EXTRA_DAY_P, PREFERRED_HOUR_SHARE
from sample_business.population import MESSAGE_CHANNELS, People
from sample_business.schema import ACCEPTED_VALUES

NEVER = np.iinfo(np.int64).max
PURPOSES = ACCEPTED_VALUES["consent_events"]["purpose"]
STATUSES = ACCEPTED_VALUES["consent_events"]["status"]
SOURCES = ACCEPTED_VALUES["consent_events"]["source"]
EMAIL, SMS, PUSH = (MESSAGE_CHANNELS.index(c) for c in ("email", "sms", "push"))
MARKETING, TRANSACTIONAL = PURPOSES.index("marketing"), PURPOSES.index("transactional")
OPTED_IN, OPTED_OUT, PENDING = (STATUSES.index(s) for s in ("opted_in", "opted_out", "pending_confirmation"))
LATEST_OPT_OUT_BEFORE_AS_OF = 6 * HOUR


def source(name: str) -> int:
    return SOURCES.index(name)


@dataclass
class OptOutChains:
    """Opt-outs that came with a message engagement row (unsubscribe link, complaint, SMS STOP)."""

    customer: np.ndarray
    channel: np.ndarray
    at: np.ndarray
    complained: np.ndarray


@dataclass
class Consent:
    table: pa.Table
    is_late: np.ndarray
    marketing_from: np.ndarray  # (n_customers, 3): start of the consented marketing interval, NEVER if none
    marketing_until: np.ndarray  # (n_customers, 3): end of it (opt-out time, or as_of)
    chains: OptOutChains


class _Builder:
    def __init__(self, ctx: ChunkContext, people: People):
        self.ctx, self.people = ctx, people
        self.rng = ctx.rng("consent")
        n = people.n_customers
        self.n = n
        self.rows = RowParts("customer", "channel", "purpose", "status", "source", "double_opt_in", "at")
        self.recorded_at = people.signed_up_at + self.rng.integers(1 * SECOND, 3 * SECOND, size=n)
        self.initial_source = np.where(people.pre_period, source("import"), source("signup_form"))
        self.active_from = np.maximum(people.signed_up_at, ctx.period_start)
        self.marketing_from = np.full((n, 3), NEVER, dtype=np.int64)
        self.marketing_until = np.full((n, 3), ctx.as_of, dtype=np.int64)
        self.chains: list[tuple[np.ndarray, int, np.ndarray, np.ndarray]] = []

    def add(
        self, mask: np.ndarray, channel: int, purpose: int, status: int, source_code, double_opt_in, at: np.ndarray
    ) -> None:
        rows = np.flatnonzero(mask)

        def pick(value):  # per-customer arrays are subset, constants broadcast
            return np.asarray(value)[rows] if np.ndim(value) else value

        self.rows.add(
            len(rows),
            customer=rows,
            channel=channel,
            purpose=purpose,
            status=status,
            source=pick(source_code),
            double_opt_in=pick(double_opt_in),
            at=at[rows],
        )

    def draw(self, p: float | np.ndarray) -> np.ndarray:
        return self.rng.random(self.n) < p

    def later_time(self) -> np.ndarray:
        return uniform_between(self.rng, self.active_from + DAY, self.ctx.as_of - DAY, self.n)

    def opt_out_time(self, after: np.ndarray, mean_days: float) -> np.ndarray:
        """A time after `after` (at least 2 days), at an hour the customer engages with messages."""
        wait = after + 2 * DAY + (self.rng.exponential(mean_days, self.n) * DAY).astype(np.int64)
        wait = np.minimum(wait, self.ctx.as_of)
        return self.ctx.clock.engagement_times(
            self.rng,
            wait,
            self.people.zone[: self.n],
            self.people.preferred_hour,
            PREFERRED_HOUR_SHARE,
            ENGAGEMENT_EXTRA_DAY_P,
        )

    def transactional(self, channel: int, has: np.ndarray) -> None:
        self.add(has, channel, TRANSACTIONAL, OPTED_IN, self.initial_source, False, self.recorded_at)

    def email_marketing(self) -> None:
        has = self.people.reachable[:, EMAIL]
        eu, pre = self.people.is_eu, self.people.pre_period
        opt_in_p = CONSENT["email_marketing_opt_in_at_signup"]
        opted_in = has & self.draw(np.where(eu, opt_in_p["eu"], opt_in_p["non_eu"]))
        double = opted_in & eu & self.draw(CONSENT["eu_double_opt_in_share"])
        pending = double & ~pre  # imported customers' double opt-ins arrive already confirmed
        direct = opted_in & ~pending
        self.add(direct, EMAIL, MARKETING, OPTED_IN, self.initial_source, double & pre, self.recorded_at)
        self.add(pending, EMAIL, MARKETING, PENDING, source("signup_form"), False, self.recorded_at)
        confirm_at = self.recorded_at + MINUTE + (self.rng.exponential(3.0, self.n) * HOUR).astype(np.int64)
        confirmed = pending & self.draw(CONSENT["double_opt_in_confirm_prob"]) & (confirm_at <= self.ctx.as_of - HOUR)
        self.add(confirmed, EMAIL, MARKETING, OPTED_IN, source("double_opt_in_email"), True, confirm_at)

        declined = has & ~opted_in & self.draw(CONSENT["email_marketing_decline_recorded"])
        self.add(declined, EMAIL, MARKETING, OPTED_OUT, self.initial_source, False, self.recorded_at)
        later_at = self.later_time()
        later = (
            has
            & ~(direct | confirmed)
            & self.draw(CONSENT["email_marketing_later_opt_in"])
            & (later_at > self.recorded_at)
        )
        later_source = np.where(self.draw(0.5), source("checkout"), source("preference_center"))
        self.add(later, EMAIL, MARKETING, OPTED_IN, later_source, False, later_at)

        start = np.where(direct, self.recorded_at, np.where(confirmed, confirm_at, np.where(later, later_at, NEVER)))
        sources = CONSENT["email_opt_out_sources"]
        how = self.rng.choice([source(s) for s in sources], size=self.n, p=list(sources.values()))
        self.opt_out(EMAIL, start, CONSENT["email_marketing_opt_out"], 50.0, how)

    def sms_marketing(self) -> None:
        has = self.people.reachable[:, SMS]
        opted_in = has & self.draw(CONSENT["sms_marketing_opt_in"])
        at_signup = self.draw(0.5)
        at = np.where(at_signup, self.recorded_at, self.later_time())
        how = np.where(
            at_signup, self.initial_source, np.where(self.draw(0.5), source("checkout"), source("sms_keyword"))
        )
        self.add(opted_in, SMS, MARKETING, OPTED_IN, how, False, at)
        start = np.where(opted_in, at, NEVER)
        self.opt_out(SMS, start, CONSENT["sms_marketing_opt_out"], 40.0, source("sms_keyword"))

    def push_marketing(self) -> None:
        has = self.people.reachable[:, PUSH]
        at = np.minimum(self.recorded_at + self.rng.integers(MINUTE, 3 * DAY, size=self.n), self.ctx.as_of - HOUR)
        opted_in = has & self.draw(CONSENT["push_marketing_opt_in"])
        self.add(opted_in, PUSH, MARKETING, OPTED_IN, self.initial_source, False, at)
        start = np.where(opted_in, at, NEVER)
        self.opt_out(PUSH, start, CONSENT["push_marketing_opt_out"], 60.0, source("preference_center"))

    def opt_out(self, channel: int, start: np.ndarray, p: float, mean_days: float, how) -> None:
        at = self.opt_out_time(np.where(start == NEVER, 0, start), mean_days)
        out = (start != NEVER) & self.draw(p) & (at <= self.ctx.as_of - LATEST_OPT_OUT_BEFORE_AS_OF)
        self.add(out, channel, MARKETING, OPTED_OUT, how, False, at)
        self.marketing_from[:, channel] = start
        self.marketing_until[:, channel] = np.where(out, at, self.ctx.as_of)
        how = np.broadcast_to(how, (self.n,))
        chained = out & ((how == source("unsubscribe_link")) | (how == source("sms_keyword")))
        complained = chained & (channel == EMAIL) & self.draw(CONSENT["complaint_share_of_unsubscribes"])
        self.chains.append((np.flatnonzero(chained), channel, at[chained], complained[chained]))

    def build(self) -> Consent:
        columns = self.rows.stack(
            {
                "customer": np.int64,
                "channel": np.int8,
                "purpose": np.int8,
                "status": np.int8,
                "source": np.int8,
                "double_opt_in": bool,
                "at": np.int64,
            }
        )
        received_at, is_late = self.ctx.arrivals(self.rng, columns["at"])
        n_rows = len(columns["at"])
        table = pa.table(
            {
                "consent_event_id": self.ctx.ids("cev_", np.arange(n_rows)),
                "customer_id": self.people.customer_ids.take(pa.array(columns["customer"])),
                "channel": col.take(col.vocab(MESSAGE_CHANNELS), columns["channel"]),
                "purpose": col.take(col.vocab(PURPOSES), columns["purpose"]),
                "status": col.take(col.vocab(STATUSES), columns["status"]),
                "source": col.take(col.vocab(SOURCES), columns["source"]),
                "is_double_opt_in": pa.array(columns["double_opt_in"]),
                "occurred_at": col.timestamps(columns["at"]),
                "received_at": col.timestamps(received_at),
            }
        )
        chains = OptOutChains(
            customer=np.concatenate([c[0] for c in self.chains]),
            channel=np.concatenate([np.full(len(c[0]), c[1], dtype=np.int8) for c in self.chains]),
            at=np.concatenate([c[2] for c in self.chains]),
            complained=np.concatenate([c[3] for c in self.chains]),
        )
        return Consent(table, is_late, self.marketing_from, self.marketing_until, chains)


def make_consent(ctx: ChunkContext, people: People) -> Consent:
    builder = _Builder(ctx, people)
    builder.transactional(EMAIL, people.reachable[:, EMAIL])
    builder.email_marketing()
    builder.transactional(SMS, people.reachable[:, SMS] & builder.draw(CONSENT["sms_transactional_opt_in"]))
    builder.sms_marketing()
    builder.transactional(PUSH, people.reachable[:, PUSH])
    builder.push_marketing()
    return builder.build()

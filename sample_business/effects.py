"""The planted effects: what the sample business is made of, stated exactly so analyses can recover it.

Why this module exists: the journey engine, its segments and its attribution are tested against data whose
truth is known. Everything the generator decides at random is drawn from the parameters below, and
`effects_truth()` copies them into `<data_dir>/ground_truth/ground_truth.json`.

Northwind Goods sells ~200 products online and a subscription, "Northwind Plus" (plans basic, plus, pro).

Population
    Customers sign up uniformly over the period; PRE_PERIOD_SIGNUP_SHARE of them signed up up to a year
    before it (their consent rows have source `import`). Country mix COUNTRIES (40 % EU), each with its
    IANA zones. Email, phone and push token are missing with MISSING_CONTACT probabilities. Each customer
    has 1-3 devices (DEVICES_PER_CUSTOMER), each with its own anonymous_id and device_id.
    ANONYMOUS_VISITORS_PER_CUSTOMER x n_customers extra visitors browse anonymously and never sign up.

Personas (PERSONAS, drawn with `share`): sessions per 30 active days, browse events per session,
    baseline conversion, basket size, discount use, trial propensity, feature usage, support tickets.

Identity
    Before signup a customer browses anonymously on device 0 (PRE_SIGNUP_SESSIONS). Signup happens inside
    a session: its first event (landing page) is anonymous, its second is `logged_in` at signed_up_at, and an
    `identifies` row links the device. On every other device the login happens in the device's first,
    second or third session (LOGIN_SESSION_RANK); sessions before it are anonymous. After the login every
    session on that device is logged in. Events carry customer_id from the `logged_in` event on; a session
    carries customer_id when the visitor was logged in at any point of it.

Conversion (the logit model)
    Every session whose visitor is logged in (sessions.customer_id not null) ends in an order with
        P(order) = 1 / (1 + exp(-(logit(p_persona) + ln(CHANNEL_ODDS[channel]))))
    where p_persona = PERSONAS[persona].conversion_p_baseline is the probability on the baseline channel
    paid_social (odds ratio 1.0), logit(p) = ln(p / (1 - p)). Anonymous sessions never order. So the odds
    of converting on channel c are CHANNEL_ODDS[c] times the odds on paid_social, for every persona.
    Non-email sessions draw their channel from CHANNEL_MIX independently of persona; email sessions are the
    clicks on email messages (below).

Carts
    Every converting session has a cart (cart_updated events, one per order line) and reaches checkout.
    Then exactly round(CART_ABANDONMENT_SHARE / (1 - CART_ABANDONMENT_SHARE) x converting sessions) of
    the non-converting sessions (of customers and visitors alike, chosen uniformly, per generation chunk)
    get a cart that is abandoned, so CART_ABANDONMENT_SHARE of all carts never become an order.
    ABANDONED_CHECKOUT_PROB of abandoned carts reach checkout_started.

Messages and engagement
    Marketing messages go only to customers with marketing consent on that channel, within the consented
    interval. Each customer has a preferred channel (among the reachable ones, PREFERRED_CHANNEL_WEIGHTS)
    and a preferred local hour (PREFERRED_HOUR_WEIGHTS). Opens (email, push) and clicks (sms) happen at the
    next occurrence, after delivery, of a local hour that is the preferred hour with probability
    PREFERRED_HOUR_SHARE and a uniform hour otherwise (uniform minute, plus a geometric number of extra
    days with ENGAGEMENT_EXTRA_DAY_P). So the expected share of opens within +-1 h of the preferred hour is
    PREFERRED_HOUR_SHARE + (1 - PREFERRED_HOUR_SHARE) x 3/24 = 0.65. Email clicks follow their open by
    5-120 s. Open and click probabilities (ENGAGEMENT) are multiplied by PREFERRED_CHANNEL_FACTOR on the
    customer's preferred channel. An email click opens a web session with utm_medium email (unless
    the device had a session in the 5 hours before, or the click is in the last 6 hours before as_of).

Subscriptions
    Trials last TRIAL_DAYS; a trial converts to paid with TRIAL_TO_PAID; paid subscriptions renew every
    BILLING_CYCLE_DAYS and are cancelled at each cycle with MONTHLY_CANCELLATION (geometric lifetime).
    A renewal due in the last PAST_DUE_WINDOW_DAYS fails with PAST_DUE_PROB (status past_due). Each charge
    is an order without session (one item: the plan) with its server-side order_completed event.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Persona:
    name: str
    share: float
    sessions_per_30d: float  # Poisson mean of non-email sessions per 30 days after signup
    browse_events_mean: float  # Poisson mean of page/product views per session after the landing page
    conversion_p_baseline: float  # P(order | logged-in session on paid_social)
    extra_items_mean: float  # order lines = 1 + Poisson(extra_items_mean), at most MAX_ORDER_LINES
    discount_prob: float  # P(an order has a discount)
    trial_prob: float  # P(the customer starts a Northwind Plus trial)
    feature_uses_per_day: float  # Poisson rate of feature_used events while trialing or paying
    tickets_per_180d: float  # Poisson mean of support tickets per 180 days after signup


PERSONAS: tuple[Persona, ...] = (
    Persona("bargain_hunter", 0.25, 1.3, 4.5, 0.060, 0.8, 0.70, 0.10, 0.15, 0.35),
    Persona("loyalist", 0.15, 1.6, 4.0, 0.160, 1.4, 0.10, 0.25, 0.25, 0.30),
    Persona("browser", 0.40, 1.2, 5.0, 0.025, 0.5, 0.20, 0.05, 0.10, 0.15),
    Persona("subscriber", 0.20, 1.0, 3.5, 0.080, 0.7, 0.15, 0.85, 0.70, 0.40),
)
PERSONA_NAMES = tuple(p.name for p in PERSONAS)

# Visitors who never sign up.
ANONYMOUS_VISITORS_PER_CUSTOMER = 0.5
VISITOR_EXTRA_SESSIONS_MEAN = 0.7  # sessions = 1 + Poisson(this), within 30 days of the first visit
VISITOR_BROWSE_EVENTS_MEAN = 3.5

PRE_PERIOD_SIGNUP_SHARE = 0.15
MISSING_CONTACT = {"email": 0.08, "phone": 0.45, "push_token": 0.60}
DEVICES_PER_CUSTOMER = {1: 0.55, 2: 0.30, 3: 0.15}
PRE_SIGNUP_SESSIONS = {0: 0.45, 1: 0.30, 2: 0.15, 3: 0.10}  # anonymous sessions on device 0 before signup
LOGIN_SESSION_RANK = {0: 0.60, 1: 0.25, 2: 0.15}  # which session of a further device has the login

CHANNELS = ("paid_search", "paid_social", "email", "affiliate", "organic", "referral", "direct")
CHANNEL_ODDS = {
    "paid_search": 1.6,
    "paid_social": 1.0,
    "email": 2.0,
    "affiliate": 1.3,
    "organic": 1.2,
    "referral": 1.1,
    "direct": 1.4,
}
CHANNEL_MIX = {  # non-email sessions
    "paid_search": 0.20,
    "paid_social": 0.16,
    "affiliate": 0.06,
    "organic": 0.24,
    "referral": 0.07,
    "direct": 0.27,
}
CART_ABANDONMENT_SHARE = 0.70
ABANDONED_CHECKOUT_PROB = 0.35
ABANDONED_EXTRA_LINES_MEAN = 0.5
MAX_ORDER_LINES = 6
EXTRA_QUANTITY_PROB = 0.15  # quantity = 1, or 2 + Poisson(0.5) with this probability
DISCOUNT_PERCENTS = (10, 15, 20, 25)

PREFERRED_CHANNEL_WEIGHTS = {"email": 0.5, "sms": 0.2, "push": 0.3}
PREFERRED_HOUR_WEIGHTS = np.array([0, 0, 0, 0, 0, 0, 1, 3, 4, 3, 2, 2, 4, 3, 2, 2, 2, 3, 5, 6, 6, 5, 3, 1], dtype=float)
PREFERRED_HOUR_WEIGHTS = PREFERRED_HOUR_WEIGHTS / PREFERRED_HOUR_WEIGHTS.sum()
PREFERRED_HOUR_SHARE = 0.60
ENGAGEMENT_EXTRA_DAY_P = 0.7  # extra days = Geometric(0.7) - 1
EXPECTED_SHARE_WITHIN_1H = PREFERRED_HOUR_SHARE + (1 - PREFERRED_HOUR_SHARE) * 3 / 24
PREFERRED_CHANNEL_FACTOR = {"open": 1.6, "click": 1.5}
ENGAGEMENT = {
    "email": {"open": 0.25, "click_given_open": 0.20, "soft_bounce": 0.02},
    "sms": {"click": 0.10, "soft_bounce": 0.01},
    "push": {"open": 0.12, "soft_bounce": 0.02},
}
HARD_BOUNCE_CUSTOMER_SHARE = 0.01  # of email-messaged customers: their last email bounces hard
MESSAGES_PER_WEEK = {"email": 1.0, "sms": 0.25, "push": 0.6}
NEWSLETTER_SHARE = 0.75  # the rest are journey (triggered) messages

CONSENT = {
    "email_marketing_opt_in_at_signup": {"eu": 0.45, "non_eu": 0.70},
    "eu_double_opt_in_share": 0.60,  # of EU signup opt-ins made in the period
    "double_opt_in_confirm_prob": 0.80,
    "email_marketing_decline_recorded": 0.40,  # non-opt-ins with an explicit opted_out row at signup
    "email_marketing_later_opt_in": 0.12,
    "email_marketing_opt_out": 0.18,
    "email_opt_out_sources": {"unsubscribe_link": 0.7, "preference_center": 0.2, "support_request": 0.1},
    "complaint_share_of_unsubscribes": 0.10,
    "sms_marketing_opt_in": 0.35,
    "sms_marketing_opt_out": 0.20,
    "sms_transactional_opt_in": 0.80,
    "push_marketing_opt_in": 0.60,
    "push_marketing_opt_out": 0.10,
}

PLANS = {"basic": 999, "plus": 1999, "pro": 3999}  # monthly price in USD cents
PLAN_WEIGHTS = {"basic": 0.50, "plus": 0.35, "pro": 0.15}
TRIAL_DAYS = 14
TRIAL_TO_PAID = 0.45
BILLING_CYCLE_DAYS = 30
MONTHLY_CANCELLATION = 0.08
PAST_DUE_WINDOW_DAYS = 5
PAST_DUE_PROB = 0.25
TRIAL_START_MEAN_DAYS_AFTER_SIGNUP = 20

FX_FROM_USD = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79}


def logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def effects_truth() -> dict:
    """The parameters above as JSON-ready data, for ground_truth.json."""
    return {
        "conversion_model": {
            "statement": (
                "For every session with a logged-in customer: P(order) = 1/(1+exp(-(logit(p_persona) + "
                "ln(channel_odds[channel])))); p_persona is the probability on paid_social (odds ratio 1). "
                "Anonymous sessions never order."
            ),
            "channel_odds": CHANNEL_ODDS,
            "persona_logit_intercept": {p.name: logit(p.conversion_p_baseline) for p in PERSONAS},
            "non_email_channel_mix": CHANNEL_MIX,
        },
        "carts": {
            "abandonment_share": CART_ABANDONMENT_SHARE,
            "abandoned_checkout_prob": ABANDONED_CHECKOUT_PROB,
            "statement": "abandoned carts = round(share/(1-share) x converting sessions) per chunk",
        },
        "engagement": {
            "preferred_hour_share": PREFERRED_HOUR_SHARE,
            "expected_share_within_1h_of_preferred_hour": EXPECTED_SHARE_WITHIN_1H,
            "preferred_hour_weights": [round(float(w), 6) for w in PREFERRED_HOUR_WEIGHTS],
            "extra_day_geometric_p": ENGAGEMENT_EXTRA_DAY_P,
            "preferred_channel_weights": PREFERRED_CHANNEL_WEIGHTS,
            "preferred_channel_factor": PREFERRED_CHANNEL_FACTOR,
            "base_rates": ENGAGEMENT,
            "hard_bounce_customer_share": HARD_BOUNCE_CUSTOMER_SHARE,
            "messages_per_week": MESSAGES_PER_WEEK,
            "newsletter_share": NEWSLETTER_SHARE,
        },
        "subscriptions": {
            "plans_monthly_usd_cents": PLANS,
            "plan_weights": PLAN_WEIGHTS,
            "trial_days": TRIAL_DAYS,
            "trial_to_paid": TRIAL_TO_PAID,
            "billing_cycle_days": BILLING_CYCLE_DAYS,
            "monthly_cancellation": MONTHLY_CANCELLATION,
            "past_due_window_days": PAST_DUE_WINDOW_DAYS,
            "past_due_prob": PAST_DUE_PROB,
        },
        "personas": {p.name: {k: v for k, v in asdict(p).items() if k != "name"} for p in PERSONAS},
        "population": {
            "anonymous_visitors_per_customer": ANONYMOUS_VISITORS_PER_CUSTOMER,
            "pre_period_signup_share": PRE_PERIOD_SIGNUP_SHARE,
            "missing_contact": MISSING_CONTACT,
            "devices_per_customer": {str(k): v for k, v in DEVICES_PER_CUSTOMER.items()},
            "pre_signup_sessions": {str(k): v for k, v in PRE_SIGNUP_SESSIONS.items()},
            "login_session_rank": {str(k): v for k, v in LOGIN_SESSION_RANK.items()},
        },
        "consent": CONSENT,
        "fx_from_usd": FX_FROM_USD,
    }

"""Support tickets with templated but varied free text that refers to the customer's real orders.

Why: segments and journeys sometimes key on support contact (e.g. hold back promotions after a complaint),
and text columns must survive the pipeline untouched. Tickets about an order name the customer's latest
order before the ticket and a product from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from sample_business import columns as col
from sample_business.catalog import Catalog
from sample_business.clock import DAY, HOUR, MINUTE, SECOND
from sample_business.context import ChunkContext
from sample_business.effects import PERSONAS
from sample_business.population import People
from sample_business.schema import ACCEPTED_VALUES


@dataclass(frozen=True)
class Topic:
    weight: float
    needs_order: bool
    subjects: tuple[str, ...]
    details: tuple[str, ...]
    priority: tuple[float, float, float, float] = (0.25, 0.50, 0.20, 0.05)  # low, normal, high, urgent


TOPICS: dict[str, Topic] = {
    "order_status": Topic(
        0.25,
        True,
        (
            "Where is my order {order}?",
            "Order {order} hasn't arrived",
            "No tracking update for {order}",
            "Delivery status of my order",
        ),
        (
            "I placed order {order} {days} days ago and it still hasn't arrived.",
            "The tracking for order {order} hasn't changed in {days} days.",
            "My order {order} shows as shipped but nothing has been delivered yet.",
        ),
    ),
    "return_refund": Topic(
        0.15,
        True,
        (
            "Return for {product}",
            "Refund for order {order}",
            "How do I return the {product}?",
        ),
        (
            "I'd like to return the {product} from order {order}, it doesn't fit.",
            "I sent back the {product} {days} days ago and haven't received my refund yet.",
            "Can you send me a return label for order {order}? The {product} isn't what I expected.",
        ),
    ),
    "damaged_item": Topic(
        0.08,
        True,
        (
            "{product} arrived damaged",
            "Broken item in order {order}",
        ),
        (
            "The {product} in order {order} arrived with a crack.",
            "When I opened the parcel the {product} was damaged. I attached two photos.",
        ),
        (0.05, 0.35, 0.40, 0.20),
    ),
    "billing": Topic(
        0.07,
        True,
        (
            "Charged twice for order {order}?",
            "Question about my invoice",
            "Discount not applied",
        ),
        (
            "I see two charges on my card for order {order}.",
            "The discount code wasn't applied to order {order}, could you refund the difference?",
        ),
        (0.05, 0.40, 0.40, 0.15),
    ),
    "login_problem": Topic(
        0.12,
        False,
        (
            "Can't log in",
            "Password reset email never arrives",
            "Locked out of my account",
        ),
        (
            "I try to log in but it says my password is wrong, even after a reset.",
            "I requested a password reset {days} times but no email arrives.",
            "The app keeps logging me out every time I open it.",
        ),
    ),
    "subscription": Topic(
        0.10,
        False,
        (
            "Cancel my Northwind Plus",
            "Question about my Plus renewal",
            "Plus benefits not showing",
        ),
        (
            "Please cancel my Northwind Plus membership before the next renewal.",
            "When exactly does my Plus membership renew? I can't find the date in my account.",
            "I'm a Plus member but free shipping wasn't applied at checkout.",
        ),
    ),
    "product_question": Topic(
        0.15,
        False,
        (
            "Question about {product}",
            "Is the {product} back in stock soon?",
            "Sizing for {product}",
        ),
        (
            "Does the {product} run true to size?",
            "Will the {product} be back in stock in the next {days} days?",
            "What material is the {product} made of, and how do I care for it?",
        ),
        (0.45, 0.45, 0.08, 0.02),
    ),
    "unsubscribe": Topic(
        0.08,
        False,
        (
            "Please stop the emails",
            "Too many messages",
            "Unsubscribe me",
        ),
        (
            "I keep getting marketing emails even though I never signed up for them.",
            "Please remove me from all your marketing lists.",
            "I get {days} messages a week from you, that's far too many.",
        ),
    ),
}
TOPIC_NAMES = tuple(TOPICS)
GREETINGS = ("Hi,", "Hello,", "Hi there,", "Hello Northwind team,", "Good morning,", "Hey,", "Dear support,")
EXTRAS = (
    "",
    "",
    "",
    "I'd appreciate a quick reply.",
    "It was meant as a gift, so this is a bit urgent.",
    "This is the second time I'm writing about this.",
    "Thanks in advance for your help.",
    "Sorry if this is answered somewhere already.",
)
SIGN_OFFS = (
    "Thanks,\n{name}",
    "Best regards,\n{name}",
    "Cheers,\n{name}",
    "{name}",
    "Thank you!\n{name}",
    "Kind regards, {name}",
)
CHANNEL_WEIGHTS = (0.50, 0.35, 0.15)  # email, chat, phone
STATUSES = ACCEPTED_VALUES["support_tickets"]["status"]  # open, pending, solved, closed


@dataclass
class CustomerOrders:
    """Orders of one chunk, as the tickets need them."""

    customer: np.ndarray
    at: np.ndarray
    number: np.ndarray  # local order number
    first_product: np.ndarray


def _latest_order_before(orders: CustomerOrders, customer: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Index into orders of each ticket's customer's latest order at or before the ticket, -1 if none."""
    n_orders = len(orders.customer)
    all_customer = np.concatenate([orders.customer, customer])
    all_at = np.concatenate([orders.at, at])
    is_ticket = np.concatenate([np.zeros(n_orders, dtype=bool), np.ones(len(customer), dtype=bool)])
    seq = np.lexsort((is_ticket, all_at, all_customer))
    order_position = np.where(~is_ticket[seq], np.arange(len(seq)), -1)
    latest = np.maximum.accumulate(order_position) if len(seq) else order_position
    ticket_positions = np.flatnonzero(is_ticket[seq])
    found = latest[ticket_positions]
    same_customer = (found >= 0) & (all_customer[seq][np.maximum(found, 0)] == all_customer[seq][ticket_positions])
    result = np.full(len(customer), -1, dtype=np.int64)
    result[seq[ticket_positions] - n_orders] = np.where(same_customer, seq[np.maximum(found, 0)], -1)
    return result


def _status(rng: np.random.Generator, age: np.ndarray) -> np.ndarray:
    """Young tickets are open or pending; older ones mostly solved or closed."""
    u = rng.random(len(age))
    young = np.where(u < 0.6, 0, 1)
    middle = np.select([u < 0.2, u < 0.5], [0, 1], 2)
    old = np.select([u < 0.05, u < 0.45], [1, 2], 3)
    return np.select([age < DAY, age < 7 * DAY], [young, middle], old)


def _texts(
    rng: np.random.Generator, topic: np.ndarray, names: list, orders: list, products: list, days: np.ndarray
) -> tuple[list[str], list[str]]:
    """Subject and body per ticket (tickets are few, so plain string formatting is fine here)."""
    n = len(topic)
    subject_pick, detail_pick = rng.random(n), rng.random(n)
    greeting = rng.integers(0, len(GREETINGS), size=n)
    extra = rng.integers(0, len(EXTRAS), size=n)
    sign_off = rng.integers(0, len(SIGN_OFFS), size=n)
    subjects, bodies = [], []
    for i in range(n):
        spec = TOPICS[TOPIC_NAMES[topic[i]]]
        fill = {"order": orders[i], "product": products[i], "days": int(days[i]), "name": names[i]}
        subjects.append(spec.subjects[int(subject_pick[i] * len(spec.subjects))].format(**fill))
        detail = spec.details[int(detail_pick[i] * len(spec.details))].format(**fill)
        text = f"{detail} {EXTRAS[extra[i]]}".strip()
        bodies.append(f"{GREETINGS[greeting[i]]}\n\n{text}\n\n{SIGN_OFFS[sign_off[i]].format(**fill)}")
    return subjects, bodies


def make_tickets(ctx: ChunkContext, people: People, catalog: Catalog, orders: CustomerOrders) -> pa.Table:
    rng = ctx.rng("support")
    n = people.n_customers
    active_from = np.maximum(people.signed_up_at, ctx.period_start)
    end = ctx.as_of - HOUR
    rate = np.array([p.tickets_per_180d for p in PERSONAS])[people.persona]
    count = rng.poisson(rate * np.maximum(end - active_from, 0) / (180 * DAY))
    customer = np.repeat(np.arange(n), count)
    m = len(customer)
    created_at = ctx.clock.diurnal_times(rng, active_from[customer], np.full(m, end), people.zone[customer])

    weights = np.array([t.weight for t in TOPICS.values()])
    needs_order = np.array([t.needs_order for t in TOPICS.values()])
    topic = rng.choice(len(TOPICS), size=m, p=weights / weights.sum())
    latest = _latest_order_before(orders, customer, created_at)
    general = weights * ~needs_order
    fallback = rng.choice(len(TOPICS), size=m, p=general / general.sum())
    topic = np.where(needs_order[topic] & (latest < 0), fallback, topic)

    product = np.where(latest >= 0, orders.first_product[np.maximum(latest, 0)], catalog.draw_products(rng, m))
    order_ids = ctx.ids("ord_", np.where(latest >= 0, orders.number[np.maximum(latest, 0)], 0)).to_pylist()
    product_names = catalog.table["product_name"].to_pylist()
    subjects, bodies = _texts(
        rng,
        topic,
        people.first_names.take(pa.array(customer)).to_pylist(),
        order_ids,
        [product_names[p] for p in product],
        rng.integers(2, 15, size=m),
    )
    priorities = np.array([t.priority for t in TOPICS.values()])[topic]
    priority = (priorities.cumsum(axis=1) < rng.random((m, 1))).sum(axis=1)
    priority = np.minimum(priority, 3)
    return pa.table(
        {
            "ticket_id": ctx.ids("tkt_", np.arange(m)),
            "customer_id": people.customer_ids.take(pa.array(customer)),
            "channel": col.take(
                col.vocab(ACCEPTED_VALUES["support_tickets"]["channel"]), rng.choice(3, size=m, p=CHANNEL_WEIGHTS)
            ),
            "priority": col.take(col.vocab(ACCEPTED_VALUES["support_tickets"]["priority"]), priority),
            "status": col.take(col.vocab(STATUSES), _status(rng, ctx.as_of - created_at)),
            "subject": pa.array(subjects, pa.string()),
            "body": pa.array(bodies, pa.string()),
            "created_at": col.timestamps(created_at),
            "received_at": col.timestamps(
                np.minimum(created_at + rng.integers(5 * SECOND, 10 * MINUTE, size=m), ctx.as_of)
            ),
        }
    )

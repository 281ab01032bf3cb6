"""Erasure requests (GDPR art. 17 "right to be forgotten") for a few customers, in the last batch only.

Why the last batch: most exports have no erasure requests at all, and a request must come after the data it
erases, so the pipeline first sees the customer's rows and then the request that removes them. A request names
the customer by customer_id, by email (as the person typed it: capitalisation differs from our record), or
both; staging resolves emails by their normalised (trimmed, lower-cased) form.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from sample_business import columns as col
from sample_business.context import ChunkContext
from sample_business.population import People

ERASURE_SHARE = 0.0005  # of a chunk's customers; at least MIN_REQUESTS_PER_CHUNK
MIN_REQUESTS_PER_CHUNK = 3
IDENTIFIED_BY = ("customer_id", "email", "both")  # cycled, so every way of asking is planted
REQUESTERS = ("privacy_portal", "support_agent:agt_017", "dpo@northwind.example")
SECOND = 1_000_000
HOUR = 3600 * SECOND
DAY = 24 * HOUR


@dataclass
class ErasureRequests:
    table: pa.Table
    truth: list[dict]  # request_id, customer_id, identified_by: what the pipeline must erase


def _recapitalise(email: str, variant: int) -> str:
    """The same address as a person might type it: upper case, a capital first letter, or padded."""
    if variant == 0:
        return email.upper()
    if variant == 1:
        return email[:1].upper() + email[1:]
    return f"  {email.title()} "


def make_erasure_requests(ctx: ChunkContext, people: People, last_batch_start: int) -> ErasureRequests:
    """Requests received in the last batch (after last_batch_start, before as_of) from customers who signed up
    before that batch and have an email address (so every way of asking applies)."""
    rng = ctx.rng("erasure_requests")
    window_start = max(last_batch_start, ctx.as_of - 7 * DAY)
    emails = people.emails.to_pylist()
    eligible = np.flatnonzero(
        (people.signed_up_at < window_start) & np.array([e is not None for e in emails], dtype=bool)
    )
    n = min(len(eligible), max(MIN_REQUESTS_PER_CHUNK, round(ERASURE_SHARE * ctx.n_customers)))
    chosen = np.sort(rng.choice(eligible, size=n, replace=False)) if n else np.array([], dtype=np.int64)
    requested_at = rng.integers(window_start, ctx.as_of - HOUR, size=n)
    received_at = requested_at + rng.integers(5 * SECOND, 10 * 60 * SECOND, size=n)
    request_ids = ctx.ids("era_", np.arange(n) + 1).to_pylist()
    customer_ids = people.customer_ids.take(pa.array(chosen, pa.int64())).to_pylist()

    rows: dict[str, list] = {"request_id": [], "customer_id": [], "email": [], "requested_by": []}
    truth = []
    for i, customer in enumerate(chosen):
        identified_by = IDENTIFIED_BY[i % len(IDENTIFIED_BY)]
        email = _recapitalise(emails[customer], int(rng.integers(0, 3)))
        rows["request_id"].append(request_ids[i])
        rows["customer_id"].append(customer_ids[i] if identified_by != "email" else None)
        rows["email"].append(email if identified_by != "customer_id" else None)
        rows["requested_by"].append(REQUESTERS[int(rng.integers(0, len(REQUESTERS)))])
        truth.append({"request_id": request_ids[i], "customer_id": customer_ids[i], "identified_by": identified_by})
    table = pa.table(
        {
            "request_id": pa.array(rows["request_id"], pa.string()),
            "customer_id": pa.array(rows["customer_id"], pa.string()),
            "email": pa.array(rows["email"], pa.string()),
            "requested_by": pa.array(rows["requested_by"], pa.string()),
            "requested_at": col.timestamps(requested_at),
            "received_at": col.timestamps(received_at),
        }
    )
    return ErasureRequests(table, truth)

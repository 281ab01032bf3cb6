"""Erasure requests (GDPR art. 17 "right to be forgotten") for a few customers, in the last batch only.

Why the last batch: most exports have no erasure requests at all, and a request must come after the data it
erases, so the pipeline first sees the customer's rows and then the request that removes them. A request names
the customer by customer_id, by email (as the person typed it: capitalisation differs from our record), or
both; staging resolves emails by their normalised (trimmed, lower-cased) form.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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


@dataclass
class ErasedPeople:
    """What identifies the customers of a chunk's erasure requests, so the ground truth can count, per table,
    the rows the pipeline must delete: rows with their customer_id, one of their emails (normalised), one of
    their anonymous or device ids, or one of their order ids (order lines)."""

    customer_ids: set[str]
    emails: set[str] = field(default_factory=set)
    anonymous_ids: set[str] = field(default_factory=set)
    device_ids: set[str] = field(default_factory=set)
    order_ids: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, requests: ErasureRequests, identity_truth: pa.Table) -> ErasedPeople:
        people = cls({r["customer_id"] for r in requests.truth})
        for row in identity_truth.to_pylist():
            if row["customer_id"] in people.customer_ids:
                people.anonymous_ids.add(row["anonymous_id"])
                people.device_ids.add(row["device_id"])
        return people

    def learn(self, table: pa.Table) -> None:
        """Emails and orders of the people, from a valid table (customers, identifies, orders)."""
        if "customer_id" not in table.column_names:
            return
        mine = pc.is_in(table["customer_id"], pa.array(sorted(self.customer_ids), pa.string()))
        rows = table.filter(pc.fill_null(mine, False))
        if "email" in rows.column_names:
            self.emails |= {e.strip().lower() for e in rows["email"].to_pylist() if e is not None}
        if "order_id" in rows.column_names and "session_id" in rows.column_names:  # the orders table
            self.order_ids |= {o for o in rows["order_id"].to_pylist() if o is not None}

    def carried_by(self, table: pa.Table) -> np.ndarray:
        """Which rows of `table` carry one of the people."""
        carried = np.zeros(table.num_rows, dtype=bool)
        for column, values in (
            ("customer_id", self.customer_ids),
            ("anonymous_id", self.anonymous_ids),
            ("device_id", self.device_ids),
            ("order_id", self.order_ids),
        ):
            if column in table.column_names and values:
                found = pc.is_in(table[column], pa.array(sorted(values), pa.string()))
                carried |= pc.fill_null(found, False).to_numpy(zero_copy_only=False)
        if "email" in table.column_names and self.emails:
            normalised = pc.utf8_lower(pc.utf8_trim_whitespace(table["email"]))
            found = pc.is_in(normalised, pa.array(sorted(self.emails), pa.string()))
            carried |= pc.fill_null(found, False).to_numpy(zero_copy_only=False)
        return carried

"""Malformed rows: extra rows with exactly one defect each, counted per table and reason.

Why: staging must set aside exactly the rows that are wrong, each under the right reason, and nothing
else. So every injected row is a copy of a valid row with one change (a null key, a repeated key received
later, a value outside the accepted set, an unknown customer, an impossible event time, a negative
amount, an email without '@'), and, where the change is not about the key, a fresh key used nowhere else.
The real entities stay intact: injected rows are added, never substituted.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sample_business.clock import DAY, MINUTE, to_micros
from sample_business.schema import SCHEMAS, TableSpec

MIN_ROWS_FOR_EVERY_REASON = 1000
EARLIEST_VALID = to_micros(datetime(2000, 1, 1))
EPOCH = 0
FUTURE_MARGIN = 400 * DAY  # out-of-range future times are at least this far after as_of
LIFECYCLE_COLUMNS = {"subscriptions": ("started_at", "cancelled_at", "renewal_due_date")}


class KeyMinter:
    """Hands out fresh keys (or unknown customer ids) from a numbering nobody else uses."""

    def __init__(self, mint: Callable[[np.ndarray], pa.StringArray]):
        self.mint = mint
        self.used = 0

    def __call__(self, k: int) -> pa.StringArray:
        keys = self.mint(np.arange(self.used, self.used + k))
        self.used += k
        return keys


def plan_counts(rng: np.random.Generator, n_rows: int, rate: float, reasons: tuple[str, ...]) -> dict[str, int]:
    """About rate x n_rows injected rows, spread over the reasons; every reason at least once from 1000 rows."""
    counts = dict.fromkeys(reasons, 0)
    if rate <= 0 or n_rows == 0:
        return counts
    total = round(rate * n_rows)
    floor = 1 if n_rows >= MIN_ROWS_FOR_EVERY_REASON else 0
    extra = rng.multinomial(max(total - floor * len(reasons), 0), np.full(len(reasons), 1 / len(reasons)))
    return {reason: floor + int(e) for reason, e in zip(reasons, extra, strict=True)}


class Injector:
    def __init__(
        self,
        spec: TableSpec,
        valid: pa.Table,
        rng: np.random.Generator,
        as_of: int,
        new_keys: KeyMinter,
        unknown_customers: KeyMinter | None,
    ):
        self.spec, self.valid, self.rng, self.as_of = spec, valid, rng, as_of
        self.new_keys, self.unknown_customers = new_keys, unknown_customers

    def copies(self, k: int, eligible: pa.Array | None = None) -> pa.Table:
        rows = (
            np.arange(self.valid.num_rows)
            if eligible is None
            else np.flatnonzero(eligible.to_numpy(zero_copy_only=False))
        )
        picked = self.rng.choice(rows, size=k, replace=k > len(rows))
        return self.valid.take(pa.array(np.sort(picked)))

    def fresh(self, k: int, eligible: pa.Array | None = None) -> pa.Table:
        """Copies with a new key, ready to get their one defect."""
        rows = self.copies(k, eligible)
        return set_column(rows, self.spec.key, self.new_keys(k))

    def missing_key(self, k: int) -> pa.Table:
        return set_column(self.copies(k), self.spec.key, pa.nulls(k, pa.string()))

    def duplicate_key(self, k: int) -> pa.Table:
        """The same row again, received 1 minute to 3 days later (never after as_of): the first one wins."""
        rows = self.copies(k)
        received = rows["received_at"].to_numpy().astype(np.int64)
        later = np.minimum(received + self.rng.integers(MINUTE, 3 * DAY, size=k), self.as_of)
        return set_column(rows, "received_at", pa.array(later.view("datetime64[us]")))

    def invalid_value(self, k: int) -> pa.Table:
        rows = self.fresh(k)
        columns = list(self.spec.invalid_values)
        which = np.arange(k) % len(columns)
        for c, name in enumerate(columns):
            bad = self.spec.invalid_values[name]
            values = pa.array([bad[i % len(bad)] for i in range(k)], pa.string())
            rows = set_column(rows, name, pc.if_else(pa.array(which == c), values, rows[name]))
        return rows

    def unknown_customer(self, k: int) -> pa.Table:
        column = self.spec.customer_column
        rows = self.fresh(k, pc.is_valid(self.valid[column]))
        return set_column(rows, column, self.unknown_customers(k))

    def timestamp_out_of_range(self, k: int) -> pa.Table:
        """Half before 2000-01-01 (from the Unix epoch on), half more than 400 days after as_of."""
        rows = self.fresh(k)
        column = self.spec.event_time
        old = rows[column].to_numpy().astype(np.int64)
        past = EPOCH + (self.rng.random(k) * (EARLIEST_VALID - DAY - EPOCH)).astype(np.int64)
        future = self.as_of + FUTURE_MARGIN + self.rng.integers(0, 730 * DAY, size=k)
        new = np.where(np.arange(k) % 2 == 0, past, future)
        rows = set_column(rows, column, pa.array(new.view("datetime64[us]")))
        for other in LIFECYCLE_COLUMNS.get(self.spec.name, ()):  # keep a lifecycle in order
            values = rows[other]
            if pa.types.is_date(values.type):
                days = values.cast(pa.int32()).to_numpy(zero_copy_only=False) + (new - old) // DAY
                rows = set_column(rows, other, pa.array(days.astype(np.int32)).view(pa.date32()))
            else:
                shifted = pc.add(values.cast(pa.int64()), pa.array(new - old)).cast(values.type)
                rows = set_column(rows, other, shifted)
        return rows

    def negative_amount(self, k: int) -> pa.Table:
        columns = self.spec.amount_columns
        rows = self.fresh(k, pc.greater(self.valid[columns[0]], 0))
        which = np.arange(k) % len(columns)
        for c, name in enumerate(columns):
            rows = set_column(rows, name, pc.if_else(pa.array(which == c), pc.negate(rows[name]), rows[name]))
        return rows

    def invalid_email(self, k: int) -> pa.Table:
        column = self.spec.email_column
        rows = self.fresh(k, pc.is_valid(self.valid[column]))
        variants = [pc.replace_substring(rows[column], "@", replacement) for replacement in ("", " at ", "(at)")]
        which = np.arange(k) % len(variants)
        email = pc.if_else(
            pa.array(which == 0), variants[0], pc.if_else(pa.array(which == 1), variants[1], variants[2])
        )
        return set_column(rows, column, email)


def set_column(table: pa.Table, name: str, values: pa.Array | pa.ChunkedArray) -> pa.Table:
    position = table.schema.get_field_index(name)
    return table.set_column(position, table.schema.field(name), values)


def inject(
    spec: TableSpec,
    valid: pa.Table,
    rng: np.random.Generator,
    rate: float,
    as_of: int,
    new_keys: KeyMinter,
    unknown_customers: KeyMinter | None,
) -> tuple[pa.Table, dict[str, int]]:
    """The malformed rows to add to `valid`, and how many per reason."""
    counts = plan_counts(rng, valid.num_rows, rate, spec.reasons)
    injector = Injector(spec, valid, rng, as_of, new_keys, unknown_customers)
    parts = [getattr(injector, reason)(k) for reason, k in counts.items() if k > 0]
    schema = SCHEMAS[spec.name]
    injected = pa.concat_tables([p.cast(schema) for p in parts]) if parts else schema.empty_table()
    return injected, counts

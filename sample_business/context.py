"""What every generating step of one chunk shares: sizes, period, random streams, id numbering, arrivals.

Why: the generator runs chunk by chunk (bounded memory, parallel workers). Each chunk draws from named
random streams derived from (seed, chunk, stream name), so its output depends only on the parameters, not
on the order steps run in, and adding a stream does not shift the others.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from sample_business.clock import DAY, MINUTE, SECOND, LocalClock
from sample_business.columns import format_ids

ID_DIGITS = 12
CHUNK_ID_SPAN = 10**9  # ids are <prefix><chunk * 10^9 + local number>, 12 digits
INJECTED_ID_BASE = 900_000_000  # local numbers of new keys for injected (malformed) rows
UNKNOWN_CUSTOMER_BASE = 990_000_000  # local numbers of customer ids that no customer row has


@dataclass(frozen=True)
class ChunkContext:
    seed: int
    index: int
    first_customer: int  # global number of the chunk's first customer (used in email addresses)
    n_customers: int
    n_visitors: int
    period_start: int  # micros, UTC
    as_of: int
    late_rate: float
    clock: LocalClock

    def rng(self, stream: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.index, zlib.crc32(stream.encode())])

    def ids(self, prefix: str, local_numbers: np.ndarray) -> pa.StringArray:
        """Keys unique across chunks: the chunk number is the leading digits."""
        return format_ids(prefix, self.index * CHUNK_ID_SPAN + np.asarray(local_numbers), ID_DIGITS)

    def arrivals(
        self,
        rng: np.random.Generator,
        event_time: np.ndarray,
        late: bool = True,
        min_delay: int = 5 * SECOND,
        max_delay: int = 10 * MINUTE,
    ) -> tuple[np.ndarray, np.ndarray]:
        """received_at for rows that happened at event_time, and which rows are late.

        On time: min_delay..max_delay after the event. Late (late_rate of the rows, only where the event is at
        least a day before as_of): 1 to 7 days after it. Never after as_of.
        """
        n = len(event_time)
        received = event_time + rng.integers(min_delay, max_delay, size=n)
        is_late = np.zeros(n, dtype=bool)
        if late and self.late_rate > 0:
            room = self.as_of - event_time
            is_late = (rng.random(n) < self.late_rate) & (room >= DAY)
            delay = DAY + (rng.random(n) * (np.minimum(room, 7 * DAY) - DAY)).astype(np.int64)
            received = np.where(is_late, event_time + delay, received)
        return np.minimum(received, self.as_of), is_late


class RowParts:
    """Collects rows of one table as numpy column arrays, part by part, then stacks them.

    Why: most tables are the union of several kinds of rows (e.g. opt-ins, confirmations, opt-outs); each
    kind is generated vectorised on its own and appended here.
    """

    def __init__(self, *columns: str):
        self.columns = columns
        self.parts: list[dict[str, np.ndarray]] = []

    def add(self, n: int, **values) -> None:
        if n == 0:
            return
        missing = set(self.columns) - set(values)
        if missing:
            raise ValueError(f"missing columns {sorted(missing)}")
        self.parts.append({name: np.broadcast_to(np.asarray(values[name]), (n,)) for name in self.columns})

    def stack(self, dtypes: dict[str, type]) -> dict[str, np.ndarray]:
        return {
            name: np.concatenate([part[name] for part in self.parts]).astype(dtypes[name])
            if self.parts
            else np.array([], dtype=dtypes[name])
            for name in self.columns
        }

"""Time arithmetic on int64 microseconds, and local time in IANA zones without per-row Python.

Why: every table is driven by event times; keeping them as int64 microseconds since the Unix epoch (UTC)
makes all arithmetic plain numpy. Local time (diurnal browsing, the preferred engagement hour) needs the
zone's UTC offset on that day, including daylight saving: `LocalClock` precomputes one offset per zone
and day with `zoneinfo`, so converting millions of rows is a table lookup.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import numpy as np

SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
WEEK = 7 * DAY

# Relative weight of each local hour of day for browsing (quiet at night, peak in the evening).
DIURNAL_WEIGHTS = np.array(
    [
        0.5,
        0.3,
        0.2,
        0.2,
        0.2,
        0.3,
        0.6,
        1.0,
        1.4,
        1.6,
        1.7,
        1.8,
        2.0,
        1.9,
        1.8,
        1.8,
        1.9,
        2.1,
        2.4,
        2.8,
        3.0,
        2.8,
        2.0,
        1.0,
    ]
)
DIURNAL_WEIGHTS = DIURNAL_WEIGHTS / DIURNAL_WEIGHTS.sum()


def to_micros(moment: datetime) -> int:
    """A naive (UTC) or aware datetime -> microseconds since the Unix epoch."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * SECOND + moment.microsecond


def to_datetime(micros: int) -> datetime:
    return datetime.fromtimestamp(micros // SECOND, tz=UTC).replace(tzinfo=None, microsecond=micros % SECOND)


def uniform_between(rng: np.random.Generator, low: np.ndarray | int, high: np.ndarray | int, n: int) -> np.ndarray:
    """Uniform int64 times in [low, high) (element-wise); an empty interval gives low."""
    low = np.broadcast_to(np.asarray(low, dtype=np.int64), (n,))
    span = np.maximum(np.broadcast_to(np.asarray(high, dtype=np.int64), (n,)) - low, 0)
    return low + (rng.random(n) * span).astype(np.int64)


class LocalClock:
    """UTC <-> local time for a fixed list of IANA zones over a range of days."""

    def __init__(self, zones: list[str], first_day: date, last_day: date):
        self.zones = zones
        self.first_day = (first_day - date(1970, 1, 1)).days
        n_days = (last_day - first_day).days + 1
        self.offsets = np.empty((len(zones), n_days), dtype=np.int64)
        for z, name in enumerate(zones):
            zone = ZoneInfo(name)
            for d in range(n_days):
                noon = datetime.fromtimestamp((self.first_day + d) * 86400 + 43200, tz=UTC)
                self.offsets[z, d] = int(noon.astimezone(zone).utcoffset().total_seconds()) * SECOND

    def _offset(self, micros: np.ndarray, zone: np.ndarray) -> np.ndarray:
        day = np.clip(micros // DAY - self.first_day, 0, self.offsets.shape[1] - 1)
        return self.offsets[zone, day]

    def to_local(self, utc: np.ndarray, zone: np.ndarray) -> np.ndarray:
        return utc + self._offset(utc, zone)

    def to_utc(self, local: np.ndarray, zone: np.ndarray) -> np.ndarray:
        return local - self._offset(local, zone)

    def next_local_time(self, after: np.ndarray, zone: np.ndarray, time_of_day: np.ndarray) -> np.ndarray:
        """The first UTC instant strictly after `after` whose local time of day is `time_of_day` (micros)."""
        local = self.to_local(after, zone)
        candidate = local - local % DAY + time_of_day
        candidate = np.where(candidate <= local, candidate + DAY, candidate)
        return self.to_utc(candidate, zone)

    def diurnal_times(
        self, rng: np.random.Generator, low: np.ndarray, high: np.ndarray, zone: np.ndarray
    ) -> np.ndarray:
        """Times in [low, high): a uniform day, then a local hour drawn from DIURNAL_WEIGHTS."""
        n = len(zone)
        day_pick = uniform_between(rng, low, high, n)
        hour = rng.choice(24, size=n, p=DIURNAL_WEIGHTS)
        local = self.to_local(day_pick, zone)
        moved = self.to_utc(local - local % DAY + hour * HOUR + rng.integers(0, HOUR, size=n), zone)
        moved = np.where(moved < low, moved + DAY, moved)
        moved = np.where(moved >= high, moved - DAY, moved)
        return np.where((moved >= low) & (moved < high), moved, day_pick)

    def local_hour(self, utc: np.ndarray, zone: np.ndarray) -> np.ndarray:
        return (self.to_local(utc, zone) % DAY) // HOUR

    def engagement_times(
        self,
        rng: np.random.Generator,
        after: np.ndarray,
        zone: np.ndarray,
        preferred_hour: np.ndarray,
        preferred_share: float,
        extra_day_p: float,
    ) -> np.ndarray:
        """When a person reacts to something that reached them at `after` (opens, clicks, unsubscribes).

        The next occurrence of a local hour that is their preferred hour with probability preferred_share and
        a uniform hour otherwise (uniform minute), plus Geometric(extra_day_p) - 1 extra days.
        """
        n = len(after)
        hour = np.where(rng.random(n) < preferred_share, preferred_hour, rng.integers(0, 24, size=n))
        time_of_day = hour.astype(np.int64) * HOUR + rng.integers(0, HOUR, size=n)
        extra_days = rng.geometric(extra_day_p, size=n) - 1
        return self.next_local_time(after, zone, time_of_day) + extra_days * DAY

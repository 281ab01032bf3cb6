"""Pace and persistence: a token bucket per destination and the retry policy (exponential backoff, jitter,
Retry-After)."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass


class TokenBucket:
    """At most `rate` requests per second on average, `burst` at once; shared by a destination's worker threads.
    `pause_until` holds every thread back when the API answered 429 with Retry-After."""

    def __init__(self, rate: float, burst: int, clock=time.monotonic, sleep=time.sleep) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"rate limit needs rate > 0 and burst >= 1, got rate={rate} burst={burst}")
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def pause_until(self, moment: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, moment)

    def acquire(self) -> float:
        """Blocks until a request may go; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                if now >= self._paused_until and self._tokens >= 1:
                    self._tokens -= 1
                    return waited
                wait = max(self._paused_until - now, (1 - self._tokens) / self.rate)
            self._sleep(wait)
            waited += wait


@dataclass(frozen=True)
class RetryPolicy:
    """max_attempts per row and run; backoff base_s * 2**(attempt-1), capped at max_backoff_s, with full jitter;
    a Retry-After is honoured (waited at least) up to max_retry_after_s, beyond which the row is given up (dead)
    for this run rather than holding the run for hours."""

    max_attempts: int = 6
    base_s: float = 0.5
    max_backoff_s: float = 30.0
    max_retry_after_s: float = 300.0

    def backoff(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        ceiling = min(self.max_backoff_s, self.base_s * 2 ** (attempt - 1))
        jittered = rng.uniform(0, ceiling)
        if retry_after is not None:
            return max(retry_after, jittered)
        return jittered

"""JSON over HTTP for the diff-sync destinations, on the activation core's transport and retry policy.

The diff sync sends records, not action rows, so it does not go through `activations.runner`; it uses the
same pieces: `activations.http.HttpTransport` (keep-alive, timeouts and dropped connections raise
RetriableError), the core's status classification (`activations.errors`: 429, 408, 5xx retriable, every other
status final and returned to the destination, which reads the API's error body), `RetryPolicy` (exponential
backoff with full jitter, at least the Retry-After) and a `TokenBucket` per destination. Nothing here logs a
query string, a header or a body: bodies carry personal data and headers the token.
"""

from __future__ import annotations

import json
import logging
import random
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from activations.errors import is_retriable_status, parse_retry_after, redact
from activations.http import HttpTransport, json_request
from activations.limits import RetryPolicy, TokenBucket
from activations.types import RetriableError

log = logging.getLogger(__name__)

__all__ = ["HttpResponse", "JsonHttpClient", "RetriesExhausted", "redact"]


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: Any  # parsed JSON, None for an empty body, the (cut) text when it is not JSON


class RetriesExhausted(RuntimeError):
    """Every attempt failed with a retriable error; `reason` is safe to record (no query, no body, no token)."""

    def __init__(self, reason: str, attempts: int) -> None:
        super().__init__(f"{reason} (gave up after {attempts} attempts)")
        self.reason = f"{reason} (gave up after {attempts} attempts)"
        self.attempts = attempts


@dataclass
class TransportStats:
    requests: int = 0
    retries: int = 0
    waited_s: float = 0.0
    failures_by_reason: dict[str, int] = field(default_factory=dict)


class JsonHttpClient:
    """One base URL, fixed headers (the auth header among them), JSON bodies in and out."""

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        retry: RetryPolicy | None = None,
        timeout_s: float = 10.0,
        requests_per_second: float = 10.0,
        burst: int = 10,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self.transport = HttpTransport(base_url, timeout_s)
        self.headers = dict(headers)
        self.bucket = TokenBucket(requests_per_second, burst, sleep=sleep)
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.stats = TransportStats()

    def secrets(self) -> list[str]:
        return [v.split(" ", 1)[-1] for k, v in self.headers.items() if k.lower() == "authorization"]

    def request(
        self, method: str, path: str, json_body: Any = None, query: Mapping[str, str] | None = None
    ) -> HttpResponse:
        """Sends until a non-retriable answer arrives (returned: 2xx or a final 4xx) or attempts run out."""
        target = path + (f"?{urllib.parse.urlencode(query, safe=',')}" if query else "")
        request = json_request(method, target, json_body, {**self.headers, "Accept": "application/json"})
        if json_body is None:
            request = type(request)(method, target, {**self.headers, "Accept": "application/json"}, b"")
        reason = ""
        for attempt in range(1, self.retry.max_attempts + 1):
            self.bucket.acquire()
            self.stats.requests += 1
            retry_after = None
            try:
                raw = self.transport.send(request)
            except RetriableError as error:
                reason = str(error)
                retry_after = error.retry_after
            else:
                if not is_retriable_status(raw.status):
                    return HttpResponse(raw.status, raw.headers, _parse(raw.body))
                reason = f"HTTP {raw.status}"
                retry_after = parse_retry_after(raw.headers.get("retry-after"))
            reason = redact(reason, self.secrets())
            self.stats.failures_by_reason[reason] = self.stats.failures_by_reason.get(reason, 0) + 1
            if attempt == self.retry.max_attempts or (
                retry_after is not None and retry_after > self.retry.max_retry_after_s
            ):
                break
            # the sync sends one request at a time, so waiting here holds the whole destination back
            wait = self.retry.backoff(attempt, retry_after, self.rng)
            self.stats.retries += 1
            self.stats.waited_s += wait
            log.info("%s %s: %s, retry %d in %.2fs", method, path.split("?")[0], reason, attempt, wait)
            self.sleep(wait)
        raise RetriesExhausted(f"{method} {path.split('?')[0]}: {reason}", attempt)


def _parse(payload: bytes) -> Any:
    if not payload:
        return None
    try:
        return json.loads(payload)
    except ValueError:
        return redact(payload.decode("utf-8", "replace")[:500])

"""JSON over HTTP for the diff-sync destinations: timeouts, retries with backoff, Retry-After honoured.

Errors are classified once, here: 429, 5xx, timeouts and dropped connections are retriable (exponential
backoff with full jitter, or the server's Retry-After when it sends one); every other status is returned to the
destination, which reads the API's own error body and records it per record. Nothing here logs a URL's query,
a header or a body: URLs of these APIs carry no personal data in their paths, but bodies do and headers carry
the token.

Interim: the activation core (branch act-core) brings the shared HTTP client. When it lands, the
destinations switch to it; this module keeps the same classification so that the switch changes no outcome.
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import re
import socket
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

log = logging.getLogger(__name__)

RETRIABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 60.0


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: Any  # parsed JSON, or None for an empty body, or the text when it is not JSON


class RetriesExhausted(RuntimeError):
    """Every attempt failed with a retriable error; `reason` is safe to record (no URL query, no body)."""

    def __init__(self, reason: str, attempts: int) -> None:
        super().__init__(f"{reason} (gave up after {attempts} attempts)")
        self.reason = reason
        self.attempts = attempts


@dataclass
class TransportStats:
    requests: int = 0
    retries: int = 0
    waited_s: float = 0.0
    failures_by_reason: dict[str, int] = field(default_factory=dict)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as delay-seconds or an HTTP date (RFC 9110 section 10.2.3); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, min(float(value), MAX_RETRY_AFTER_S))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, min(when - (now if now is not None else time.time()), MAX_RETRY_AFTER_S))


class JsonHttpClient:
    """One base URL, fixed headers (the auth header among them), JSON bodies in and out."""

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        timeout_s: float = 30.0,
        max_attempts: int = 8,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"base URL must be http(s)://host[:port][/prefix], got scheme {parsed.scheme!r}")
        self.scheme = parsed.scheme
        self.host = parsed.hostname
        self.port = parsed.port
        self.prefix = parsed.path.rstrip("/")
        self.headers = dict(headers)
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.stats = TransportStats()

    def _connection(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        return cls(self.host, self.port, timeout=self.timeout_s)

    def request(
        self,
        method: str,
        path: str,
        json_body: Any = None,
        query: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        """Sends until a non-retriable answer arrives (returned, 2xx or 4xx) or attempts run out (raises)."""
        target = self.prefix + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        body = None if json_body is None else json.dumps(json_body, separators=(",", ":")).encode()
        headers = {**self.headers, "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        reason = ""
        for attempt in range(1, self.max_attempts + 1):
            self.stats.requests += 1
            wait: float | None = None
            connection = self._connection()
            try:
                connection.request(method, target, body=body, headers=headers)
                raw = connection.getresponse()
                payload = raw.read()
                response = HttpResponse(raw.status, {k.lower(): v for k, v in raw.getheaders()}, _parse(payload))
            except (TimeoutError, socket.timeout):
                reason = "timeout"
            except (ConnectionError, http.client.RemoteDisconnected, http.client.IncompleteRead) as error:
                reason = f"connection dropped ({type(error).__name__})"
            except http.client.HTTPException as error:
                reason = f"bad HTTP response ({type(error).__name__})"
            else:
                if response.status not in RETRIABLE_STATUSES:
                    return response
                reason = f"HTTP {response.status}"
                wait = retry_after_seconds(response.headers.get("retry-after"))
            finally:
                connection.close()
            self.stats.failures_by_reason[reason] = self.stats.failures_by_reason.get(reason, 0) + 1
            if attempt == self.max_attempts:
                break
            if wait is None:
                wait = self.rng.uniform(0, min(self.backoff_cap_s, self.backoff_base_s * 2 ** (attempt - 1)))
            self.stats.retries += 1
            self.stats.waited_s += wait
            log.info("%s %s: %s, retry %d in %.2fs", method, self.prefix + path, reason, attempt, wait)
            self.sleep(wait)
        raise RetriesExhausted(f"{method} {self.prefix + path}: {reason}", self.max_attempts)


_EMAIL = re.compile(r"[^\s@'\"<>(),;:]+@[^\s@'\"<>(),;:]+")
_LONG_NUMBER = re.compile(r"\+?\d[\d ()-]{6,}\d")
_TOKEN_HEX = re.compile(r"\b[0-9a-f]{64}\b")


def redact(text: str) -> str:
    """An API's error message with emails, phone-like numbers and SHA-256 identifiers masked: error messages
    go into the ledger and logs, and APIs like to quote the offending value."""
    text = _EMAIL.sub("[email]", text)
    text = _TOKEN_HEX.sub("[hash]", text)
    return _LONG_NUMBER.sub("[number]", text)


def _parse(payload: bytes) -> Any:
    if not payload:
        return None
    try:
        return json.loads(payload)
    except ValueError:
        return payload.decode("utf-8", "replace")[:500]

"""One classification of errors for every destination, and the scrubbing of messages before they are kept.

Retriable: HTTP 429, 408 and every 5xx, timeouts, refused or dropped connections. Final: every other 4xx (the
row or request is wrong; sending it again would be refused again), with the API's own message kept per row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRIABLE_STATUSES = frozenset({408, 429})


def is_success(status: int) -> bool:
    return 200 <= status < 300


def is_retriable_status(status: int) -> bool:
    return status in RETRIABLE_STATUSES or status >= 500


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: either delta-seconds ('12') or an HTTP-date (RFC 9110). None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"\+?\d[\d \-().]{6,}\d")
_BEARER = re.compile(r"(?i)(bearer|basic)\s+[A-Za-z0-9._~+/=\-]+")
MAX_ERROR_LENGTH = 500


def redact(text: str, known_values: Iterable[str | None] = ()) -> str:
    """Removes credentials and personal data from a message: the given values (secrets, the batch's addresses),
    then anything shaped like an email address, a phone number or an Authorization header value."""
    for value in sorted({v for v in known_values if v and len(v) >= 4}, key=len, reverse=True):
        text = text.replace(value, "[redacted]")
    text = _BEARER.sub(r"\1 [redacted]", text)
    text = _EMAIL.sub("[email]", text)
    text = _PHONE.sub("[phone]", text)
    return text[:MAX_ERROR_LENGTH]

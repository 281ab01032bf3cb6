"""The destination contract shared by the activation core and every destination module.

A destination is a small class that says how many rows go into one request (`max_batch_size`), how fast and how
wide it may send (`requests_per_second`, `burst`, `max_concurrency`), whether the API honours an idempotency key
(`honours_idempotency_key`), and how to send one batch (`send`); optionally how many actions share a ledger
statement (`ledger_group_size`, default: the core's, see activations.runner.ledger_group_size). HTTP destinations
subclass `activations.http.HttpDestination` and only build requests and parse responses; the core
(activations.runner) does batching, concurrency, rate limiting, retries, error classification and the send ledger.
See docs/activations.md, "Adding a destination".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

# One row of policy.actions_due (plus the idempotency key), JSON-safe: what a destination maps to a request.
Row = dict[str, Any]

# sent: the destination acknowledged the row. failed: the destination refused the row with a final error (a 4xx
# other than 408/429, or a row the destination cannot express): sending it again would be refused again.
# retry: a retriable error (429, 5xx, timeout, dropped connection): the core tries again with backoff.
OutcomeKind = Literal["sent", "failed", "retry"]


@dataclass(frozen=True)
class RowOutcome:
    """What one send attempt did to one row."""

    action_id: str
    kind: OutcomeKind
    provider_message_id: str | None = None
    error: str | None = None
    # seconds the API asked us to wait (Retry-After), for kind == 'retry'
    retry_after: float | None = None
    # the API refused the whole request (e.g. one bad address in a batch): the core splits the batch in halves
    # to find the rows at fault instead of failing every row of it
    whole_request: bool = False


class RetriableError(Exception):
    """A transient failure of a whole request: 429, 5xx, timeout, dropped connection."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DestinationRefused(Exception):
    """The destination refuses our credentials or access (HTTP 401/403, SMTP 530/535): no row is at fault, and
    every further request would be refused too. The core stops sending to it for this run; the rows it tried are
    marked dead with the message (they stay due), the others are not attempted."""


class Destination(Protocol):
    """The contract. `HttpDestination` implements `send` for HTTP APIs; non-HTTP ones (outbox, SMTP) write it."""

    name: str
    max_batch_size: int
    requests_per_second: float
    burst: int
    max_concurrency: int
    honours_idempotency_key: bool

    def batch_key(self, row: Row) -> Any:
        """Rows with different keys never share a request (e.g. SendGrid: one template per request)."""

    def check_row(self, row: Row) -> str | None:
        """Why this row can never be sent (missing address, unmapped template), or None. Checked before sending."""

    def send(self, rows: Sequence[Row]) -> list[RowOutcome]:
        """One attempt at one batch: one outcome per row. Raise RetriableError when the whole attempt failed
        transiently. Called from worker threads: must not touch the warehouse."""

    def delivered_action_ids(self, action_ids: Iterable[str]) -> set[str] | None:
        """Which of these in-flight actions the destination already holds, or None when it cannot tell
        (then they are sent again, with the same idempotency key)."""

    def secrets(self) -> list[str]:
        """Credential values, removed from every log line and error message."""

    def preview(self, rows: Sequence[Row]) -> dict:
        """The request that would be sent for these rows (dry run), before masking."""


@dataclass(frozen=True)
class SendResult:
    """Kept for callers of the first runner: one row's final result."""

    action_id: str
    ok: bool
    provider_message_id: str | None = None
    error: str | None = None


@dataclass
class ActivationReport:
    destination: str
    dry_run: bool
    candidates: int = 0
    sent: int = 0
    failed: int = 0
    dead: int = 0
    # attempts beyond the first, summed over rows (429/5xx/timeouts/dropped connections that were retried)
    retried: int = 0
    requests: int = 0
    resolved_in_flight: int = 0
    resent_in_flight: int = 0
    already_sent: int = 0
    held_by_volume_cap: bool = False
    # why sending to the destination stopped early (credentials or access refused), None when it did not
    stopped: str | None = None
    hold_id: str | None = None
    volume_normal: float | None = None
    volume_cap: int | None = None
    duration_s: float = 0.0
    samples: list[dict] = field(default_factory=list)
    failure_reasons: dict[str, int] = field(default_factory=dict)

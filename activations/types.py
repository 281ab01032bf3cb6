"""Types shared by the activation core and its destinations."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class SendResult:
    action_id: str
    ok: bool
    provider_message_id: str | None = None
    error: str | None = None


class Destination(Protocol):
    name: str
    max_batch_size: int

    def send_batch(self, payloads: Sequence[dict]) -> list[SendResult]:
        """Send one batch; one result per payload, in any order."""

    def delivered_action_ids(self, action_ids: Iterable[str]) -> set[str]:
        """Which of these actions the destination already holds (resolves in-flight sends after a crash)."""


@dataclass
class ActivationReport:
    destination: str
    dry_run: bool
    candidates: int = 0
    sent: int = 0
    failed: int = 0
    resolved_in_flight: int = 0
    already_sent: int = 0
    samples: list[dict] = field(default_factory=list)

"""Outbox destination: JSON lines appended to <data_dir>/outbox/<file>.jsonl, used by the demo.

It is a real destination with the same contract as an API: it acknowledges a batch only after the lines are
written and fsync'ed, and it can tell which action ids it already holds (its idempotency check), so a crash
between writing and marking the ledger never produces a second line for an action.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from activations.runner import mask_personal_data
from activations.types import Row, RowOutcome


class OutboxDestination:
    max_batch_size = 500
    requests_per_second = 1000.0
    burst = 1000
    # one writer per file: appends from several threads would interleave
    max_concurrency = 1
    honours_idempotency_key = True

    def __init__(self, outbox_dir: Path, name: str = "email", settings: dict | None = None) -> None:
        settings = settings or {}
        self.name = settings.get("ledger_name", f"outbox_{name}")
        self.path = outbox_dir / f"{settings.get('file', name)}.jsonl"
        self.max_batch_size = int(settings.get("max_batch_size", self.max_batch_size))

    def batch_key(self, row: Row) -> None:
        return None

    def check_row(self, row: Row) -> None:
        return None

    def secrets(self) -> list[str]:
        return []

    def preview(self, rows: Sequence[Row]) -> dict:
        return {"file": str(self.path), "lines": [mask_personal_data(dict(r)) for r in rows]}

    def delivered_action_ids(self, action_ids: Iterable[str]) -> set[str]:
        wanted = set(action_ids)
        if not wanted or not self.path.exists():
            return set()
        found = set()
        with self.path.open(encoding="utf-8") as lines:
            for line in lines:
                action_id = json.loads(line)["action_id"]
                if action_id in wanted:
                    found.add(action_id)
        return found

    def send(self, rows: Sequence[Row]) -> list[RowOutcome]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        written_at = datetime.now(UTC).isoformat()
        with self.path.open("a", encoding="utf-8") as out:
            start = out.tell()
            for row in rows:
                out.write(json.dumps({**row, "written_at": written_at}, sort_keys=True) + "\n")
            out.flush()
            os.fsync(out.fileno())
        return [RowOutcome(r["action_id"], "sent", provider_message_id=f"{self.path.name}@{start}") for r in rows]

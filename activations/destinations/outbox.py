"""Outbox destination: JSON lines appended to <data_dir>/outbox/<name>.jsonl, used by the demo.

It is a real destination with the same contract as an API: it acknowledges a batch only after the lines
are written and fsync'ed, and it can tell which action ids it already holds (its idempotency check),
so a crash between writing and marking the ledger never produces a second line for an action.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from activations.types import SendResult


class OutboxDestination:
    max_batch_size = 500

    def __init__(self, outbox_dir: Path, name: str = "email") -> None:
        self.name = f"outbox_{name}"
        self.path = outbox_dir / f"{name}.jsonl"

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

    def send_batch(self, payloads: Sequence[dict]) -> list[SendResult]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        written_at = datetime.now(UTC).isoformat()
        with self.path.open("a", encoding="utf-8") as out:
            start = out.tell()
            for payload in payloads:
                out.write(json.dumps({**payload, "written_at": written_at}, sort_keys=True) + "\n")
            out.flush()
            os.fsync(out.fileno())
        return [
            SendResult(action_id=p["action_id"], ok=True, provider_message_id=f"{self.path.name}@{start}")
            for p in payloads
        ]

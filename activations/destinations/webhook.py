"""Generic webhook: POST <base_url><path> with a JSON body per action, signed with HMAC-SHA256.

Headers: Content-Type: application/json; Idempotency-Key: <action_id>; X-Journeys-Timestamp: <unix seconds>;
X-Journeys-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>" with the shared secret>. A receiver verifies
the signature (and rejects old timestamps against replay) and deduplicates on Idempotency-Key, which is the same
for every retry of an action: with such a receiver, delivery is exactly once. Any 2xx is success.
Body: {"id": action_id, "type": "journey.action", "data": {customer_id, journey_id, journey_version, node_id,
action_kind, channel, template, fields}}.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Sequence

from activations.credentials import from_env
from activations.http import HttpDestination, HttpRequest
from activations.runner import payload_fields
from activations.types import Row

SIGNATURE_HEADER = "X-Journeys-Signature"
TIMESTAMP_HEADER = "X-Journeys-Timestamp"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


class WebhookDestination(HttpDestination):
    max_batch_size = 1
    requests_per_second = 20.0
    burst = 20
    max_concurrency = 4
    honours_idempotency_key = True

    def __init__(self, name: str, settings: dict | None = None, base_url: str | None = None) -> None:
        super().__init__(name, settings, base_url)
        self.secret = from_env(name, self.settings, "signing_secret_env", "JOURNEYS_WEBHOOK_SECRET")
        self.path = self.settings.get("path", "/")

    def secrets(self) -> list[str]:
        return [self.secret]

    def build_request(self, rows: Sequence[Row]) -> HttpRequest:
        (row,) = rows
        payload = {
            "id": row["action_id"],
            "type": "journey.action",
            "data": {
                **{k: row.get(k) for k in ("customer_id", "journey_id", "journey_version", "node_id")},
                **{k: row.get(k) for k in ("action_kind", "channel", "template")},
                "fields": payload_fields(row),
            },
        }
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": row["action_id"],
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self.secret, timestamp, body),
        }
        return HttpRequest("POST", self.path, headers, body)


DESTINATION = WebhookDestination

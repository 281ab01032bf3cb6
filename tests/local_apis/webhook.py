"""A local webhook receiver that does what the generic webhook destination asks of a receiver: verify the
HMAC-SHA256 signature over "<timestamp>.<body>" and the timestamp's age (401 otherwise), deduplicate on
Idempotency-Key (a repeated key gets the first answer and is not delivered again), answer 200. A body whose
template is 'refused' gets 422, the receiver's final refusal."""

from __future__ import annotations

import hashlib
import hmac
import time

from tests.local_apis.base import LocalApi, Reply, Request


class WebhookReceiver(LocalApi):
    name = "webhook"

    def __init__(self, secret: str, path: str = "/journeys", max_age_s: int = 300, **kwargs) -> None:
        super().__init__(**kwargs)
        self.secret = secret
        self.path = path
        self.max_age_s = max_age_s

    def idempotency_key(self, request: Request) -> str | None:
        return request.headers.get("idempotency-key")

    def process(self, request: Request) -> Reply:
        if request.method != "POST" or request.path != self.path:
            return Reply.json(404, {"error": "not found"})
        timestamp = request.headers.get("x-journeys-timestamp", "")
        expected = (
            "v1=" + hmac.new(self.secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
        )
        if not hmac.compare_digest(request.headers.get("x-journeys-signature", ""), expected):
            return Reply.json(401, {"error": "bad signature"})
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > self.max_age_s:
            return Reply.json(401, {"error": "stale timestamp"})
        event = request.json()
        if event.get("data", {}).get("template") == "refused":
            return Reply.json(422, {"error": "template 'refused' is not accepted by this receiver"})
        return Reply.json(200, {"received": True}, delivered=[event["id"]])

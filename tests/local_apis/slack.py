"""Local Slack incoming webhook: POST /services/T.../B.../<secret> with {"text": ...} as documented: 200 with the
plain-text body "ok"; 400 invalid_payload (not JSON) or no_text; 404 no_service (unknown URL); 500
rollup_error; 429 with Retry-After. Delivered action ids: the texts in the tests carry "ref <action_id>"."""

from __future__ import annotations

import re

from tests.local_apis.base import LocalApi, Reply, Request

REF = re.compile(r"ref ([0-9a-f]{32})")


def _text(status: int, body: str) -> Reply:
    return Reply(status, body.encode(), content_type="text/plain")


class SlackWebhookApi(LocalApi):
    name = "slack"
    rate_limited_body = "rate_limited"
    server_error_body = "rollup_error"

    def __init__(self, webhook_path: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.webhook_path = webhook_path

    def process(self, request: Request) -> Reply:
        if request.method != "POST" or request.path != self.webhook_path:
            return _text(404, "no_service")
        try:
            body = request.json()
        except ValueError:
            return _text(400, "invalid_payload")
        text = body.get("text") if isinstance(body, dict) else None
        if not text:
            return _text(400, "no_text")
        return Reply(200, b"ok", content_type="text/plain", delivered=REF.findall(text)[:1])

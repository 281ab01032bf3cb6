"""Slack incoming webhook: POST to the webhook URL (https://hooks.slack.com/services/T.../B.../...) with a JSON
body {"text": ...}. The URL is the credential: it comes from an environment variable and is never logged.

Documented: answer 200 with the plain-text body "ok"; errors as plain text with a status: 400
invalid_payload / no_text, 403 action_prohibited, 404 channel_not_found, 410 channel_is_archived, 500
rollup_error; 429 with Retry-After beyond about one message per second per webhook. No idempotency key.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from activations.credentials import from_env
from activations.destinations.templating import render, text_problem
from activations.http import HttpDestination, HttpRequest, HttpResponse, json_request
from activations.types import Row, RowOutcome


class SlackDestination(HttpDestination):
    max_batch_size = 1
    requests_per_second = 1.0
    burst = 3
    max_concurrency = 1
    honours_idempotency_key = False

    def __init__(self, name: str, settings: dict | None = None, base_url: str | None = None) -> None:
        settings = dict(settings or {})
        url = base_url or from_env(name, settings, "webhook_url_env", "SLACK_WEBHOOK_URL")
        parts = urlsplit(url)
        super().__init__(name, settings, f"{parts.scheme}://{parts.netloc}")
        self.webhook_path = parts.path or "/"
        self.texts = dict(self.settings.get("texts") or {})

    def secrets(self) -> list[str]:
        return [self.webhook_path, self.base_url + self.webhook_path]

    def check_row(self, row: Row) -> str | None:
        return text_problem(self.name, "texts", self.texts, row)

    def build_request(self, rows: Sequence[Row]) -> HttpRequest:
        (row,) = rows
        return json_request("POST", self.webhook_path, {"text": render(self.name, self.texts, row)})

    def parse_success(self, rows: Sequence[Row], response: HttpResponse) -> list[RowOutcome]:
        if response.text.strip() != "ok":  # Slack answers exactly "ok"; anything else is not a delivery
            return [RowOutcome(rows[0]["action_id"], "failed", error=f"unexpected answer: {response.text[:100]}")]
        return [RowOutcome(rows[0]["action_id"], "sent")]

    def preview(self, rows: Sequence[Row]) -> dict:
        shown = super().preview(rows)
        shown["path"] = "[webhook path redacted]"
        return shown


DESTINATION = SlackDestination

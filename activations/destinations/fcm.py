"""Firebase Cloud Messaging HTTP v1: POST /v1/projects/{project_id}/messages:send, Authorization: Bearer <OAuth 2
access token> (scope https://www.googleapis.com/auth/firebase.messaging), JSON body {"message": {...}}.

Documented: one message per request; answer 200 with {"name": "projects/{id}/messages/{message_id}"}; errors as
{"error": {"code", "message", "status", "details": [{"@type": ".../google.firebase.fcm.v1.FcmError",
"errorCode": "UNREGISTERED" | "INVALID_ARGUMENT" | "QUOTA_EXCEEDED" | "UNAVAILABLE" | "INTERNAL" ...}]}}; 429
QUOTA_EXCEEDED and 503 UNAVAILABLE are retriable (Retry-After honoured), 404 UNREGISTERED means the device token
is gone (final). `data` values must be strings. Idempotency: FCM accepts no idempotency key.
The access token is read from an environment variable (e.g. `gcloud auth print-access-token` or a service
account token minted outside this process); this module does not mint tokens.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from urllib.parse import quote

from activations.credentials import from_env
from activations.destinations.templating import render, text_problem
from activations.http import HttpDestination, HttpRequest, HttpResponse, json_request
from activations.runner import payload_fields
from activations.types import Row, RowOutcome


class FcmDestination(HttpDestination):
    default_base_url = "https://fcm.googleapis.com"
    max_batch_size = 1
    # FCM's documented default quota is 600,000 messages per minute per project; stay well under it.
    requests_per_second = 100.0
    burst = 100
    max_concurrency = 8
    honours_idempotency_key = False

    def __init__(self, name: str, settings: dict | None = None, base_url: str | None = None) -> None:
        super().__init__(name, settings, base_url)
        self.access_token = from_env(name, self.settings, "access_token_env", "FCM_ACCESS_TOKEN")
        self.project_id = self.settings.get("project_id")
        if not self.project_id:
            raise ValueError(f"destination '{name}': project_id is required")
        self.notifications = dict(self.settings.get("notifications") or {})

    def secrets(self) -> list[str]:
        return [self.access_token]

    def check_row(self, row: Row) -> str | None:
        if not row.get("address"):
            return "no push token for the action"
        if row.get("template") in self.notifications:  # otherwise a data-only message
            return text_problem(self.name, "notifications", self.notifications, row, ("title", "body"))
        payload_fields(row)  # raises ValueError when not JSON
        return None

    def build_request(self, rows: Sequence[Row]) -> HttpRequest:
        (row,) = rows
        data = {k: v if isinstance(v, str) else json.dumps(v) for k, v in payload_fields(row).items()}
        message: dict = {
            "token": row["address"],
            "data": {**data, "action_id": row["action_id"], "template": str(row.get("template") or "")},
        }
        title = render(self.name, self.notifications, row, "title")
        if title is not None:
            message["notification"] = {"title": title, "body": render(self.name, self.notifications, row, "body")}
        return json_request(
            "POST",
            f"/v1/projects/{quote(self.project_id)}/messages:send",
            {"message": message},
            {"Authorization": f"Bearer {self.access_token}"},
        )

    def parse_success(self, rows: Sequence[Row], response: HttpResponse) -> list[RowOutcome]:
        body = response.json()
        name = body.get("name") if isinstance(body, dict) else None
        return [RowOutcome(rows[0]["action_id"], "sent", provider_message_id=name)]

    def error_message(self, response: HttpResponse) -> str:
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            details = [d for d in error.get("details") or [] if isinstance(d, dict)]
            codes = [d["errorCode"] for d in details if d.get("errorCode")]
            return f"{error.get('status')}{' ' + codes[0] if codes else ''}: {error.get('message')}"
        return response.text.strip()


DESTINATION = FcmDestination

"""Twilio Programmable Messaging: POST /2010-04-01/Accounts/{AccountSid}/Messages.json, HTTP basic auth
(Account SID : Auth Token), form-encoded body (To, From or MessagingServiceSid, Body or ContentSid +
ContentVariables).

Documented: one message per request; answer 201 Created with the Message resource as JSON ({"sid": "SM...",
"status": "queued", ...}); errors as {"code": 21211, "message": ..., "more_info": ..., "status": 400}; 429 (error
20429) when too many requests run at once. Idempotency: the Messages API accepts no idempotency key (the
I-Twilio-Idempotency-Token header exists only on webhooks Twilio sends to you), so a crash or a timeout after
Twilio accepted a request can produce a second SMS; the docs say so. With `status_callback_url` set, each message
carries StatusCallback=<url>?action_id=<action_id>, so Twilio's status callbacks name the action.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from urllib.parse import parse_qsl, quote, urlencode

from activations.credentials import from_env
from activations.destinations.templating import render, text_problem
from activations.http import HttpDestination, HttpRequest, HttpResponse, basic_auth
from activations.runner import payload_fields
from activations.types import Row, RowOutcome


class TwilioDestination(HttpDestination):
    default_base_url = "https://api.twilio.com"
    max_batch_size = 1
    # Twilio queues messages per sender at its own rate (MPS); the API rejects too many concurrent requests with
    # 429. Defaults stay well below; raise them in the config for a high-throughput sender.
    requests_per_second = 10.0
    burst = 10
    max_concurrency = 8
    honours_idempotency_key = False

    def __init__(self, name: str, settings: dict | None = None, base_url: str | None = None) -> None:
        super().__init__(name, settings, base_url)
        self.account_sid = from_env(name, self.settings, "account_sid_env", "TWILIO_ACCOUNT_SID")
        self.auth_token = from_env(name, self.settings, "auth_token_env", "TWILIO_AUTH_TOKEN")
        self.sender = self.settings.get("messaging_service_sid") or self.settings.get("from_number")
        if not self.sender:
            raise ValueError(f"destination '{name}': messaging_service_sid or from_number is required")
        self.content_sids = dict(self.settings.get("content_sids") or {})
        self.bodies = dict(self.settings.get("bodies") or {})

    def secrets(self) -> list[str]:
        return [self.auth_token, basic_auth(self.account_sid, self.auth_token).split(" ", 1)[1]]

    def check_row(self, row: Row) -> str | None:
        if not row.get("address"):
            return "no phone number for the action"
        if row.get("template") in self.content_sids:
            return None
        return text_problem(self.name, "content_sids or bodies", self.bodies, row)

    def build_request(self, rows: Sequence[Row]) -> HttpRequest:
        (row,) = rows
        form = {"To": row["address"]}
        if self.settings.get("messaging_service_sid"):
            form["MessagingServiceSid"] = self.settings["messaging_service_sid"]
        else:
            form["From"] = self.settings["from_number"]
        if row.get("template") in self.content_sids:
            form["ContentSid"] = self.content_sids[row["template"]]
            form["ContentVariables"] = json.dumps(payload_fields(row), sort_keys=True)
        else:
            form["Body"] = render(self.name, self.bodies, row) or ""
        if self.settings.get("status_callback_url"):
            # Twilio posts delivery status here; the action_id ties each status back to the action
            form["StatusCallback"] = (
                f"{self.settings['status_callback_url']}?{urlencode({'action_id': row['action_id']})}"
            )
        return HttpRequest(
            "POST",
            f"/2010-04-01/Accounts/{quote(self.account_sid)}/Messages.json",
            {
                "Authorization": basic_auth(self.account_sid, self.auth_token),
                "Content-Type": "application/x-www-form-urlencoded",
            },
            urlencode(form).encode(),
        )

    def message_id(self, response: HttpResponse) -> str | None:
        body = response.json()
        return body.get("sid") if isinstance(body, dict) else None

    def parse_success(self, rows: Sequence[Row], response: HttpResponse) -> list[RowOutcome]:
        return [RowOutcome(rows[0]["action_id"], "sent", provider_message_id=self.message_id(response))]

    def error_message(self, response: HttpResponse) -> str:
        body = response.json()
        if isinstance(body, dict) and "message" in body:
            return f"Twilio error {body.get('code')}: {body['message']}"
        return response.text.strip()

    def preview(self, rows: Sequence[Row]) -> dict:
        request = self.build_request(rows[:1])
        return {"method": request.method, "path": request.path, "form": dict(parse_qsl(request.body.decode()))}


DESTINATION = TwilioDestination

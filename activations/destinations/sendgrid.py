"""SendGrid v3 Mail Send: POST /v3/mail/send, Authorization: Bearer <API key>, JSON body.

Documented: one request carries up to 1000 personalizations (recipients in to/cc/bcc across them), one
template_id per request (so batches are grouped by template); answer 202 Accepted with an X-Message-Id header
and an empty body; errors as {"errors": [{"message", "field", "help"}]}; a 400 refuses the whole request.
Idempotency: the API has no idempotency key. The action_id travels in each personalization's custom_args (it
comes back in SendGrid's event webhook), but SendGrid does not deduplicate on it.
"""

from __future__ import annotations

from collections.abc import Sequence

from activations.credentials import from_env
from activations.http import HttpDestination, HttpRequest, HttpResponse, json_request
from activations.runner import payload_fields
from activations.types import Row, RowOutcome


class SendGridDestination(HttpDestination):
    default_base_url = "https://api.sendgrid.com"
    max_batch_size = 1000
    # SendGrid documents no fixed request rate for mail send (it answers 429 with X-RateLimit-Reset when
    # exceeded); this default is conservative and can be raised in the config.
    requests_per_second = 10.0
    burst = 10
    max_concurrency = 4
    honours_idempotency_key = False

    def __init__(self, name: str, settings: dict | None = None, base_url: str | None = None) -> None:
        super().__init__(name, settings, base_url)
        self.api_key = from_env(name, self.settings, "api_key_env", "SENDGRID_API_KEY")
        self.from_email = self.settings.get("from_email")
        if not self.from_email:
            raise ValueError(f"destination '{name}': from_email is required")
        self.template_ids = dict(self.settings.get("template_ids") or {})

    def secrets(self) -> list[str]:
        return [self.api_key]

    def batch_key(self, row: Row) -> str | None:
        return row.get("template")

    def check_row(self, row: Row) -> str | None:
        if not row.get("address"):
            return "no email address for the action"
        if row.get("template") not in self.template_ids:
            return (
                f"destination '{self.name}': no SendGrid template id for template '{row.get('template')}' "
                "(config key 'template_ids')"
            )
        payload_fields(row)  # raises ValueError when not JSON
        return None

    def build_request(self, rows: Sequence[Row]) -> HttpRequest:
        body = {
            "from": {"email": self.from_email, **({"name": n} if (n := self.settings.get("from_name")) else {})},
            "template_id": self.template_ids[rows[0]["template"]],
            "personalizations": [
                {
                    "to": [{"email": row["address"]}],
                    "dynamic_template_data": payload_fields(row),
                    "custom_args": {"action_id": row["action_id"]},
                }
                for row in rows
            ],
        }
        return json_request("POST", "/v3/mail/send", body, {"Authorization": f"Bearer {self.api_key}"})

    def parse_success(self, rows: Sequence[Row], response: HttpResponse) -> list[RowOutcome]:
        message_id = response.headers.get("x-message-id")
        return [RowOutcome(row["action_id"], "sent", provider_message_id=message_id) for row in rows]

    def error_message(self, response: HttpResponse) -> str:
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("errors"), list):
            return "; ".join(
                f"{e.get('field')}: {e.get('message')}" if e.get("field") else str(e.get("message"))
                for e in body["errors"]
                if isinstance(e, dict)
            )
        return response.text.strip()


DESTINATION = SendGridDestination

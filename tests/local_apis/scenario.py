"""A named scenario for the activation tests: every local API server, a config routing to them, and a table of
due actions with a few rows each API documents as refused.

"180 due actions: welcome and reminder emails through SendGrid (two invalid addresses), receipts by SMTP (one
unknown recipient), SMS through Twilio (one invalid number), push through FCM (one unregistered token), webhooks
to a signing, deduplicating receiver (one refused) and ops alerts to Slack."
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import yaml

from tests.local_apis.fcm import FcmApi
from tests.local_apis.sendgrid import SendGridApi
from tests.local_apis.slack import SlackWebhookApi
from tests.local_apis.smtp import LocalSmtp
from tests.local_apis.twilio import TwilioApi
from tests.local_apis.webhook import WebhookReceiver

ACTIONS_TABLE = "scenario.actions"
# credentials: values a test greps the logs for (none may appear)
SECRETS = {
    "SENDGRID_API_KEY": "SG.test-key-4f1d9a0c7e",
    "TWILIO_ACCOUNT_SID": "AC0123456789abcdef0123456789abcdef",
    "TWILIO_AUTH_TOKEN": "twilio-token-93bd17e2c4",
    "FCM_ACCESS_TOKEN": "ya29.fcm-token-61a8e0f3b5",
    "JOURNEYS_WEBHOOK_SECRET": "whsec-8c2e7d14a9",
}
SLACK_PATH = "/services/T0TEST/B0TEST/slacksecret0a1b2c3d"

# (route value, template, count, how to make row i an address the API refuses or None)
GROUPS = [
    ("email", "welcome", 30, lambda i: "not-an-address" if i == 7 else None),
    ("email", "reminder", 30, lambda i: "also@@bad" if i == 3 else None),
    ("email", "receipt", 20, lambda i: f"buyer{i}@invalid.example" if i == 5 else None),
    ("sms", "trial_day_3", 30, lambda i: "12345" if i == 11 else None),
    ("push", "cart_reminder", 30, lambda i: f"unregistered-device-{i}" if i == 2 else None),
    ("webhook", "crm_note", 29, lambda i: None),
    ("webhook", "refused", 1, lambda i: None),
    ("webhook", "ops_alert", 10, lambda i: None),
]
PURPOSE = {"receipt": "transactional"}


def action_id(template: str, i: int) -> str:
    return hashlib.md5(f"{template}-{i}".encode()).hexdigest()


def _address(value: str, template: str, i: int) -> str | None:
    if value == "email":
        return f"person{i}.{template}@example.com"
    if value == "sms":
        return f"+1555{i:07d}"
    if value == "push":
        return f"device-token-{template}-{i:04d}"
    return None


def scenario_rows() -> list[dict]:
    rows = []
    for value, template, count, refused in GROUPS:
        for i in range(count):
            address = refused(i) or _address(value, template, i)
            rows.append(
                {
                    "action_id": action_id(template, i),
                    "customer_id": f"c-{template}-{i}",
                    "journey_id": "scenario",
                    "journey_version": 1,
                    "node_id": template,
                    "action_kind": "message",
                    "channel": value,
                    "destination": value,
                    "purpose": PURPOSE.get(template, "marketing"),
                    "template": template,
                    "address": address,
                    "email": address if value == "email" else None,
                    "payload_fields": json.dumps({"first_name": f"Jo{i}", "discount": 10 + i % 3}),
                }
            )
    return rows


def expected_refusals() -> dict[str, str]:
    """action_id -> a fragment of the API's documented message that the ledger must keep."""
    return {
        action_id("welcome", 7): "Does not contain a valid address",
        action_id("reminder", 3): "Does not contain a valid address",
        action_id("receipt", 5): "SMTP 550",
        action_id("trial_day_3", 11): "Twilio error 21211",
        action_id("cart_reminder", 2): "UNREGISTERED",
        action_id("refused", 0): "HTTP 422",
    }


def write_actions(warehouse: Path | duckdb.DuckDBPyConnection) -> list[dict]:
    rows = scenario_rows()
    if isinstance(warehouse, duckdb.DuckDBPyConnection):
        _insert(warehouse, rows)
    else:
        with duckdb.connect(str(warehouse)) as con:
            _insert(con, rows)
    return rows


def _insert(con: duckdb.DuckDBPyConnection, rows: list[dict]) -> None:
    con.execute("create schema if not exists scenario")
    con.register("scenario_rows", pa.Table.from_pylist(rows))
    try:
        con.execute(
            f"""create or replace table {ACTIONS_TABLE} as
            select * replace (cast(payload_fields as json) as payload_fields) from scenario_rows"""
        )
    finally:
        con.unregister("scenario_rows")


@dataclass
class Servers:
    sendgrid: SendGridApi
    twilio: TwilioApi
    fcm: FcmApi
    webhook: WebhookReceiver
    slack: SlackWebhookApi
    smtp: LocalSmtp

    def all(self) -> dict:
        return {k: getattr(self, k) for k in ("sendgrid", "twilio", "fcm", "webhook", "slack", "smtp")}

    def delivered(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for server in self.all().values():
            for key, n in server.delivery_counts().items():
                counts[key] = counts.get(key, 0) + n
        return counts


@contextlib.contextmanager
def running_servers(fault_rate: float, seed: int, stall_s: float = 1.0, retry_after_s: int = 0):
    http = {"fault_rate": fault_rate, "stall_s": stall_s, "retry_after_s": retry_after_s}
    with (
        SendGridApi(SECRETS["SENDGRID_API_KEY"], seed=seed, **http) as sendgrid,
        TwilioApi(SECRETS["TWILIO_ACCOUNT_SID"], SECRETS["TWILIO_AUTH_TOKEN"], seed=seed + 1, **http) as twilio,
        FcmApi("journeys-test", SECRETS["FCM_ACCESS_TOKEN"], seed=seed + 2, **http) as fcm,
        WebhookReceiver(SECRETS["JOURNEYS_WEBHOOK_SECRET"], seed=seed + 3, **http) as webhook,
        SlackWebhookApi(SLACK_PATH, seed=seed + 4, **http) as slack,
        LocalSmtp(fault_rate=fault_rate, seed=seed + 5) as smtp,
    ):
        yield Servers(sendgrid, twilio, fcm, webhook, slack, smtp)


def write_config(path: Path, servers: Servers, timeout_s: float = 0.5, rps: float = 200.0) -> Path:
    fast = {"timeout_s": timeout_s, "requests_per_second": rps, "burst": 20}
    smtp_host, smtp_port = servers.smtp.host_port
    config = {
        "routes": [
            {"when": {"destination": "email", "purpose": "transactional"}, "send_to": "smtp"},
            {"when": {"destination": "email"}, "send_to": "sendgrid"},
            {"when": {"destination": "sms"}, "send_to": "twilio"},
            {"when": {"destination": "push"}, "send_to": "fcm"},
            {"when": {"destination": "webhook", "template": "ops_alert"}, "send_to": "slack"},
            {"when": {"destination": "webhook"}, "send_to": "webhook"},
        ],
        "destinations": {
            "sendgrid": {
                "type": "sendgrid",
                "base_url": servers.sendgrid.url,
                "from_email": "news@shop.example",
                "template_ids": {"welcome": "d-welcome", "reminder": "d-reminder"},
                "max_batch_size": 8,
                **fast,
            },
            "twilio": {
                "type": "twilio",
                "base_url": servers.twilio.url,
                "messaging_service_sid": "MG0123456789abcdef0123456789abcdef",
                "bodies": {"trial_day_3": "Hi {first_name}, day 3 of your trial: here is {discount}% off."},
                "status_callback_url": "https://hooks.shop.example/twilio/status",
                **fast,
            },
            "fcm": {
                "type": "fcm",
                "base_url": servers.fcm.url,
                "project_id": "journeys-test",
                "notifications": {"cart_reminder": {"title": "Still thinking?", "body": "{first_name}, your cart"}},
                **fast,
            },
            "webhook": {"type": "webhook", "base_url": servers.webhook.url, "path": "/journeys", **fast},
            "slack": {"type": "slack", "texts": {"ops_alert": "Ops alert for {customer_id} (ref {action_id})"}, **fast},
            "smtp": {
                "type": "smtp",
                "host": smtp_host,
                "port": smtp_port,
                "from_address": "receipts@shop.example",
                "subjects": {"receipt": "Your receipt"},
                "bodies": {"receipt": "Thanks {first_name}."},
                "max_batch_size": 5,
                "timeout_s": timeout_s,
                "requests_per_second": rps,
            },
        },
        "retry": {"max_attempts": 10, "base_s": 0.01, "max_backoff_s": 0.05, "max_retry_after_s": 5},
        "volume_cap": {"enabled": False},
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def environment(servers: Servers) -> dict[str, str]:
    return {**SECRETS, "SLACK_WEBHOOK_URL": servers.slack.url + SLACK_PATH}

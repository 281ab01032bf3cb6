"""Operator alerts: a signed JSON POST to the webhook in JOURNEYS_ALERT_WEBHOOK_URL (standard library only).

Signed the way the generic webhook destination signs (its `sign`, activations/destinations/webhook.py):
X-Journeys-Timestamp: <unix seconds>; X-Journeys-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>" with the
secret in JOURNEYS_ALERT_WEBHOOK_SECRET>; Idempotency-Key: the alert's id (a retried alert is the same alert).
Without a secret the alert is sent unsigned and the log says so. The URL and secret are never logged.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from activations.destinations.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

URL_ENV = "JOURNEYS_ALERT_WEBHOOK_URL"
SECRET_ENV = "JOURNEYS_ALERT_WEBHOOK_SECRET"


@dataclass(frozen=True)
class AlertResult:
    delivered: bool
    status: int | None
    detail: str


def post_alert(
    alert_id: str, alert_type: str, data: dict, url: str | None = None, secret: str | None = None
) -> AlertResult:
    """POSTs {"id", "type", "data"} once (timeout 10 s). Not configured: not sent, and the result says so."""
    url = url if url is not None else os.environ.get(URL_ENV, "")
    secret = secret if secret is not None else os.environ.get(SECRET_ENV, "")
    if not url:
        return AlertResult(False, None, f"{URL_ENV} is not set: no alert sent")
    body = json.dumps({"id": alert_id, "type": alert_type, "data": data}, separators=(",", ":"), sort_keys=True)
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", "Idempotency-Key": alert_id, TIMESTAMP_HEADER: timestamp}
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, timestamp, body.encode())
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        return AlertResult(False, error.code, f"alert webhook answered HTTP {error.code}")
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        return AlertResult(False, None, f"alert webhook unreachable: {type(reason).__name__}")
    signed = "signed" if secret else f"unsigned ({SECRET_ENV} is not set)"
    return AlertResult(200 <= status < 300, status, f"alert webhook answered HTTP {status}, {signed}")

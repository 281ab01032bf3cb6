"""Local Twilio Messages API: POST /2010-04-01/Accounts/{AccountSid}/Messages.json as documented (basic auth,
form-encoded To / From or MessagingServiceSid / Body or ContentSid; 201 with the Message resource; errors as
{"code", "message", "more_info", "status"}, e.g. 21211 for an invalid To number, 20003 for bad credentials, 20429
for too many requests). Delivered action ids come from the StatusCallback URL's action_id parameter."""

from __future__ import annotations

import base64
import itertools
import re
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from tests.local_apis.base import LocalApi, Reply, Request

E164 = re.compile(r"^\+[1-9]\d{1,14}$")


def _error(status: int, code: int, message: str) -> Reply:
    more_info = f"https://www.twilio.com/docs/errors/{code}"
    return Reply.json(status, {"code": code, "message": message, "more_info": more_info, "status": status})


class TwilioApi(LocalApi):
    name = "twilio"
    rate_limited_body: ClassVar[Any] = {"code": 20429, "message": "Too Many Requests", "status": 429}
    server_error_body: ClassVar[Any] = {"code": 20500, "message": "Internal Server Error", "status": 500}

    def __init__(self, account_sid: str, auth_token: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.account_sid = account_sid
        self.auth_token = auth_token
        self._ids = itertools.count(1)

    def process(self, request: Request) -> Reply:
        if request.method != "POST" or request.path != f"/2010-04-01/Accounts/{self.account_sid}/Messages.json":
            return _error(404, 20404, "The requested resource was not found")
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return _error(401, 20003, "Authenticate")
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        to = form.get("To", "")
        if not E164.match(to):
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not (form.get("From") or form.get("MessagingServiceSid")):
            return _error(400, 21603, "The 'From' phone number is required.")
        if not (form.get("Body") or form.get("ContentSid")):
            return _error(400, 21602, "Message body is required.")
        callback = parse_qs(urlsplit(form.get("StatusCallback", "")).query).get("action_id", [])
        sid = f"SM{next(self._ids):032x}"
        resource = {"sid": sid, "account_sid": self.account_sid, "to": to, "status": "queued", "body": form.get("Body")}
        return Reply.json(201, resource, delivered=callback)

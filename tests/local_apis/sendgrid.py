"""Local SendGrid v3 Mail Send: POST /v3/mail/send as documented (Bearer auth, 1..1000 personalizations,
template_id 'd-...', 202 with X-Message-Id and an empty body, 400/401 with {"errors": [...]}). Delivered action
ids come from each personalization's custom_args.action_id."""

from __future__ import annotations

import itertools
import re
from typing import Any, ClassVar

from tests.local_apis.base import LocalApi, Reply, Request

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


def _errors(status: int, *errors: tuple[str | None, str]) -> Reply:
    return Reply.json(status, {"errors": [{"field": f, "message": m, "help": None} for f, m in errors]})


class SendGridApi(LocalApi):
    name = "sendgrid"
    rate_limited_body: ClassVar[Any] = {"errors": [{"field": None, "message": "too many requests"}]}
    server_error_body: ClassVar[Any] = {"errors": [{"field": None, "message": "internal server error"}]}

    def __init__(self, api_key: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.api_key = api_key
        self._ids = itertools.count(1)

    def process(self, request: Request) -> Reply:
        if request.method != "POST" or request.path != "/v3/mail/send":
            return _errors(404, (None, "not found"))
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return _errors(401, (None, "The provided authorization grant is invalid, expired, or revoked"))
        try:
            body = request.json()
        except ValueError:
            return _errors(400, (None, "Bad Request"))
        personalizations = body.get("personalizations") or []
        if not 1 <= len(personalizations) <= 1000:
            return _errors(
                400,
                (
                    "personalizations",
                    "The personalization block is limited to 1000 personalizations per API request. "
                    f"You have provided {len(personalizations)} personalizations.",
                ),
            )
        if not (body.get("from") or {}).get("email"):
            return _errors(400, ("from.email", "The from email does not contain a valid address."))
        if not str(body.get("template_id", "")).startswith("d-"):
            return _errors(400, ("template_id", "The template_id must be a valid dynamic template id."))
        for i, personalization in enumerate(personalizations):
            for j, to in enumerate(personalization.get("to") or []):
                if not EMAIL.match(to.get("email", "")):
                    return _errors(400, (f"personalizations.{i}.to.{j}.email", "Does not contain a valid address."))
        delivered = [p.get("custom_args", {}).get("action_id") for p in personalizations]
        return Reply(202, b"", headers={"X-Message-Id": f"sg{next(self._ids):08d}"}, delivered=delivered)

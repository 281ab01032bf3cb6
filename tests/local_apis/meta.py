"""A local Meta Graph API for Custom Audiences on 127.0.0.1: POST and DELETE /<version>/<audience_id>/users with
{payload: {schema, data}, session?}, answering {audience_id, session_id, num_received, num_invalid_entries,
invalid_entry_samples} or a Graph error {"error": {message, type, code, error_subcode, fbtrace_id}}.

Membership is kept per audience as the set of rows received; a DELETE removes the rows that share an email or
phone hash with a row it names (Meta matches people on any identifier). A value that is neither empty nor 64
lowercase hex characters counts as an invalid entry (Meta expects SHA-256 hex of normalised values).
`Reply.delivered` names what a request did: "POST:<email hash>" or "DELETE:<email hash>".
"""

from __future__ import annotations

import re
import uuid
from typing import Any, ClassVar

from tests.local_apis.base import LocalApi, Reply, Request

MAX_ROWS = 10_000
USERS_PATH = re.compile(r"^/v(\d+\.\d+)/(\d+)/users$")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
KNOWN_SCHEMA = frozenset({"EMAIL", "PHONE", "EMAIL_SHA256", "PHONE_SHA256", "FN", "LN", "COUNTRY", "EXTERN_ID"})


def graph_error(status: int, message: str, code: int, subcode: int | None = None, kind: str = "OAuthException"):
    error = {"message": message, "type": kind, "code": code, "fbtrace_id": uuid.uuid4().hex[:11]}
    if subcode is not None:
        error["error_subcode"] = subcode
    return Reply.json(status, {"error": error})


class MetaApi(LocalApi):
    name = "meta"
    rate_limited_body: ClassVar[Any] = {
        "error": {
            "message": "(#80003) There have been too many calls to this ad-account.",
            "type": "OAuthException",
            "code": 80003,
            "fbtrace_id": "AbCdEfGhIjK",
        }
    }
    server_error_body: ClassVar[Any] = {
        "error": {
            "message": "An unknown error occurred",
            "type": "OAuthException",
            "code": 1,
            "fbtrace_id": "AbCdEfGhIjK",
        }
    }

    def __init__(self, token: str = "EAAtesttoken", audience_ids: tuple[str, ...] = ("2384001",), **kwargs) -> None:
        super().__init__(**kwargs)
        self.token = token
        self.members: dict[str, set[tuple[str, ...]]] = {audience: set() for audience in audience_ids}
        self.sessions: dict[int, list[int]] = {}

    def email_hashes(self, audience_id: str) -> set[str]:
        return {row[0] for row in self.members[audience_id] if row and row[0]}

    def process(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return graph_error(400, "Invalid OAuth access token - Cannot parse access token", 190)
        match = USERS_PATH.match(request.path.split("?")[0])
        if not match or request.method not in ("POST", "DELETE"):
            return graph_error(
                400, "Unsupported request - method type: " + request.method.lower(), 100, 33, "GraphMethodException"
            )
        audience_id = match.group(2)
        if audience_id not in self.members:
            return graph_error(
                400,
                f"Unsupported post request. Object with ID '{audience_id}' does not exist, cannot be loaded due to "
                "missing permissions, or does not support this operation.",
                100,
                33,
                "GraphMethodException",
            )
        try:
            body = request.json()
        except ValueError:
            return graph_error(400, "(#100) Invalid parameter", 100)
        payload = body.get("payload") if isinstance(body, dict) else None
        schema = payload.get("schema") if isinstance(payload, dict) else None
        data = payload.get("data") if isinstance(payload, dict) else None
        if isinstance(schema, str):
            schema = [schema]
        if not schema or not isinstance(data, list) or any(s not in KNOWN_SCHEMA for s in schema):
            return graph_error(400, "(#100) Invalid parameter: payload must have schema and data", 100)
        if len(data) > MAX_ROWS:
            return graph_error(400, f"(#100) Too many users in the payload (max {MAX_ROWS})", 100, 1870053)
        session = body.get("session")
        rows, invalid, samples = [], 0, {}
        for raw in data:
            row = tuple(raw) if isinstance(raw, list) else (raw,)
            if len(row) != len(schema) or any(v and not SHA256_HEX.match(str(v)) for v in row) or not any(row):
                invalid += 1
                samples.setdefault(str(invalid), "invalid")
                continue
            rows.append(row)
        with self._lock:
            if session:
                seen = self.sessions.setdefault(int(session["session_id"]), [])
                seen.append(int(session["batch_seq"]))
            members = self.members[audience_id]
            if request.method == "POST":
                members.update(rows)
            else:
                emails = {r[0] for r in rows if r[0]}
                phones = {r[1] for r in rows if len(r) > 1 and r[1]}
                self.members[audience_id] = {
                    m for m in members if m[0] not in emails and not (len(m) > 1 and m[1] and m[1] in phones)
                }
        answer = {
            "audience_id": audience_id,
            "session_id": str(session["session_id"]) if session else str(uuid.uuid4().int % 10**15),
            "num_received": len(data),
            "num_invalid_entries": invalid,
            "invalid_entry_samples": samples,
        }
        return Reply.json(200, answer, delivered=[f"{request.method}:{r[0]}" for r in rows])

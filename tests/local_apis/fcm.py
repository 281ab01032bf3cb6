"""Local Firebase Cloud Messaging HTTP v1: POST /v1/projects/{project}/messages:send as documented (OAuth Bearer
token; {"message": {"token", "data", "notification"}}; 200 {"name": "projects/.../messages/..."}; errors as
{"error": {"code", "message", "status", "details": [{"@type": ...FcmError, "errorCode"}]}}: 400
INVALID_ARGUMENT, 401 UNAUTHENTICATED, 404 UNREGISTERED for a token that is no longer valid, 429 QUOTA_EXCEEDED,
500 INTERNAL). Delivered action ids come from message.data.action_id. Tokens starting 'unregistered-' are gone."""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

from tests.local_apis.base import LocalApi, Reply, Request

FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"


def _error(status: int, grpc_status: str, error_code: str, message: str) -> Reply:
    details = [{"@type": FCM_ERROR, "errorCode": error_code}]
    return Reply.json(
        status, {"error": {"code": status, "message": message, "status": grpc_status, "details": details}}
    )


class FcmApi(LocalApi):
    name = "fcm"
    rate_limited_body: ClassVar[Any] = {
        "error": {"code": 429, "message": "Quota exceeded.", "status": "RESOURCE_EXHAUSTED",
                  "details": [{"@type": FCM_ERROR, "errorCode": "QUOTA_EXCEEDED"}]}
    }  # fmt: skip
    server_error_body: ClassVar[Any] = {
        "error": {"code": 500, "message": "Internal error.", "status": "INTERNAL",
                  "details": [{"@type": FCM_ERROR, "errorCode": "INTERNAL"}]}
    }  # fmt: skip

    def __init__(self, project_id: str, access_token: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.project_id = project_id
        self.access_token = access_token
        self._ids = itertools.count(1)

    def process(self, request: Request) -> Reply:
        if request.method != "POST" or request.path != f"/v1/projects/{self.project_id}/messages:send":
            return _error(404, "NOT_FOUND", "UNSPECIFIED_ERROR", "Requested entity was not found.")
        if request.headers.get("authorization") != f"Bearer {self.access_token}":
            return _error(401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR", "Request had invalid credentials.")
        try:
            message = request.json()["message"]
        except (ValueError, KeyError, TypeError):
            return _error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "Invalid JSON payload received.")
        token = message.get("token")
        if not token:
            return _error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "Recipient of the message is not set.")
        data = message.get("data") or {}
        for key, value in data.items():
            if not isinstance(value, str):
                return _error(
                    400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", f"Invalid value at 'message.data[{key}].value'"
                )
        if token.startswith("unregistered-"):
            return _error(404, "NOT_FOUND", "UNREGISTERED", "Requested entity was not found.")
        name = f"projects/{self.project_id}/messages/0:{next(self._ids)}"
        return Reply.json(200, {"name": name}, delivered=[data.get("action_id")])

"""A local Salesforce REST API on 127.0.0.1: sObject Collections upsert (PATCH
/services/data/vXX.X/composite/sobjects/Contact/<ExternalIdField>) and delete (DELETE
/services/data/vXX.X/composite/sobjects?ids=...), answering as the REST API guide documents: 200 with one
result per record in request order ({id, success, errors, created} / {id, success, errors}); 400 for a
malformed request; 401 [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}].
`Reply.delivered` names what a request did: "upsert:<external id>:<digest of the fields>", "delete:<id>".
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from tests.local_apis.base import LocalApi, Reply, Request

MAX_RECORDS = 200
UPSERT_PATH = re.compile(r"^/services/data/v(\d+\.\d)/composite/sobjects/(\w+)/(\w+)$")
DELETE_PATH = re.compile(r"^/services/data/v(\d+\.\d)/composite/sobjects$")


class SalesforceApi(LocalApi):
    name = "salesforce"
    rate_limited_body: ClassVar[Any] = [{"message": "Request limit exceeded", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    server_error_body: ClassVar[Any] = [{"message": "An unexpected error occurred", "errorCode": "UNKNOWN_EXCEPTION"}]

    def __init__(self, token: str = "00Dtest!token", **kwargs) -> None:
        super().__init__(**kwargs)
        self.token = token
        self._ids = itertools.count(1)
        self.contacts: dict[str, dict] = {}  # Salesforce id -> fields
        self.deleted: list[str] = []

    def seed_contact(self, fields: dict) -> str:
        record_id = f"003{next(self._ids):015d}"
        self.contacts[record_id] = dict(fields)
        return record_id

    def process(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return Reply.json(401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
        parts = urlsplit(request.path)
        upsert = UPSERT_PATH.match(parts.path)
        if request.method == "PATCH" and upsert:
            if float(upsert.group(1)) < 46.0:
                return Reply.json(404, [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}])
            with self._lock:
                return self._upsert(upsert.group(2), upsert.group(3), request)
        if request.method == "DELETE" and DELETE_PATH.match(parts.path):
            ids = [i for i in (parse_qs(parts.query).get("ids") or [""])[0].split(",") if i]
            if not ids or len(ids) > MAX_RECORDS:
                return Reply.json(400, [{"message": f"ids: 1 to {MAX_RECORDS} ids", "errorCode": "INVALID_FIELD"}])
            with self._lock:
                return self._delete(ids)
        return Reply.json(404, [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}])

    def _upsert(self, sobject: str, external_field: str, request: Request) -> Reply:
        try:
            body = request.json()
        except ValueError:
            return Reply.json(400, [{"message": "Unexpected character", "errorCode": "JSON_PARSER_ERROR"}])
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list) or not records or len(records) > MAX_RECORDS:
            return Reply.json(400, [{"message": f"records: 1 to {MAX_RECORDS} records", "errorCode": "INVALID_FIELD"}])
        results, delivered = [], []
        for record in records:
            if (record.get("attributes") or {}).get("type") != sobject:
                results.append(self._failed("INVALID_TYPE", "attributes.type must match the URI"))
                continue
            if "Id" in record:
                results.append(self._failed("INVALID_FIELD", "Don't set the Id field; use the external id"))
                continue
            key = record.get(external_field)
            if not key:
                results.append(self._failed("MISSING_ARGUMENT", f"{external_field} not specified", [external_field]))
                continue
            if sobject == "Contact" and not record.get("LastName"):
                results.append(
                    self._failed("REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]", ["LastName"])
                )
                continue
            fields = {k: v for k, v in record.items() if k != "attributes"}
            found = next((i for i, f in self.contacts.items() if f.get(external_field) == key), None)
            if found:
                self.contacts[found].update(fields)
                results.append({"id": found, "success": True, "errors": [], "created": False})
            else:
                record_id = f"003{next(self._ids):015d}"
                self.contacts[record_id] = fields
                results.append({"id": record_id, "success": True, "errors": [], "created": True})
            # the same write repeated counts as a repeat; a write with changed fields is a new delivery
            digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]
            delivered.append(f"upsert:{key}:{digest}")
        return Reply.json(200, results, delivered=delivered)

    def _delete(self, ids: list[str]) -> Reply:
        results, delivered = [], []
        for record_id in ids:
            record = self.contacts.pop(record_id, None)
            if record is None:
                results.append(
                    {
                        "id": record_id,
                        "success": False,
                        "errors": [{"statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted", "fields": []}],
                    }
                )
                continue
            self.deleted.append(record_id)
            results.append({"id": record_id, "success": True, "errors": []})
            delivered.append(f"delete:{record_id}")
        return Reply.json(200, results, delivered=delivered)

    @staticmethod
    def _failed(code: str, message: str, fields: list[str] | None = None) -> dict:
        return {"success": False, "errors": [{"statusCode": code, "message": message, "fields": fields or []}]}

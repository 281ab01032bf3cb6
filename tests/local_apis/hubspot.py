"""A local HubSpot CRM (v3 objects, v4 associations) on 127.0.0.1: the endpoints the HubSpot destination uses,
answering as HubSpot documents (200 / 207 multi-status with results and errors, 204 for archive and GDPR
delete, 400 / 401 / 404 error bodies {status, message, category, correlationId}).

State: contacts and deals by record id, emails unique among contacts (as in HubSpot), a unique-value deal
property, and deal-contact associations. `seed_contact` creates a contact "someone else" made.
`Reply.delivered` names what a request did to which record: "upsert:<customer id>", "update:<customer id>",
"deal:<action id>", "archive:<key>", "gdpr-delete:<customer id>".
"""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from tests.local_apis.base import LocalApi, Reply, Request

MAX_INPUTS = 100


def _error(status: int, message: str, category: str) -> Reply:
    return Reply.json(
        status, {"status": "error", "message": message, "category": category, "correlationId": str(uuid.uuid4())}
    )


class HubSpotApi(LocalApi):
    name = "hubspot"
    rate_limited_body: ClassVar[Any] = {
        "status": "error",
        "message": "You have reached your secondly limit.",
        "errorType": "RATE_LIMIT",
        "category": "RATE_LIMITS",
    }
    server_error_body: ClassVar[Any] = {"status": "error", "message": "internal error", "category": "INTERNAL_ERROR"}

    def __init__(
        self,
        token: str = "pat-test-token",
        customer_id_property: str = "journeys_customer_id",
        deal_id_property: str = "journeys_action_id",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.token = token
        self.customer_id_property = customer_id_property
        self.deal_id_property = deal_id_property
        self._ids = itertools.count(1001)
        self.contacts: dict[str, dict[str, str]] = {}  # id -> properties
        self.created_at: dict[str, str] = {}  # id -> createdAt (ISO 8601, UTC)
        self.deals: dict[str, dict[str, str]] = {}
        self.associations: set[tuple[str, str]] = set()  # (deal id, contact id)
        self.archived: list[str] = []
        self.gdpr_deleted: list[str] = []

    # -- helpers for tests ---------------------------------------------------------------------------------
    def seed_contact(self, properties: dict[str, str], created_at: str = "2024-01-01T00:00:00.000Z") -> str:
        record_id = str(next(self._ids))
        self.contacts[record_id] = dict(properties)
        self.created_at[record_id] = created_at
        return record_id

    def _new_id(self) -> str:
        record_id = str(next(self._ids))
        self.created_at[record_id] = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return record_id

    def contact_by_email(self, email: str) -> tuple[str, dict] | None:
        for record_id, properties in self.contacts.items():
            if properties.get("email", "").lower() == email.lower():
                return record_id, properties
        return None

    # -- the API ---------------------------------------------------------------------------------------------
    def process(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _error(
                401,
                "Authentication credentials not found. This API supports OAuth 2.0 authentication.",
                "INVALID_AUTHENTICATION",
            )
        path = request.path.split("?")[0]
        routes = {
            ("POST", "/crm/v3/objects/contacts/batch/upsert"): self._upsert_contacts,
            ("POST", "/crm/v3/objects/contacts/batch/update"): self._update_contacts,
            ("POST", "/crm/v3/objects/contacts/batch/archive"): lambda b: self._archive(b, self.contacts),
            ("POST", "/crm/v3/objects/contacts/gdpr-delete"): self._gdpr_delete,
            ("POST", "/crm/v3/objects/deals/batch/upsert"): self._upsert_deals,
            ("POST", "/crm/v3/objects/deals/batch/archive"): lambda b: self._archive(b, self.deals),
            ("POST", "/crm/v4/associations/deals/contacts/batch/associate/default"): self._associate,
        }
        handler = routes.get((request.method, path))
        if handler is None:
            return _error(404, f"No route for {request.method} {path}", "OBJECT_NOT_FOUND")
        try:
            body = request.json()
        except ValueError:
            return _error(400, "Invalid input JSON on line 1", "VALIDATION_ERROR")
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if "batch" in path and (not isinstance(inputs, list) or not inputs):
            return _error(400, "Invalid input: inputs must be a non-empty array", "VALIDATION_ERROR")
        if "batch" in path and len(inputs) > MAX_INPUTS:
            return _error(400, f"Batch input of {len(inputs)} exceeds the limit of {MAX_INPUTS}", "VALIDATION_ERROR")
        with self._lock:
            return handler(body)

    def _result(self, record_id: str, properties: dict, new: bool | None = None) -> dict:
        result = {
            "id": record_id,
            "properties": dict(properties),
            "createdAt": self.created_at.get(record_id, "2024-01-01T00:00:00.000Z"),
            "updatedAt": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "archived": False,
        }
        if new is not None:
            result["new"] = new
        return result

    @staticmethod
    def _batch_reply(results: list[dict], errors: list[dict], delivered: list[str]) -> Reply:
        payload = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": "2026-11-26T00:00:00Z",
            "completedAt": "2026-11-26T00:00:01Z",
        }
        if errors:
            payload["errors"] = errors
            payload["numErrors"] = len(errors)
        return Reply.json(207 if errors else 200, payload, delivered=delivered)

    @staticmethod
    def _validation_error(message: str, context: dict) -> dict:
        return {"status": "error", "category": "VALIDATION_ERROR", "message": message, "context": context}

    def _upsert_contacts(self, body: dict) -> Reply:
        results, errors, delivered = [], [], []
        # unique-property indexes, built once per request (a scan per input made large syncs quadratic)
        index = {
            "email": {p.get("email", "").lower(): i for i, p in self.contacts.items() if p.get("email")},
            self.customer_id_property: {
                p[self.customer_id_property]: i for i, p in self.contacts.items() if p.get(self.customer_id_property)
            },
        }
        for item in body["inputs"]:
            if item.get("idProperty") != "email" and item.get("idProperty") != self.customer_id_property:
                errors.append(self._validation_error(f"{item.get('idProperty')} is not a unique property", {}))
                continue
            properties = {k: str(v) for k, v in (item.get("properties") or {}).items()}
            key = str(item.get("id", "")).lower()
            if item["idProperty"] == "email" and "@" not in key:
                detail = f'[{{"isValid":false,"message":"Email address {key} is invalid","error":"INVALID_EMAIL",'
                detail += '"name":"email"}]'
                errors.append(self._validation_error(f"Property values were not valid: {detail}", {"id": [key]}))
                continue
            found = index[item["idProperty"]].get(key)
            if found:
                existing = self.contacts[found]
                existing.update(properties)
                results.append(self._result(found, existing, new=False))
            else:
                record_id = self._new_id()
                properties.setdefault(item["idProperty"], key)
                self.contacts[record_id] = properties
                results.append(self._result(record_id, properties, new=True))
                for name, values in index.items():
                    if properties.get(name):
                        values[properties[name].lower() if name == "email" else properties[name]] = record_id
            delivered.append(f"upsert:{properties.get(self.customer_id_property, key)}")
        return self._batch_reply(results, errors, delivered)

    def _update_contacts(self, body: dict) -> Reply:
        results, errors, delivered = [], [], []
        for item in body["inputs"]:
            record_id = str(item.get("id"))
            if record_id not in self.contacts:
                errors.append(
                    {
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "message": "Object not found",
                        "context": {"ids": [record_id]},
                    }
                )
                continue
            self.contacts[record_id].update({k: str(v) for k, v in (item.get("properties") or {}).items()})
            results.append(self._result(record_id, self.contacts[record_id]))
            delivered.append(f"update:{self.contacts[record_id].get(self.customer_id_property, record_id)}")
        return self._batch_reply(results, errors, delivered)

    def _upsert_deals(self, body: dict) -> Reply:
        results, errors, delivered = [], [], []
        by_key = {p.get(self.deal_id_property): i for i, p in self.deals.items()}
        for item in body["inputs"]:
            if item.get("idProperty") != self.deal_id_property:
                errors.append(self._validation_error(f"{item.get('idProperty')} is not a unique property", {}))
                continue
            key = str(item.get("id"))
            properties = {k: str(v) for k, v in (item.get("properties") or {}).items()}
            properties[self.deal_id_property] = key
            found = by_key.get(key)
            if found:
                self.deals[found].update(properties)
                results.append(self._result(found, self.deals[found], new=False))
            else:
                record_id = self._new_id()
                self.deals[record_id] = properties
                by_key[key] = record_id
                results.append(self._result(record_id, properties, new=True))
            delivered.append(f"deal:{key}")
        return self._batch_reply(results, errors, delivered)

    def _associate(self, body: dict) -> Reply:
        results = []
        for item in body["inputs"]:
            deal, contact = str(item["from"]["id"]), str(item["to"]["id"])
            self.associations.add((deal, contact))
            results.append(
                {
                    "from": {"id": deal},
                    "to": {"id": contact},
                    "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3},
                }
            )
        return self._batch_reply(results, [], [])

    def _archive(self, body: dict, records: dict) -> Reply:
        delivered = []
        for item in body["inputs"]:
            record = records.pop(str(item.get("id")), None)
            if record is not None:
                self.archived.append(str(item.get("id")))
                key = record.get(self.customer_id_property) or record.get(self.deal_id_property) or ""
                delivered.append(f"archive:{key}")
        return Reply(204, delivered=delivered)

    def _gdpr_delete(self, body: dict) -> Reply:
        record_id = str(body.get("objectId", ""))
        if body.get("idProperty") == "email":
            found = self.contact_by_email(record_id)
            record_id = found[0] if found else ""
        record = self.contacts.pop(record_id, None)
        if record is None:
            return _error(404, "Object not found", "OBJECT_NOT_FOUND")
        self.gdpr_deleted.append(record_id)
        self.associations = {(d, c) for d, c in self.associations if c != record_id}
        return Reply(204, delivered=[f"gdpr-delete:{record.get(self.customer_id_property, record_id)}"])

"""HubSpot CRM (v3 objects API): contacts batch upsert / update / archive / GDPR delete, deals batch upsert with
a contact association.

Wire format (developers.hubspot.com, CRM v3 objects; checked against the reference pages):
- auth: `Authorization: Bearer <private app access token>` (env HUBSPOT_ACCESS_TOKEN);
- new contacts: POST /crm/v3/objects/contacts/batch/upsert {"inputs": [{"id": <email>, "idProperty": "email",
  "properties": {...}}]}; up to 100 inputs (customers without an email: idProperty = our unique-value contact
  property `journeys_customer_id`, in a request of their own). Each result carries the record `id` and `new`
  (true when HubSpot created it): `new` is how the sync knows a contact is ours to delete later. An existing
  contact with that email (created by someone else) is updated and stays theirs;
- known contacts (we hold their HubSpot id): POST /crm/v3/objects/contacts/batch/update {"inputs": [{"id",
  "properties"}]}, so a changed email updates the same record instead of creating a second one;
- deals: POST /crm/v3/objects/deals/batch/upsert with idProperty = a unique-value custom deal property holding
  our action_id (default `journeys_action_id`, created once by the CRM admin): a repeated request finds the deal
  instead of creating a second one, which makes deal creation exactly-once. Then PUT-less association: POST
  /crm/v4/associations/deals/contacts/batch/associate/default {"inputs": [{"from": {"id"}, "to": {"id"}}]};
- removals: POST /crm/v3/objects/{contacts|deals}/batch/archive {"inputs": [{"id"}]} (204);
  erasure: POST /crm/v3/objects/contacts/gdpr-delete {"objectId": <id>} (204), one contact per request;
- responses: 200 (all done), 207 multi-status (`results` plus `errors`: [{status, category, message,
  context}]), 4xx with {status: 'error', message, category, correlationId}. The reference does not say how a
  207 error names its input, so an input without a result is recorded failed with the batch's error messages.
HubSpot has no idempotency-key header; the upsert keys (email, journeys_action_id) play that role.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from activations.credentials import from_env
from activations.sync import CONTACT, DEAL, SyncOutcome, SyncRecord
from activations.sync_transport import HttpResponse, JsonHttpClient, RetriesExhausted, redact

DEFAULT_BASE_URL = "https://api.hubapi.com"
MAX_BATCH = 100  # batch upsert, update and archive accept up to 100 inputs
# Our field names -> HubSpot's internal property names; other names are sent as they are (custom properties).
PROPERTY_NAMES = {
    "first_name": "firstname",
    "last_name": "lastname",
    "lifecycle_stage": "lifecyclestage",
    "country_code": "country",
    "phone": "phone",
    "email": "email",
    "pipeline": "pipeline",
    "stage": "dealstage",
}
DEAL_TO_CONTACT = ("deals", "contacts")
CLOCK_SKEW = timedelta(seconds=60)  # tolerated difference between our clock and HubSpot's createdAt


def _error_text(response: HttpResponse, known: Sequence[str] = ()) -> str:
    body = response.body
    if isinstance(body, dict):
        messages = [body.get("message")] + [e.get("message") for e in body.get("errors") or [] if isinstance(e, dict)]
        text = "; ".join(m for m in messages if m)
        category = body.get("category")
        return redact(f"HubSpot {response.status}{f' {category}' if category else ''}: {text or 'no message'}", known)
    return f"HubSpot {response.status}"


class HubSpotDestination:
    name = "hubspot"
    kind = "crm"
    object_types = (CONTACT, DEAL)

    def __init__(
        self,
        access_token: str,
        base_url: str = DEFAULT_BASE_URL,
        deal_id_property: str = "journeys_action_id",
        customer_id_property: str = "journeys_customer_id",
        deal_name_template: str = "{pipeline} {stage} ({customer})",
        client: JsonHttpClient | None = None,
        batch_size: int = MAX_BATCH,
        requests_per_second: float = 10.0,
    ) -> None:
        self.batch_size = max(1, min(batch_size, MAX_BATCH))
        if not access_token:
            raise ValueError("HubSpot access token is empty (set HUBSPOT_ACCESS_TOKEN)")
        # HubSpot private apps: 100 (Free/Starter) to 190 requests per 10 s; 10/s by default, configurable
        self.client = client or JsonHttpClient(
            base_url, {"Authorization": f"Bearer {access_token}"}, requests_per_second=requests_per_second
        )
        self.deal_id_property = deal_id_property
        self.customer_id_property = customer_id_property
        self.deal_name_template = deal_name_template

    @classmethod
    def from_settings(cls, name: str, settings: dict | None = None) -> HubSpotDestination:
        """From the destination's block of the activations config (credentials: the env variable it names)."""
        settings = dict(settings or {})
        destination = cls(
            access_token=from_env(name, settings, "access_token_env", "HUBSPOT_ACCESS_TOKEN"),
            base_url=settings.get("base_url", DEFAULT_BASE_URL),
            deal_id_property=settings.get("deal_id_property", "journeys_action_id"),
            customer_id_property=settings.get("customer_id_property", "journeys_customer_id"),
            client=None,
            batch_size=int(settings.get("max_batch_size", MAX_BATCH)),
            requests_per_second=float(settings.get("requests_per_second", 10.0)),
        )
        destination.name = name
        return destination

    def max_batch_size(self, object_type: str) -> int:
        return self.batch_size

    # -- mapping ------------------------------------------------------------------------------------------
    def contact_properties(self, record: SyncRecord) -> dict[str, str]:
        properties = {PROPERTY_NAMES.get(k, k): _text(v) for k, v in record.fields.items() if v is not None}
        properties[self.customer_id_property] = record.object_key
        return properties

    def deal_properties(self, record: SyncRecord) -> dict[str, str]:
        properties = {PROPERTY_NAMES.get(k, k): _text(v) for k, v in record.fields.items() if v is not None}
        properties.setdefault(
            "dealname",
            self.deal_name_template.format(
                pipeline=record.fields.get("pipeline", "deal"),
                stage=record.fields.get("stage", ""),
                customer=record.person_key,
            ),
        )
        properties[self.deal_id_property] = record.object_key
        # the person's email and name are on the contact, not copied onto the deal
        for personal in ("email", "firstname", "lastname", "phone"):
            properties.pop(personal, None)
        return properties

    # -- calls ----------------------------------------------------------------------------------------------
    def _post(self, path: str, body: dict) -> HttpResponse | RetriesExhausted:
        try:
            return self.client.request("POST", path, json_body=body)
        except RetriesExhausted as error:
            return error

    def upsert(self, object_type: str, scope: str, records: Sequence[SyncRecord]) -> list[SyncOutcome]:
        if object_type == CONTACT:
            known = [r for r in records if r.provider_id]
            new = [r for r in records if not r.provider_id]
            return self._update_contacts(known) + self._upsert_contacts(new)
        if object_type == DEAL:
            return self._upsert_deals(records)
        raise ValueError(f"HubSpot destination cannot write {object_type!r} records")

    def _upsert_contacts(self, records: Sequence[SyncRecord]) -> list[SyncOutcome]:
        """New contacts: upserted by email (an existing contact with that email is adopted, not duplicated);
        customers without an email by our unique customer id property. One request per id property: the
        reference does not say that one batch may mix them."""
        with_email = [r for r in records if r.fields.get("email")]
        without_email = [r for r in records if not r.fields.get("email")]
        return self._upsert_by(with_email, "email", lambda r: str(r.fields["email"]).strip().lower()) + (
            self._upsert_by(without_email, self.customer_id_property, lambda r: r.object_key)
        )

    def _upsert_by(self, records: Sequence[SyncRecord], id_property: str, key_of) -> list[SyncOutcome]:
        if not records:
            return []
        inputs = [
            {"id": key_of(r), "idProperty": id_property, "properties": self.contact_properties(r)} for r in records
        ]
        started = datetime.now(UTC) - CLOCK_SKEW
        response = self._post("/crm/v3/objects/contacts/batch/upsert", {"inputs": inputs})
        by_key = {key_of(r): r for r in records}
        matched = self._match_results(
            response, by_key, lambda result: (result.get("properties") or {}).get(id_property)
        )
        created_at = self._created_at(response)
        # `new` is false on a retry of a request whose first answer was lost although that first attempt created
        # the contact: a createdAt after this request started also makes it ours.
        return [
            SyncOutcome(
                o.object_key,
                o.ok,
                o.provider_id,
                bool(o.created) or (created_at.get(o.provider_id or "", started) > started),
                o.error,
                o.retriable,
            )
            if o.ok
            else o
            for o in matched
        ]

    @staticmethod
    def _created_at(response) -> dict[str, datetime]:
        if isinstance(response, RetriesExhausted) or not isinstance(response.body, dict):
            return {}
        found = {}
        for result in response.body.get("results") or []:
            try:
                found[str(result.get("id"))] = datetime.fromisoformat(
                    str(result.get("createdAt")).replace("Z", "+00:00")
                )
            except ValueError:
                continue
        return found

    def _update_contacts(self, records: Sequence[SyncRecord]) -> list[SyncOutcome]:
        if not records:
            return []
        inputs = [{"id": r.provider_id, "properties": self.contact_properties(r)} for r in records]
        response = self._post("/crm/v3/objects/contacts/batch/update", {"inputs": inputs})
        by_id = {r.provider_id: r for r in records}
        outcomes = self._match_results(response, by_id, lambda result: result.get("id"))
        # an update never changes who created the record: keep created=None so the state keeps its flag
        return [SyncOutcome(o.object_key, o.ok, o.provider_id, None, o.error, o.retriable) for o in outcomes]

    def _upsert_deals(self, records: Sequence[SyncRecord]) -> list[SyncOutcome]:
        if not records:
            return []
        inputs = [
            {"id": r.object_key, "idProperty": self.deal_id_property, "properties": self.deal_properties(r)}
            for r in records
        ]
        response = self._post("/crm/v3/objects/deals/batch/upsert", {"inputs": inputs})
        by_key = {r.object_key: r for r in records}
        outcomes = [
            # a deal keyed by our action_id was created by this project, whoever answered `new`
            SyncOutcome(o.object_key, o.ok, o.provider_id, True if o.ok else None, o.error, o.retriable)
            for o in self._match_results(
                response, by_key, lambda result: (result.get("properties") or {}).get(self.deal_id_property)
            )
        ]
        # associate each created or found deal with its contact (idempotent: associating twice is one association)
        to_associate = [
            (o, by_key[o.object_key].parent_provider_id)
            for o in outcomes
            if o.ok and by_key[o.object_key].parent_provider_id
        ]
        if not to_associate:
            return outcomes
        response = self._post(
            "/crm/v4/associations/deals/contacts/batch/associate/default",
            {"inputs": [{"from": {"id": o.provider_id}, "to": {"id": contact}} for o, contact in to_associate]},
        )
        if isinstance(response, RetriesExhausted) or response.status not in (200, 201, 207):
            retriable = isinstance(response, RetriesExhausted)
            error = response.reason if retriable else _error_text(response)
            failed = {o.object_key for o, _ in to_associate}
            # the deal exists (its upsert is idempotent): the next run upserts it again and retries the association
            return [
                SyncOutcome(
                    o.object_key, False, error=f"deal written, association failed: {error}", retriable=retriable
                )
                if o.object_key in failed
                else o
                for o in outcomes
            ]
        return outcomes

    def _match_results(self, response: HttpResponse | RetriesExhausted, by_key: dict, key_of) -> list[SyncOutcome]:
        if isinstance(response, RetriesExhausted):
            return [SyncOutcome(r.object_key, False, error=response.reason, retriable=True) for r in by_key.values()]
        if response.status not in (200, 201, 207) or not isinstance(response.body, dict):
            error = _error_text(response, _values(by_key.values()))
            return [SyncOutcome(r.object_key, False, error=error) for r in by_key.values()]
        outcomes, seen = [], set()
        for result in response.body.get("results") or []:
            key = key_of(result)
            key = key.strip().lower() if isinstance(key, str) and "@" in key else key
            record = by_key.get(key)
            if record is None or key in seen:
                continue
            seen.add(key)
            outcomes.append(SyncOutcome(record.object_key, True, str(result.get("id")), result.get("new")))
        batch_errors = redact(
            "; ".join(
                f"{e.get('category', 'error')}: {e.get('message', '')}" for e in response.body.get("errors") or []
            ),
            [*_values(by_key.values()), *map(str, by_key)],
        )
        for key, record in by_key.items():
            if key not in seen:
                outcomes.append(
                    SyncOutcome(
                        record.object_key, False, error=f"HubSpot {response.status}: {batch_errors or 'no result'}"
                    )
                )
        return outcomes

    def remove(
        self, object_type: str, scope: str, records: Sequence[SyncRecord], erasure: bool = False
    ) -> list[SyncOutcome]:
        objects = {CONTACT: "contacts", DEAL: "deals"}[object_type]
        without_id = [
            SyncOutcome(r.object_key, False, error="no HubSpot id recorded") for r in records if not r.provider_id
        ]
        records = [r for r in records if r.provider_id]
        if erasure and object_type == CONTACT:
            outcomes = []
            for record in records:
                response = self._post("/crm/v3/objects/contacts/gdpr-delete", {"objectId": record.provider_id})
                outcomes.append(self._removed(record, response))
            return without_id + outcomes
        if not records:
            return without_id
        response = self._post(
            f"/crm/v3/objects/{objects}/batch/archive", {"inputs": [{"id": r.provider_id} for r in records]}
        )
        return without_id + [self._removed(r, response) for r in records]

    @staticmethod
    def _removed(record: SyncRecord, response: HttpResponse | RetriesExhausted) -> SyncOutcome:
        if isinstance(response, RetriesExhausted):
            return SyncOutcome(record.object_key, False, error=response.reason, retriable=True)
        # 404: already gone, which is what was asked
        if response.status in (200, 204, 404):
            return SyncOutcome(record.object_key, True, record.provider_id)
        return SyncOutcome(record.object_key, False, error=_error_text(response))


def _values(records) -> list[str]:
    """The values a batch carried (emails, names, ids): removed from the API's error messages, which quote them."""
    return [str(v) for r in records for v in (*r.fields.values(), r.object_key) if v is not None]


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


DESTINATION = HubSpotDestination.from_settings

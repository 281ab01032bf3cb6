"""Salesforce (REST API, sObject Collections): Contact upsert by an external id field, and delete.

Wire format (developer.salesforce.com, REST API guide, "Upsert Records Using sObject Collections" and
"Delete Records Using sObject Collections"):
- auth: `Authorization: Bearer <access token>` (env SALESFORCE_ACCESS_TOKEN), base URL the org's instance
  (env SALESFORCE_INSTANCE_URL), API version env SALESFORCE_API_VERSION (default 62.0; the upsert needs 46.0+);
- upsert: PATCH /services/data/vXX.X/composite/sobjects/Contact/<ExternalIdField> with
  {"allOrNone": false, "records": [{"attributes": {"type": "Contact"}, "<ExternalIdField>": <customer_id>, ...}]},
  up to 200 records. A well-formed request answers 200 with one UpsertResult per record *in request order*:
  {"id", "success", "errors": [{"statusCode", "message", "fields"}], "created"}. `created` tells whether the
  record is ours; a malformed request answers 400 with [{"message", "errorCode"}];
- delete: DELETE /services/data/vXX.X/composite/sobjects?ids=<id,...>&allOrNone=false (up to 200 ids), one
  SaveResult per id. ENTITY_IS_DELETED / NOT_FOUND count as done (already gone).
The external id field (default Journeys_Customer_Id__c, a custom field marked External ID and Unique) is the
idempotency key: upserting the same customer twice updates one Contact. Contact requires LastName; customers
carry no last name, so a configurable placeholder is sent when the journey lists none.
Not built: deals (Opportunity) for Salesforce; create_deal actions routed here are failed with that reason.
"""

from __future__ import annotations

from collections.abc import Sequence

from activations.credentials import from_env
from activations.sync import CONTACT, SyncOutcome, SyncRecord
from activations.sync_transport import HttpResponse, JsonHttpClient, RetriesExhausted, redact

MAX_BATCH = 200
FIELD_NAMES = {
    "email": "Email",
    "first_name": "FirstName",
    "last_name": "LastName",
    "phone": "Phone",
    "country_code": "MailingCountryCode",
}
ALREADY_GONE = frozenset({"ENTITY_IS_DELETED", "NOT_FOUND", "INVALID_CROSS_REFERENCE_KEY"})


def _errors_text(errors, known: Sequence[str] = ()) -> str:
    """The API's errors, with the values the records carried removed (Salesforce quotes field values)."""
    parts = [f"{e.get('statusCode') or e.get('errorCode')}: {e.get('message', '')}" for e in errors or []]
    return redact("; ".join(parts) or "no error detail", known)


class SalesforceDestination:
    name = "salesforce"
    kind = "crm"
    object_types = (CONTACT,)

    def __init__(
        self,
        access_token: str,
        instance_url: str,
        api_version: str = "62.0",
        external_id_field: str = "Journeys_Customer_Id__c",
        custom_field_suffix: str = "__c",
        last_name_placeholder: str = "(unknown)",
        client: JsonHttpClient | None = None,
        batch_size: int = MAX_BATCH,
    ) -> None:
        self.batch_size = max(1, min(batch_size, MAX_BATCH))
        if not access_token:
            raise ValueError("Salesforce access token is empty (set SALESFORCE_ACCESS_TOKEN)")
        if not instance_url:
            raise ValueError("Salesforce instance URL is empty (set SALESFORCE_INSTANCE_URL)")
        self.client = client or JsonHttpClient(instance_url, {"Authorization": f"Bearer {access_token}"})
        self.base = f"/services/data/v{api_version}"
        self.external_id_field = external_id_field
        self.custom_field_suffix = custom_field_suffix
        self.last_name_placeholder = last_name_placeholder

    @classmethod
    def from_settings(cls, name: str, settings: dict | None = None) -> SalesforceDestination:
        """From the destination's block of the activations config: base_url is the org's instance URL (or the
        env variable named by instance_url_env, default SALESFORCE_INSTANCE_URL); the token from the env."""
        settings = dict(settings or {})
        instance_url = settings.get("base_url") or from_env(
            name, settings, "instance_url_env", "SALESFORCE_INSTANCE_URL"
        )
        destination = cls(
            access_token=from_env(name, settings, "access_token_env", "SALESFORCE_ACCESS_TOKEN"),
            instance_url=instance_url,
            api_version=str(settings.get("api_version", "62.0")),
            external_id_field=settings.get("external_id_field", "Journeys_Customer_Id__c"),
            last_name_placeholder=settings.get("last_name_placeholder", "(unknown)"),
            batch_size=int(settings.get("max_batch_size", MAX_BATCH)),
        )
        destination.name = name
        return destination

    def max_batch_size(self, object_type: str) -> int:
        return self.batch_size

    def contact_record(self, record: SyncRecord) -> dict:
        fields = {
            FIELD_NAMES.get(k, _custom_field(k, self.custom_field_suffix)): v
            for k, v in record.fields.items()
            if v is not None
        }
        fields.setdefault("LastName", self.last_name_placeholder)
        return {"attributes": {"type": "Contact"}, **fields, self.external_id_field: record.object_key}

    def upsert(self, object_type: str, scope: str, records: Sequence[SyncRecord]) -> list[SyncOutcome]:
        if object_type != CONTACT:
            raise ValueError(f"Salesforce destination cannot write {object_type!r} records")
        body = {"allOrNone": False, "records": [self.contact_record(r) for r in records]}
        try:
            response = self.client.request(
                "PATCH", f"{self.base}/composite/sobjects/Contact/{self.external_id_field}", json_body=body
            )
        except RetriesExhausted as error:
            return [SyncOutcome(r.object_key, False, error=error.reason, retriable=True) for r in records]
        results = self._results(response, len(records))
        if isinstance(results, str):
            return [SyncOutcome(r.object_key, False, error=results) for r in records]
        return [
            SyncOutcome(r.object_key, True, result.get("id"), result.get("created"))
            if result.get("success")
            else SyncOutcome(
                r.object_key,
                False,
                error=f"Salesforce: {_errors_text(result.get('errors'), [str(v) for v in r.fields.values() if v])}",
            )
            for r, result in zip(records, results, strict=True)
        ]

    def remove(
        self, object_type: str, scope: str, records: Sequence[SyncRecord], erasure: bool = False
    ) -> list[SyncOutcome]:
        # Salesforce's delete moves records to the recycle bin; an erasure also needs the org's own purge
        # (emptying the recycle bin), which this destination does not do: stated in docs/activations.md.
        without_id = [
            SyncOutcome(r.object_key, False, error="no Salesforce id recorded") for r in records if not r.provider_id
        ]
        records = [r for r in records if r.provider_id]
        if not records:
            return without_id
        try:
            response = self.client.request(
                "DELETE",
                f"{self.base}/composite/sobjects",
                query={"ids": ",".join(r.provider_id for r in records), "allOrNone": "false"},
            )
        except RetriesExhausted as error:
            return without_id + [SyncOutcome(r.object_key, False, error=error.reason, retriable=True) for r in records]
        results = self._results(response, len(records))
        if isinstance(results, str):
            return without_id + [SyncOutcome(r.object_key, False, error=results) for r in records]
        by_id = {str(result.get("id")): result for result in results}
        outcomes = []
        for record, positional in zip(records, results, strict=True):
            result = by_id.get(record.provider_id, positional)
            codes = {e.get("statusCode") for e in result.get("errors") or []}
            if result.get("success") or (codes and codes <= ALREADY_GONE):
                outcomes.append(SyncOutcome(record.object_key, True, record.provider_id))
            else:
                outcomes.append(
                    SyncOutcome(record.object_key, False, error=f"Salesforce: {_errors_text(result.get('errors'))}")
                )
        return without_id + outcomes

    @staticmethod
    def _results(response: HttpResponse, expected: int) -> list[dict] | str:
        if response.status != 200:
            body = response.body if isinstance(response.body, list) else []
            return f"Salesforce {response.status}: {_errors_text(body)}"
        if not isinstance(response.body, list) or len(response.body) != expected:
            return f"Salesforce 200 with {len(response.body or [])} results for {expected} records"
        return response.body


def _custom_field(name: str, suffix: str) -> str:
    return "_".join(part.capitalize() for part in name.split("_")) + suffix


DESTINATION = SalesforceDestination.from_settings

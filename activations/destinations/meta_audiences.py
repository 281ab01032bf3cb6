"""Meta Custom Audiences (Marketing API): add and remove hashed customer identifiers.

Wire format (developers.facebook.com, Marketing API reference "Custom Audience Users" and "Customer File Custom
Audiences"):
- POST /<version>/<custom_audience_id>/users adds, DELETE on the same path removes; parameters
  `payload` = {"schema": ["EMAIL", "PHONE"], "data": [[<sha256>, <sha256>], ...]} and, for an upload of more
  than 10,000 rows (the per-request maximum), `session` = {"session_id", "batch_seq" (from 1),
  "last_batch_flag", "estimated_num_total"}; answer {"audience_id", "session_id", "num_received",
  "num_invalid_entries", "invalid_entry_samples"}. Errors: {"error": {"message", "type", "code",
  "error_subcode", "fbtrace_id"}}.
- Normalisation before SHA-256 (lowercase hex), as Meta documents: email trimmed and lower-cased; phone digits
  only (symbols and letters removed), leading zeros removed, country code included (our phones are E.164,
  so the digits carry it). A missing value is an empty string in its column.
- auth: the access token (env META_ACCESS_TOKEN) in an `Authorization: Bearer` header rather than the
  `access_token` parameter, so it never appears in a URL. The reference's examples send the parameters
  form-encoded; the Graph API also accepts a JSON body, which is what this client sends (an assumption the
  local test server cannot confirm).
- Throttling: Meta reports rate limits as error codes (4, 17, 32, 613, 80003) rather than only as HTTP 429;
  those answers are recorded failed with "rate limited" and retried at the next run.
Adding a member twice or removing an absent one changes nothing, so every request is idempotent; Meta has
no idempotency key and does not say which rows were invalid (only counts and samples of hashes), so a batch
is acknowledged as a whole when num_received equals the rows sent.
Journey audiences are names (browse_abandoners_retargeting); the config's `audience_ids` (or the environment
variable META_AUDIENCE_IDS="name=123,other=456") maps them to Meta audience ids.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
from collections.abc import Mapping, Sequence

from activations.credentials import from_env
from activations.sync import AUDIENCE_MEMBER, SyncOutcome, SyncRecord
from activations.sync_transport import HttpResponse, JsonHttpClient, RetriesExhausted, redact

DEFAULT_BASE_URL = "https://graph.facebook.com"
MAX_ROWS_PER_REQUEST = 10_000
SCHEMA = ("EMAIL", "PHONE")
THROTTLING_CODES = frozenset({4, 17, 32, 613, 80003})


def normalise_email(email: str) -> str:
    return email.strip().lower()


def normalise_phone(phone: str) -> str:
    """'+44 (0)20 7946-0958' -> digits only, leading zeros dropped. The number must carry its country code."""
    return re.sub(r"[^0-9]", "", phone).lstrip("0")


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def member_identifiers(email: str | None, phone: str | None) -> tuple[str, str]:
    """The (EMAIL, PHONE) row Meta receives; must equal what desired_audience_members_sql computes in SQL."""
    email_norm = normalise_email(email) if email else ""
    phone_norm = normalise_phone(phone) if phone else ""
    return (sha256_hex(email_norm) if email_norm else "", sha256_hex(phone_norm) if phone_norm else "")


def parse_audience_ids(text: str) -> dict[str, str]:
    mapping = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, audience_id = item.partition("=")
        if not sep or not name.strip() or not audience_id.strip().isdigit():
            raise ValueError(f"META_AUDIENCE_IDS: expected name=numeric_id, got {item!r}")
        mapping[name.strip()] = audience_id.strip()
    return mapping


class MetaAudiencesDestination:
    name = "meta_audiences"
    kind = "audience"
    object_types = (AUDIENCE_MEMBER,)

    def __init__(
        self,
        access_token: str,
        audience_ids: Mapping[str, str],
        base_url: str = DEFAULT_BASE_URL,
        api_version: str = "v21.0",
        max_rows_per_request: int = MAX_ROWS_PER_REQUEST,
        client: JsonHttpClient | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not access_token:
            raise ValueError("Meta access token is empty (set META_ACCESS_TOKEN)")
        self.client = client or JsonHttpClient(base_url, {"Authorization": f"Bearer {access_token}"})
        self.audience_ids = dict(audience_ids)
        self.api_version = api_version
        self.max_rows = min(max_rows_per_request, MAX_ROWS_PER_REQUEST)
        self.rng = rng or random.Random()
        self.last_counts: dict[str, int] = {"num_received": 0, "num_invalid_entries": 0}

    @classmethod
    def from_settings(cls, name: str, settings: dict | None = None) -> MetaAudiencesDestination:
        """From the destination's block of the activations config: `audience_ids` maps journey audience names
        to Meta audience ids (or META_AUDIENCE_IDS="name=id,..." in the environment); the token from the env."""
        settings = dict(settings or {})
        audience_ids = settings.get("audience_ids") or parse_audience_ids(os.environ.get("META_AUDIENCE_IDS", ""))
        if not isinstance(audience_ids, dict) or not all(str(v).isdigit() for v in audience_ids.values()):
            raise ValueError(f"destination '{name}': audience_ids must map audience names to numeric Meta ids")
        destination = cls(
            access_token=from_env(name, settings, "access_token_env", "META_ACCESS_TOKEN"),
            audience_ids={str(k): str(v) for k, v in audience_ids.items()},
            base_url=settings.get("base_url", DEFAULT_BASE_URL),
            api_version=str(settings.get("api_version", "v21.0")),
            max_rows_per_request=int(settings.get("max_batch_size", MAX_ROWS_PER_REQUEST)),
        )
        destination.name = name
        return destination

    def max_batch_size(self, object_type: str) -> int:
        # the sync hands over up to 10 batches at once; this module splits them into session requests
        return self.max_rows * 10

    def _audience_id(self, scope: str) -> str | None:
        return self.audience_ids.get(scope)

    def upsert(self, object_type: str, scope: str, records: Sequence[SyncRecord]) -> list[SyncOutcome]:
        return self._send("POST", scope, records)

    def remove(
        self, object_type: str, scope: str, records: Sequence[SyncRecord], erasure: bool = False
    ) -> list[SyncOutcome]:
        return self._send("DELETE", scope, records)

    def _send(self, method: str, scope: str, records: Sequence[SyncRecord]) -> list[SyncOutcome]:
        audience_id = self._audience_id(scope)
        if audience_id is None:
            error = f"audience {scope!r} has no Meta audience id (add it to audience_ids in the config)"
            return [SyncOutcome(r.object_key, False, error=error) for r in records]
        rows = [list(r.identifiers) + [""] * (len(SCHEMA) - len(r.identifiers)) for r in records]
        chunks = [range(i, min(i + self.max_rows, len(rows))) for i in range(0, len(rows), self.max_rows)]
        session_id = self.rng.randrange(1, 2**62) if len(chunks) > 1 else None
        outcomes: list[SyncOutcome] = []
        for seq, chunk in enumerate(chunks, start=1):
            body: dict = {"payload": {"schema": list(SCHEMA), "data": [rows[i] for i in chunk]}}
            if session_id is not None:
                body["session"] = {
                    "session_id": session_id,
                    "batch_seq": seq,
                    "last_batch_flag": seq == len(chunks),
                    "estimated_num_total": len(rows),
                }
            error, retriable = self._request(method, audience_id, body, len(chunk))
            outcomes.extend(
                SyncOutcome(
                    records[i].object_key,
                    error is None,
                    created=True if error is None else None,
                    error=error,
                    retriable=retriable,
                )
                for i in chunk
            )
        return outcomes

    def _request(self, method: str, audience_id: str, body: dict, rows: int) -> tuple[str | None, bool]:
        """(error or None, whether the error is transient)."""
        try:
            response = self.client.request(method, f"/{self.api_version}/{audience_id}/users", json_body=body)
        except RetriesExhausted as error:
            return error.reason, True
        error = self._error(response, rows)
        code = (response.body.get("error") or {}).get("code") if isinstance(response.body, dict) else None
        throttled = code in THROTTLING_CODES
        return error, throttled

    def _error(self, response: HttpResponse, rows: int) -> str | None:
        body = response.body if isinstance(response.body, dict) else {}
        if response.status == 200 and "error" not in body:
            received = int(body.get("num_received", -1))
            if received != rows:
                return f"Meta received {received} of {rows} rows"
            self.last_counts["num_received"] += received
            self.last_counts["num_invalid_entries"] += int(body.get("num_invalid_entries", 0))
            return None
        error = body.get("error") or {}
        code = error.get("code")
        prefix = "rate limited: " if code in THROTTLING_CODES else ""
        return redact(
            f"Meta {response.status} {prefix}{error.get('type', '')} code {code}"
            f"{'/' + str(error['error_subcode']) if error.get('error_subcode') else ''}: {error.get('message', '')}"
        )


DESTINATION = MetaAudiencesDestination.from_settings

"""HTTP for destinations: a keep-alive transport (standard library) and the HttpDestination base class.

A thin HTTP destination subclasses HttpDestination and writes `build_request(rows)` and, where the API answers
per row, `parse_success(rows, response)` and `error_message(response)`. Status codes are classified here, once.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from activations.errors import is_retriable_status, is_success, parse_retry_after, redact
from activations.types import DestinationRefused, RetriableError, Row, RowOutcome

# statuses by which an API refuses what a request carries (bad request, too large, unprocessable)
PAYLOAD_REFUSALS = frozenset({400, 413, 422})
# statuses by which it refuses us (credentials, access): no row is at fault (see DestinationRefused)
ACCESS_REFUSALS = frozenset({401, 403})


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str  # with query string, relative to the destination's base URL
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def json_request(method: str, path: str, payload: Any, headers: dict[str, str] | None = None) -> HttpRequest:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return HttpRequest(method, path, {"Content-Type": "application/json", **(headers or {})}, body)


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class HttpTransport:
    """One keep-alive connection per worker thread to one base URL. Timeouts, refused and dropped connections
    raise RetriableError; the broken connection is closed and the next request opens a new one."""

    def __init__(self, base_url: str, timeout_s: float) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be http(s)://host[:port][/path], got {parts.scheme}://...")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port
        self.prefix = parts.path.rstrip("/")
        self.timeout_s = timeout_s
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        con = getattr(self._local, "con", None)
        if con is None:
            if self.scheme == "https":
                con = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.timeout_s, context=ssl.create_default_context()
                )
            else:
                con = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
            self._local.con = con
        return con

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None

    def send(self, request: HttpRequest) -> HttpResponse:
        con = self._connection()
        try:
            con.request(request.method, self.prefix + request.path, body=request.body, headers=request.headers)
            raw = con.getresponse()
            body = raw.read()
            headers = {k.lower(): v for k, v in raw.getheaders()}
            if headers.get("connection", "").lower() == "close":
                self.close()
            return HttpResponse(raw.status, headers, body)
        except TimeoutError as exc:
            self.close()
            raise RetriableError(f"timeout after {self.timeout_s:g}s") from exc
        except (ConnectionError, http.client.HTTPException, OSError) as exc:
            self.close()
            raise RetriableError(f"connection error: {type(exc).__name__}") from exc


class HttpDestination:
    """Base class of HTTP destinations. Class attributes state the API's documented limits; the config file may
    lower them (never needed to raise them). Subclasses write build_request and, as needed, the parse methods."""

    max_batch_size: int = 1
    requests_per_second: float = 10.0
    burst: int = 10
    max_concurrency: int = 4
    honours_idempotency_key: bool = False
    timeout_s: float = 10.0
    default_base_url: str = ""
    # actions whose ledger intent (and results) are written in one statement; None: the core's default
    ledger_group_size: int | None = None

    def __init__(self, name: str, settings: dict | None = None, base_url: str | None = None) -> None:
        self.name = name
        self.settings = dict(settings or {})
        self.base_url = base_url or self.settings.get("base_url") or self.default_base_url
        if not self.base_url:
            raise ValueError(f"destination '{name}': base_url is required (config key 'base_url')")
        for limit in ("max_batch_size", "burst", "max_concurrency", "ledger_group_size"):
            if limit in self.settings:
                setattr(self, limit, int(self.settings[limit]))
        for limit in ("requests_per_second", "timeout_s"):
            if limit in self.settings:
                setattr(self, limit, float(self.settings[limit]))
        self._transport: HttpTransport | None = None

    # -- what a destination module writes ------------------------------------------------------------------------
    def build_request(self, rows: Sequence[Row]) -> HttpRequest:
        raise NotImplementedError

    def parse_success(self, rows: Sequence[Row], response: HttpResponse) -> list[RowOutcome]:
        """A 2xx answer: by default every row was accepted; the message id is the request's."""
        message_id = self.message_id(response)
        return [RowOutcome(row["action_id"], "sent", provider_message_id=message_id) for row in rows]

    def message_id(self, response: HttpResponse) -> str | None:
        return None

    def error_message(self, response: HttpResponse) -> str:
        """The API's explanation of an error answer (subclasses read their documented error body)."""
        return response.text.strip()

    def secrets(self) -> list[str]:
        return []

    def access_refusal_is_per_row(self, response: HttpResponse) -> bool:
        """Whether a 401/403 concerns the rows rather than our credentials (an API that answers 403 for a
        recipient it will not message, say). By default it concerns us: the run stops for this destination."""
        return False

    def batch_key(self, row: Row) -> Any:
        return None

    def check_row(self, row: Row) -> str | None:
        return None

    def delivered_action_ids(self, action_ids: Iterable[str]) -> set[str] | None:
        return None

    # -- the core's side -----------------------------------------------------------------------------------------
    @property
    def transport(self) -> HttpTransport:
        if self._transport is None:
            self._transport = HttpTransport(self.base_url, self.timeout_s)
        return self._transport

    def preview(self, rows: Sequence[Row]) -> dict:
        request = self.build_request(rows)
        headers = {k: ("[redacted]" if k.lower() == "authorization" else v) for k, v in request.headers.items()}
        body: Any = request.body.decode("utf-8", errors="replace")
        if headers.get("Content-Type", "").startswith("application/json"):
            body = json.loads(body)
        return {"method": request.method, "path": request.path, "headers": headers, "body": body}

    def send(self, rows: Sequence[Row]) -> list[RowOutcome]:
        response = self.transport.send(self.build_request(rows))
        if is_success(response.status):
            return self.parse_success(rows, response)
        known = [*self.secrets(), *(str(row.get("address") or "") for row in rows)]
        message = redact(f"HTTP {response.status}: {self.error_message(response)}", known)
        if is_retriable_status(response.status):
            raise RetriableError(message, retry_after=parse_retry_after(response.headers.get("retry-after")))
        if response.status in ACCESS_REFUSALS and not self.access_refusal_is_per_row(response):
            raise DestinationRefused(message)
        # a refusal of the payload (not of the credentials or the URL) may be caused by one row: let the core halve
        whole_request = response.status in PAYLOAD_REFUSALS
        return [RowOutcome(row["action_id"], "failed", error=message, whole_request=whole_request) for row in rows]

"""The shared base of the local API servers: a threading HTTP/1.1 server on 127.0.0.1 that implements one API's
documented answers, injects faults at a configurable rate from a seeded RNG, and logs every request it accepted.

A server module subclasses LocalApi and writes `process(request) -> Reply` (validate auth, path and body the way
the API documents; answer its success or error body; `Reply.delivered` names the action ids the request
delivered) and, where the API honours one, `idempotency_key(request)`. Faults happen before the request is
processed (nothing delivered), except 'drop_after_accept', which processes it and then drops the connection
without answering: the case where a client cannot know its request arrived.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

FAULTS = ("429", "500", "stall", "drop")


class QuietServer(ThreadingHTTPServer):
    """Clients that time out or are killed reset their connections: expected here, not worth a traceback."""

    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delivered: list[str] = field(default_factory=list)

    @classmethod
    def json(cls, status: int, payload: Any, delivered: list[str] | None = None, **headers: str) -> Reply:
        return cls(status, json.dumps(payload).encode(), headers=dict(headers), delivered=list(delivered or []))


@dataclass(frozen=True)
class Accepted:
    idempotency_key: str | None
    action_ids: tuple[str, ...]
    at: float


class DeliveryLog:
    """What a local server accepted, counted for assertions (HTTP APIs and the SMTP server alike). The server
    keeps `accepted`, `injected`, `received`, `rejected`, `deduplicated` and `_lock`."""

    def delivery_counts(self) -> Counter[str]:
        """How many times each action id was delivered (deduplicated requests do not count)."""
        with self._lock:
            return Counter(a for accepted in self.accepted for a in accepted.action_ids)

    def duplicates(self) -> dict[str, int]:
        return {a: n for a, n in self.delivery_counts().items() if n > 1}

    def fault_share(self) -> float:
        with self._lock:
            return sum(self.injected.values()) / self.received if self.received else 0.0

    def summary(self) -> dict:
        counts = self.delivery_counts()
        return {
            "received": self.received,
            "faults": dict(self.injected),
            "fault_share": round(self.fault_share(), 3),
            "accepted_requests": len(self.accepted),
            "delivered_actions": len(counts),
            "duplicates": sum(n - 1 for n in counts.values()),
            "deduplicated_by_key": self.deduplicated,
            "rejected": len(self.rejected),
        }


class LocalApi(DeliveryLog):
    """Subclasses set `name` and write `process`. Start with `with Server(...) as api:`; `api.url` is the base URL."""

    name = "local"
    # what a 429 / 500 looks like for this API (subclasses override with the documented error body)
    rate_limited_body: ClassVar[Any] = {"error": "rate limited"}
    server_error_body: ClassVar[Any] = {"error": "internal error"}

    def __init__(
        self,
        fault_rate: float = 0.0,
        seed: int = 0,
        faults: tuple[str, ...] = FAULTS,
        retry_after_s: int = 1,
        stall_s: float = 1.5,
        service_time_s: float = 0.0,
        workers: int | None = None,
        scripted_faults: tuple[str | None, ...] = (),
    ) -> None:
        self.fault_rate = fault_rate
        self.reset(fault_rate, scripted_faults, seed)
        self.faults = faults
        self.retry_after_s = retry_after_s
        self.stall_s = stall_s
        # fixed time per request, and at most `workers` requests processed at once: a server with a capacity
        self.service_time_s = service_time_s
        self._slots = threading.BoundedSemaphore(workers) if workers else None
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def reset(self, fault_rate: float = 0.0, scripted_faults: tuple[str | None, ...] = (), seed: int = 0) -> None:
        """Forget every request and set the faults anew (one server can serve several tests)."""
        self.fault_rate = fault_rate
        # faults for the first requests, in order (None: answer normally), before the random ones
        self._script = list(scripted_faults)
        self._rng = random.Random(seed)
        self.accepted: list[Accepted] = []
        self.injected: Counter[str] = Counter()
        self.received = 0
        self.rejected: list[tuple[int, str]] = []  # 4xx answers the API gave: (status, body)
        self.deduplicated = 0
        self._replies_by_key: dict[str, Reply] = {}

    # -- what a server module writes ---------------------------------------------------------------------------
    def process(self, request: Request) -> Reply:
        raise NotImplementedError

    def idempotency_key(self, request: Request) -> str | None:
        return None

    # counts for assertions: DeliveryLog

    # -- the server --------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> LocalApi:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # the status line and headers go out in one write and the body in another: without TCP_NODELAY,
            # Nagle's algorithm holds the body until the client's delayed ACK (about 40 ms per request)
            disable_nagle_algorithm = True

            def log_message(self, *args) -> None:  # the test output stays readable
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                api._serve(self, request)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True, name=f"{self.name}-server"
        ).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _draw_fault(self) -> str | None:
        with self._lock:
            self.received += 1
            if self._script:
                fault = self._script.pop(0)
                if fault:
                    self.injected[fault] += 1
                return fault
            if self.fault_rate and self._rng.random() < self.fault_rate:
                fault = self._rng.choice(self.faults)
                self.injected[fault] += 1
                return fault
        return None

    def _serve(self, handler: BaseHTTPRequestHandler, request: Request) -> None:
        fault = self._draw_fault()
        if fault == "429":
            self._write(
                handler, self._fault_reply(429, self.rate_limited_body, {"Retry-After": str(self.retry_after_s)})
            )
            return
        if fault == "500":
            self._write(handler, self._fault_reply(500, self.server_error_body, {}))
            return
        if fault == "stall":
            time.sleep(self.stall_s)
            self._drop(handler)
            return
        if fault == "drop":
            self._drop(handler)
            return
        reply = self._process_once(request)
        if fault == "drop_after_accept":
            self._drop(handler)
            return
        self._write(handler, reply)

    @staticmethod
    def _fault_reply(status: int, body: Any, headers: dict[str, str]) -> Reply:
        if isinstance(body, str):
            return Reply(status, body.encode(), content_type="text/plain", headers=headers)
        return Reply.json(status, body, **headers)

    def _process_once(self, request: Request) -> Reply:
        if self._slots:
            self._slots.acquire()
        try:
            if self.service_time_s:
                time.sleep(self.service_time_s)
            key = self.idempotency_key(request)
            with self._lock:
                if key is not None and key in self._replies_by_key:
                    self.deduplicated += 1
                    return self._replies_by_key[key]
            reply = self.process(request)
            with self._lock:
                if 200 <= reply.status < 300:
                    self.accepted.append(Accepted(key, tuple(reply.delivered), time.monotonic()))
                elif 400 <= reply.status < 500:
                    self.rejected.append((reply.status, reply.body.decode(errors="replace")))
                if key is not None and reply.status < 500:  # a repeated key gets the first final answer
                    self._replies_by_key[key] = reply
            return reply
        finally:
            if self._slots:
                self._slots.release()

    @staticmethod
    def _write(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        handler.send_response(reply.status)
        handler.send_header("Content-Type", reply.content_type)
        handler.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(reply.body)

    @staticmethod
    def _drop(handler: BaseHTTPRequestHandler) -> None:
        """Closes the connection without an answer (the client sees a reset or an empty reply)."""
        handler.close_connection = True
        try:
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            handler.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

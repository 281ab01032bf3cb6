"""A local SMTP server (RFC 5321 subset: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) on 127.0.0.1, with the
same fault injection and accepted-message log as the HTTP servers. Faults per message, drawn at MAIL FROM: 421
(service closing), 451 (transient local error), or a dropped connection. Recipients at invalid.example are
refused with 550 (permanent). Delivered action ids come from the X-Journeys-Action-Id header of each message."""

from __future__ import annotations

import random
import socketserver
import threading
import time
from collections import Counter
from email import message_from_bytes

from tests.local_apis.base import Accepted, DeliveryLog

SMTP_FAULTS = ("421", "451", "drop")


class QuietTcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass


class LocalSmtp(DeliveryLog):
    name = "smtp"

    def __init__(self, fault_rate: float = 0.0, seed: int = 0, faults: tuple[str, ...] = SMTP_FAULTS) -> None:
        self.faults = faults
        self._lock = threading.Lock()
        self._server: socketserver.ThreadingTCPServer | None = None
        self.reset(fault_rate, seed)

    def reset(self, fault_rate: float = 0.0, seed: int = 0, refuse_sessions: bool = False) -> None:
        self.fault_rate = fault_rate
        # answer every session with 554 (RFC 5321: no SMTP service here), as a server refusing this client does
        self.refuse_sessions = refuse_sessions
        self._rng = random.Random(seed)
        self.accepted: list[Accepted] = []
        self.injected: Counter[str] = Counter()
        self.received = 0
        self.rejected: list[tuple[int, str]] = []
        self.deduplicated = 0  # SMTP has no idempotency key: nothing is ever deduplicated

    @property
    def host_port(self) -> tuple[str, int]:
        assert self._server is not None
        return self._server.server_address[:2]

    def __enter__(self) -> LocalSmtp:
        server = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")
                self.wfile.flush()

            def handle(self) -> None:
                if server.refuse_sessions:
                    self.reply("554 5.7.1 Access denied for this client")
                    return
                self.reply("220 localhost ESMTP journeys-test")
                recipients: list[str] = []
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    command = line.decode(errors="replace").strip()
                    verb = command[:4].upper()
                    if verb in ("EHLO", "HELO"):
                        self.reply("250-localhost" if verb == "EHLO" else "250 localhost")
                        if verb == "EHLO":
                            self.reply("250 8BITMIME")
                    elif verb == "MAIL":
                        fault = server._draw_fault()
                        if fault == "drop":
                            return
                        if fault == "421":
                            self.reply("421 4.3.2 Service not available, closing transmission channel")
                            return
                        if fault == "451":
                            self.reply("451 4.3.0 Requested action aborted: local error in processing")
                            continue
                        recipients = []
                        self.reply("250 2.1.0 Ok")
                    elif verb == "RCPT":
                        address = command.split(":", 1)[1].strip().strip("<>")
                        if address.endswith("@invalid.example"):
                            text = f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
                            with server._lock:
                                server.rejected.append((550, text))
                            self.reply(text)
                        else:
                            recipients.append(address)
                            self.reply("250 2.1.5 Ok")
                    elif verb == "DATA":
                        if not recipients:
                            self.reply("554 5.5.1 Error: no valid recipients")
                            continue
                        self.reply("354 End data with <CR><LF>.<CR><LF>")
                        data = bytearray()
                        while True:
                            chunk = self.rfile.readline()
                            if not chunk or chunk == b".\r\n":
                                break
                            data += chunk[1:] if chunk.startswith(b"..") else chunk
                        message = message_from_bytes(bytes(data))
                        action_id = message.get("X-Journeys-Action-Id")
                        with server._lock:
                            server.accepted.append(Accepted(message.get("Message-ID"), (action_id,), time.monotonic()))
                        self.reply("250 2.0.0 Ok: queued")
                    elif verb == "RSET":
                        recipients = []
                        self.reply("250 2.0.0 Ok")
                    elif verb == "NOOP":
                        self.reply("250 2.0.0 Ok")
                    elif verb == "QUIT":
                        self.reply("221 2.0.0 Bye")
                        return
                    else:
                        self.reply("502 5.5.2 Error: command not recognized")

        self._server = QuietTcpServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True, name="smtp-server").start()
        return self

    def __exit__(self, *exc) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _draw_fault(self) -> str | None:
        with self._lock:
            self.received += 1
            if self.fault_rate and self._rng.random() < self.fault_rate:
                fault = self._rng.choice(self.faults)
                self.injected[fault] += 1
                return fault
        return None

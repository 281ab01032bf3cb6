"""SMTP (standard library smtplib) for self-hosted mail: one connection per batch, one message per action.

Each message carries Message-ID <action_id@message_id_domain>, so a receiving system can recognise a resend, but
SMTP has no idempotency guarantee: a crash or a dropped connection after the server accepted DATA can produce a
second message. Reply codes (RFC 5321): 2xx accepted; 4xx transient (retried); 5xx permanent (failed, with the
server's text). A refused or dropped connection is retriable.
"""

from __future__ import annotations

import os
import smtplib
from collections.abc import Sequence
from email.message import EmailMessage

from activations.destinations.templating import render, text_problem
from activations.errors import redact
from activations.runner import mask_personal_data
from activations.types import DestinationRefused, RetriableError, Row, RowOutcome


class SmtpDestination:
    max_batch_size = 50  # messages per connection
    requests_per_second = 5.0  # connections per second
    burst = 5
    max_concurrency = 2
    honours_idempotency_key = False

    def __init__(self, name: str, settings: dict | None = None) -> None:
        self.name = name
        self.settings = dict(settings or {})
        self.host = self.settings.get("host", "localhost")
        self.port = int(self.settings.get("port", 25))
        self.starttls = bool(self.settings.get("starttls", False))
        self.timeout_s = float(self.settings.get("timeout_s", 10))
        for limit in ("max_batch_size", "burst", "max_concurrency", "ledger_group_size"):
            if limit in self.settings:
                setattr(self, limit, int(self.settings[limit]))
        if "requests_per_second" in self.settings:
            self.requests_per_second = float(self.settings["requests_per_second"])
        self.from_address = self.settings.get("from_address")
        if not self.from_address:
            raise ValueError(f"destination '{name}': from_address is required")
        self.domain = self.settings.get("message_id_domain", "journeys.invalid")
        self.subjects = dict(self.settings.get("subjects") or {})
        self.bodies = dict(self.settings.get("bodies") or {})
        # optional login: both variables or neither
        self.username = os.environ.get(self.settings.get("username_env", "SMTP_USERNAME"), "")
        self.password = os.environ.get(self.settings.get("password_env", "SMTP_PASSWORD"), "")

    def secrets(self) -> list[str]:
        return [self.password] if self.password else []

    def batch_key(self, row: Row) -> None:
        return None

    def delivered_action_ids(self, action_ids) -> None:
        return None

    def check_row(self, row: Row) -> str | None:
        if not row.get("address"):
            return "no email address for the action"
        return text_problem(self.name, "subjects", self.subjects, row) or text_problem(
            self.name, "bodies", self.bodies, row
        )

    def message(self, row: Row) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.from_address
        message["To"] = row["address"]
        message["Subject"] = render(self.name, self.subjects, row) or ""
        message["Message-ID"] = f"<{row['action_id']}@{self.domain}>"
        message["X-Journeys-Action-Id"] = row["action_id"]
        message.set_content(render(self.name, self.bodies, row) or "")
        return message

    def preview(self, rows: Sequence[Row]) -> dict:
        return {
            "smtp": f"{self.host}:{self.port}",
            "messages": [mask_personal_data(dict(self.message(r).items())) for r in rows],
        }

    def _connect(self) -> smtplib.SMTP:
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        if self.starttls:
            smtp.starttls()
        if self.username:
            smtp.login(self.username, self.password)
        return smtp

    def send(self, rows: Sequence[Row]) -> list[RowOutcome]:
        outcomes: list[RowOutcome] = []
        known = [*self.secrets(), *(str(r.get("address") or "") for r in rows)]
        try:
            smtp = self._connect()
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:
                raise RetriableError(f"SMTP {exc.smtp_code} at connect") from exc
            text = redact(f"SMTP {exc.smtp_code}: {exc.smtp_error.decode(errors='replace')}", known)
            # refused at connect or login (530 authentication required, 535 bad credentials, 554 no service):
            # no message is at fault
            raise DestinationRefused(text) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise RetriableError(f"SMTP connection error: {type(exc).__name__}") from exc
        try:
            for index, row in enumerate(rows):
                try:
                    smtp.send_message(self.message(row))
                    message_id = f"<{row['action_id']}@{self.domain}>"
                    outcomes.append(RowOutcome(row["action_id"], "sent", provider_message_id=message_id))
                except smtplib.SMTPRecipientsRefused as exc:
                    code, text = next(iter(exc.recipients.values()))
                    outcomes.append(self._outcome(row, code, text, known))
                except smtplib.SMTPResponseException as exc:
                    outcomes.append(self._outcome(row, exc.smtp_code, exc.smtp_error, known))
                    if exc.smtp_code == 421:  # service closing the channel: the rest cannot go on this connection
                        rest = rows[index + 1 :]
                        outcomes.extend(RowOutcome(r["action_id"], "retry", error="SMTP 421") for r in rest)
                        break
                except (OSError, smtplib.SMTPServerDisconnected) as exc:
                    error = f"SMTP connection lost: {type(exc).__name__}"
                    outcomes.extend(RowOutcome(r["action_id"], "retry", error=error) for r in rows[index:])
                    break
        finally:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()
        return outcomes

    @staticmethod
    def _outcome(row: Row, code: int, text: bytes | str, known: list[str]) -> RowOutcome:
        message = redact(f"SMTP {code}: {text.decode(errors='replace') if isinstance(text, bytes) else text}", known)
        kind = "retry" if 400 <= code < 500 else "failed"
        return RowOutcome(row["action_id"], kind, error=message)


DESTINATION = SmtpDestination

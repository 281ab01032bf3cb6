"""Each destination against a local server that implements the API's documented answers: the request it sends
is accepted as documented, its success body is read (provider message ids), its documented errors are classified
(retriable vs final, the API's message kept and scrubbed), and the core's retry, Retry-After, timeout, dropped
connection, dead and idempotency behaviour holds on the real HTTP path. Small named scenarios, one each."""

import logging
import time
from pathlib import Path

import duckdb
import pytest

from activations.config import load_config
from activations.destinations.outbox import OutboxDestination
from activations.limits import RetryPolicy
from activations.runner import activate
from tests.local_apis.fcm import FcmApi
from tests.local_apis.scenario import (
    ACTIONS_TABLE,
    SECRETS,
    SLACK_PATH,
    action_id,
    environment,
    write_actions,
    write_config,
)
from tests.local_apis.sendgrid import SendGridApi
from tests.local_apis.slack import SlackWebhookApi
from tests.local_apis.smtp import LocalSmtp
from tests.local_apis.twilio import TwilioApi
from tests.local_apis.webhook import WebhookReceiver

FAST = RetryPolicy(max_attempts=4, base_s=0.01, max_backoff_s=0.02, max_retry_after_s=5)


class Servers:
    """No random faults; scripted ones per test through each server's `script` list."""

    def __init__(self) -> None:
        self.sendgrid = SendGridApi(SECRETS["SENDGRID_API_KEY"])
        self.twilio = TwilioApi(SECRETS["TWILIO_ACCOUNT_SID"], SECRETS["TWILIO_AUTH_TOKEN"])
        self.fcm = FcmApi("journeys-test", SECRETS["FCM_ACCESS_TOKEN"], retry_after_s=0, stall_s=0.5)
        self.webhook = WebhookReceiver(SECRETS["JOURNEYS_WEBHOOK_SECRET"])
        self.slack = SlackWebhookApi(SLACK_PATH, retry_after_s=1)
        self.smtp = LocalSmtp()

    def all(self) -> dict:
        return {k: getattr(self, k) for k in ("sendgrid", "twilio", "fcm", "webhook", "slack", "smtp")}


@pytest.fixture(scope="module")
def started(tmp_path_factory):
    servers = Servers()
    for server in servers.all().values():
        server.__enter__()
    config_file = write_config(tmp_path_factory.mktemp("activations") / "activations.yml", servers, timeout_s=0.3)
    yield servers, config_file
    for server in servers.all().values():
        server.__exit__()


@pytest.fixture
def world(started, monkeypatch):
    """Fresh server logs, the credentials in the environment, the scenario's actions in an in-memory warehouse."""
    servers, config_file = started
    for server in servers.all().values():
        server.reset()
    for key, value in environment(servers).items():
        monkeypatch.setenv(key, value)
    con = duckdb.connect()
    write_actions(con)
    yield servers, load_config(config_file), con
    con.close()


def _send(config, con, value: str, target: str, run_id: str = "r1", retry: RetryPolicy = FAST):
    relation = dict(config.relations_for(value, ACTIONS_TABLE))[target]
    return activate(con, config.build(target, Path("/nonexistent")), relation, run_id, retry=retry, seed=1)


def _ledger(con, destination: str) -> dict[str, tuple]:
    rows = con.execute(
        "select action_id, state, attempts, provider_message_id, error from activation.send_ledger "
        "where destination = ?",
        [destination],
    ).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_sendgrid_batches_by_template_and_isolates_the_invalid_addresses(world):
    servers, config, con = world
    report = _send(config, con, "email", "sendgrid")
    ledger = _ledger(con, "sendgrid")
    refused = {action_id("welcome", 7), action_id("reminder", 3)}
    assert (report.sent, report.failed, report.dead) == (58, 2, 0)
    for action in refused:
        state, _, _message_id, error = ledger[action]
        assert state == "failed" and "Does not contain a valid address" in error and "@@" not in error
    assert servers.sendgrid.duplicates() == {} and len(servers.sendgrid.delivery_counts()) == 58
    # 60 rows in batches of 8 per template: 4 + 4 requests, plus the halving around the 2 bad rows
    assert 8 < report.requests <= 8 + 2 * 2 * 3
    assert all(m.startswith("sg") for s, _, m, _ in ledger.values() if s == "sent")


def test_a_wrong_key_stops_the_destination_without_blaming_any_customer(world, monkeypatch):
    """401 is about us, not the rows: the rows tried are dead (they stay due; policy does not mark anyone's email
    unreachable), nothing more is sent this run, and the next run with the right key delivers everything."""
    servers, config, con = world
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.wrong-key-000")
    report = _send(config, con, "email", "sendgrid")
    ledger = _ledger(con, "sendgrid")
    assert report.stopped == "HTTP 401: The provided authorization grant is invalid, expired, or revoked"
    # the 60 actions are one ledger group: all dead (still due), but only the batches already in flight were tried
    assert (report.sent, report.failed) == (0, 0) and report.dead == len(ledger) == 60
    assert servers.sendgrid.received <= 4, "at most the batches already in flight"
    tried = [a for a, (_, attempts, _, _) in ledger.items() if attempts > 0]
    assert 0 < len(tried) <= 4 * 8 and sum(attempts for _, attempts, _, _ in ledger.values()) == len(tried)
    assert {(s, e.split(" (")[0]) for s, _, _, e in ledger.values()} == {("dead", report.stopped)}
    assert "SG.wrong-key-000" not in str(ledger)
    monkeypatch.setenv("SENDGRID_API_KEY", SECRETS["SENDGRID_API_KEY"])
    again = _send(config, con, "email", "sendgrid", run_id="r2")
    assert (again.sent, again.failed, again.stopped) == (58, 2, None)


def test_twilio_keeps_the_message_sid_and_the_refusal_without_the_number(world):
    _servers, config, con = world
    report = _send(config, con, "sms", "twilio")
    ledger = _ledger(con, "twilio")
    assert (report.sent, report.failed, report.requests) == (29, 1, 30)
    state, _, _, error = ledger[action_id("trial_day_3", 11)]
    assert state == "failed" and error.startswith("HTTP 400: Twilio error 21211: The 'To' number")
    assert "12345" not in error
    assert all(m.startswith("SM") for s, _, m, _ in ledger.values() if s == "sent")


def test_fcm_marks_an_unregistered_token_failed_and_keeps_message_names(world):
    _servers, config, con = world
    report = _send(config, con, "push", "fcm")
    ledger = _ledger(con, "fcm")
    assert (report.sent, report.failed) == (29, 1)
    assert (
        ledger[action_id("cart_reminder", 2)][3] == "HTTP 404: NOT_FOUND UNREGISTERED: Requested entity was not found."
    )
    assert all(m.startswith("projects/journeys-test/messages/") for s, _, m, _ in ledger.values() if s == "sent")


def test_webhook_retry_after_an_accepted_but_unanswered_request_is_deduplicated_by_key(world):
    servers, config, con = world
    servers.webhook._script = ["drop_after_accept", "drop_after_accept", None, "500"]
    report = _send(config, con, "webhook", "webhook")
    assert (report.sent, report.failed) == (29, 1)
    assert servers.webhook.deduplicated == 2
    assert servers.webhook.duplicates() == {}
    assert "HTTP 422" in _ledger(con, "webhook")[action_id("refused", 0)][3]


def test_webhook_signed_with_the_wrong_secret_is_refused(world, monkeypatch):
    servers, config, con = world
    monkeypatch.setenv("JOURNEYS_WEBHOOK_SECRET", "not-the-secret")
    report = _send(config, con, "webhook", "webhook")
    assert report.stopped == 'HTTP 401: {"error": "bad signature"}'
    # one ledger group of 30: the requests already in flight (at most the 4 workers) were refused, the others were
    # never sent (dead, no attempt counted: still due)
    assert (report.sent, report.failed, report.dead) == (0, 0, 30)
    tried = servers.webhook.received
    assert servers.webhook.delivery_counts() == {} and 1 <= tried <= 4
    attempts = [a for _, a, _, _ in _ledger(con, "webhook").values()]
    assert sorted(attempts) == [0] * (30 - tried) + [1] * tried


def test_slack_honours_retry_after_for_the_whole_destination(world):
    servers, config, con = world
    servers.slack._script = ["429"]
    started = time.monotonic()
    report = _send(config, con, "webhook", "slack")
    assert time.monotonic() - started >= 1.0, "Retry-After: 1 was not waited"
    assert (report.sent, report.retried) == (10, 1)
    assert len(servers.slack.delivery_counts()) == 10


def test_smtp_retries_transient_replies_and_fails_the_unknown_recipient(world):
    servers, config, con = world
    servers.smtp.faults, servers.smtp.fault_rate = ("451", "421", "drop"), 0.3
    report = _send(config, con, "email", "smtp")
    ledger = _ledger(con, "smtp")
    state, _attempts, _, error = ledger[action_id("receipt", 5)]
    assert state == "failed" and error.startswith("SMTP 550: 5.1.1") and "invalid.example" not in error
    assert report.sent == 19 and sum(servers.smtp.injected.values()) > 0
    assert len(servers.smtp.delivery_counts()) == 19


def test_smtp_server_refusing_the_session_stops_the_destination(world):
    servers, config, con = world
    servers.smtp.reset(refuse_sessions=True)
    report = _send(config, con, "email", "smtp")
    assert report.stopped == "SMTP 554: 5.7.1 Access denied for this client"
    assert (report.sent, report.failed) == (0, 0) and report.dead > 0
    assert not servers.smtp.delivery_counts()


@pytest.mark.parametrize("fault", ["500", "stall", "drop", "429"])
def test_each_retriable_fault_is_retried_until_sent(world, fault: str):
    servers, config, con = world
    servers.fcm._script = [fault, fault]
    report = _send(config, con, "push", "fcm")
    assert (report.sent, report.failed, report.dead) == (29, 1, 0)
    assert servers.fcm.injected[fault] == 2
    # Each injected fault cost one retry. On a loaded machine a retry can also follow an answer later than this
    # test's 0.3 s timeout (kept short for the stall; the server counted that request) or a reset of a reused
    # connection the server was closing after a drop (the request never reached it): never fewer than two, and
    # every retry is a request the client sent.
    assert report.retried >= 2
    assert report.requests == 30 + report.retried
    assert 32 <= servers.fcm.received <= report.requests


def test_retries_exhausted_make_rows_dead_and_the_next_run_sends_them(world):
    servers, config, con = world
    servers.fcm.fault_rate, servers.fcm.faults = 1.0, ("500",)
    report = _send(config, con, "push", "fcm", retry=RetryPolicy(max_attempts=3, base_s=0.001, max_backoff_s=0.002))
    ledger = _ledger(con, "fcm")
    assert report.dead == 30
    state, attempts, _, error = next(iter(ledger.values()))
    assert (state, attempts) == ("dead", 3)
    assert error == "HTTP 500: INTERNAL INTERNAL: Internal error. (gave up after 3 attempts)"
    servers.fcm.fault_rate = 0.0
    again = _send(config, con, "push", "fcm", run_id="r2")
    assert (again.sent, again.failed) == (29, 1)
    assert _ledger(con, "fcm")[action_id("cart_reminder", 0)][:2] == ("sent", 4)


def test_dry_run_sends_nothing_and_masks_the_preview(world):
    servers, config, con = world
    for value, target in [("email", "sendgrid"), ("sms", "twilio"), ("push", "fcm"), ("webhook", "slack")]:
        relation = dict(config.relations_for(value, ACTIONS_TABLE))[target]
        report = activate(con, config.build(target, Path("/x")), relation, "preview", dry_run=True)
        assert report.candidates > 0 and report.sent == 0
        shown = str(report.samples)
        assert "@example.com" in shown or target != "sendgrid"
        assert "person0" not in shown and "+1555" not in shown and "device-token-" not in shown
        assert SLACK_PATH not in shown and SECRETS["SENDGRID_API_KEY"] not in shown
    assert all(s.received == 0 for s in servers.all().values())


def test_logs_carry_no_secret_and_no_personal_data(world, caplog):
    servers, config, con = world
    servers.twilio._script = ["500", "drop"]
    with caplog.at_level(logging.DEBUG):
        for value, target in [("sms", "twilio"), ("email", "sendgrid"), ("webhook", "slack")]:
            _send(config, con, value, target)
    text = caplog.text + str(con.execute("select list(error) from activation.send_ledger").fetchone())
    assert "twilio: 30 due" in caplog.text
    for secret in [*SECRETS.values(), SLACK_PATH]:
        assert secret not in text
    for row_address in ["+1555", "@example.com", "12345", "not-an-address", "also@@bad"]:
        assert row_address not in text


def test_outbox_destination_still_exactly_once(tmp_path: Path):
    con = duckdb.connect()
    con.execute("create schema s; create table s.a as select md5(i::varchar) as action_id from range(12) t(i)")
    outbox = OutboxDestination(tmp_path, "email")
    assert activate(con, outbox, "s.a", "r1").sent == 12
    assert activate(con, outbox, "s.a", "r2").sent == 0
    assert len(outbox.path.read_text().splitlines()) == 12


def test_rows_a_destination_cannot_express_fail_by_name_without_a_request(world):
    """An SMS whose text needs {first_name} for a customer without one; an email with a template that has no
    SendGrid template id: both failed with the reason, the rest sent, the preview still shown."""
    servers, config, con = world
    con.execute(
        f"update {ACTIONS_TABLE} set payload_fields = '{{}}' where action_id = ?", [action_id("trial_day_3", 0)]
    )
    con.execute(f"update {ACTIONS_TABLE} set template = 'unknown' where action_id = ?", [action_id("welcome", 0)])
    sms, email = _send(config, con, "sms", "twilio"), _send(config, con, "email", "sendgrid")
    assert (sms.sent, sms.failed, email.sent, email.failed) == (28, 2, 57, 3)
    errors = dict(con.execute("select action_id, error from activation.send_ledger").fetchall())
    assert errors[action_id("trial_day_3", 0)] == (
        "destination 'twilio': template 'trial_day_3' uses field 'first_name' "
        "that the action's payload_fields do not have"
    )
    assert "no SendGrid template id for template 'unknown'" in errors[action_id("welcome", 0)]
    assert servers.twilio.received == 29 and sms.samples and email.samples

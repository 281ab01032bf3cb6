"""The activation core's pure parts and its warehouse bookkeeping: error classification, Retry-After, the token
bucket, backoff, scrubbing and masking, batching, the config file's errors, routing, the ledger's states and the
volume safety cap with its approval (function and CLI)."""

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from activations import ledger
from activations.cli import main as cli
from activations.config import ConfigError, load_config
from activations.errors import is_retriable_status, parse_retry_after, redact
from activations.limits import RetryPolicy, TokenBucket
from activations.runner import activate, make_batches, mask_personal_data
from activations.types import RowOutcome
from activations.volume import VolumeCap, approve, open_holds


@pytest.mark.parametrize(
    ("status", "retriable"),
    [(429, True), (408, True), (500, True), (502, True), (503, True), (400, False), (401, False), (404, False)],
)
def test_one_classification_of_statuses(status, retriable):
    assert is_retriable_status(status) is retriable


def test_retry_after_in_seconds_or_as_an_http_date():
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Thu, 26 Nov 2026 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_token_bucket_paces_after_the_burst_and_pauses_for_retry_after():
    clock = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        clock[0] += seconds

    bucket = TokenBucket(rate=10, burst=2, clock=lambda: clock[0], sleep=sleep)
    assert [bucket.acquire() for _ in range(2)] == [0.0, 0.0]
    assert bucket.acquire() == pytest.approx(0.1)
    bucket.pause_until(clock[0] + 3)
    assert bucket.acquire() == pytest.approx(3.0)


def test_backoff_is_exponential_with_full_jitter_and_honours_retry_after():
    policy = RetryPolicy(base_s=1, max_backoff_s=8)
    rng = random.Random(3)
    delays = [policy.backoff(attempt, None, rng) for attempt in (1, 2, 3, 4, 5, 6) for _ in range(50)]
    assert max(delays) <= 8 and min(delays) >= 0
    assert max(policy.backoff(1, None, rng) for _ in range(50)) <= 1
    assert all(policy.backoff(1, 5.0, rng) >= 5.0 for _ in range(20))


def test_redact_removes_secrets_addresses_and_tokens():
    text = "HTTP 400: key SG.abc123 for jane.doe@example.com, To +15550001111, Authorization: Bearer ya29.xyz"
    assert redact(text, ["SG.abc123"]) == (
        "HTTP 400: key [redacted] for [email], To [phone], Authorization: Bearer [redacted]"
    )


def test_masking_walks_nested_payloads():
    body = {"personalizations": [{"to": [{"email": "jane@example.com"}], "data": {"first_name": "Jane", "n": 3}}]}
    assert mask_personal_data(body) == {
        "personalizations": [{"to": [{"email": "j***@example.com"}], "data": {"first_name": "J***", "n": 3}}]
    }
    assert mask_personal_data({"Body": "call +15550001111"}) == {"Body": "call +1***"}


def test_masking_keeps_domain_only():
    masked = mask_personal_data({"email": "jane.doe@example.com", "first_name": "Jane", "action_id": "x"})
    assert masked == {"email": "j***@example.com", "first_name": "J***", "action_id": "x"}


class _Templated:
    max_batch_size = 2

    def batch_key(self, row):
        return row["template"]


def test_batches_group_by_key_and_cut_at_the_batch_size_as_they_stream():
    rows = [{"action_id": str(i), "template": "ab"[i % 2]} for i in range(7)]
    batches = [[r["action_id"] for r in b] for b in make_batches(_Templated(), rows)]
    assert batches == [["0", "2"], ["1", "3"], ["4", "6"], ["5"]]


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "activations.yml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("destinations: {x: {type: carrier_pigeon}}", "destinations.x.type: expected a module in activations/"),
        ("destinations: {x: {type: outbox}}\nroutes: [{when: {colour: red}, send_to: x}]", "routes[0].when"),
        ("destinations: {x: {type: outbox}}\nroutes: [{when: {destination: fax}, send_to: x}]", "when.destination"),
        ("destinations: {x: {type: outbox}}\nroutes: [{send_to: y}]", "routes[0].send_to: expected one of ['x']"),
        ("destinations: {x: {type: webhook, base_url: ftp://h}}", "destinations.x.base_url: expected an http(s) URL"),
        ("destinations: {x: {type: outbox}}\nretry: {tries: 3}", "retry / volume_cap"),
    ],
)
def test_config_errors_name_the_file_and_the_field(tmp_path: Path, text: str, message: str):
    with pytest.raises(ConfigError) as error:
        load_config(_config(tmp_path, text))
    assert str(tmp_path) in str(error.value) and message in str(error.value)


def test_missing_credential_names_the_variable(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("SENDGRID_API_KEY", raising=False)
    config = load_config(_config(tmp_path, "destinations: {sg: {type: sendgrid, from_email: a@b.example}}"))
    with pytest.raises(RuntimeError, match="environment variable SENDGRID_API_KEY is not set"):
        config.build("sg", tmp_path)


def test_routes_first_match_wins_and_every_row_goes_to_exactly_one_destination(tmp_path: Path):
    config = load_config(
        _config(
            tmp_path,
            """
routes:
  - {when: {destination: email, purpose: transactional}, send_to: smtp}
  - {when: {destination: email, template: [a, b]}, send_to: sendgrid}
  - {when: {destination: email}, send_to: rest}
destinations: {smtp: {type: outbox}, sendgrid: {type: outbox}, rest: {type: outbox}}
""",
        )
    )
    con = duckdb.connect()
    con.execute(
        """create schema policy; create table policy.actions_due as select * from (values
        ('1', 'email', 'transactional', 'a'), ('2', 'email', 'marketing', 'a'), ('3', 'email', 'marketing', 'c'),
        ('4', 'sms', 'marketing', 'a')) t(action_id, destination, purpose, template)"""
    )
    routed = {
        name: [r[0] for r in con.execute(f"select action_id from {rel} order by 1").fetchall()]
        for name, rel in config.relations_for("email")
    }
    assert routed == {"smtp": ["1"], "sendgrid": ["2"], "rest": ["3"]}


def test_demo_config_routes_every_destination_to_the_outbox():
    config = load_config()
    for value in ("email", "sms", "push", "in_app", "webhook", "crm", "audience"):
        ((name, _),) = config.relations_for(value)
        assert config.destinations[name]["type"] == "outbox"


def test_ledger_counts_attempts_and_keeps_states():
    con = duckdb.connect()
    ledger.ensure_ledger(con)
    at = datetime(2026, 11, 26)
    ledger.record_intent(con, "d", ["a", "b"], "r1", at)
    ledger.mark_results(con, "d", [("a", "dead", None, "HTTP 503", 2), ("b", "failed", None, "HTTP 400: bad")], at)
    ledger.record_intent(con, "d", ["a"], "r2", at + timedelta(hours=1))
    assert ledger.in_flight(con, "d") == ["a"]
    ledger.mark_results(con, "d", [("a", "sent", "m1", None)], at + timedelta(hours=1))
    rows = con.execute("select action_id, state, attempts, error from activation.send_ledger order by 1").fetchall()
    assert rows == [("a", "sent", 4, None), ("b", "failed", 1, "HTTP 400: bad")]
    with pytest.raises(ValueError, match="state must be one of"):
        ledger.mark_results(con, "d", [("a", "maybe", None, None)], at)


class _Counting:
    """A destination that accepts everything and counts what it got (for the volume cap scenario)."""

    name = "counting"
    max_batch_size = 100
    requests_per_second = 1e6
    burst = 1000
    max_concurrency = 1
    honours_idempotency_key = True

    def __init__(self):
        self.received = 0

    def batch_key(self, row):
        return None

    def check_row(self, row):
        return None

    def secrets(self):
        return []

    def preview(self, rows):
        return {"rows": len(rows)}

    def delivered_action_ids(self, ids):
        return set()

    def send(self, rows):
        self.received += len(rows)
        return [RowOutcome(r["action_id"], "sent") for r in rows]


def test_volume_far_above_normal_is_held_until_a_person_approves(tmp_path: Path, capsys):
    """Three normal days of 100 actions, then 5,000 due at once: held (cap max(1000, 5 x 100)); approved with the
    CLI; the next run sends them and uses the approval up; a dry run writes no run history."""
    warehouse = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("create schema s")
    destination, cap = _Counting(), VolumeCap(factor=5, min_volume=1000, history_runs=7, min_history_runs=3)
    for day in range(3):
        con.execute(f"create or replace table s.a as select 'd{day}-' || i as action_id from range(100) t(i)")
        assert activate(con, destination, "s.a", f"day{day}", volume_cap=cap).sent == 100
    con.execute("create or replace table s.a as select 'spike-' || i as action_id from range(5000) t(i)")
    assert activate(con, destination, "s.a", "preview", dry_run=True, volume_cap=cap).candidates == 5000
    held = activate(con, destination, "s.a", "day3", volume_cap=cap)
    assert held.held_by_volume_cap and held.sent == 0 and destination.received == 300
    assert (held.volume_normal, held.volume_cap) == (100.0, 1000)
    assert activate(con, destination, "s.a", "day3-retry", volume_cap=cap).held_by_volume_cap
    holds = open_holds(con)
    assert len(holds) == 2 and holds[0]["due"] == 5000
    con.close()

    assert cli(["--warehouse", str(warehouse), "approve", holds[0]["hold_id"], "--by", "Ops lead"]) == 0
    assert '"approved_by": "Ops lead"' in capsys.readouterr().out
    with duckdb.connect(str(warehouse)) as con:
        with pytest.raises(ValueError, match="already approved"):
            approve(con, holds[0]["hold_id"], "someone else", datetime(2026, 11, 26))
        with pytest.raises(ValueError, match="no volume hold"):
            approve(con, "nope", "x", datetime(2026, 11, 26))
        released = activate(con, destination, "s.a", "day4", volume_cap=cap)
        assert not released.held_by_volume_cap and released.sent == 5000
        used = con.execute("select used_by_run from activation.volume_holds where approved_by is not null").fetchall()
        assert used == [("day4",)]
        runs = con.execute("select count(*), count(*) filter (where is_held) from activation.runs").fetchone()
        assert runs == (6, 2)

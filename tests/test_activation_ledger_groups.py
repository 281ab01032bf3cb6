"""The ledger written in groups (docs/decisions/0014-ledger-groups.md): one statement records intent for a group of
actions before any of them is sent, one statement marks a group of acknowledged results. Real DuckDB, the real
webhook destination against the local receiver on 127.0.0.1 (it verifies the signature and deduplicates on
Idempotency-Key); the ledger functions are wrapped only to count and inspect their calls, never replaced.

Scenarios: 1,200 one-row actions take a handful of statements, never more pending than the window; a group where
some rows are accepted, some refused and some never get through ends with each row's own state; a crash after the
acks and before the result was written leaves the whole group pending, and the next run resends it with the same
keys, so the receiver delivers each action once; a slow destination has its results written every 0.25 s (0.05 s
without an idempotency key), not only when the group is done."""

from __future__ import annotations

import threading
import time
from collections import Counter

import duckdb
import pytest

from activations import ledger, runner
from activations.destinations.webhook import WebhookDestination
from activations.limits import RetryPolicy
from activations.runner import activate
from activations.types import RowOutcome
from tests.local_apis.webhook import WebhookReceiver

SECRET = "whsec-groups-5e1f"
ACTIONS = "scenario.actions"
FAST = RetryPolicy(max_attempts=3, base_s=0.001, max_backoff_s=0.002)


@pytest.fixture
def receiver():
    with WebhookReceiver(SECRET) as api:
        yield api


@pytest.fixture
def con(monkeypatch):
    monkeypatch.setenv("JOURNEYS_WEBHOOK_SECRET", SECRET)
    con = duckdb.connect()
    yield con
    con.close()


def _actions(con, n: int, refused: set[int] = frozenset()) -> None:
    con.execute("create schema if not exists scenario")
    con.execute(
        f"""create or replace table {ACTIONS} as
        select printf('act-%05d', i) as action_id, 'c' || i as customer_id, 'groups' as journey_id,
               1 as journey_version, 'n1' as node_id, 'message' as action_kind, 'webhook' as channel,
               case when list_contains(?, i) then 'refused' else 'crm_note' end as template,
               '{{"first_name": "Jo"}}' as payload_fields
        from range(?) t(i)""",
        [sorted(refused), n],
    )


def _webhook(api: WebhookReceiver, **settings) -> WebhookDestination:
    limits = {"requests_per_second": 1e6, "burst": 1000, "max_concurrency": 4, "timeout_s": 5}
    return WebhookDestination("webhook", {"path": "/journeys", **limits, **settings}, api.url)


class LedgerCalls:
    """Wraps record_intent and mark_results (the real ones still run): sizes of each call, and how many actions were
    pending in the ledger (intent recorded, no result) right after each intent."""

    def __init__(self, monkeypatch, con) -> None:
        self.intents: list[int] = []
        self.marks: list[int] = []
        self.pending_after_intent: list[int] = []
        real_intent, real_mark = ledger.record_intent, ledger.mark_results

        def record_intent(con_, destination, action_ids, run_id, at):
            real_intent(con_, destination, action_ids, run_id, at)
            self.intents.append(len(action_ids))
            self.pending_after_intent.append(
                con.execute("select count(*) from activation.send_ledger where state = 'pending'").fetchone()[0]
            )

        def mark_results(con_, destination, results, at):
            results = list(results)
            self.marks.append(len(results))
            real_mark(con_, destination, results, at)

        monkeypatch.setattr(ledger, "record_intent", record_intent)
        monkeypatch.setattr(ledger, "mark_results", mark_results)


def test_one_row_actions_take_a_statement_per_group_and_never_more_pending_than_the_window(receiver, con, monkeypatch):
    _actions(con, 1200)
    calls = LedgerCalls(monkeypatch, con)
    destination = _webhook(receiver, ledger_group_size=300)
    report = activate(con, destination, ACTIONS, "r1", retry=FAST)
    assert (report.sent, report.requests) == (1200, 1200)
    assert calls.intents == [300, 300, 300, 300], "one intent statement per group of 300"
    # results: one statement per group's worth or per 0.25 s, whichever comes first (per action before)
    assert sum(calls.marks) == 1200 and len(calls.marks) <= 1200 // 10, calls.marks
    # window: two groups (or a group plus a batch per worker and one more, whichever is larger)
    assert max(calls.pending_after_intent) <= 600
    assert len(receiver.delivery_counts()) == 1200 and receiver.duplicates() == {}
    states = con.execute("select state, count(*), max(attempts) from activation.send_ledger group by 1").fetchall()
    assert states == [("sent", 1200, 1)]


def test_a_group_that_partly_fails_keeps_each_rows_own_outcome(receiver, con, monkeypatch):
    """One group of 40: two rows the receiver refuses (422: failed, with its message), two rows whose requests are
    answered 500 every time (dead after 3 attempts: still due), the rest sent. One intent statement for all."""
    _actions(con, 40, refused={5, 17})
    # the receiver answers 500 to the first 6 requests; with one worker these are the three attempts of each of the
    # first two rows, which end dead
    receiver.reset(scripted_faults=("500",) * 6)
    calls = LedgerCalls(monkeypatch, con)
    report = activate(con, _webhook(receiver, max_concurrency=1), ACTIONS, "r1", retry=FAST)
    rows = dict(
        (a, (s, n, e))
        for a, s, n, e in con.execute("select action_id, state, attempts, error from activation.send_ledger").fetchall()
    )
    assert calls.intents == [40]
    assert (report.sent, report.failed, report.dead) == (36, 2, 2)
    assert [rows[f"act-{i:05d}"][:2] for i in (0, 1)] == [("dead", 3), ("dead", 3)]
    assert "HTTP 500" in rows["act-00000"][2] and "gave up after 3 attempts" in rows["act-00000"][2]
    for i in (5, 17):
        state, attempts, error = rows[f"act-{i:05d}"]
        assert (state, attempts) == ("failed", 1) and error.startswith("HTTP 422")
    assert Counter(s for s, _, _ in rows.values()) == {"sent": 36, "failed": 2, "dead": 2}
    assert set(receiver.delivery_counts()) == {a for a, (s, _, _) in rows.items() if s == "sent"}

    # the next run sends only the dead ones again (failed is final, sent is done)
    again = activate(con, _webhook(receiver), ACTIONS, "r2", retry=FAST)
    assert (again.sent, again.failed, again.already_sent) == (2, 2, 36)
    assert receiver.duplicates() == {}


class CrashBeforeResults(Exception):
    pass


def test_a_crash_after_the_acks_and_before_the_results_leaves_the_group_pending_and_resent_with_the_same_keys(
    receiver, con, monkeypatch
):
    """The process dies between the sends of a group and the statement that marks them (the ledger write raises,
    as a kill would leave it): every action of the group stays 'pending'. The next run resends them with the same
    Idempotency-Key: the receiver answers from its cache and delivers none twice."""
    _actions(con, 50)

    def crash(*args, **kwargs):
        raise CrashBeforeResults("killed before the results were written")

    monkeypatch.setattr(ledger, "mark_results", crash)
    with pytest.raises(CrashBeforeResults):
        activate(con, _webhook(receiver), ACTIONS, "r1", retry=FAST)
    delivered_first = set(receiver.delivery_counts())
    assert delivered_first, "the receiver acknowledged requests of the group"
    assert con.execute("select state, count(*) from activation.send_ledger group by 1").fetchall() == [("pending", 50)]

    monkeypatch.undo()
    monkeypatch.setenv("JOURNEYS_WEBHOOK_SECRET", SECRET)
    again = activate(con, _webhook(receiver), ACTIONS, "r2", retry=FAST)
    assert (again.resent_in_flight, again.sent) == (50, 50)
    assert receiver.deduplicated == len(delivered_first) and receiver.duplicates() == {}
    assert len(receiver.delivery_counts()) == 50
    assert con.execute("select state, count(*), max(attempts) from activation.send_ledger group by 1").fetchall() == [
        ("sent", 50, 2)
    ]


class SlowDestination:
    """Accepts each row after `seconds` (one worker): a slow API, to see when the results reach the ledger."""

    name = "slow"
    max_batch_size = 1
    requests_per_second = 1e6
    burst = 1000
    max_concurrency = 1
    honours_idempotency_key = True
    ledger_group_size = None

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.sent: list[tuple[str, float]] = []
        self.lock = threading.Lock()

    def batch_key(self, row):
        return None

    def check_row(self, row):
        return None

    def secrets(self):
        return []

    def preview(self, rows):
        return {"rows": len(rows)}

    def delivered_action_ids(self, ids):
        return None

    def send(self, rows):
        time.sleep(self.seconds)
        with self.lock:
            self.sent.extend((r["action_id"], time.monotonic()) for r in rows)
        return [RowOutcome(r["action_id"], "sent") for r in rows]


@pytest.mark.parametrize(
    ("honours_key", "most_per_statement"), [(True, 5), (False, 3)], ids=["idempotent", "without-key"]
)
def test_results_of_a_slow_destination_reach_the_ledger_every_flush_interval_not_at_the_end_of_the_group(
    con, monkeypatch, honours_key: bool, most_per_statement: int
):
    """12 rows at 0.1 s each, one group: the results are written at most 0.25 s after an ack (0.05 s where the API
    honours no idempotency key: an acknowledged result not yet written is a duplicate if the process dies), so a
    crash leaves only the last acked rows without a result, not the whole group."""
    con.execute("create schema scenario")
    con.execute(f"create table {ACTIONS} as select printf('s%02d', i) as action_id from range(12) t(i)")
    calls = LedgerCalls(monkeypatch, con)
    destination = SlowDestination(0.1)
    destination.honours_idempotency_key = honours_key
    report = activate(con, destination, ACTIONS, "r1")
    assert report.sent == 12 and calls.intents == [12]
    assert sum(calls.marks) == 12 and max(calls.marks) <= most_per_statement, calls.marks
    assert len(calls.marks) >= 12 // most_per_statement


def test_ledger_group_size_must_be_positive(con):
    destination = SlowDestination(0)
    destination.ledger_group_size = 0
    with pytest.raises(ValueError, match="ledger_group_size must be >= 1"):
        runner.ledger_group_size(destination)

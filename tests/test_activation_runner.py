"""The activation core against the real outbox destination and a real DuckDB ledger.

Tested the dlt way: stop the run at batch N, look at what was committed, run again, and check every
action arrived exactly once.
"""

import json
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from activations.destinations.outbox import OutboxDestination
from activations.runner import activate, mask_personal_data

ACTIONS = "activation.actions"


class Crash(RuntimeError):
    pass


class OutboxThatCrashes(OutboxDestination):
    """Writes batches normally until `crash_at_batch`, then crashes before or after writing it."""

    max_batch_size = 10

    def __init__(self, outbox_dir: Path, crash_at_batch: int, after_write: bool) -> None:
        super().__init__(outbox_dir)
        self.crash_at_batch = crash_at_batch
        self.after_write = after_write
        self.batches = 0

    def send(self, rows):
        self.batches += 1
        if self.batches == self.crash_at_batch:
            if self.after_write:
                super().send(rows)
            raise Crash(f"crash in batch {self.batches}")
        return super().send(rows)


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute("create schema activation")
    con.execute(
        f"""create table {ACTIONS} as
        select md5('a' || i) as action_id, 'c' || i as customer_id, 'email' as channel,
               'person' || i || '@example.com' as email
        from range(45) as t(i)"""
    )
    return con


def _outbox_counts(destination: OutboxDestination) -> Counter:
    lines = destination.path.read_text().splitlines()
    return Counter(json.loads(line)["action_id"] for line in lines)


@pytest.mark.parametrize("after_write", [False, True], ids=["crash-before-send", "crash-after-send"])
def test_crash_then_rerun_delivers_every_action_exactly_once(con, tmp_path: Path, after_write: bool):
    crashing = OutboxThatCrashes(tmp_path, crash_at_batch=3, after_write=after_write)
    with pytest.raises(Crash):
        activate(con, crashing, ACTIONS, run_id="run-1")

    states = dict(con.execute("select state, count(*) from activation.send_ledger group by state").fetchall())
    # the 45 actions are one ledger group (intent for all in one statement): two batches acknowledged, the third
    # crashed (outcome unknown: pending), the last two never started (dead, no attempt counted: still due)
    assert states == {"sent": 20, "pending": 10, "dead": 15}
    never_started = con.execute("select max(attempts) from activation.send_ledger where state = 'dead'").fetchone()
    assert never_started == (0,)

    report = activate(con, OutboxDestination(tmp_path), ACTIONS, run_id="run-2")

    counts = _outbox_counts(crashing)
    assert len(counts) == 45 and set(counts.values()) == {1}
    assert report.resolved_in_flight == (10 if after_write else 0)
    assert report.sent == (15 if after_write else 25)
    assert con.execute("select count(*) from activation.send_ledger where state = 'sent'").fetchone()[0] == 45


def test_second_run_sends_nothing_and_dry_run_sends_nothing(con, tmp_path: Path):
    outbox = OutboxDestination(tmp_path)
    preview = activate(con, outbox, ACTIONS, run_id="r0", dry_run=True)
    assert preview.candidates == 45 and preview.sent == 0 and not outbox.path.exists()
    assert preview.samples[0]["lines"][0]["email"].startswith("p***@")

    assert activate(con, outbox, ACTIONS, run_id="r1").sent == 45
    again = activate(con, outbox, ACTIONS, run_id="r2")
    assert (again.sent, again.already_sent) == (0, 45)
    assert sum(_outbox_counts(outbox).values()) == 45


def test_payload_carries_action_id_as_idempotency_key(con, tmp_path: Path):
    outbox = OutboxDestination(tmp_path)
    activate(con, outbox, ACTIONS, run_id="r1")
    first = json.loads(outbox.path.read_text().splitlines()[0])
    assert first["idempotency_key"] == first["action_id"]


def test_masking_keeps_domain_only():
    masked = mask_personal_data({"email": "jane.doe@example.com", "first_name": "Jane", "action_id": "x"})
    assert masked == {"email": "j***@example.com", "first_name": "J***", "action_id": "x"}

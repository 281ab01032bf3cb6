"""The activation core: read what is due, send it through a destination, keep the ledger exact.

For each destination: resolve what was in flight when the last run stopped; compare the volume with the recent
normal (a run far above it is held for approval); group the due rows into batches of the API's size; send them
from a bounded pool of worker threads, paced by the destination's token bucket, retrying retriable errors with
exponential backoff, jitter and Retry-After; write the ledger in groups, in the warehouse, from this (the calling)
thread only: intent for a group of actions in one statement before any of them is sent, their results in one
statement after the acks. See docs/activations.md, docs/decisions/0009-activation-core.md and
0014-ledger-groups.md.
"""

from __future__ import annotations

import itertools
import json
import logging
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from queue import Empty, SimpleQueue

import duckdb

from activations import ledger
from activations.errors import redact
from activations.limits import RetryPolicy, TokenBucket
from activations.types import ActivationReport, Destination, DestinationRefused, RetriableError, Row, RowOutcome
from activations.volume import VolumeCap, check_volume

log = logging.getLogger(__name__)

# keys whose values are personal data, wherever they appear in a payload or a request body (case-insensitive)
PERSONAL_FIELDS = frozenset(
    {"email", "phone", "push_token", "first_name", "last_name", "name", "address", "to", "token", "customer_email"}
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"\+?\d[\d \-().]{8,}\d")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _mask_value(value: str) -> str:
    local, at, domain = value.partition("@")
    return f"{local[:1]}***{at}{domain}" if at else f"{value[:1]}***"


def mask_personal_data(payload):
    """A preview copy with personal data masked: 'jane@example.com' -> 'j***@example.com' under personal keys;
    anything shaped like an email address or phone number elsewhere is masked too. Walks nested JSON."""
    if isinstance(payload, dict):
        masked = {}
        for key, value in payload.items():
            if isinstance(value, str) and value and str(key).lower() in PERSONAL_FIELDS:
                masked[key] = _mask_value(value)
            else:
                masked[key] = mask_personal_data(value)
        return masked
    if isinstance(payload, list):
        return [mask_personal_data(v) for v in payload]
    if isinstance(payload, str):
        return _PHONE.sub(lambda m: m.group(0)[:2] + "***", _EMAIL.sub(lambda m: _mask_value(m.group(0)), payload))
    return payload


@dataclass(frozen=True)
class RowResult:
    """A row's outcome for this run, ready for the ledger."""

    action_id: str
    state: str  # sent, failed or dead
    provider_message_id: str | None
    error: str | None
    attempts: int


def deliver_batch(
    destination: Destination,
    rows: Sequence[Row],
    policy: RetryPolicy,
    bucket: TokenBucket,
    rng: random.Random,
    sleep=time.sleep,
) -> tuple[list[RowResult], int, str | None]:
    """Sends one batch until every row is sent, refused (failed) or out of retries (dead). Runs in a worker
    thread: touches no warehouse. Returns the rows' results, the number of requests made, and why the
    destination refused us (DestinationRefused), if it did."""
    known = [*destination.secrets(), *(str(row.get("address") or "") for row in rows)]
    results: dict[str, RowResult] = {}
    attempts: Counter[str] = Counter()
    sendable = []
    for row in rows:
        problem = row_problem(destination, row)
        if problem:
            results[row["action_id"]] = RowResult(row["action_id"], "failed", None, redact(problem, known), 0)
        else:
            sendable.append(row)
    work: list[tuple[list[Row], int]] = [(sendable, 1)] if sendable else []
    requests = 0
    while work:
        batch, attempt = work.pop()
        bucket.acquire()
        requests += 1
        for row in batch:
            attempts[row["action_id"]] += 1
        try:
            outcomes = destination.send(batch)
        except DestinationRefused as exc:
            refusal = redact(str(exc), known)
            for pending, _ in [(batch, attempt), *work]:
                for row in pending:
                    a = row["action_id"]
                    results[a] = RowResult(a, "dead", None, f"{refusal} (destination refused access)", attempts[a])
            return [results[row["action_id"]] for row in rows], requests, refusal
        except RetriableError as exc:
            outcomes = [RowOutcome(r["action_id"], "retry", error=str(exc), retry_after=exc.retry_after) for r in batch]
        by_id = {o.action_id: o for o in outcomes}
        missing = [r["action_id"] for r in batch if r["action_id"] not in by_id]
        if missing:
            raise RuntimeError(f"{destination.name}: send() returned no outcome for {len(missing)} of its rows")
        if len(batch) > 1 and any(o.kind == "failed" and o.whole_request for o in outcomes):
            # the API refused the whole request for a row in it: halve until the rows at fault stand alone
            half = len(batch) // 2
            work.extend([(batch[half:], attempt), (batch[:half], attempt)])
            continue
        retry_rows, retry_after, last_error = [], None, None
        for row in batch:
            outcome = by_id[row["action_id"]]
            action_id = row["action_id"]
            if outcome.kind == "retry":
                retry_rows.append(row)
                last_error = outcome.error
                if outcome.retry_after is not None:
                    retry_after = max(retry_after or 0.0, outcome.retry_after)
            else:
                error = redact(outcome.error, known) if outcome.error else None
                results[action_id] = RowResult(
                    action_id, outcome.kind, outcome.provider_message_id, error, attempts[action_id]
                )
        if not retry_rows:
            continue
        too_long = retry_after is not None and retry_after > policy.max_retry_after_s
        if attempt >= policy.max_attempts or too_long:
            reason = (
                f"Retry-After {retry_after:g}s exceeds {policy.max_retry_after_s:g}s"
                if too_long
                else f"gave up after {attempt} attempts"
            )
            error = redact(f"{last_error} ({reason})", known)
            for row in retry_rows:
                results[row["action_id"]] = RowResult(row["action_id"], "dead", None, error, attempts[row["action_id"]])
            continue
        if retry_after is not None:
            bucket.pause_until(time.monotonic() + retry_after)
        sleep(policy.backoff(attempt, retry_after, rng))
        work.append((retry_rows, attempt + 1))
    return [results[row["action_id"]] for row in rows], requests, None


def row_problem(destination: Destination, row: Row) -> str | None:
    """Why a row can never be sent by this destination (its check_row, or a ValueError while checking it:
    a template field the row lacks, payload_fields that are not JSON), or None."""
    try:
        return destination.check_row(row)
    except ValueError as exc:
        return str(exc)


def make_batches(destination: Destination, rows: Iterable[Row]) -> Iterator[list[Row]]:
    """Rows (in action_id order) grouped by the destination's batch key and cut at its batch size. Streams: a
    batch is yielded as soon as it is full, the partly filled ones at the end."""
    size = max(1, destination.max_batch_size)
    groups: dict = {}
    for row in rows:
        group = groups.setdefault(destination.batch_key(row), [])
        group.append(row)
        if len(group) >= size:
            yield group
            groups[destination.batch_key(row)] = []
    for group in groups.values():
        if group:
            yield group


def _samples(destination: Destination, batch: list[Row] | None) -> list[dict]:
    """The request the first sendable rows would make, masked; or why the first rows cannot be sent."""
    if not batch:
        return []
    sendable = [row for row in batch if row_problem(destination, row) is None][:3]
    if sendable:
        return [mask_personal_data(destination.preview(sendable))]
    return [{"not_sendable": redact(str(row_problem(destination, batch[0])))}]


def _resolve_in_flight(con: duckdb.DuckDBPyConnection, destination: Destination, report: ActivationReport) -> None:
    pending = ledger.in_flight(con, destination.name)
    if not pending:
        return
    delivered = destination.delivered_action_ids(pending)
    if delivered is None:
        report.resent_in_flight = len(pending)
        log.warning(
            "%s: %d actions had their intent recorded and no result when the last run stopped (in flight or queued); "
            "the destination cannot say which arrived, "
            "so they are sent again with the same idempotency key%s",
            destination.name,
            len(pending),
            "" if destination.honours_idempotency_key else " (this API has none: duplicates are possible)",
        )
        return
    ledger.mark_results(
        con,
        destination.name,
        [(action_id, "sent", "resolved-after-restart", None) for action_id in sorted(delivered)],
        _now(),
    )
    report.resolved_in_flight = len(delivered)
    report.resent_in_flight = len(pending) - len(delivered)
    log.warning(
        "%s: %d actions had their intent recorded and no result when the last run stopped; %d had arrived, "
        "%d will be sent again",
        destination.name,
        len(pending),
        len(delivered),
        len(pending) - len(delivered),
    )


def _due_sql(actions_relation: str) -> str:
    return f"""
        select actions.* from {actions_relation} as actions
        where not exists (
            select 1 from {ledger.LEDGER_TABLE} as sent
            where sent.action_id = actions.action_id and sent.destination = ? and sent.state = 'sent'
        )
        order by actions.action_id
        """


def _due_rows(con: duckdb.DuckDBPyConnection, destination: Destination, actions_relation: str) -> Iterator[Row]:
    """The due rows, JSON-safe, with their idempotency key; streamed in chunks from a second connection to the
    same database, so that sending starts while later rows are still being read and the ledger writes on `con`
    go on in between. (The relation must be visible to another connection: a table or view, not a registered
    Python object.) The read sees the warehouse as it was when it started."""
    reader = con.cursor()
    try:
        due = reader.execute(_due_sql(actions_relation), [destination.name])
        columns = [d[0] for d in due.description]
        # only temporal and decimal columns need converting to JSON-safe values: find them once, not per value
        convert = [i for i, d in enumerate(due.description) if str(d[1]).split("(")[0] in _NOT_JSON_TYPES]
        key = columns.index("action_id")
        while chunk := due.fetchmany(READ_CHUNK_ROWS):
            for values in chunk:
                if convert:
                    values = list(values)
                    for i in convert:
                        values[i] = _json_safe(values[i])
                row = dict(zip(columns, values, strict=True))
                row["idempotency_key"] = values[key]
                yield row
    finally:
        reader.close()


READ_CHUNK_ROWS = 2048
_NOT_JSON_TYPES = frozenset({"TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "DATE", "TIME", "DECIMAL", "TIMESTAMP_NS"})


def activate(
    con: duckdb.DuckDBPyConnection,
    destination: Destination,
    actions_relation: str,
    run_id: str,
    dry_run: bool = False,
    *,
    retry: RetryPolicy | None = None,
    volume_cap: VolumeCap | None = None,
    seed: int | None = None,
    sleep=time.sleep,
) -> ActivationReport:
    """Send every action of `actions_relation` that the ledger does not show as sent to `destination`."""
    started, started_at = time.monotonic(), _now()
    retry = retry or RetryPolicy()
    ledger.ensure_ledger(con)
    report = ActivationReport(destination=destination.name, dry_run=dry_run)
    if not dry_run:
        _resolve_in_flight(con, destination, report)
    report.already_sent = con.execute(
        f"""
        select count(*) from {actions_relation} as actions
        inner join {ledger.LEDGER_TABLE} as sent
            on actions.action_id = sent.action_id and sent.destination = ? and sent.state = 'sent'
        """,
        [destination.name],
    ).fetchone()[0]
    report.candidates = con.execute(
        f"select count(*) from ({_due_sql(actions_relation)})", [destination.name]
    ).fetchone()[0]
    due_rows = _due_rows(con, destination, actions_relation)
    batches = make_batches(destination, due_rows)
    first = next(batches, None)
    report.samples = _samples(destination, first)
    batches = itertools.chain([first] if first else [], batches)

    def finish(is_held: bool = False) -> ActivationReport:
        due_rows.close()  # closes the reading connection when the rows were not all read (dry run, held)
        report.duration_s = round(time.monotonic() - started, 3)
        if dry_run:  # a preview writes nothing
            return report
        ledger.record_run(
            con,
            run_id=run_id,
            destination=destination.name,
            started_at=started_at,
            finished_at=_now(),
            due=report.candidates,
            sent=report.sent,
            failed=report.failed,
            dead=report.dead,
            retried=report.retried,
            is_dry_run=dry_run,
            is_held=is_held,
        )
        return report

    if dry_run:
        requests = sum(1 for _ in batches)
        log.info("%s: dry run, %d actions would be sent in %d requests", destination.name, report.candidates, requests)
        return finish()
    decision = check_volume(
        con, destination.name, report.candidates, volume_cap or VolumeCap(enabled=False), run_id, _now()
    )
    report.volume_normal, report.volume_cap = decision.normal, decision.cap
    if not decision.allowed:
        report.held_by_volume_cap, report.hold_id = True, decision.hold_id
        log.warning(
            "%s: %d due actions is above the volume cap %d (recent normal %.0f): held until approved (hold %s)",
            destination.name,
            report.candidates,
            decision.cap,
            decision.normal,
            decision.hold_id,
        )
        return finish(is_held=True)

    try:
        _send_all(con, destination, batches, run_id, retry, seed, sleep, report)
    finally:
        due_rows.close()
    log.info(
        "%s: %d due, %d sent, %d failed, %d dead, %d retries, %d requests in %.2fs",
        destination.name,
        report.candidates,
        report.sent,
        report.failed,
        report.dead,
        report.retried,
        report.requests,
        time.monotonic() - started,
    )
    return finish()


# Ledger groups (see docs/decisions/0014-ledger-groups.md): intent is recorded for a group of actions in one
# statement before any of them is handed to a worker; acknowledged results are marked in one statement when a
# group's worth has come back, or when the oldest has waited RESULT_FLUSH_S, or when nothing is left in flight. A
# destination (or its block in the config file) may set `ledger_group_size`. Where the API honours no idempotency
# key, an acknowledged result not yet marked is a duplicate if the process dies: those are marked sooner.
LEDGER_GROUP_ACTIONS = 500
LEDGER_GROUP_BATCHES = 4
RESULT_FLUSH_S = 0.25
RESULT_FLUSH_WITHOUT_KEY_S = 0.05


def ledger_group_size(destination: Destination) -> int:
    """Actions per ledger statement: the destination's `ledger_group_size`, else at least LEDGER_GROUP_ACTIONS
    and at least LEDGER_GROUP_BATCHES of its batches."""
    configured = getattr(destination, "ledger_group_size", None)
    if configured is not None:
        if int(configured) < 1:
            raise ValueError(f"destination '{destination.name}': ledger_group_size must be >= 1, got {configured}")
        return int(configured)
    return max(LEDGER_GROUP_ACTIONS, LEDGER_GROUP_BATCHES * max(1, destination.max_batch_size))


@dataclass
class _Window:
    """The calling thread's bookkeeping between the ledger and the workers."""

    queued: int = 0  # batches handed to the pool whose outcome has not come back
    unresolved: int = 0  # actions with intent recorded and no result marked
    exhausted: bool = False
    failure: BaseException | None = None
    acked: list[RowResult] = field(default_factory=list)  # back from the workers, not yet in the ledger
    oldest_ack: float | None = None
    not_sent: list[Row] = field(default_factory=list)  # intent recorded, never sent (the run stopped first)


def _send_all(con, destination, batches, run_id, retry, seed, sleep, report: ActivationReport) -> None:
    """Sends every batch from a bounded pool of workers, writing the ledger in groups from this thread only.

    Intent before send: a group of batches (about `ledger_group_size` actions) gets its intent recorded in one
    statement, then all its batches go to the pool. Result after ack: results are collected as workers finish and
    marked in one statement per flush. At most two groups (and at least one batch per worker plus one) have intent
    recorded and no result, so that workers never wait for a ledger write: that is the most a crash can leave
    'pending'. A refusal of our credentials or an error in the destination stops the workers (a shared event):
    batches not yet started are not sent, and marked 'dead' without counting an attempt (they stay due)."""
    name = destination.name
    bucket = TokenBucket(destination.requests_per_second, destination.burst)
    rng = random.Random(seed)
    queue = iter(batches)
    width, batch_size = max(1, destination.max_concurrency), max(1, destination.max_batch_size)
    group_actions = ledger_group_size(destination)
    # two groups, and room for a whole group more than every worker's batch plus one, so no worker waits
    window = max(2 * group_actions, group_actions + (width + 1) * batch_size)
    flush_after = RESULT_FLUSH_S if destination.honours_idempotency_key else RESULT_FLUSH_WITHOUT_KEY_S
    stop = threading.Event()
    done: SimpleQueue = SimpleQueue()
    state = _Window()

    def work(batch: list[Row]) -> None:  # in a worker thread: no warehouse here
        if stop.is_set():
            done.put((batch, None, None))
            return
        try:
            outcome = deliver_batch(destination, batch, retry, bucket, rng, sleep)
        except BaseException as exc:  # a bug or a crash in the destination: stop sending, keep the ledger
            stop.set()
            done.put((batch, None, exc))
            return
        if outcome[2] is not None:  # the destination refused our credentials: no further request this run
            stop.set()
        done.put((batch, outcome, None))

    def record_group(pool: ThreadPoolExecutor) -> None:
        group, size = [], 0
        while size < group_actions:
            batch = next(queue, None)
            if batch is None:
                state.exhausted = True
                break
            group.append(batch)
            size += len(batch)
        if not group:
            return
        ledger.record_intent(con, name, [r["action_id"] for batch in group for r in batch], run_id, _now())
        state.unresolved += size
        for batch in group:
            state.queued += 1
            pool.submit(work, batch)

    def collect(item) -> None:
        batch, outcome, exc = item
        state.queued -= 1
        if exc is not None:
            state.failure = state.failure or exc
            state.unresolved -= len(batch)  # stays 'pending': the destination may or may not have it
            return
        if outcome is None:
            state.not_sent.extend(batch)
            return
        results, requests, refusal = outcome
        report.requests += requests
        if refusal and report.stopped is None:
            report.stopped = refusal
            log.error("%s: the destination refused access (%s): sending stopped for this run", name, refusal)
        if state.oldest_ack is None:
            state.oldest_ack = time.monotonic()
        state.acked.extend(results)
        for r in results:
            report.retried += max(0, r.attempts - 1)
            if r.state == "sent":
                report.sent += 1
            else:
                report.failed += r.state == "failed"
                report.dead += r.state == "dead"
                reason = (r.error or "").split(" (gave up")[0][:80]
                key = f"{r.state}: {reason}"
                report.failure_reasons[key] = report.failure_reasons.get(key, 0) + 1

    def flush() -> None:
        if state.acked:
            ledger.mark_results(
                con,
                name,
                [(r.action_id, r.state, r.provider_message_id, r.error, max(0, r.attempts - 1)) for r in state.acked],
                _now(),
            )
            state.unresolved -= len(state.acked)
            state.acked, state.oldest_ack = [], None
        if state.not_sent:
            if report.stopped:
                reason = f"{report.stopped} (not sent: destination refused access)"
            else:
                reason = f"not sent: the run stopped on an error ({type(state.failure).__name__}) before sending it"
            ledger.mark_results(con, name, [(r["action_id"], "dead", None, reason, -1) for r in state.not_sent], _now())
            report.dead += len(state.not_sent)
            state.unresolved -= len(state.not_sent)
            state.not_sent = []

    with ThreadPoolExecutor(max_workers=width, thread_name_prefix="activation") as pool:
        try:
            while True:
                while not stop.is_set() and not state.exhausted and state.unresolved + group_actions <= window:
                    record_group(pool)
                if state.queued == 0:
                    break
                timeout = None if state.oldest_ack is None else state.oldest_ack + flush_after - time.monotonic()
                try:
                    collect(done.get(timeout=max(0.0, timeout)) if timeout is not None else done.get())
                    while True:  # whatever else is already back
                        collect(done.get_nowait())
                except Empty:
                    pass
                late = state.oldest_ack is not None and time.monotonic() - state.oldest_ack >= flush_after
                if len(state.acked) >= group_actions or late or state.queued == 0 or stop.is_set():
                    flush()
        except BaseException:
            # this thread failed (a ledger write, an interrupt): the workers send nothing more; what they acked is
            # marked if the ledger still takes it, else it stays 'pending' and the next run resolves it
            stop.set()
            pool.shutdown(wait=True)
            while state.queued:
                collect(done.get())
            try:
                flush()
            except Exception:
                log.exception("%s: the results of the last acknowledged requests could not be marked", name)
            raise
    if state.failure is not None:
        raise state.failure


def _json_safe(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def payload_fields(row: Row) -> dict:
    """The personalisation fields of an action (policy.actions_due.payload_fields, JSON) as a dict. Parsed once:
    the dict replaces the JSON text in the row (a destination's check_row and build_request both ask; the rows
    are the run's own), so callers must not change it."""
    value = row.get("payload_fields")
    if value in (None, ""):
        return {}
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise ValueError(f"action {row.get('action_id')}: payload_fields is not JSON") from exc
    fields = parsed if isinstance(parsed, dict) else {}
    row["payload_fields"] = fields
    return fields

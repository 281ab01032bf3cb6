"""The reference interpreter: docs/journey_semantics.md in plain Python, readable over fast.

It is the oracle the warehouse engine is compared with, and the engine behind `simulate`. Read it next to the
page: docstrings name the rule they implement ("Rule 3"), and the page's "Precise rules" section holds the
details (hashes, ties, local time) that both engines must agree on.

Inputs are a `Journey` and a `History` (customers with their attributes, events, segment memberships), all
times naive UTC datetimes. `run(journey, history, as_of)` is one run; `run_sequence(journey, history, as_ofs)`
runs at each as_of in turn, carrying what earlier runs committed (`decided_in_run` is the run's index).
A run only sees what happened at or before its as_of: later events and segment changes do not exist yet.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from journey_engine.durations import format_duration
from journey_engine.spec import (
    EXIT_NODE,
    WEEKDAYS,
    ActionNode,
    Condition,
    Delay,
    Exit,
    Journey,
    LocalWindow,
    Node,
    Split,
    WaitFor,
)

# --- Hashes: the exact formulas the SQL engine reproduces ------------------------------------------------------


def md5_hex(*parts: str) -> str:
    """md5 of the parts joined by '|', as 32 lowercase hex digits. SQL: md5(a || '|' || b)."""
    return hashlib.md5("|".join(parts).encode("utf-8")).hexdigest()


def bucket(hex_digest: str, buckets: int) -> int:
    """The first 15 hex digits as an integer (< 2**60, fits a signed bigint), mod `buckets`.
    SQL (DuckDB): ('0x' || substr(h, 1, 15))::bigint % buckets."""
    return int(hex_digest[:15], 16) % buckets


def enrollment_id_for(journey_id: str, customer_id: str, entry_id: str) -> str:
    return md5_hex(journey_id, customer_id, entry_id)


def action_id_for(journey_id: str, enrollment_id: str, node_id: str) -> str:
    return md5_hex(journey_id, enrollment_id, node_id)


def is_holdout(enrollment_id: str, holdout_percent: int) -> bool:
    """Rule 2."""
    return bucket(md5_hex(enrollment_id), 100) < holdout_percent


def random_branch(enrollment_id: str, node: Split) -> int:
    """Index of the branch: bucket = hash(enrollment_id | node_id) mod total weight, branches in file order."""
    position = bucket(md5_hex(enrollment_id, node.id), sum(branch.weight for branch in node.random))
    for index, branch in enumerate(node.random):
        if position < branch.weight:
            return index
        position -= branch.weight
    raise AssertionError("unreachable: position < total weight")


def segment_entry_id(segment: str, entered_at: datetime) -> str:
    """The entry id of a segment entry.
    SQL: 'segment:' || segment || ':' || strftime(entered_at, '%Y-%m-%dT%H:%M:%S.%f')."""
    return f"segment:{segment}:{entered_at.strftime('%Y-%m-%dT%H:%M:%S.%f')}"


# --- Inputs ---------------------------------------------------------------------------------------------------


@dataclass
class History:
    """What happened. customers: customer_id -> attributes (time_zone and any attribute conditions use);
    events: dicts with event_id, customer_id, event_name, occurred_at and any fields;
    memberships: dicts with customer_id, segment, entered_at, exited_at (None while still a member)."""

    customers: Mapping[str, Mapping[str, Any]]
    events: Sequence[Mapping[str, Any]]
    memberships: Sequence[Mapping[str, Any]] = ()


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo is not None else moment


@dataclass(frozen=True)
class _Event:
    event_id: str
    customer_id: str
    name: str
    at: datetime
    fields: Mapping[str, Any]


@dataclass(frozen=True)
class _Membership:
    customer_id: str
    segment: str
    entered_at: datetime
    exited_at: datetime | None  # None: still a member at the view's as_of

    def contains(self, moment: datetime) -> bool:
        return self.entered_at <= moment and (self.exited_at is None or moment < self.exited_at)


class _View:
    """The history as a run at `as_of` sees it: nothing after as_of exists yet."""

    def __init__(self, history: History, as_of: datetime) -> None:
        self.as_of = as_of
        self.customers = history.customers
        self.events_by_customer: dict[str, list[_Event]] = defaultdict(list)
        self.events_by_name: dict[str, list[_Event]] = defaultdict(list)
        for raw in history.events:
            if raw.get("customer_id") is None:  # not resolved to a customer: journeys never see it
                continue
            event = _Event(
                event_id=str(raw["event_id"]),
                customer_id=str(raw["customer_id"]),
                name=raw["event_name"],
                at=_naive_utc(raw["occurred_at"]),
                fields=raw,
            )
            if event.at <= as_of:
                self.events_by_customer[event.customer_id].append(event)
                self.events_by_name[event.name].append(event)
        for events in (*self.events_by_customer.values(), *self.events_by_name.values()):
            events.sort(key=lambda event: (event.at, event.event_id))

        self.memberships_by_customer: dict[str, list[_Membership]] = defaultdict(list)
        self.memberships_by_segment: dict[str, list[_Membership]] = defaultdict(list)
        for raw in history.memberships:
            entered_at = _naive_utc(raw["entered_at"])
            if entered_at > as_of:
                continue
            exited_at = _naive_utc(raw["exited_at"]) if raw.get("exited_at") is not None else None
            membership = _Membership(
                customer_id=str(raw["customer_id"]),
                segment=raw["segment"],
                entered_at=entered_at,
                exited_at=exited_at if exited_at is not None and exited_at <= as_of else None,
            )
            self.memberships_by_customer[membership.customer_id].append(membership)
            self.memberships_by_segment[membership.segment].append(membership)
        for memberships in self.memberships_by_segment.values():
            memberships.sort(key=lambda membership: (membership.entered_at, membership.customer_id))

    def attributes(self, customer_id: str) -> Mapping[str, Any]:
        return self.customers.get(customer_id, {})

    def events(self, customer_id: str, name: str, after: datetime, until: datetime | None = None) -> Iterator[_Event]:
        """The customer's events called `name` with after < at <= until, in (time, event_id) order."""
        for event in self.events_by_customer.get(customer_id, ()):
            if event.name == name and after < event.at and (until is None or event.at <= until):
                yield event

    def segment_entries(self, customer_id: str, segment: str, after: datetime, until: datetime) -> list[datetime]:
        return sorted(
            membership.entered_at
            for membership in self.memberships_by_customer.get(customer_id, ())
            if membership.segment == segment and after < membership.entered_at <= until
        )

    def segment_exits(self, customer_id: str, segment: str, after: datetime) -> list[datetime]:
        return sorted(
            membership.exited_at
            for membership in self.memberships_by_customer.get(customer_id, ())
            if membership.segment == segment and membership.exited_at is not None and membership.exited_at > after
        )

    def is_member(self, customer_id: str, segment: str, moment: datetime) -> bool:
        return any(
            membership.segment == segment and membership.contains(moment)
            for membership in self.memberships_by_customer.get(customer_id, ())
        )


# --- Outputs --------------------------------------------------------------------------------------------------


@dataclass
class Enrollment:
    enrollment_id: str
    journey_id: str
    version: int
    customer_id: str
    entry_id: str  # the entry event's id, or segment_entry_id(...) for a segment entry
    entered_at: datetime
    variant: str  # holdout | treatment
    status: str = "active"  # active | completed (reached an exit node) | exited (exit rule, goal, node_removed)
    exited_at: datetime | None = None
    exit_reason: str | None = None  # exit_node | exit_rule | goal | node_removed
    converted_at: datetime | None = None
    decided_in_run: int = 0


@dataclass(frozen=True)
class Transition:
    enrollment_id: str
    step: int  # 0 for the entry, then 1, 2, ... along the enrollment's path
    from_node: str | None  # None for the entry
    to_node: str  # EXIT_NODE ('__exit__') when the enrollment ends
    at: datetime
    reason: (
        str  # entry | delay | event | timeout | condition | random | next | exit_node | exit_rule | goal | node_removed
    )
    decided_in_run: int = 0
    detail: str = field(default="", compare=False)  # why, in words (for simulate); not part of the contract


@dataclass(frozen=True)
class Action:
    action_id: str
    enrollment_id: str
    node_id: str
    kind: str
    channel: str | None
    template: str | None
    fields: tuple[str, ...]
    variant: str  # the enrollment's: delivery policy suppresses 'holdout' actions with reason holdout
    scheduled_at: datetime
    decided_in_run: int = 0


@dataclass(frozen=True)
class Position:
    """Where an active enrollment waits after the run, and until when."""

    enrollment_id: str
    node_id: str
    since: datetime
    waiting_for: str  # time (a delay) | event (a wait_for)
    until: datetime


@dataclass(frozen=True)
class SkippedEntry:
    """An entry candidate that did not enroll, and why (for simulate; not part of the contract)."""

    customer_id: str
    entry_id: str
    at: datetime
    reason: str  # audience | dedupe | reentry_never | reentry_active | reentry_cooldown | paused
    decided_in_run: int = 0


@dataclass(frozen=True)
class RunResult:
    enrollments: list[Enrollment]
    transitions: list[Transition]
    actions: list[Action]
    positions: list[Position]
    skipped_entries: list[SkippedEntry]

    def decisions(self) -> dict[str, list[tuple]]:
        """Enrollments, transitions, actions and positions as comparable tuples, without decided_in_run."""

        def strip(record: Any) -> tuple:
            values = dict(record.__dict__)
            values.pop("decided_in_run", None)
            values.pop("detail", None)
            return tuple(values.items())

        return {
            "enrollments": sorted(strip(enrollment) for enrollment in self.enrollments),
            "transitions": sorted(strip(transition) for transition in self.transitions),
            "actions": sorted(strip(action) for action in self.actions),
            "positions": sorted(strip(position) for position in self.positions),
        }


# --- Conditions -----------------------------------------------------------------------------------------------


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, datetime | date):
        return "time"
    return "text"


def _as_time(value: Any, like: Any) -> Any:
    """A condition value compared with a date or timestamp is read as an ISO date or timestamp."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed.date() if isinstance(like, date) and not isinstance(like, datetime) else _naive_utc(parsed)
    return None


def compare(actual: Any, op: str, value: Any) -> bool:
    """One comparison. Null is false except for is_null; values of different kinds never match."""
    if op == "is_null":
        return actual is None
    if actual is None:
        return False
    if op == "not_null":
        return True
    options = list(value) if op in ("in", "not_in") else [value]
    if _kind_of(actual) == "time":
        options = [_as_time(option, actual) for option in options]
        if any(option is None for option in options):
            return False
    elif any(_kind_of(option) != _kind_of(actual) for option in options):
        return False
    if op == "in":
        return actual in options
    if op == "not_in":
        return actual not in options
    (expected,) = options
    return {
        "=": actual == expected,
        "!=": actual != expected,
        "<": actual < expected,
        "<=": actual <= expected,
        ">": actual > expected,
        ">=": actual >= expected,
    }[op]


def condition_holds(
    condition: Condition, view: _View, customer_id: str, moment: datetime, event: _Event | None = None
) -> bool:
    """A condition at time `moment`; `event` is the event that `field` conditions read."""
    if condition.kind == "field":
        assert event is not None, "field conditions only appear on events"
        return compare(event.fields.get(condition.name), condition.op, condition.value)
    if condition.kind == "attribute":
        return compare(view.attributes(customer_id).get(condition.name), condition.op, condition.value)
    if condition.kind == "in_segment":
        return view.is_member(customer_id, condition.name, moment)
    if condition.kind == "not_in_segment":
        return not view.is_member(customer_id, condition.name, moment)
    # has_event: at least one such event in (moment - within, moment]
    since = moment - timedelta(seconds=condition.within_seconds)
    return any(True for _ in view.events(customer_id, condition.name, after=since, until=moment))


def all_hold(conditions: Sequence[Condition], view: _View, customer_id: str, moment: datetime, event=None) -> bool:
    return all(condition_holds(condition, view, customer_id, moment, event) for condition in conditions)


def describe_condition(condition: Condition) -> str:
    if condition.kind in ("field", "attribute"):
        value = (
            ""
            if condition.value is None
            else f" {list(condition.value) if isinstance(condition.value, tuple) else condition.value!r}"
        )
        return f"{condition.kind} {condition.name} {condition.op}{value}"
    if condition.kind == "has_event":
        return f"has_event {condition.name} within {format_duration(condition.within_seconds)}"
    return f"{condition.kind} {condition.name}"


# --- Local time -----------------------------------------------------------------------------------------------


def customer_zone(attributes: Mapping[str, Any]) -> ZoneInfo:
    """The customer's IANA time zone; UTC when it is missing or unknown."""
    name = attributes.get("time_zone")
    try:
        return ZoneInfo(name) if isinstance(name, str) and name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_to_utc(day: date, minute_of_day: int, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time. A time that occurs twice (DST fold) is its later occurrence; a
    time that does not exist (DST gap) is moved forward by the gap. This is what DuckDB's timezone(tz, ts) does."""
    wall = datetime.combine(day, time()) + timedelta(minutes=minute_of_day)
    readings = (wall.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1))
    return max(readings).replace(tzinfo=None)


def utc_to_local(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.replace(tzinfo=UTC).astimezone(zone)


def next_window_instant(moment: datetime, zone: ZoneInfo, window: LocalWindow) -> datetime:
    """The first instant >= moment inside the window: for each allowed local day, [day start, day end) in UTC."""
    local_day = utc_to_local(moment, zone).date()
    best: datetime | None = None
    for offset in range(-1, 9):
        day = local_day + timedelta(days=offset)
        if WEEKDAYS[day.weekday()] not in window.days:
            continue
        start = local_to_utc(day, window.start_minute, zone)
        end = local_to_utc(day, window.end_minute, zone)
        if start < end and moment < end:
            candidate = max(start, moment)
            best = candidate if best is None else min(best, candidate)
    assert best is not None, "a window with at least one day recurs within a week"
    return best


def attribute_target(value: Any, offset_seconds: int, zone: ZoneInfo) -> datetime | None:
    """Local midnight of a date attribute plus the offset (in seconds: days of 24 hours), as UTC.
    A timestamp attribute (naive UTC) counts by its local date; None when the attribute is null."""
    if value is None:
        return None
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value)  # raises ValueError for text that is no date
        value = parsed.date() if len(value) == 10 else _naive_utc(parsed)
    if isinstance(value, datetime):
        day = utc_to_local(_naive_utc(value), zone).date()
    elif isinstance(value, date):
        day = value
    else:
        raise ValueError(f"expected a date attribute, got {value!r}")
    return local_to_utc(day, 0, zone) + timedelta(seconds=offset_seconds)


# --- Steps ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Move:
    to_node: str
    at: datetime
    reason: str
    detail: str


@dataclass(frozen=True)
class _Wait:
    waiting_for: str  # time | event
    until: datetime


def _fmt(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def step_from(node: Node, arrived_at: datetime, enrollment: Enrollment, view: _View) -> _Move | _Wait:
    """Rule 3: where an enrollment that arrived at `node` at `arrived_at` goes next, and when; or what it waits for."""
    customer_id = enrollment.customer_id
    if isinstance(node, Delay):
        attributes = view.attributes(customer_id)
        if node.kind == "duration":
            target = arrived_at + timedelta(seconds=node.duration_seconds)
            detail = f"waited {format_duration(node.duration_seconds)}"
        elif node.kind == "local_window":
            zone = customer_zone(attributes)
            target = next_window_instant(arrived_at, zone, node.local_window)
            local = utc_to_local(target, zone)
            detail = f"local window reached ({local.strftime('%a %H:%M')} {zone.key})"
        else:
            rule = node.until_attribute
            zone = customer_zone(attributes)
            attribute_at = attribute_target(attributes.get(rule.attribute), rule.offset_seconds, zone)
            target = arrived_at if attribute_at is None else max(arrived_at, attribute_at)
            detail = (
                f"{rule.attribute} is null: no wait"
                if attribute_at is None
                else f"{rule.attribute} ({attributes.get(rule.attribute)}) {format_duration(rule.offset_seconds)}"
            )
        if target <= view.as_of:
            return _Move(node.next, target, "delay", detail)
        return _Wait("time", target)

    if isinstance(node, WaitFor):
        deadline = arrived_at + timedelta(seconds=node.timeout_seconds)
        if node.event is not None:
            for event in view.events(customer_id, node.event, after=arrived_at, until=deadline):
                if all_hold(node.where, view, customer_id, event.at, event):
                    return _Move(node.on_event, event.at, "event", f"{node.event} {event.event_id} at {_fmt(event.at)}")
        else:
            entries = view.segment_entries(customer_id, node.segment, after=arrived_at, until=deadline)
            if entries:
                return _Move(node.on_event, entries[0], "event", f"entered segment {node.segment}")
        if deadline <= view.as_of:
            waited_for = node.event or f"segment {node.segment}"
            return _Move(
                node.on_timeout, deadline, "timeout", f"no {waited_for} within {format_duration(node.timeout_seconds)}"
            )
        return _Wait("event", deadline)

    if isinstance(node, Split):
        if node.is_random:
            index = random_branch(enrollment.enrollment_id, node)
            total = sum(branch.weight for branch in node.random)
            detail = f"random branch {index} (weight {node.random[index].weight} of {total})"
            return _Move(node.random[index].next, arrived_at, "random", detail)
        for index, branch in enumerate(node.conditions):
            if all_hold(branch.when, view, customer_id, arrived_at):
                held = " and ".join(describe_condition(condition) for condition in branch.when)
                return _Move(branch.next, arrived_at, "condition", f"branch {index}: {held}")
        return _Move(node.else_node, arrived_at, "condition", "no branch held: else")

    if isinstance(node, ActionNode):
        return _Move(node.next, arrived_at, "next", "")
    raise AssertionError(f"an exit node has no next step: {node.id}")


def exit_moment(
    journey: Journey, enrollment: Enrollment, view: _View, after: datetime
) -> tuple[datetime, str, str] | None:
    """Rule 4: the first exit-rule event or segment exit, or the exiting goal, after `after` (the entry time, or for
    an enrollment carried over from an earlier run, that run's as_of). (time, reason, detail) or None."""
    customer_id = enrollment.customer_id
    earliest: tuple[datetime, str, str] | None = None
    for rule in journey.exit_rules:
        if rule.event is not None:
            found = next(view.events(customer_id, rule.event, after=after), None)
            candidate = (found.at, "exit_rule", f"{rule.event} {found.event_id}") if found else None
        else:
            exits = view.segment_exits(customer_id, rule.left_segment, after=after)
            candidate = (exits[0], "exit_rule", f"left segment {rule.left_segment}") if exits else None
        if candidate is not None and (earliest is None or candidate[0] < earliest[0]):
            earliest = candidate
    goal = journey.goal
    if goal is not None and goal.exits:
        window_end = enrollment.entered_at + timedelta(seconds=goal.within_seconds)
        found = next(view.events(customer_id, goal.event, after=after, until=window_end), None)
        # A goal and an exit rule at the same instant: the reason is the goal (the more informative one).
        if found is not None and (earliest is None or found.at <= earliest[0]):
            earliest = (found.at, "goal", f"{goal.event} {found.event_id}")
    return earliest


def conversion_moment(journey: Journey, enrollment: Enrollment, view: _View) -> datetime | None:
    """Rule 4: the first goal event in (entered_at, entered_at + within], whatever became of the enrollment."""
    if journey.goal is None:
        return None
    window_end = enrollment.entered_at + timedelta(seconds=journey.goal.within_seconds)
    found = next(
        view.events(enrollment.customer_id, journey.goal.event, after=enrollment.entered_at, until=window_end), None
    )
    return found.at if found is not None else None


# --- Runs -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    customer_id: str
    entry_id: str
    at: datetime
    dedupe_value: str | None


def entry_candidates(journey: Journey, view: _View) -> list[_Candidate]:
    """Rule 1: entry events matching `where` (or segment entries), in (time, entry id) order."""
    entry = journey.entry
    candidates = []
    if entry.event is not None:
        for event in view.events_by_name.get(entry.event, ()):
            if all_hold(entry.where, view, event.customer_id, event.at, event):
                key = event.fields.get(entry.dedupe_key) if entry.dedupe_key else None
                candidates.append(_Candidate(event.customer_id, event.event_id, event.at, _key_text(key)))
    else:
        for membership in view.memberships_by_segment.get(entry.segment, ()):
            entry_id = segment_entry_id(entry.segment, membership.entered_at)
            candidates.append(_Candidate(membership.customer_id, entry_id, membership.entered_at, None))
    return sorted(candidates, key=lambda candidate: (candidate.at, candidate.entry_id))


def _key_text(value: Any) -> str | None:
    """Dedupe key values compare as text (SQL: cast to varchar); booleans as true/false; null never matches."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _Engine:
    """The state runs carry: committed enrollments, transitions and actions, and where active enrollments wait."""

    def __init__(self) -> None:
        self.enrollments: dict[str, Enrollment] = {}
        self.by_customer: dict[str, list[Enrollment]] = defaultdict(list)
        self.transitions: list[Transition] = []
        self.actions: list[Action] = []
        self.skipped: list[SkippedEntry] = []
        self.decided_entries: set[tuple[str, str]] = set()  # (customer_id, entry_id)
        self.dedupe_values: dict[str, set[str]] = defaultdict(set)
        self.cursor: dict[str, tuple[str, datetime]] = {}  # active enrollment -> (node, arrived_at)
        self.waiting: dict[str, Position] = {}
        self.advanced_until: dict[str, datetime] = {}  # the as_of of the last run that moved the enrollment
        self.steps: dict[str, int] = defaultdict(int)
        self.last_as_of: datetime | None = None

    # Recording.

    def _transition(self, run: int, enrollment: Enrollment, from_node, to_node, at, reason, detail="") -> None:
        step = self.steps[enrollment.enrollment_id]
        self.steps[enrollment.enrollment_id] = step + 1
        self.transitions.append(Transition(enrollment.enrollment_id, step, from_node, to_node, at, reason, run, detail))

    def _end(self, run: int, enrollment: Enrollment, node_id: str, at: datetime, reason: str, detail: str) -> None:
        self._transition(run, enrollment, node_id, EXIT_NODE, at, reason, detail)
        enrollment.status = "completed" if reason == "exit_node" else "exited"
        enrollment.exited_at = at
        enrollment.exit_reason = reason
        self.cursor.pop(enrollment.enrollment_id, None)
        self.waiting.pop(enrollment.enrollment_id, None)

    def _arrive(self, run: int, journey: Journey, enrollment: Enrollment, node_id: str, at: datetime) -> bool:
        """Arriving at a node: an action node decides its action, an exit node ends the enrollment (True)."""
        node = journey.node(node_id)
        if isinstance(node, ActionNode):
            action = node.action
            self.actions.append(
                Action(
                    action_id=action_id_for(journey.journey_id, enrollment.enrollment_id, node.id),
                    enrollment_id=enrollment.enrollment_id,
                    node_id=node.id,
                    kind=action.kind,
                    channel=action.channel,
                    template=action.template,
                    fields=action.fields,
                    variant=enrollment.variant,
                    scheduled_at=at,
                    decided_in_run=run,
                )
            )
        if isinstance(node, Exit):
            self._end(run, enrollment, node_id, at, "exit_node", f"reached exit node {node_id}")
            return True
        return False

    # Rules.

    def advance(self, run: int, journey: Journey, view: _View, enrollment: Enrollment) -> None:
        """Rules 3-5: move an active enrollment as far as its event times allow, up to the run's as_of."""
        node_id, arrived_at = self.cursor[enrollment.enrollment_id]
        watermark = max(enrollment.entered_at, self.advanced_until.get(enrollment.enrollment_id, enrollment.entered_at))
        self.advanced_until[enrollment.enrollment_id] = view.as_of
        if not journey.has_node(node_id):
            detail = f"node {node_id} is not in version {journey.version}"
            self._end(run, enrollment, node_id, view.as_of, "node_removed", detail)
            return
        if isinstance(journey.node(node_id), Exit):  # a new version turned the node it waits in into an exit
            detail = f"node {node_id} is an exit in version {journey.version}"
            self._end(run, enrollment, node_id, view.as_of, "exit_node", detail)
            return
        ending = exit_moment(journey, enrollment, view, after=watermark)
        while True:
            step = step_from(journey.node(node_id), arrived_at, enrollment, view)
            if ending is not None and (isinstance(step, _Wait) or step.at >= ending[0]):
                self._end(run, enrollment, node_id, *ending)
                return
            if isinstance(step, _Wait):
                self.cursor[enrollment.enrollment_id] = (node_id, arrived_at)
                self.waiting[enrollment.enrollment_id] = Position(
                    enrollment.enrollment_id, node_id, arrived_at, step.waiting_for, step.until
                )
                return
            self._transition(run, enrollment, node_id, step.to_node, step.at, step.reason, step.detail)
            node_id, arrived_at = step.to_node, step.at
            if self._arrive(run, journey, enrollment, node_id, arrived_at):
                return

    def reentry_refusal(self, journey: Journey, candidate: _Candidate) -> str | None:
        """Rule 1: why the re-entry rule or the dedupe key refuses the candidate, or None."""
        if candidate.dedupe_value is not None and candidate.dedupe_value in self.dedupe_values[candidate.customer_id]:
            return "dedupe"
        earlier = [
            enrollment
            for enrollment in self.by_customer[candidate.customer_id]
            if (enrollment.entered_at, enrollment.entry_id) < (candidate.at, candidate.entry_id)
        ]
        rule = journey.reentry
        if rule.rule == "never":
            return "reentry_never" if earlier else None
        # Active at t: entered at or before t and not ended by t (one that ends at t no longer blocks).
        if any(enrollment.exited_at is None or enrollment.exited_at > candidate.at for enrollment in earlier):
            return "reentry_active"
        if rule.rule == "cooldown":
            cooldown_start = candidate.at - timedelta(seconds=rule.cooldown_seconds)
            if any(cooldown_start < enrollment.exited_at < candidate.at for enrollment in earlier):
                return "reentry_cooldown"
        return None

    def enroll(self, run: int, journey: Journey, view: _View, candidate: _Candidate) -> None:
        """Rules 1-3: a candidate enrolls (and walks as far as the run allows) or is skipped with a reason."""
        self.decided_entries.add((candidate.customer_id, candidate.entry_id))
        if not all_hold(journey.entry.audience, view, candidate.customer_id, candidate.at):
            refusal = "audience"
        else:
            refusal = self.reentry_refusal(journey, candidate)
        if refusal is not None:
            self.skipped.append(SkippedEntry(candidate.customer_id, candidate.entry_id, candidate.at, refusal, run))
            return
        enrollment_id = enrollment_id_for(journey.journey_id, candidate.customer_id, candidate.entry_id)
        enrollment = Enrollment(
            enrollment_id=enrollment_id,
            journey_id=journey.journey_id,
            version=journey.version,
            customer_id=candidate.customer_id,
            entry_id=candidate.entry_id,
            entered_at=candidate.at,
            variant="holdout" if is_holdout(enrollment_id, journey.holdout_percent) else "treatment",
            decided_in_run=run,
        )
        self.enrollments[enrollment_id] = enrollment
        self.by_customer[candidate.customer_id].append(enrollment)
        if candidate.dedupe_value is not None:
            self.dedupe_values[candidate.customer_id].add(candidate.dedupe_value)
        detail = f"entered on {journey.entry.event or 'segment ' + journey.entry.segment} ({candidate.entry_id})"
        self._transition(run, enrollment, None, journey.start_node, candidate.at, "entry", detail)
        if self._arrive(run, journey, enrollment, journey.start_node, candidate.at):
            return
        self.cursor[enrollment_id] = (journey.start_node, candidate.at)
        self.advance(run, journey, view, enrollment)

    def run(self, run: int, journey: Journey, history: History, as_of: datetime) -> None:
        """Rule 5: one run at as_of commits everything with a time at or before as_of."""
        if self.last_as_of is not None and as_of < self.last_as_of:
            raise ValueError(f"runs go forward in time: as_of {as_of} is before the previous run's {self.last_as_of}")
        self.last_as_of = as_of
        view = _View(history, as_of)
        new_candidates = [
            candidate
            for candidate in entry_candidates(journey, view)
            if (candidate.customer_id, candidate.entry_id) not in self.decided_entries
        ]
        if journey.status == "paused":
            # Paused: no step and no enrollment; the candidates seen now never enroll.
            for candidate in new_candidates:
                self.decided_entries.add((candidate.customer_id, candidate.entry_id))
                self.skipped.append(
                    SkippedEntry(candidate.customer_id, candidate.entry_id, candidate.at, "paused", run)
                )
            return
        for enrollment_id in list(self.cursor):
            self.advance(run, journey, view, self.enrollments[enrollment_id])
        for candidate in new_candidates:
            self.enroll(run, journey, view, candidate)
        for enrollment in self.enrollments.values():
            if enrollment.converted_at is None:
                enrollment.converted_at = conversion_moment(journey, enrollment, view)

    def result(self) -> RunResult:
        order = {
            enrollment_id: index
            for index, enrollment_id in enumerate(
                sorted(self.enrollments, key=lambda key: (self.enrollments[key].entered_at, key))
            )
        }
        return RunResult(
            enrollments=[replace(self.enrollments[key]) for key in sorted(order, key=order.get)],
            transitions=sorted(self.transitions, key=lambda record: (order[record.enrollment_id], record.step)),
            actions=sorted(self.actions, key=lambda record: (record.scheduled_at, order[record.enrollment_id])),
            positions=sorted(self.waiting.values(), key=lambda record: order[record.enrollment_id]),
            skipped_entries=sorted(self.skipped, key=lambda record: (record.at, record.entry_id)),
        )


def run(journey: Journey, history: History, as_of: datetime) -> RunResult:
    """One run at `as_of`."""
    return run_sequence(journey, history, [as_of])


def run_sequence(journey: Journey | Sequence[Journey], history: History, as_ofs: Sequence[datetime]) -> RunResult:
    """Runs at each as_of in turn (non-decreasing), each committing on top of the previous ones.

    `journey` is one journey for every run, or one per run to model edits (a new version takes effect in the run
    that first uses it: rule 8) and pauses (status 'paused')."""
    journeys = [journey] * len(as_ofs) if isinstance(journey, Journey) else list(journey)
    if len(journeys) != len(as_ofs):
        raise ValueError(f"expected one journey per run: {len(journeys)} journeys for {len(as_ofs)} runs")
    if len({version.journey_id for version in journeys}) > 1:
        raise ValueError("every run must be of the same journey (one journey_id)")
    engine = _Engine()
    for index, (version, as_of) in enumerate(zip(journeys, as_ofs, strict=True)):
        engine.run(index, version, history, as_of)
    return engine.result()

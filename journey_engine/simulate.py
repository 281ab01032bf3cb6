"""Walk customers through a journey with the reference interpreter and tell, step by step, what happened and why.

This is the "simulate this customer" tool: `python -m journey_engine simulate --journey <file>
--customer-events <events.jsonl>`. Each line of the events file is one event, a JSON object with `event_name` and
`occurred_at` (ISO 8601; UTC when it has no offset) and any fields (`product_id`, `cart_id`, ...); `event_id`
and `customer_id` are optional (line numbers and the customer's id stand in).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from journey_engine.durations import format_duration
from journey_engine.reference import Action, History, RunResult, Transition, run
from journey_engine.spec import EXIT_NODE, ActionNode, Journey

DEFAULT_CUSTOMER_ID = "customer"

SKIP_REASONS = {
    "audience": "the audience conditions did not hold",
    "dedupe": "its dedupe key value already started an enrollment",
    "reentry_never": "re-entry rule 'never': already enrolled once",
    "reentry_active": "an enrollment of this customer was still active",
    "reentry_cooldown": "re-entry cool-down: an enrollment ended less than the cool-down before",
    "paused": "the journey was paused",
}


class SimulationInputError(ValueError):
    """An events, customer or segments file that cannot be read; the message names the file and line."""


def parse_time(text: Any, where: str) -> datetime:
    """ISO 8601 text as a naive UTC datetime ('Z' and offsets are converted; no offset means UTC)."""
    if not isinstance(text, str):
        raise SimulationInputError(f"{where}: expected an ISO 8601 time like 2024-03-01T10:00:00Z, got {text!r}")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SimulationInputError(
            f"{where}: expected an ISO 8601 time like 2024-03-01T10:00:00Z, got {text!r}"
        ) from None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _json_lines(path: Path) -> list[tuple[int, dict[str, Any]]]:
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise SimulationInputError(f"{path}:{number}: expected one JSON object per line: {error.msg}") from None
        if not isinstance(record, dict):
            raise SimulationInputError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
        records.append((number, record))
    return records


def read_history(
    events_path: str | Path, customer: Mapping[str, Any] | None = None, segments_path: str | Path | None = None
) -> History:
    """A history from an events file (JSON lines), optional customer attributes and optional segment memberships
    (JSON lines with segment, entered_at, exited_at)."""
    attributes = dict(customer or {})
    customer_id = str(attributes.pop("customer_id", DEFAULT_CUSTOMER_ID))
    events_path = Path(events_path)
    events = []
    for number, record in _json_lines(events_path):
        where = f"{events_path}:{number}"
        if not isinstance(record.get("event_name"), str):
            raise SimulationInputError(f"{where}: expected an `event_name`, got {record.get('event_name')!r}")
        event = dict(record)
        event["occurred_at"] = parse_time(record.get("occurred_at"), f"{where}, occurred_at")
        event.setdefault("event_id", f"line-{number}")
        event["customer_id"] = str(record.get("customer_id", customer_id))
        events.append(event)
    memberships = []
    if segments_path is not None:
        segments_path = Path(segments_path)
        for number, record in _json_lines(segments_path):
            where = f"{segments_path}:{number}"
            exited = record.get("exited_at")
            memberships.append(
                {
                    "customer_id": str(record.get("customer_id", customer_id)),
                    "segment": record["segment"],
                    "entered_at": parse_time(record.get("entered_at"), f"{where}, entered_at"),
                    "exited_at": None if exited is None else parse_time(exited, f"{where}, exited_at"),
                }
            )
    customer_ids = {event["customer_id"] for event in events} | {customer_id}
    return History(customers={key: attributes for key in customer_ids}, events=events, memberships=memberships)


def _fmt(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def _action_line(journey: Journey, action: Action) -> str:
    what = action.kind
    node = journey.node(action.node_id) if journey.has_node(action.node_id) else None
    config = node.action if isinstance(node, ActionNode) else None
    if action.kind == "message":
        what += f" {action.channel} {action.template}"
        if action.fields:
            what += f" [{', '.join(action.fields)}]"
        if config is not None and config.fallback_channels:
            what += f", else {' then '.join(config.fallback_channels)}"
    elif config is not None:
        what += f" {config.operation} {config.audience or dict(config.properties)}"
    held = "  (holdout: decided, never sent)" if action.variant == "holdout" else ""
    return f"  {_fmt(action.scheduled_at)}  action {action.node_id}: {what}{held}"


def _transition_line(transition: Transition) -> str:
    source = "enter" if transition.from_node is None else transition.from_node
    target = "end" if transition.to_node == EXIT_NODE else transition.to_node
    why = transition.reason + (f": {transition.detail}" if transition.detail else "")
    move = f"{source} -> {target}"
    return f"  {_fmt(transition.at)}  {move:<44} {why}"


def describe(journey: Journey, result: RunResult, as_of: datetime) -> str:
    """The result as the text the simulate command prints."""
    source = journey.source_file or "in memory"
    lines = [f"Journey {journey.journey_id} v{journey.version} ({source}), as of {_fmt(as_of)} UTC"]
    if journey.status == "paused":
        lines.append("The journey is paused: nobody enters and nobody moves.")
    transitions: dict[str, list[Transition]] = defaultdict(list)
    for transition in result.transitions:
        transitions[transition.enrollment_id].append(transition)
    actions = {(action.enrollment_id, action.node_id): action for action in result.actions}
    positions = {position.enrollment_id: position for position in result.positions}
    for skipped in result.skipped_entries:
        reason = SKIP_REASONS.get(skipped.reason, skipped.reason)
        lines.append(
            f"Customer {skipped.customer_id}: entry {skipped.entry_id} at {_fmt(skipped.at)} skipped: {reason}"
        )
    if not result.enrollments and not result.skipped_entries:
        lines.append(
            f"No entry: no {journey.entry.event or 'segment ' + str(journey.entry.segment)} matched the entry."
        )
    for enrollment in result.enrollments:
        lines.append("")
        lines.append(
            f"Customer {enrollment.customer_id}, enrollment {enrollment.enrollment_id} ({enrollment.variant}), "
            f"entered {_fmt(enrollment.entered_at)}"
        )
        for transition in transitions[enrollment.enrollment_id]:
            lines.append(_transition_line(transition))
            action = actions.get((enrollment.enrollment_id, transition.to_node))
            if action is not None:
                lines.append(_action_line(journey, action))
        position = positions.get(enrollment.enrollment_id)
        if position is not None:
            node = journey.node(position.node_id)
            waiting = (
                f"for {getattr(node, 'event', None) or 'segment ' + str(getattr(node, 'segment', ''))}, at most until"
                if position.waiting_for == "event"
                else "until"
            )
            lines.append(f"  now: waiting at {position.node_id} {waiting} {_fmt(position.until)}")
        else:
            lines.append(f"  {enrollment.status} at {_fmt(enrollment.exited_at)} ({enrollment.exit_reason})")
        if enrollment.converted_at is not None:
            within = format_duration(journey.goal.within_seconds) if journey.goal else ""
            lines.append(f"  converted at {_fmt(enrollment.converted_at)} (goal {journey.goal.event} within {within})")
    return "\n".join(lines)


def simulate(journey: Journey, history: History, as_of: datetime | None = None) -> str:
    """Runs the reference interpreter once at as_of (default: now, UTC) and describes every step."""
    as_of = as_of or datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    return describe(journey, run(journey, history, as_of), as_of)

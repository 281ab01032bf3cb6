"""A journey as parsed from its YAML file, and the validator that refuses malformed files.

Everything here follows docs/journey_semantics.md. Validation happens before anything runs; each problem is a
`JourneyFileError` naming the file, the node (when there is one), the field and what was expected. One bad file
never stops the others: `load_journeys` returns the valid journeys and the errors side by side.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from journey_engine.durations import DurationError, parse_duration

PROJECT_ROOT = Path(__file__).resolve().parents[1]
JOURNEYS_DIR = PROJECT_ROOT / "dbt_project" / "journeys"

STATUSES = ("active", "paused")
REENTRY_RULES = ("never", "always", "cooldown")
NODE_TYPES = ("delay", "wait_for", "split", "action", "exit")
CHANNELS = ("email", "sms", "push", "in_app", "webhook")
ACTION_KINDS = ("message", "crm", "audience")
PURPOSES = ("marketing", "transactional")  # a message's purpose: which consent it needs (docs/policy.md)
SEND_TIMES = ("as_decided", "optimal")  # optimal: the customer's learnt best local hour (docs/policy.md)
CHANNEL_CHOICES = ("as_listed", "preferred")  # preferred: the channels in the customer's learnt order
WHEN_CAPPED = ("defer", "drop")  # what a frequency cap does to a journey's losing action
DEFAULT_PRIORITY = 50
CRM_OPERATIONS = ("upsert_contact", "create_deal", "create_task")
AUDIENCE_OPERATIONS = ("add", "remove")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
OPS = ("=", "!=", "<", "<=", ">", ">=", "in", "not_in", "is_null", "not_null")
LIST_OPS = ("in", "not_in")
NULL_OPS = ("is_null", "not_null")
ORDER_OPS = ("<", "<=", ">", ">=")
CONDITION_KINDS = ("field", "attribute", "in_segment", "not_in_segment", "has_event")
EVENT_CONDITION_KINDS = ("field",)
CUSTOMER_CONDITION_KINDS = ("attribute", "in_segment", "not_in_segment", "has_event")
MAX_HOLDOUT_PERCENT = 50
EXIT_NODE = "__exit__"  # the to_node of the transition that ends an enrollment

_ID = re.compile(r"[a-z][a-z0-9_]*")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


# --- The parsed journey --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """One condition. `name` is the event field, attribute, segment or event name, depending on `kind`."""

    kind: str  # field | attribute | in_segment | not_in_segment | has_event
    name: str
    op: str | None = None  # field and attribute conditions only
    value: Any = None  # a scalar, a tuple for in / not_in, None for is_null / not_null
    within_seconds: int | None = None  # has_event only


@dataclass(frozen=True)
class Entry:
    event: str | None
    segment: str | None
    where: tuple[Condition, ...] = ()
    dedupe_key: str | None = None
    audience: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class Reentry:
    rule: str  # never | always | cooldown
    cooldown_seconds: int | None = None


@dataclass(frozen=True)
class ExitRule:
    event: str | None = None
    left_segment: str | None = None


@dataclass(frozen=True)
class Goal:
    event: str
    within_seconds: int
    exits: bool = False


@dataclass(frozen=True)
class Action:
    kind: str  # message | crm | audience
    channel: str | None = None  # message
    template: str | None = None  # message
    fields: tuple[str, ...] = ()  # message, crm
    fallback_channels: tuple[str, ...] = ()  # message
    operation: str | None = None  # crm, audience
    properties: tuple[tuple[str, Any], ...] = ()  # crm, in file order
    audience: str | None = None  # audience
    purpose: str = "marketing"  # message
    send_time: str = "as_decided"  # message
    channel_choice: str = "as_listed"  # message

    def config(self) -> dict[str, Any]:
        """The action mapping with defaults filled in (what `journey_nodes.action_config` holds)."""
        if self.kind == "message":
            return {
                "kind": self.kind,
                "channel": self.channel,
                "template": self.template,
                "fields": list(self.fields),
                "fallback_channels": list(self.fallback_channels),
                "purpose": self.purpose,
                "send_time": self.send_time,
                "channel_choice": self.channel_choice,
            }
        if self.kind == "crm":
            return {
                "kind": self.kind,
                "operation": self.operation,
                "properties": dict(self.properties),
                "fields": list(self.fields),
            }
        return {"kind": self.kind, "operation": self.operation, "audience": self.audience}


@dataclass(frozen=True)
class LocalWindow:
    days: tuple[str, ...]  # in week order, mon first
    start_minute: int  # minutes after local midnight, inclusive
    end_minute: int  # exclusive; always after start_minute (windows do not cross midnight)


@dataclass(frozen=True)
class UntilAttribute:
    attribute: str
    offset_seconds: int = 0


@dataclass(frozen=True)
class Delay:
    type: ClassVar[str] = "delay"
    id: str
    next: str
    duration_seconds: int | None = None
    local_window: LocalWindow | None = None
    until_attribute: UntilAttribute | None = None

    @property
    def kind(self) -> str:
        if self.duration_seconds is not None:
            return "duration"
        return "local_window" if self.local_window is not None else "attribute"

    def targets(self) -> Iterator[tuple[str, str]]:
        yield "next", self.next


@dataclass(frozen=True)
class WaitFor:
    type: ClassVar[str] = "wait_for"
    id: str
    event: str | None
    segment: str | None
    timeout_seconds: int
    on_event: str
    on_timeout: str
    where: tuple[Condition, ...] = ()

    def targets(self) -> Iterator[tuple[str, str]]:
        yield "on_event", self.on_event
        yield "on_timeout", self.on_timeout


@dataclass(frozen=True)
class ConditionBranch:
    when: tuple[Condition, ...]
    next: str


@dataclass(frozen=True)
class RandomBranch:
    weight: int
    next: str


@dataclass(frozen=True)
class Split:
    type: ClassVar[str] = "split"
    id: str
    conditions: tuple[ConditionBranch, ...] = ()
    else_node: str | None = None
    random: tuple[RandomBranch, ...] = ()

    @property
    def is_random(self) -> bool:
        return bool(self.random)

    def targets(self) -> Iterator[tuple[str, str]]:
        for index, branch in enumerate(self.conditions):
            yield f"conditions[{index}].next", branch.next
        if self.else_node is not None:
            yield "else", self.else_node
        for index, branch in enumerate(self.random):
            yield f"random[{index}].next", branch.next


@dataclass(frozen=True)
class ActionNode:
    type: ClassVar[str] = "action"
    id: str
    action: Action
    next: str

    def targets(self) -> Iterator[tuple[str, str]]:
        yield "next", self.next


@dataclass(frozen=True)
class Exit:
    type: ClassVar[str] = "exit"
    id: str

    def targets(self) -> Iterator[tuple[str, str]]:
        yield from ()


Node = Delay | WaitFor | Split | ActionNode | Exit


@dataclass(frozen=True)
class Journey:
    journey_id: str
    version: int
    status: str
    description: str
    entry: Entry
    reentry: Reentry
    holdout_percent: int
    exit_rules: tuple[ExitRule, ...]
    goal: Goal | None
    start_node: str
    nodes: tuple[Node, ...]  # in file order
    source_file: str = field(default="", compare=False)
    priority: int = DEFAULT_PRIORITY  # delivery: which action wins when a frequency cap binds (higher wins)
    when_capped: str = "defer"  # delivery: defer or drop this journey's action that loses to a cap
    _by_id: dict[str, Node] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {node.id: node for node in self.nodes})

    def node(self, node_id: str) -> Node:
        return self._by_id[node_id]

    def has_node(self, node_id: str) -> bool:
        return node_id in self._by_id


# --- Errors ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JourneyFileError:
    """One problem in one journey file. `str()` is the message users read."""

    file: str
    node: str | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = [f"node '{self.node}'"] if self.node else []
        if self.field:
            where.append(f"field '{self.field}'")
        return f"{self.file}: {', '.join(where)}: {self.message}" if where else f"{self.file}: {self.message}"


class InvalidJourney(ValueError):
    """Raised by `load_journey` for a file with at least one problem; `errors` lists them all."""

    def __init__(self, errors: list[JourneyFileError]) -> None:
        super().__init__("\n".join(str(error) for error in errors))
        self.errors = errors


# --- YAML: YAML 1.2 scalars, duplicate keys refused ------------------------------------------------------------


class _JourneyYamlLoader(yaml.SafeLoader):
    """Safe YAML with YAML 1.2 scalars, so `NO` stays a country code, `18:00` stays a time and dates stay text;
    a key given twice in one mapping is an error instead of silently keeping the last."""

    yaml_implicit_resolvers: ClassVar[dict] = {}

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key '{key}' appears twice in one mapping", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_JourneyYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_JourneyYamlLoader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789"))
_JourneyYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+.0123456789"),
)
_JourneyYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)


# --- Validation -----------------------------------------------------------------------------------------------

_INVALID: Any = object()  # returned by a parser after it recorded an error


def _show(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _one_of(options: tuple[str, ...]) -> str:
    return "one of " + ", ".join(options)


def _a(noun: str) -> str:
    return f"an {noun}" if noun[0] in "aeiou" else f"a {noun}"


def _hint(value: Any, options: tuple[str, ...] | list[str]) -> str:
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class _Checker:
    """Collects errors for one file; each parse method returns the parsed value or _INVALID."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.errors: list[JourneyFileError] = []

    def error(self, node: str | None, field_name: str | None, message: str) -> Any:
        self.errors.append(JourneyFileError(self.file, node, field_name, message))
        return _INVALID

    # Shapes.

    def mapping(self, value: Any, node: str | None, path: str, what: str) -> Any:
        if not isinstance(value, Mapping):
            return self.error(node, path, f"expected {what}, got {_show(value)}")
        bad_keys = [key for key in value if not isinstance(key, str)]
        if bad_keys:
            return self.error(node, path, f"expected field names as text, got {_show(bad_keys[0])}")
        return value

    def known_fields(self, value: Mapping, allowed: tuple[str, ...], node: str | None, prefix: str, what: str) -> bool:
        unknown = [key for key in value if key not in allowed]
        for key in unknown:
            hint = _hint(key, allowed)
            expected = f"expected only the fields of {what}: {', '.join(allowed)}"
            self.error(node, f"{prefix}{key}", f"unknown field{hint}; {expected}")
        return not unknown

    def required(self, value: Mapping, key: str, node: str | None, prefix: str, what: str) -> Any:
        if value.get(key) is None:
            return self.error(node, f"{prefix}{key}", f"required: expected {what}")
        return value[key]

    # Scalars.

    def name(self, value: Any, node: str | None, path: str, what: str) -> Any:
        if not isinstance(value, str) or not _NAME.fullmatch(value):
            return self.error(node, path, f"expected {what} (letters, digits and _), got {_show(value)}")
        return value

    def identifier(self, value: Any, node: str | None, path: str, what: str) -> Any:
        if not isinstance(value, str) or not _ID.fullmatch(value):
            return self.error(node, path, f"expected {what} matching [a-z][a-z0-9_]*, got {_show(value)}")
        return value

    def choice(self, value: Any, options: tuple[str, ...], node: str | None, path: str) -> Any:
        if not isinstance(value, str) or value not in options:
            return self.error(node, path, f"expected {_one_of(options)}, got {_show(value)}{_hint(value, options)}")
        return value

    def integer(self, value: Any, node: str | None, path: str, low: int, high: int | None, what: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
            return self.error(node, path, f"expected {what}, got {_show(value)}")
        return value

    def boolean(self, value: Any, node: str | None, path: str) -> Any:
        if not isinstance(value, bool):
            return self.error(node, path, f"expected true or false, got {_show(value)}")
        return value

    def duration(self, value: Any, node: str | None, path: str, *, signed: bool = False) -> Any:
        try:
            return parse_duration(value, signed=signed)
        except DurationError as error:
            return self.error(node, path, str(error))

    def clock(self, value: Any, node: str | None, path: str) -> Any:
        match = _CLOCK.fullmatch(value) if isinstance(value, str) else None
        if match is None:
            return self.error(node, path, f'expected a local time "HH:MM" between 00:00 and 23:59, got {_show(value)}')
        return int(match.group(1)) * 60 + int(match.group(2))

    def list_of(self, value: Any, node: str | None, path: str, what: str, *, allow_empty: bool = False) -> Any:
        if not isinstance(value, list) or (not value and not allow_empty):
            return self.error(
                node,
                path,
                f"expected a {'' if allow_empty else 'non-empty '}list of {what}, got "
                f"{'an empty list' if value == [] else _show(value)}",
            )
        return value

    # Conditions.

    def conditions(self, value: Any, node: str | None, path: str, kinds: tuple[str, ...], *, allow_empty: bool) -> Any:
        items = self.list_of(value, node, path, "conditions", allow_empty=allow_empty)
        if items is _INVALID:
            return _INVALID
        parsed = [self.condition(item, node, f"{path}[{index}]", kinds) for index, item in enumerate(items)]
        return _INVALID if _INVALID in parsed else tuple(parsed)

    def condition(self, value: Any, node: str | None, path: str, kinds: tuple[str, ...]) -> Any:
        if (
            self.mapping(value, node, path, "a condition mapping like {attribute: is_eu, op: '=', value: true}")
            is _INVALID
        ):
            return _INVALID
        given = [kind for kind in CONDITION_KINDS if kind in value]
        if len(given) != 1 or given[0] not in kinds:
            allowed = ", ".join(kinds)
            if len(given) > 1:
                return self.error(node, path, f"expected exactly one of {allowed}, got {', '.join(given)}")
            if given:
                return self.error(node, f"{path}.{given[0]}", f"expected one of {allowed} here, got {given[0]}")
            extra = [key for key in value if key not in ("op", "value", "within")]
            hint = _hint(extra[0], kinds) if extra else ""
            return self.error(node, path, f"expected a condition with one of {allowed}{hint}")
        kind = given[0]
        prefix = f"{path}."
        if kind in ("field", "attribute"):
            allowed_fields: tuple[str, ...] = (kind, "op", "value")
        elif kind == "has_event":
            allowed_fields = (kind, "within")
        else:
            allowed_fields = (kind,)
        if not self.known_fields(value, allowed_fields, node, prefix, f"{_a(kind)} condition"):
            return _INVALID
        what = {
            "field": "an event field name",
            "attribute": "a customer attribute name",
            "in_segment": "a segment name",
            "not_in_segment": "a segment name",
            "has_event": "an event name",
        }[kind]
        name = self.name(value[kind], node, f"{prefix}{kind}", what)
        if kind in ("in_segment", "not_in_segment"):
            return _INVALID if name is _INVALID else Condition(kind, name)
        if kind == "has_event":
            within = self.required(value, "within", node, prefix, "a duration like 90m, 3h or 2d")
            if within is not _INVALID:
                within = self.duration(within, node, f"{prefix}within")
            return _INVALID if _INVALID in (name, within) else Condition(kind, name, within_seconds=within)
        op = self.required(value, "op", node, prefix, _one_of(OPS))
        if op is not _INVALID:
            op = self.choice(op, OPS, node, f"{prefix}op")
        if op is _INVALID:
            return _INVALID
        comparison_value = self.comparison_value(value, op, node, prefix)
        if _INVALID in (name, comparison_value):
            return _INVALID
        return Condition(kind, name, op, comparison_value)

    def comparison_value(self, condition: Mapping, op: str, node: str | None, prefix: str) -> Any:
        path = f"{prefix}value"
        if op in NULL_OPS:
            if "value" in condition:
                return self.error(node, path, f"expected no value with op '{op}', got {_show(condition['value'])}")
            return None
        if condition.get("value") is None:
            what = "a non-empty list of values" if op in LIST_OPS else "a value (text, number or true/false)"
            return self.error(node, path, f"required with op '{op}': expected {what}")
        value = condition["value"]
        if op in LIST_OPS:
            if not isinstance(value, list) or not value or not all(_is_scalar(item) for item in value):
                return self.error(node, path, f"expected a non-empty list of values with op '{op}', got {_show(value)}")
            return tuple(value)
        if not _is_scalar(value):
            return self.error(node, path, f"expected a single value (text, number or true/false), got {_show(value)}")
        if op in ORDER_OPS and isinstance(value, bool):
            return self.error(node, path, f"expected a number or text to compare with '{op}', got {_show(value)}")
        return value


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _display_path(path: Path) -> str:
    """Paths in messages and in `journeys.source_file` are relative to the project root when inside it."""
    try:
        return path.resolve().relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return str(path)


TOP_FIELDS = (
    "journey_id",
    "version",
    "status",
    "description",
    "entry",
    "reentry",
    "holdout_percent",
    "delivery",
    "exit_rules",
    "goal",
    "start_node",
    "nodes",
)
ENTRY_FIELDS = ("event", "segment", "where", "dedupe_key", "audience")
NODE_FIELDS = {
    "delay": ("id", "type", "duration", "until_local_window", "until_attribute", "next"),
    "wait_for": ("id", "type", "event", "segment", "where", "timeout", "on_event", "on_timeout"),
    "split": ("id", "type", "conditions", "else", "random"),
    "action": ("id", "type", "action", "next"),
    "exit": ("id", "type"),
}
ACTION_FIELDS = {
    "message": (
        "kind",
        "channel",
        "template",
        "fields",
        "fallback_channels",
        "purpose",
        "send_time",
        "channel_choice",
    ),
    "crm": ("kind", "operation", "properties", "fields"),
    "audience": ("kind", "operation", "audience"),
}


def parse_journey(document: Any, file: str, expected_id: str | None) -> tuple[Journey | None, list[JourneyFileError]]:
    """Validates a loaded YAML document; returns the journey (None when invalid) and every problem found."""
    check = _Checker(file)
    if check.mapping(document, None, None, "a mapping of journey fields (journey_id, version, entry, ...)") is _INVALID:
        return None, check.errors
    check.known_fields(document, TOP_FIELDS, None, "", "a journey")

    journey_id = check.required(document, "journey_id", None, "", "the journey id (the file name)")
    if journey_id is not _INVALID:
        journey_id = check.identifier(journey_id, None, "journey_id", "a journey id")
    if journey_id is not _INVALID and expected_id is not None and journey_id != expected_id:
        journey_id = check.error(None, "journey_id", f"expected '{expected_id}' (the file name), got '{journey_id}'")

    version = check.required(document, "version", None, "", "an integer >= 1")
    if version is not _INVALID:
        version = check.integer(version, None, "version", 1, None, "an integer >= 1")
    status = check.choice(_optional(document, "status", "active"), STATUSES, None, "status")
    description = _optional(document, "description", "")
    if not isinstance(description, str):
        description = check.error(None, "description", f"expected text, got {_show(description)}")

    entry = _parse_entry(check, document.get("entry"))
    reentry = _parse_reentry(check, _optional(document, "reentry", {"rule": "never"}))
    holdout = check.integer(
        _optional(document, "holdout_percent", 0),
        None,
        "holdout_percent",
        0,
        MAX_HOLDOUT_PERCENT,
        "an integer from 0 to 50",
    )
    priority, when_capped = _parse_delivery(check, _optional(document, "delivery", {}))
    exit_rules = _parse_exit_rules(check, _optional(document, "exit_rules", []))
    goal = _parse_goal(check, document["goal"]) if document.get("goal") is not None else None

    start_node = check.required(document, "start_node", None, "", "the id of the first node")
    if start_node is not _INVALID:
        start_node = check.identifier(start_node, None, "start_node", "a node id")
    nodes = _parse_nodes(check, document.get("nodes"))
    if nodes is not _INVALID:
        _check_graph(check, nodes, start_node)

    if check.errors:
        return None, check.errors
    journey = Journey(
        journey_id=journey_id,
        version=version,
        status=status,
        description=description.strip(),
        entry=entry,
        reentry=reentry,
        holdout_percent=holdout,
        exit_rules=exit_rules,
        goal=goal,
        start_node=start_node,
        nodes=nodes,
        source_file=file,
        priority=priority,
        when_capped=when_capped,
    )
    return journey, []


def _parse_delivery(check: _Checker, value: Any) -> tuple[Any, Any]:
    """`delivery: {priority: 1-100 (default 50), when_capped: defer | drop (default defer)}`."""
    if check.mapping(value, None, "delivery", "a mapping with `priority` and/or `when_capped`") is _INVALID:
        return _INVALID, _INVALID
    if not check.known_fields(value, ("priority", "when_capped"), None, "delivery.", "delivery settings"):
        return _INVALID, _INVALID
    priority = check.integer(
        _optional(value, "priority", DEFAULT_PRIORITY), None, "delivery.priority", 1, 100, "an integer from 1 to 100"
    )
    when_capped = check.choice(_optional(value, "when_capped", "defer"), WHEN_CAPPED, None, "delivery.when_capped")
    return priority, when_capped


def _optional(document: Mapping, key: str, default: Any) -> Any:
    """An optional field; written with no value (`key:` or `key: null`) it is the same as left out."""
    value = document.get(key)
    return default if value is None else value


def _parse_entry(check: _Checker, value: Any) -> Any:
    if value is None:
        return check.error(None, "entry", "required: expected a mapping with `event` or `segment`")
    if check.mapping(value, None, "entry", "a mapping with `event` or `segment`") is _INVALID:
        return _INVALID
    if not check.known_fields(value, ENTRY_FIELDS, None, "entry.", "an entry"):
        return _INVALID
    event, segment = value.get("event"), value.get("segment")
    if (event is None) == (segment is None):
        got = "both" if event is not None else "neither"
        return check.error(None, "entry", f"expected exactly one of `event` or `segment`, got {got}")
    if event is not None:
        event = check.name(event, None, "entry.event", "an event name")
    else:
        segment = check.name(segment, None, "entry.segment", "a segment name")
        for key in ("where", "dedupe_key"):
            if key in value:
                return check.error(
                    None, f"entry.{key}", "expected only with an `event` entry (a segment has no fields)"
                )
    where = ()
    if value.get("where") is not None:
        where = check.conditions(value["where"], None, "entry.where", EVENT_CONDITION_KINDS, allow_empty=True)
    dedupe_key = None
    if value.get("dedupe_key") is not None:
        dedupe_key = check.name(value["dedupe_key"], None, "entry.dedupe_key", "an event field name")
    audience = ()
    if value.get("audience") is not None:
        audience = check.conditions(
            value["audience"], None, "entry.audience", CUSTOMER_CONDITION_KINDS, allow_empty=True
        )
    if _INVALID in (event, segment, where, dedupe_key, audience):
        return _INVALID
    return Entry(event=event, segment=segment, where=where, dedupe_key=dedupe_key, audience=audience)


def _parse_reentry(check: _Checker, value: Any) -> Any:
    what = "a mapping like {rule: never}, {rule: always} or {rule: cooldown, cooldown: 30d}"
    if check.mapping(value, None, "reentry", what) is _INVALID:
        return _INVALID
    if not check.known_fields(value, ("rule", "cooldown"), None, "reentry.", "a re-entry rule"):
        return _INVALID
    rule = check.required(value, "rule", None, "reentry.", _one_of(REENTRY_RULES))
    if rule is not _INVALID:
        rule = check.choice(rule, REENTRY_RULES, None, "reentry.rule")
    if rule is _INVALID:
        return _INVALID
    if rule != "cooldown":
        if "cooldown" in value:
            return check.error(None, "reentry.cooldown", f"expected only with rule 'cooldown', got rule '{rule}'")
        return Reentry(rule)
    cooldown = check.required(value, "cooldown", None, "reentry.", "a duration like 90m, 3h or 2d")
    if cooldown is not _INVALID:
        cooldown = check.duration(cooldown, None, "reentry.cooldown")
    return _INVALID if cooldown is _INVALID else Reentry(rule, cooldown)


def _parse_exit_rules(check: _Checker, value: Any) -> Any:
    items = check.list_of(value, None, "exit_rules", "exit rules like {event: order_completed}", allow_empty=True)
    if items is _INVALID:
        return _INVALID
    rules = []
    for index, item in enumerate(items):
        path = f"exit_rules[{index}]"
        if check.mapping(item, None, path, "{event: <name>} or {left_segment: <name>}") is _INVALID:
            rules.append(_INVALID)
            continue
        if not check.known_fields(item, ("event", "left_segment"), None, f"{path}.", "an exit rule"):
            rules.append(_INVALID)
            continue
        if ("event" in item) == ("left_segment" in item):
            rules.append(check.error(None, path, "expected exactly one of `event` or `left_segment`"))
        elif "event" in item:
            name = check.name(item["event"], None, f"{path}.event", "an event name")
            rules.append(_INVALID if name is _INVALID else ExitRule(event=name))
        else:
            name = check.name(item["left_segment"], None, f"{path}.left_segment", "a segment name")
            rules.append(_INVALID if name is _INVALID else ExitRule(left_segment=name))
    return _INVALID if _INVALID in rules else tuple(rules)


def _parse_goal(check: _Checker, value: Any) -> Any:
    if check.mapping(value, None, "goal", "a mapping like {event: order_completed, within: 14d}") is _INVALID:
        return _INVALID
    if not check.known_fields(value, ("event", "within", "exits"), None, "goal.", "a goal"):
        return _INVALID
    event = check.required(value, "event", None, "goal.", "an event name")
    if event is not _INVALID:
        event = check.name(event, None, "goal.event", "an event name")
    within = check.required(value, "within", None, "goal.", "a duration like 90m, 3h or 2d")
    if within is not _INVALID:
        within = check.duration(within, None, "goal.within")
    exits = check.boolean(value.get("exits", False), None, "goal.exits")
    return _INVALID if _INVALID in (event, within, exits) else Goal(event, within, exits)


def _parse_nodes(check: _Checker, value: Any) -> Any:
    if value is None:
        return check.error(None, "nodes", "required: expected a non-empty list of nodes")
    items = check.list_of(value, None, "nodes", "nodes")
    if items is _INVALID:
        return _INVALID
    nodes: list[Any] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        node = _parse_node(check, item, index)
        if node is not _INVALID:
            if node.id in seen:
                node = check.error(node.id, "id", f"expected a unique node id, got '{node.id}' a second time")
            else:
                seen.add(node.id)
        nodes.append(node)
    return _INVALID if _INVALID in nodes else tuple(nodes)


def _parse_node(check: _Checker, value: Any, index: int) -> Any:
    if check.mapping(value, None, f"nodes[{index}]", "a node mapping with `id` and `type`") is _INVALID:
        return _INVALID
    node_id = value.get("id")
    if node_id is None:
        return check.error(None, f"nodes[{index}].id", "required: expected a node id matching [a-z][a-z0-9_]*")
    node_id = check.identifier(node_id, None, f"nodes[{index}].id", "a node id")
    if node_id is _INVALID:
        return _INVALID
    node_type = check.required(value, "type", node_id, "", _one_of(NODE_TYPES))
    if node_type is not _INVALID:
        node_type = check.choice(node_type, NODE_TYPES, node_id, "type")
    if node_type is _INVALID:
        return _INVALID
    if not check.known_fields(value, NODE_FIELDS[node_type], node_id, "", f"{_a(node_type)} node"):
        return _INVALID
    parser = {"delay": _parse_delay, "wait_for": _parse_wait_for, "split": _parse_split, "action": _parse_action_node}
    if node_type == "exit":
        return Exit(node_id)
    return parser[node_type](check, value, node_id)


def _target(check: _Checker, value: Mapping, key: str, node_id: str, prefix: str = "") -> Any:
    target = check.required(value, key, node_id, prefix, "the id of the node that follows")
    if target is _INVALID:
        return _INVALID
    return check.identifier(target, node_id, f"{prefix}{key}", "a node id")


def _parse_delay(check: _Checker, value: Mapping, node_id: str) -> Any:
    kinds = [key for key in ("duration", "until_local_window", "until_attribute") if key in value]
    next_node = _target(check, value, "next", node_id)
    if len(kinds) != 1:
        got = ", ".join(kinds) if kinds else "none"
        return check.error(
            node_id, "duration", f"expected exactly one of duration, until_local_window, until_attribute, got {got}"
        )
    kind = kinds[0]
    duration = window = until = None
    if kind == "duration":
        duration = check.duration(value["duration"], node_id, "duration")
    elif kind == "until_local_window":
        window = _parse_local_window(check, value["until_local_window"], node_id)
    else:
        until = _parse_until_attribute(check, value["until_attribute"], node_id)
    if _INVALID in (next_node, duration, window, until):
        return _INVALID
    return Delay(node_id, next_node, duration_seconds=duration, local_window=window, until_attribute=until)


def _parse_local_window(check: _Checker, value: Any, node_id: str) -> Any:
    what = 'a mapping like {days: [mon, tue, wed, thu, fri], start: "09:00", end: "18:00"}'
    if check.mapping(value, node_id, "until_local_window", what) is _INVALID:
        return _INVALID
    if not check.known_fields(value, ("days", "start", "end"), node_id, "until_local_window.", "a local window"):
        return _INVALID
    days = check.required(value, "days", node_id, "until_local_window.", "a non-empty list of days (mon .. sun)")
    if days is not _INVALID:
        days = check.list_of(days, node_id, "until_local_window.days", "days (mon .. sun)")
    if days is not _INVALID:
        for day_index, day in enumerate(days):
            if check.choice(day, WEEKDAYS, node_id, f"until_local_window.days[{day_index}]") is _INVALID:
                days = _INVALID
                break
    if days is not _INVALID and len(set(days)) != len(days):
        days = check.error(node_id, "until_local_window.days", "expected each day at most once")
    start = check.required(value, "start", node_id, "until_local_window.", 'a local time "HH:MM"')
    if start is not _INVALID:
        start = check.clock(start, node_id, "until_local_window.start")
    end = check.required(value, "end", node_id, "until_local_window.", 'a local time "HH:MM"')
    if end is not _INVALID:
        end = check.clock(end, node_id, "until_local_window.end")
    if _INVALID in (days, start, end):
        return _INVALID
    if end <= start:
        return check.error(
            node_id,
            "until_local_window.end",
            f"expected a time after start '{value['start']}' (windows do not cross midnight), got '{value['end']}'",
        )
    ordered_days = tuple(day for day in WEEKDAYS if day in days)
    return LocalWindow(ordered_days, start, end)


def _parse_until_attribute(check: _Checker, value: Any, node_id: str) -> Any:
    what = "a mapping like {attribute: renewal_due_date, offset: -3d}"
    if check.mapping(value, node_id, "until_attribute", what) is _INVALID:
        return _INVALID
    if not check.known_fields(value, ("attribute", "offset"), node_id, "until_attribute.", "until_attribute"):
        return _INVALID
    attribute = check.required(value, "attribute", node_id, "until_attribute.", "a date attribute name")
    if attribute is not _INVALID:
        attribute = check.name(attribute, node_id, "until_attribute.attribute", "a date attribute name")
    offset = check.duration(value.get("offset", "0m"), node_id, "until_attribute.offset", signed=True)
    if _INVALID in (attribute, offset):
        return _INVALID
    return UntilAttribute(attribute, offset)


def _parse_wait_for(check: _Checker, value: Mapping, node_id: str) -> Any:
    event, segment = value.get("event"), value.get("segment")
    if (event is None) == (segment is None):
        got = "both" if event is not None else "neither"
        return check.error(node_id, "event", f"expected exactly one of `event` or `segment`, got {got}")
    where: Any = ()
    if event is not None:
        event = check.name(event, node_id, "event", "an event name")
        if value.get("where") is not None:
            where = check.conditions(value["where"], node_id, "where", EVENT_CONDITION_KINDS, allow_empty=True)
    else:
        segment = check.name(segment, node_id, "segment", "a segment name")
        if "where" in value:
            where = check.error(node_id, "where", "expected only when waiting for an `event` (a segment has no fields)")
    timeout = check.required(value, "timeout", node_id, "", "a duration like 90m, 3h or 2d")
    if timeout is not _INVALID:
        timeout = check.duration(timeout, node_id, "timeout")
    on_event = _target(check, value, "on_event", node_id)
    on_timeout = _target(check, value, "on_timeout", node_id)
    if _INVALID in (event, segment, where, timeout, on_event, on_timeout):
        return _INVALID
    return WaitFor(node_id, event, segment, timeout, on_event, on_timeout, where)


def _parse_split(check: _Checker, value: Mapping, node_id: str) -> Any:
    has_conditions, has_random = "conditions" in value, "random" in value
    if has_conditions == has_random:
        got = "both" if has_conditions else "neither"
        return check.error(
            node_id, "conditions", f"expected exactly one of `conditions` (with `else`) or `random`, got {got}"
        )
    if has_random:
        if "else" in value:
            return check.error(
                node_id, "else", "expected only with `conditions` (a random split always picks a branch)"
            )
        items = check.list_of(value["random"], node_id, "random", "branches like {weight: 50, next: variant_a}")
        if items is _INVALID:
            return _INVALID
        if len(items) < 2:
            return check.error(node_id, "random", "expected at least two branches")
        branches = []
        for index, item in enumerate(items):
            path = f"random[{index}]"
            if check.mapping(item, node_id, path, "a branch like {weight: 50, next: variant_a}") is _INVALID:
                branches.append(_INVALID)
                continue
            if not check.known_fields(item, ("weight", "next"), node_id, f"{path}.", "a random branch"):
                branches.append(_INVALID)
                continue
            weight = check.required(item, "weight", node_id, f"{path}.", "a positive integer")
            if weight is not _INVALID:
                weight = check.integer(weight, node_id, f"{path}.weight", 1, None, "a positive integer")
            next_node = _target(check, item, "next", node_id, f"{path}.")
            branches.append(_INVALID if _INVALID in (weight, next_node) else RandomBranch(weight, next_node))
        return _INVALID if _INVALID in branches else Split(node_id, random=tuple(branches))

    items = check.list_of(value["conditions"], node_id, "conditions", "branches like {when: [...], next: node_id}")
    else_node = _target(check, value, "else", node_id)
    if items is _INVALID:
        return _INVALID
    branches = []
    for index, item in enumerate(items):
        path = f"conditions[{index}]"
        if check.mapping(item, node_id, path, "a branch like {when: [...], next: node_id}") is _INVALID:
            branches.append(_INVALID)
            continue
        if not check.known_fields(item, ("when", "next"), node_id, f"{path}.", "a condition branch"):
            branches.append(_INVALID)
            continue
        when = check.required(item, "when", node_id, f"{path}.", "a non-empty list of conditions")
        if when is not _INVALID:
            when = check.conditions(when, node_id, f"{path}.when", CUSTOMER_CONDITION_KINDS, allow_empty=False)
        next_node = _target(check, item, "next", node_id, f"{path}.")
        branches.append(_INVALID if _INVALID in (when, next_node) else ConditionBranch(when, next_node))
    if _INVALID in branches or else_node is _INVALID:
        return _INVALID
    return Split(node_id, conditions=tuple(branches), else_node=else_node)


def _parse_action_node(check: _Checker, value: Mapping, node_id: str) -> Any:
    next_node = _target(check, value, "next", node_id)
    action = check.required(value, "action", node_id, "", "an action mapping with `kind`")
    if action is not _INVALID:
        action = _parse_action(check, action, node_id)
    if _INVALID in (action, next_node):
        return _INVALID
    return ActionNode(node_id, action, next_node)


def _parse_action(check: _Checker, value: Any, node_id: str) -> Any:
    if (
        check.mapping(value, node_id, "action", "a mapping like {kind: message, channel: email, template: ...}")
        is _INVALID
    ):
        return _INVALID
    kind = check.required(value, "kind", node_id, "action.", _one_of(ACTION_KINDS))
    if kind is not _INVALID:
        kind = check.choice(kind, ACTION_KINDS, node_id, "action.kind")
    if kind is _INVALID:
        return _INVALID
    if not check.known_fields(value, ACTION_FIELDS[kind], node_id, "action.", f"{_a(kind)} action"):
        return _INVALID
    if kind == "audience":
        operation = check.required(value, "operation", node_id, "action.", _one_of(AUDIENCE_OPERATIONS))
        if operation is not _INVALID:
            operation = check.choice(operation, AUDIENCE_OPERATIONS, node_id, "action.operation")
        audience = check.required(value, "audience", node_id, "action.", "an audience name")
        if audience is not _INVALID:
            audience = check.name(audience, node_id, "action.audience", "an audience name")
        return _INVALID if _INVALID in (operation, audience) else Action(kind, operation=operation, audience=audience)

    fields: Any = ()
    if value.get("fields") is not None:
        items = check.list_of(value["fields"], node_id, "action.fields", "field names", allow_empty=True)
        fields = _INVALID if items is _INVALID else tuple(items)
        if items is not _INVALID:
            for index, item in enumerate(items):
                if check.name(item, node_id, f"action.fields[{index}]", "a field name") is _INVALID:
                    fields = _INVALID
    if kind == "crm":
        operation = check.required(value, "operation", node_id, "action.", _one_of(CRM_OPERATIONS))
        if operation is not _INVALID:
            operation = check.choice(operation, CRM_OPERATIONS, node_id, "action.operation")
        properties: Any = ()
        if value.get("properties") is not None:
            raw = value["properties"]
            what = "a mapping of CRM property names to values"
            if check.mapping(raw, node_id, "action.properties", what) is _INVALID:
                properties = _INVALID
            else:
                for key, item in raw.items():
                    if not _is_scalar(item):
                        properties = check.error(
                            node_id,
                            f"action.properties.{key}",
                            f"expected a text, number or true/false value, got {_show(item)}",
                        )
                if properties is not _INVALID:
                    properties = tuple(raw.items())
        if _INVALID in (operation, properties, fields):
            return _INVALID
        return Action(kind, fields=fields, operation=operation, properties=properties)

    channel = check.required(value, "channel", node_id, "action.", _one_of(CHANNELS))
    if channel is not _INVALID:
        channel = check.choice(channel, CHANNELS, node_id, "action.channel")
    template = check.required(value, "template", node_id, "action.", "a template name")
    if template is not _INVALID:
        template = check.name(template, node_id, "action.template", "a template name")
    fallbacks: Any = ()
    if value.get("fallback_channels") is not None:
        items = check.list_of(
            value["fallback_channels"], node_id, "action.fallback_channels", "channels", allow_empty=True
        )
        fallbacks = _INVALID if items is _INVALID else tuple(items)
        if items is not _INVALID:
            for index, item in enumerate(items):
                path = f"action.fallback_channels[{index}]"
                if check.choice(item, CHANNELS, node_id, path) is _INVALID:
                    fallbacks = _INVALID
                elif item == channel or item in items[:index]:
                    fallbacks = check.error(
                        node_id,
                        path,
                        f"expected a channel not already tried (the primary channel and each fallback "
                        f"once), got '{item}'",
                    )
    purpose = check.choice(_optional(value, "purpose", "marketing"), PURPOSES, node_id, "action.purpose")
    send_time = check.choice(_optional(value, "send_time", "as_decided"), SEND_TIMES, node_id, "action.send_time")
    choice = check.choice(
        _optional(value, "channel_choice", "as_listed"), CHANNEL_CHOICES, node_id, "action.channel_choice"
    )
    if _INVALID in (channel, template, fields, fallbacks, purpose, send_time, choice):
        return _INVALID
    return Action(
        kind,
        channel=channel,
        template=template,
        fields=fields,
        fallback_channels=fallbacks,
        purpose=purpose,
        send_time=send_time,
        channel_choice=choice,
    )


def _check_graph(check: _Checker, nodes: tuple[Node, ...], start_node: Any) -> None:
    """Targets exist, start_node exists, no cycle, every node reachable. Only run once every node parsed."""
    ids = {node.id for node in nodes}
    dangling = False
    for node in nodes:
        for field_name, target in node.targets():
            if target not in ids:
                dangling = True
                check.error(
                    node.id,
                    field_name,
                    f"expected the id of a node in this journey, got '{target}'{_hint(target, sorted(ids))}",
                )
    if start_node is _INVALID:
        return
    if start_node not in ids:
        check.error(
            None,
            "start_node",
            f"expected the id of a node in this journey, got '{start_node}'{_hint(start_node, sorted(ids))}",
        )
        return
    if dangling:
        return

    by_id = {node.id: node for node in nodes}
    state: dict[str, str] = {}  # "open" while on the current path, "done" after
    path: list[str] = []

    def visit(node_id: str) -> bool:
        state[node_id] = "open"
        path.append(node_id)
        for field_name, target in by_id[node_id].targets():
            if state.get(target) == "open":
                cycle = [*path[path.index(target) :], target]
                check.error(
                    node_id,
                    field_name,
                    f"expected a node that does not lead back here (journeys are acyclic), got '{target}', which "
                    f"closes the cycle {' -> '.join(cycle)}",
                )
                return False
            if target not in state and not visit(target):
                return False
        path.pop()
        state[node_id] = "done"
        return True

    if not visit(start_node):
        return
    for node in nodes:
        if node.id not in state:
            check.error(
                node.id,
                "id",
                f"expected every node to be reachable from start_node '{start_node}', but no path leads here",
            )


# --- Loading --------------------------------------------------------------------------------------------------


def _read_yaml(text: str, file: str) -> tuple[Any, list[JourneyFileError]]:
    try:
        return yaml.load(text, Loader=_JourneyYamlLoader), []  # a SafeLoader subclass
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        return None, [JourneyFileError(file, None, None, f"expected valid YAML; invalid{where}: {problem}")]


def read_journey_file(path: str | Path) -> tuple[Journey | None, list[JourneyFileError]]:
    """Reads and validates one file; never raises for a malformed file."""
    path = Path(path)
    file = _display_path(path)
    if path.suffix != ".yml":
        return None, [JourneyFileError(file, None, None, "expected a journey file ending in .yml")]
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return None, [JourneyFileError(file, None, None, f"expected a readable UTF-8 file: {error}")]
    document, errors = _read_yaml(text, file)
    if errors:
        return None, errors
    return parse_journey(document, file, expected_id=path.stem)


def journey_from_text(text: str, file: str = "<text>") -> Journey:
    """A journey from YAML text (tests, tools); raises `InvalidJourney`. No file name to match journey_id with."""
    document, errors = _read_yaml(text, file)
    journey, errors = (None, errors) if errors else parse_journey(document, file, expected_id=None)
    if journey is None:
        raise InvalidJourney(errors)
    return journey


def load_journey(path: str | Path) -> Journey:
    """The journey in `path`; raises `InvalidJourney` (listing every problem) when the file is malformed."""
    journey, errors = read_journey_file(path)
    if journey is None:
        raise InvalidJourney(errors)
    return journey


def load_journeys(folder: str | Path = JOURNEYS_DIR) -> tuple[list[Journey], list[JourneyFileError]]:
    """Every valid journey in `folder` (by file name) and the problems of the others; one bad file stops nothing."""
    journeys: list[Journey] = []
    errors: list[JourneyFileError] = []
    for path in sorted(Path(folder).glob("*.yml")):
        journey, file_errors = read_journey_file(path)
        if journey is not None:
            journeys.append(journey)
        errors.extend(file_errors)
    return journeys, errors

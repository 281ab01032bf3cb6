"""Journey files: the shipped templates validate, malformed files are refused with exact messages, one bad file
stops no other, and valid journeys flatten into the journey_config tables the SQL engine reads."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from journey_engine.__main__ import main as cli_main
from journey_engine.durations import DurationError, format_duration, parse_duration
from journey_engine.spec import JOURNEYS_DIR, InvalidJourney, load_journey, load_journeys
from journey_engine.tables import TABLE_SCHEMAS, definition_hash, journey_tables, write_journey_tables

TEMPLATES = {
    "abandoned_cart",
    "at_risk_save",
    "browse_abandonment",
    "financial_cross_sell",
    "renewal",
    "trial_onboarding",
    "win_back",
}

# A small valid journey; each malformed case below changes one thing in it.
BASE = """\
journey_id: cart_check
version: 1
entry: {event: cart_updated}
reentry: {rule: cooldown, cooldown: 7d}
holdout_percent: 10
start_node: wait_order
nodes:
  - {id: wait_order, type: wait_for, event: order_completed, timeout: 2d, on_event: done, on_timeout: check}
  - id: check
    type: split
    conditions:
      - when: [{attribute: is_eu, op: "=", value: true}]
        next: email_1
    else: ab
  - {id: ab, type: split, random: [{weight: 50, next: email_1}, {weight: 50, next: done}]}
  - id: email_1
    type: action
    action: {kind: message, channel: email, template: reminder, fallback_channels: [push]}
    next: done
  - {id: done, type: exit}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.yml"
    path.write_text(text, encoding="utf-8")
    return path


# --- Durations ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [("90m", 5400), ("3h", 10800), ("2d", 172800), ("1m", 60)])
def test_durations_read_minutes_hours_and_days(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds
    assert parse_duration(format_duration(seconds)) == seconds


def test_signed_durations_allow_negative_offsets() -> None:
    assert parse_duration("-3d", signed=True) == -259200
    assert parse_duration("0m", signed=True) == 0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2 days", "expected a duration like 90m, 3h or 2d, got '2 days'"),
        ("3w", "expected a duration like 90m, 3h or 2d, got '3w'"),
        (5, "expected a duration like 90m, 3h or 2d, got 5"),
        ("-3d", "expected a duration like 90m, 3h or 2d, got '-3d'"),
        ("0d", "expected a positive duration like 90m, 3h or 2d, got '0d'"),
        ("4000d", "expected a duration like 90m, 3h or 2d of at most 3650d, got '4000d'"),
    ],
)
def test_bad_durations_say_what_was_expected(value: object, message: str) -> None:
    with pytest.raises(DurationError) as raised:
        parse_duration(value)
    assert str(raised.value) == message


# --- Templates ------------------------------------------------------------------------------------------------


def test_every_template_validates() -> None:
    journeys, errors = load_journeys(JOURNEYS_DIR)
    assert [str(error) for error in errors] == []
    assert {journey.journey_id for journey in journeys} == TEMPLATES
    for journey in journeys:
        assert journey.source_file == f"dbt_project/journeys/{journey.journey_id}.yml"


def test_templates_use_only_the_sample_business_events() -> None:
    known = {
        "page_viewed",
        "product_viewed",
        "cart_updated",
        "checkout_started",
        "order_completed",
        "trial_started",
        "feature_used",
        "subscription_renewal_scheduled",
        "subscription_cancelled",
        "logged_in",
    }
    journeys, _ = load_journeys(JOURNEYS_DIR)
    used = set()
    for journey in journeys:
        used.add(journey.entry.event)
        used.update(rule.event for rule in journey.exit_rules if rule.event)
        used.update([journey.goal.event] if journey.goal else [])
        used.update(getattr(node, "event", None) for node in journey.nodes)
    assert used - {None} <= known


def test_the_base_journey_of_the_malformed_cases_is_valid(tmp_path: Path) -> None:
    journey = load_journey(write(tmp_path, "cart_check", BASE))
    assert [node.id for node in journey.nodes] == ["wait_order", "check", "ab", "email_1", "done"]


# --- Malformed files: each refused with the exact message -----------------------------------------------------

MALFORMED = [
    (
        "duration in words",
        ("timeout: 2d", "timeout: 2 days"),
        "node 'wait_order', field 'timeout': expected a duration like 90m, 3h or 2d, got '2 days'",
    ),
    (
        "misspelt field",
        ("    next: done\n  - {id: done", "    nxt: done\n  - {id: done"),
        "node 'email_1', field 'nxt': unknown field (did you mean 'next'?); expected only the fields of an action "
        "node: id, type, action, next",
    ),
    (
        "misspelt top-level field",
        ("holdout_percent: 10", "holdout_percent: 10\nexit_rule: [{event: order_completed}]"),
        "field 'exit_rule': unknown field (did you mean 'exit_rules'?); expected only the fields of a journey: "
        "journey_id, version, status, description, entry, reentry, holdout_percent, delivery, exit_rules, goal, "
        "start_node, nodes",
    ),
    (
        "journey id differs from the file name",
        ("journey_id: cart_check", "journey_id: cart_checks"),
        "field 'journey_id': expected 'cart_check' (the file name), got 'cart_checks'",
    ),
    (
        "version zero",
        ("version: 1", "version: 0"),
        "field 'version': expected an integer >= 1, got 0",
    ),
    (
        "delivery priority out of range",
        ("holdout_percent: 10", "holdout_percent: 10\ndelivery: {priority: 500, when_capped: defer}"),
        "field 'delivery.priority': expected an integer from 1 to 100, got 500",
    ),
    (
        "unknown when_capped",
        ("holdout_percent: 10", "holdout_percent: 10\ndelivery: {when_capped: later}"),
        "field 'delivery.when_capped': expected one of defer, drop, got 'later'",
    ),
    (
        "unknown message purpose",
        ("template: reminder,", "template: reminder, purpose: promotional,"),
        "node 'email_1', field 'action.purpose': expected one of marketing, transactional, got 'promotional'",
    ),
    (
        "unknown send time",
        ("template: reminder,", "template: reminder, send_time: best,"),
        "node 'email_1', field 'action.send_time': expected one of as_decided, optimal, got 'best'",
    ),
    (
        "unknown node type",
        ("{id: done, type: exit}", "{id: done, type: exitt}"),
        "node 'done', field 'type': expected one of delay, wait_for, split, action, exit, got 'exitt' "
        "(did you mean 'exit'?)",
    ),
    (
        "required field missing",
        ("event: order_completed, timeout: 2d,", "event: order_completed,"),
        "node 'wait_order', field 'timeout': required: expected a duration like 90m, 3h or 2d",
    ),
    (
        "duplicate node id",
        ("{id: ab, type: split", "{id: check, type: split"),
        "node 'check', field 'id': expected a unique node id, got 'check' a second time",
    ),
    (
        "next points nowhere",
        ("    next: done\n  - {id: done", "    next: finish\n  - {id: done"),
        "node 'email_1', field 'next': expected the id of a node in this journey, got 'finish'",
    ),
    (
        "branch points nowhere",
        ("{weight: 50, next: done}]", "{weight: 50, next: dne}]"),
        "node 'ab', field 'random[1].next': expected the id of a node in this journey, got 'dne' "
        "(did you mean 'done'?)",
    ),
    (
        "start node missing",
        ("start_node: wait_order", "start_node: wait_for_order"),
        "field 'start_node': expected the id of a node in this journey, got 'wait_for_order' "
        "(did you mean 'wait_order'?)",
    ),
    (
        "cycle",
        ("    next: done\n  - {id: done", "    next: wait_order\n  - {id: done"),
        "node 'email_1', field 'next': expected a node that does not lead back here (journeys are acyclic), got "
        "'wait_order', which closes the cycle wait_order -> check -> email_1 -> wait_order",
    ),
    (
        "unreachable node",
        ("  - {id: done, type: exit}", "  - {id: done, type: exit}\n  - {id: orphan, type: exit}"),
        "node 'orphan', field 'id': expected every node to be reachable from start_node 'wait_order', but no path "
        "leads here",
    ),
    (
        "random weight zero",
        ("{weight: 50, next: email_1}", "{weight: 0, next: email_1}"),
        "node 'ab', field 'random[0].weight': expected a positive integer, got 0",
    ),
    (
        "random weight as text",
        ("{weight: 50, next: email_1}", "{weight: '50%', next: email_1}"),
        "node 'ab', field 'random[0].weight': expected a positive integer, got '50%'",
    ),
    (
        "holdout above 50",
        ("holdout_percent: 10", "holdout_percent: 60"),
        "field 'holdout_percent': expected an integer from 0 to 50, got 60",
    ),
    (
        "invalid op",
        ('op: "="', 'op: "=="'),
        "node 'check', field 'conditions[0].when[0].op': expected one of =, !=, <, <=, >, >=, in, not_in, is_null, "
        "not_null, got '==' (did you mean '='?)",
    ),
    (
        "list op without a list",
        ('op: "=", value: true', "op: in, value: DE"),
        "node 'check', field 'conditions[0].when[0].value': expected a non-empty list of values with op 'in', got 'DE'",
    ),
    (
        "field condition in a split",
        ("{attribute: is_eu,", "{field: is_eu,"),
        "node 'check', field 'conditions[0].when[0].field': expected one of attribute, in_segment, not_in_segment, "
        "has_event here, got field",
    ),
    (
        "invalid channel",
        ("channel: email", "channel: fax"),
        "node 'email_1', field 'action.channel': expected one of email, sms, push, in_app, webhook, got 'fax'",
    ),
    (
        "fallback repeats the primary channel",
        ("fallback_channels: [push]", "fallback_channels: [push, email]"),
        "node 'email_1', field 'action.fallback_channels[1]': expected a channel not already tried (the primary "
        "channel and each fallback once), got 'email'",
    ),
    (
        "invalid re-entry rule",
        ("rule: cooldown, cooldown: 7d", "rule: sometimes"),
        "field 'reentry.rule': expected one of never, always, cooldown, got 'sometimes'",
    ),
    (
        "cooldown without its duration",
        ("rule: cooldown, cooldown: 7d", "rule: cooldown"),
        "field 'reentry.cooldown': required: expected a duration like 90m, 3h or 2d",
    ),
    (
        "entry with both event and segment",
        ("entry: {event: cart_updated}", "entry: {event: cart_updated, segment: shoppers}"),
        "field 'entry': expected exactly one of `event` or `segment`, got both",
    ),
    (
        "local window ending before it starts",
        (
            "  - {id: done, type: exit}",
            "  - {id: done, type: exit}\n"
            '  - {id: daytime, type: delay, until_local_window: {days: [mon], start: "18:00", end: "09:00"}, '
            "next: done}",
        ),
        "node 'daytime', field 'until_local_window.end': expected a time after start '18:00' (windows do not "
        "cross midnight), got '09:00'",
    ),
    (
        "a key given twice",
        ("version: 1", "version: 1\nversion: 2"),
        "expected valid YAML; invalid at line 3, column 1: the key 'version' appears twice in one mapping",
    ),
    (
        "broken YAML",
        ("entry: {event: cart_updated}", "entry: {event: cart_updated"),
        "expected valid YAML; invalid at line 4, column 8: expected ',' or '}', but got ':'",
    ),
    (
        "not a mapping at the top",
        (BASE, "- just\n- a list\n"),
        "expected a mapping of journey fields (journey_id, version, entry, ...), got a list",
    ),
]


@pytest.mark.parametrize(("case", "change", "message"), MALFORMED, ids=[case[0] for case in MALFORMED])
def test_malformed_file_is_refused_with_the_exact_message(
    tmp_path: Path, case: str, change: tuple[str, str], message: str
) -> None:
    old, new = change
    assert old in BASE, f"the case '{case}' no longer changes anything"
    path = write(tmp_path, "cart_check", BASE.replace(old, new, 1))
    journeys, errors = load_journeys(tmp_path)
    assert journeys == []
    assert [str(error) for error in errors] == [f"{path}: {message}"]
    with pytest.raises(InvalidJourney) as raised:
        load_journey(path)
    assert str(raised.value) == f"{path}: {message}"


def test_every_problem_in_a_file_is_reported_at_once(tmp_path: Path) -> None:
    text = BASE.replace("timeout: 2d", "timeout: 2 days").replace("channel: email", "channel: fax")
    write(tmp_path, "cart_check", text)
    _, errors = load_journeys(tmp_path)
    assert [(error.node, error.field) for error in errors] == [("wait_order", "timeout"), ("email_1", "action.channel")]


def test_yaml_scalars_are_read_as_yaml_1_2(tmp_path: Path) -> None:
    text = BASE.replace(
        '{attribute: is_eu, op: "=", value: true}', "{attribute: country_code, op: in, value: [NO, DE]}"
    )
    journey = load_journey(write(tmp_path, "cart_check", text))
    assert journey.node("check").conditions[0].when[0].value == ("NO", "DE")  # not False, as YAML 1.1 would have it


def test_one_bad_file_does_not_stop_the_good_ones(tmp_path: Path) -> None:
    write(tmp_path, "cart_check", BASE)
    write(tmp_path, "cart_check_copy", BASE.replace("journey_id: cart_check", "journey_id: cart_check_copy"))
    bad = write(tmp_path, "broken", BASE.replace("journey_id: cart_check", "journey_id: broken").replace("2d", "2 d"))
    journeys, errors = load_journeys(tmp_path)
    assert sorted(journey.journey_id for journey in journeys) == ["cart_check", "cart_check_copy"]
    assert [str(error) for error in errors] == [
        f"{bad}: node 'wait_order', field 'timeout': expected a duration like 90m, 3h or 2d, got '2 d'"
    ]


def test_validate_command_exits_1_when_a_file_is_invalid(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write(tmp_path, "cart_check", BASE)
    assert cli_main(["validate", str(tmp_path)]) == 0
    write(tmp_path, "broken", BASE)
    assert cli_main(["validate", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "broken.yml: field 'journey_id': expected 'broken' (the file name), got 'cart_check'" in captured.err
    assert "1 valid journey(s): cart_check; 1 invalid file(s)" in captured.out


# --- Tables ---------------------------------------------------------------------------------------------------


def test_template_tables_have_the_fixed_schemas_and_expected_row_counts() -> None:
    journeys, _ = load_journeys(JOURNEYS_DIR)
    tables = journey_tables(journeys)
    for name, table in tables.items():
        assert table.schema == TABLE_SCHEMAS[name], name
    assert tables["journeys"].num_rows == 7
    assert tables["journey_nodes"].num_rows == sum(len(journey.nodes) for journey in journeys) == 70
    # Splits: trial_onboarding 2 (one branch each), financial_cross_sell 1, abandoned_cart 1.
    assert tables["journey_branches"].num_rows == 6
    # browse where 1, abandoned_cart where 2, financial audience 1, split conditions 4.
    assert tables["journey_conditions"].num_rows == 11
    assert tables["journey_exit_rules"].num_rows == 5


def _rows(table: pa.Table, **match: object) -> list[dict]:
    return [row for row in table.to_pylist() if all(row[key] == value for key, value in match.items())]


def test_template_rows_hold_the_file_contents() -> None:
    journeys, _ = load_journeys(JOURNEYS_DIR)
    tables = journey_tables(journeys)
    (renewal,) = _rows(tables["journeys"], journey_id="renewal")
    assert renewal["entry_event"] == "subscription_renewal_scheduled"
    assert renewal["reentry_rule"] == "always" and renewal["cooldown_seconds"] is None
    assert renewal["goal_event"] is None and renewal["goal_exits"] is None
    assert renewal["source_file"] == "dbt_project/journeys/renewal.yml"
    assert len(renewal["definition_hash"]) == 64

    (until,) = _rows(tables["journey_nodes"], journey_id="renewal", node_id="until_three_days_before")
    assert (until["node_order"], until["delay_kind"], until["until_attribute"], until["until_offset_seconds"]) == (
        0,
        "attribute",
        "renewal_due_date",
        -3 * 86400,
    )
    (window,) = _rows(tables["journey_nodes"], journey_id="renewal", node_id="working_hours")
    assert (window["window_days"], window["window_start_minute"], window["window_end_minute"]) == (
        "mon,tue,wed,thu,fri",
        540,
        1080,
    )
    (reminder,) = _rows(tables["journey_nodes"], journey_id="renewal", node_id="renewal_reminder")
    assert reminder["channel"] == "email" and reminder["fallback_channels"] == '["push","sms"]'
    assert json.loads(reminder["action_config"])["template"] == "renewal_reminder"
    assert reminder["duration_seconds"] is None and reminder["delay_kind"] is None

    (wait,) = _rows(tables["journey_nodes"], journey_id="abandoned_cart", node_id="wait_order_1h")
    assert (wait["wait_event"], wait["timeout_seconds"], wait["on_event_node"], wait["on_timeout_node"]) == (
        "order_completed",
        3600,
        "purchased",
        "reminder_email",
    )
    where = _rows(tables["journey_conditions"], journey_id="abandoned_cart", scope="entry_where")
    assert [(row["condition_index"], row["name"], row["op"], row["value_json"]) for row in where] == [
        (0, "cart_id", "not_null", None),
        (1, "cart_value", ">", "0"),
    ]
    (branch_condition,) = _rows(tables["journey_conditions"], journey_id="trial_onboarding", node_id="upgrade_check")
    assert (branch_condition["scope"], branch_condition["branch_index"], branch_condition["kind"]) == (
        "branch",
        0,
        "has_event",
    )
    assert branch_condition["within_seconds"] == 7 * 86400 and branch_condition["op"] is None
    (else_node,) = _rows(tables["journey_nodes"], journey_id="trial_onboarding", node_id="upgrade_check")
    assert else_node["else_node"] == "trial_ending_email"


def test_definition_hash_changes_exactly_when_the_definition_does(tmp_path: Path) -> None:
    first = load_journey(write(tmp_path, "cart_check", BASE))
    commented = load_journey(write(tmp_path, "cart_check", "# a comment\n" + BASE.replace("{rule: ", "{ rule: ")))
    changed = load_journey(write(tmp_path, "cart_check", BASE.replace("timeout: 2d", "timeout: 3d")))
    assert definition_hash(first) == definition_hash(commented)
    assert definition_hash(first) != definition_hash(changed)


def test_write_journey_tables_replaces_the_tables_in_duckdb() -> None:
    journeys, _ = load_journeys(JOURNEYS_DIR)
    con = duckdb.connect()
    write_journey_tables(con, journeys)
    write_journey_tables(con, journeys)  # a second deploy replaces, never appends
    counts = {name: con.execute(f"select count(*) from journey_config.{name}").fetchone()[0] for name in TABLE_SCHEMAS}
    assert counts == {
        "journeys": 7,
        "journey_nodes": 70,
        "journey_branches": 6,
        "journey_conditions": 11,
        "journey_exit_rules": 5,
    }
    types = {row[0]: row[1] for row in con.execute("describe journey_config.journeys").fetchall()}
    assert (types["version"], types["cooldown_seconds"], types["goal_exits"]) == ("BIGINT", "BIGINT", "BOOLEAN")
    write_journey_tables(con, journeys[:1])
    assert con.execute("select count(*) from journey_config.journeys").fetchone()[0] == 1

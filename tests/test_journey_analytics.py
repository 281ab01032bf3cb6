"""Journey analytics marts and experiment statistics, built for real (dbt in DuckDB, the Dagster asset) on one
small named scenario whose every figure a reader can check by eye.

The measurement models read the journey engine's output (transitions, enrollments, actions), delivery states,
engagement, events and orders. The fixture writes those relations directly, as hand-written rows in the columns
the models read (the engine itself is tested against its reference elsewhere), loads the journey file into
journey_config, and runs `dbt build` on the measurement models only, with their data tests.

Scenario: journey `promo_test` (below): wait 1 h, a 50/50 random split into an email (control, branch a) or an
SMS, then wait up to 3 days for an order. 20 % holdout; goal: an order within 7 days (not exiting).
T = 2026-10-01 00:00, as_of = T + 10 days.

| enrollment | variant   | path after wait_1h > ab                                         | orders          |
|------------|-----------|-----------------------------------------------------------------|-----------------|
| e1         | treatment | email_a (sent, delivered, opened, clicked) > wait_order > bought | o1 100 at T+1d  |
| e2         | treatment | email_a (sent, delivered) > wait_order > done (timeout T+1h+3d) | none            |
| e3         | treatment | sms_b (suppressed: no_consent) > wait_order > bought (T+2d)     | o3 40 at T+2d   |
| e4         | treatment | (entered T+9d) sms_b (sent, by email fallback) > wait_order     | none            |
| e5         | holdout   | email_a (held out) > wait_order > bought (T+12h)                | o5 60 at T+12h  |
| e6         | holdout   | sms_b (held out) > wait_order > done                            | none            |
| e7         | treatment | email_a (deferred) > wait_order > done; ordered before the split | o7 25 at T+30m |
| e8         | treatment | none: the exit rule (`opted_out_all` at T+30m) ends it in wait_1h | none          |
"""

import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pytest
import yaml

from journey_engine.spec import parse_journey
from journey_engine.tables import write_journey_tables
from measurement.experiments import compare_proportions
from orchestration.measurement_assets import experiment_statistics
from orchestration.resources import WarehouseResource
from tests.dbt_cli import run_dbt

pytestmark = pytest.mark.integration

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
MEASUREMENT_MODELS = (
    "path:models/intermediate/measurement/experiments path:models/marts/measurement/journeys "
    "path:models/marts/measurement/experiments"
)

JOURNEY_YAML = """
journey_id: promo_test
version: 1
entry: {event: signed_up}
holdout_percent: 20
exit_rules:
  - {event: opted_out_all}
goal: {event: order_completed, within: 7d}
start_node: wait_1h
nodes:
  - {id: wait_1h, type: delay, duration: 1h, next: ab}
  - {id: ab, type: split, random: [{weight: 50, next: email_a}, {weight: 50, next: sms_b}]}
  - id: email_a
    type: action
    action: {kind: message, channel: email, template: promo_a, fields: []}
    next: wait_order
  - id: sms_b
    type: action
    action: {kind: message, channel: sms, template: promo_b, fields: [], fallback_channels: [email]}
    next: wait_order
  - {id: wait_order, type: wait_for, event: order_completed, timeout: 3d, on_event: bought, on_timeout: done}
  - {id: bought, type: exit}
  - {id: done, type: exit}
"""

T = datetime(2026, 10, 1)
AS_OF = T + timedelta(days=10)
H = timedelta(hours=1)
D = timedelta(days=1)

# enrollment -> (variant, entered_at, [(to_node, reason, at)], converted_at)
PATHS = {
    "e1": ("treatment", T, [("email_a", T + H), ("bought", T + D)], T + D),
    "e2": ("treatment", T, [("email_a", T + H), ("done", T + H + 3 * D)], None),
    "e3": ("treatment", T, [("sms_b", T + H), ("bought", T + 2 * D)], T + 2 * D),
    "e4": ("treatment", T + 9 * D, [("sms_b", T + 9 * D + H)], None),
    "e5": ("holdout", T, [("email_a", T + H), ("bought", T + 12 * H)], T + 12 * H),
    "e6": ("holdout", T, [("sms_b", T + H), ("done", T + H + 3 * D)], None),
    "e7": ("treatment", T, [("email_a", T + H), ("done", T + H + 3 * D)], T + H / 2),
    "e8": ("treatment", T, [], None),
}
ORDERS = {"e1": ("o1", 100.0, T + D), "e3": ("o3", 40.0, T + 2 * D), "e5": ("o5", 60.0, T + 12 * H)}
ORDERS["e7"] = ("o7", 25.0, T + H / 2)
# action state, channel chosen by policy, policy reason
ACTION_STATES = {
    "e1": ("sent", "email", None),
    "e2": ("sent", "email", None),
    "e3": ("suppressed", None, "no_consent"),
    "e4": ("sent", "email", None),
    "e5": ("suppressed", None, "holdout"),
    "e6": ("suppressed", None, "holdout"),
    "e7": ("deferred", "email", "quiet_hours"),
}


def _transitions() -> list[dict]:
    rows = []
    for enrollment, (variant, entered, moves, _) in PATHS.items():
        steps = [(None, "wait_1h", "entry", entered)]
        if enrollment == "e8":
            steps.append(("wait_1h", "__exit__", "exit_rule", entered + H / 2))
        else:
            (action_node, action_at), *rest = moves
            steps += [
                ("wait_1h", "ab", "delay", entered + H),
                ("ab", action_node, "random", action_at),
                (action_node, "wait_order", "next", action_at),
            ]
            for node, at in rest:
                steps.append(("wait_order", node, "event" if node == "bought" else "timeout", at))
                steps.append((node, "__exit__", "exit_node", at))
        for number, (source, target, reason, at) in enumerate(steps):
            rows.append(
                {
                    "transition_id": f"{enrollment}-{number}",
                    "enrollment_id": enrollment,
                    "journey_id": "promo_test",
                    "journey_version": 1,
                    "customer_id": f"c{enrollment[1:]}",
                    "variant": variant,
                    "step_number": number,
                    "from_node": source,
                    "to_node": target,
                    "reason": reason,
                    "entered_at": entered,
                    "transition_at": at,
                }
            )
    return rows


def _enrollments(transitions: list[dict]) -> list[dict]:
    rows = []
    for enrollment, (variant, entered, _, converted) in PATHS.items():
        last = max((t for t in transitions if t["enrollment_id"] == enrollment), key=lambda t: t["step_number"])
        ended = last["to_node"] == "__exit__"
        rows.append(
            {
                "enrollment_id": enrollment,
                "journey_id": "promo_test",
                "journey_version": 1,
                "customer_id": f"c{enrollment[1:]}",
                "variant": variant,
                "status": ("completed" if last["reason"] == "exit_node" else "exited") if ended else "active",
                "exit_reason": last["reason"] if ended else None,
                "entered_at": entered,
                "exited_at": last["transition_at"] if ended else None,
                "converted_at": converted,
            }
        )
    return rows


def _actions(transitions: list[dict]) -> list[dict]:
    return [
        {
            "action_id": f"act-{t['enrollment_id']}",
            "enrollment_id": t["enrollment_id"],
            "journey_id": "promo_test",
            "journey_version": 1,
            "customer_id": t["customer_id"],
            "node_id": t["to_node"],
            "action_kind": "message",
            "channel": "email" if t["to_node"] == "email_a" else "sms",
            "variant": t["variant"],
            "scheduled_at": t["transition_at"],
        }
        for t in transitions
        if t["to_node"] in ("email_a", "sms_b")
    ]


def _write(con: duckdb.DuckDBPyConnection, relation: str, rows: list[dict], types: dict[str, pa.DataType]) -> None:
    schema, _ = relation.split(".")
    table = pa.Table.from_pylist(rows, schema=pa.schema(list(types.items())))
    con.execute(f"create schema if not exists {schema}")
    con.register("rows_to_write", table)
    con.execute(f"create or replace table {relation} as select * from rows_to_write")
    con.unregister("rows_to_write")


S, INT, F, TS = pa.string(), pa.int64(), pa.float64(), pa.timestamp("us")


def _build_inputs(path: Path) -> None:
    journey, errors = parse_journey(yaml.safe_load(JOURNEY_YAML), "promo_test.yml", "promo_test")
    assert journey is not None, errors
    transitions = _transitions()
    events = [
        {"event_id": f"ev-{o}", "customer_id": f"c{e[1:]}", "event_name": "order_completed", "order_id": o, "at": at}
        for e, (o, _, at) in ORDERS.items()
    ] + [{"event_id": "ev-stop", "customer_id": "c8", "event_name": "opted_out_all", "order_id": None, "at": T + H / 2}]
    with duckdb.connect(str(path)) as con:
        write_journey_tables(con, [journey])
        _write(
            con,
            "journeys.journey_transitions",
            transitions,
            {
                "transition_id": S,
                "enrollment_id": S,
                "journey_id": S,
                "journey_version": INT,
                "customer_id": S,
                "variant": S,
                "step_number": INT,
                "from_node": S,
                "to_node": S,
                "reason": S,
                "entered_at": TS,
                "transition_at": TS,
            },
        )
        _write(
            con,
            "journeys.journey_enrollments",
            _enrollments(transitions),
            {
                "enrollment_id": S,
                "journey_id": S,
                "journey_version": INT,
                "customer_id": S,
                "variant": S,
                "status": S,
                "exit_reason": S,
                "entered_at": TS,
                "exited_at": TS,
                "converted_at": TS,
            },
        )
        _write(
            con,
            "journeys.journey_actions",
            _actions(transitions),
            {
                "action_id": S,
                "enrollment_id": S,
                "journey_id": S,
                "journey_version": INT,
                "customer_id": S,
                "node_id": S,
                "action_kind": S,
                "channel": S,
                "variant": S,
                "scheduled_at": TS,
            },
        )
        _write(
            con,
            "policy.action_states",
            [
                {"action_id": f"act-{e}", "state": s, "channel": c, "reason": r}
                for e, (s, c, r) in ACTION_STATES.items()
            ],
            {"action_id": S, "state": S, "channel": S, "reason": S},
        )
        engagement = [("act-e1", "delivered"), ("act-e1", "opened"), ("act-e1", "clicked"), ("act-e2", "delivered")]
        engagement += [("msg_campaign", "delivered"), ("msg_campaign", "opened")]  # campaign mail: not a journey's
        _write(
            con,
            "staging.stg_raw__message_engagement",
            [
                {"message_event_id": f"me{i}", "message_id": m, "event_type": kind, "occurred_at": T + 2 * H}
                for i, (m, kind) in enumerate(engagement)
            ],
            {"message_event_id": S, "message_id": S, "event_type": S, "occurred_at": TS},
        )
        _write(
            con,
            "intermediate.int_journey_events",
            [{**e, "occurred_at": e.pop("at")} for e in events],
            {"event_id": S, "customer_id": S, "event_name": S, "order_id": S, "occurred_at": TS},
        )
        _write(
            con,
            "intermediate.int_orders_resolved_to_customers",
            [
                {"order_id": o, "customer_id": f"c{e[1:]}", "revenue_usd": revenue, "ordered_at": at}
                for e, (o, revenue, at) in ORDERS.items()
            ],
            {"order_id": S, "customer_id": S, "revenue_usd": F, "ordered_at": TS},
        )


def _dbt(folder: Path, warehouse: Path, *args: str, variables: dict | None = None) -> subprocess.CompletedProcess:
    return run_dbt(args, warehouse, folder / "target", as_of=AS_OF.isoformat(), variables=variables)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("journey_analytics")
    path = folder / "warehouse.duckdb"
    _build_inputs(path)
    built = _dbt(
        folder,
        path,
        "build",
        "--select",
        *MEASUREMENT_MODELS.split(),
    )
    assert built.returncode == 0, built.stdout[-5000:]
    result = dg.materialize(
        [experiment_statistics],
        resources={"warehouse": WarehouseResource(path=str(path))},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    return path


def _rows(path: Path, sql: str) -> list[dict]:
    with duckdb.connect(str(path), read_only=True) as con:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_node_funnel_counts_arrivals_actions_conversions_exits_and_waits(warehouse):
    funnel = {r["node_id"]: r for r in _rows(warehouse, "select * from measurement.journey_node_funnel")}
    assert set(funnel) == {"wait_1h", "ab", "email_a", "sms_b", "wait_order", "bought", "done"}
    first = funnel["wait_1h"]
    # all 8 entered; e1, e3, e5, e7 converted after entering; e8 left by the exit rule after half an hour
    assert (first["node_type"], first["entered"], first["entered_holdout"], first["converted"]) == ("delay", 8, 2, 4)
    assert (first["exited"], first["exited_by_exit_rule"], first["exited_at_exit_node"]) == (1, 1, 0)
    assert first["median_hours_at_node"] == 1.0  # seven stays of 1 h, one of 0.5 h
    email = funnel["email_a"]
    # e1, e2, e5 (holdout), e7; e7 converted before the split, so only e1 and e5 converted after it
    assert (email["entered"], email["entered_holdout"], email["converted"]) == (4, 1, 2)
    assert (email["actions_decided"], email["actions_held_out"], email["actions_sent"]) == (4, 1, 2)
    assert (email["actions_pending"], email["actions_suppressed"]) == (1, 0)
    # engagement matched by message_id = action_id: e1 delivered, opened, clicked; e2 delivered; campaign mail ignored
    assert (email["delivered"], email["opened"], email["clicked"]) == (2, 1, 1)
    assert email["message_cost"] == pytest.approx(2 * 0.001)
    sms = funnel["sms_b"]
    # e4's SMS went out by email (fallback): charged at the email price
    assert (sms["actions_decided"], sms["actions_sent"], sms["actions_suppressed"]) == (3, 1, 1)
    assert sms["message_cost"] == pytest.approx(0.001)
    wait = funnel["wait_order"]
    # e4 waits since T+9d+1h: 23 hours before as_of
    assert (wait["entered"], wait["waiting_now"], wait["median_hours_waiting_now"]) == (7, 1, 23.0)
    assert (funnel["bought"]["exited_at_exit_node"], funnel["done"]["exited_at_exit_node"]) == (3, 3)


def test_flows_give_every_move_for_a_sankey(warehouse):
    flows = {
        (r["source_node_id"], r["target_node_id"]): (r["enrollments"], r["holdout_enrollments"])
        for r in _rows(warehouse, "select * from measurement.journey_flows")
    }
    assert flows == {
        ("__entry__", "wait_1h"): (8, 2),
        ("wait_1h", "__exit__"): (1, 0),
        ("wait_1h", "ab"): (7, 2),
        ("ab", "email_a"): (4, 1),
        ("ab", "sms_b"): (3, 1),
        ("email_a", "wait_order"): (4, 1),
        ("sms_b", "wait_order"): (3, 1),
        ("wait_order", "bought"): (3, 1),
        ("wait_order", "done"): (3, 1),
        ("bought", "__exit__"): (3, 1),
        ("done", "__exit__"): (3, 1),
    }


def test_channel_performance_uses_the_channel_a_message_went_out_on(warehouse):
    channels = {r["channel"]: r for r in _rows(warehouse, "select * from measurement.journey_channel_performance")}
    email, sms = channels["email"], channels["sms"]
    # email: e1, e2, e5 (held out), e7 (deferred) and e4's fallback
    assert (email["actions_decided"], email["actions_held_out"], email["actions_sent"]) == (5, 1, 3)
    assert (email["delivered"], email["opened"], email["clicked"]) == (2, 1, 1)
    assert email["delivery_rate"] == pytest.approx(2 / 3)
    assert email["message_cost"] == pytest.approx(0.003)
    assert (sms["actions_decided"], sms["actions_held_out"], sms["actions_sent"], sms["actions_suppressed"]) == (
        2,
        1,
        0,
        1,
    )


def test_journey_performance_revenue_cost_roi_and_holdout_increment(warehouse):
    (row,) = _rows(warehouse, "select * from measurement.journey_performance")
    assert (row["enrollments"], row["treated_enrollments"], row["holdout_enrollments"]) == (8, 6, 2)
    assert row["active_enrollments"] == 1
    # treated conversions e1, e3, e7 (o1 100 + o3 40 + o7 25); holdout e5 (o5 60)
    assert (row["conversions"], row["holdout_conversions"]) == (3, 1)
    assert (row["revenue"], row["holdout_revenue"]) == (165.0, 60.0)
    assert row["median_hours_to_convert"] == 24.0  # 24 h, 48 h and 0.5 h
    assert (row["messages_sent"], row["message_cost"]) == (3, pytest.approx(0.003))
    assert row["roi"] == pytest.approx((165 - 0.003) / 0.003)
    # both groups convert at 50 %: no incremental conversion; revenue per enrollment 27.50 vs 30.00
    assert row["incremental_conversions"] == 0
    assert row["incremental_revenue"] == pytest.approx((165 / 6 - 60 / 2) * 6)  # -15
    assert row["incremental_roi"] == pytest.approx((-15 - 0.003) / 0.003)


def test_experiment_counts_split_exposures_count_only_goals_after_assignment(warehouse):
    counts = {
        (r["experiment_id"], r["variant"]): r
        for r in _rows(warehouse, "select * from measurement.experiment_variant_counts")
    }
    assert set(counts) == {("holdout", "treatment"), ("holdout", "holdout"), ("ab", "email_a"), ("ab", "sms_b")}
    holdout, treated = counts["holdout", "holdout"], counts["holdout", "treatment"]
    assert (holdout["is_control"], holdout["expected_weight"], holdout["exposures"], holdout["conversions"]) == (
        True,
        20,
        2,
        1,
    )
    assert (treated["expected_weight"], treated["exposures"], treated["conversions"], treated["revenue"]) == (
        80,
        6,
        3,
        165.0,
    )
    assert treated["revenue_sum_squares"] == 100**2 + 40**2 + 25**2
    # the split: treatment enrollments only (e5, e6 are held out); e7 ordered before the split: not a conversion
    email, sms = counts["ab", "email_a"], counts["ab", "sms_b"]
    assert (email["is_control"], email["exposures"], email["conversions"], email["revenue"]) == (True, 3, 1, 100.0)
    assert (sms["is_control"], sms["exposures"], sms["conversions"], sms["revenue"]) == (False, 2, 1, 40.0)


def test_experiment_results_and_holdout_lift_tables_from_the_asset(warehouse):
    results = {
        (r["experiment_id"], r["variant"]): r for r in _rows(warehouse, "select * from measurement.experiment_results")
    }
    sms = results["ab", "sms_b"]
    expected = compare_proportions(1, 3, 1, 2)
    assert (sms["exposures"], sms["conversions"], sms["conversion_rate"]) == (2, 1, 0.5)
    assert sms["abs_lift"] == pytest.approx(0.5 - 1 / 3)
    assert sms["p_value"] == pytest.approx(expected.p_value)
    assert results["ab", "email_a"]["is_control"] and results["ab", "email_a"]["p_value"] is None
    # 3 vs 2 exposures on a 50/50 split: no mismatch (chi2 = 0.2, p = 0.65)
    assert sms["srm_p_value"] == pytest.approx(0.6547, abs=1e-4) and not sms["has_sample_ratio_mismatch"]
    (lift,) = _rows(warehouse, "select * from measurement.holdout_lift")
    assert (lift["journey_id"], lift["treated"], lift["holdout"]) == ("promo_test", 6, 2)
    assert (lift["treated_conversion_rate"], lift["holdout_conversion_rate"]) == (0.5, 0.5)
    assert lift["incremental_conversions"] == 0
    assert lift["incremental_revenue"] == pytest.approx(-15.0)
    assert lift["p_value"] == 1.0


def test_a_message_cost_setting_missing_a_channel_is_refused_by_name(tmp_path, warehouse):
    completed = _dbt(
        tmp_path,
        warehouse,
        "compile",
        "--select",
        "journey_action_outcomes",
        variables={"measurement__message_cost": {"email": 0.001, "sms": 0.01}},
    )
    assert completed.returncode != 0
    assert "var measurement__message_cost: channel 'push' has no cost (expected a number >= 0)" in completed.stdout

"""Marketers' controls outside the policy models: the set_journey_status job and `journeys pause|resume|status`
write the same audited status log; a run for selected journeys reaches dbt and activation. Real DuckDB, Dagster."""

import dagster as dg
import duckdb
import pytest

from orchestration.activation_assets import for_selected_journeys
from orchestration.cli import main
from orchestration.dbt_args import dbt_run_env
from orchestration.resources import unknown_journeys


@pytest.fixture
def warehouse(tmp_path, monkeypatch):
    path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("JOURNEYS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JOURNEYS_WAREHOUSE_PATH", str(path))
    with duckdb.connect(str(path)) as con:
        con.execute("create schema journey_config")
        con.execute("create table journey_config.journeys as select unnest(['promo', 'welcome']) as journey_id")
    return path


def _changes(path) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(
            """select journey_id, status, reason, changed_by, run_id is not null
               from journey_config.journey_status_changes order by changed_at, status desc"""
        ).fetchall()


def test_the_ui_job_pauses_a_journey_and_refuses_an_unknown_one_by_name(warehouse):
    from orchestration.definitions import defs

    job = defs.resolve_job_def("set_journey_status")
    config = {"journey_id": "promo", "status": "paused", "reason": "wrong coupon", "changed_by": "maria"}
    result = job.execute_in_process(
        run_config={"ops": {"record_journey_status": {"config": config}}}, instance=dg.DagsterInstance.ephemeral()
    )
    assert result.success
    assert _changes(warehouse) == [("promo", "paused", "wrong coupon", "maria", True)]

    unknown = job.execute_in_process(
        run_config={"ops": {"record_journey_status": {"config": {**config, "journey_id": "promos"}}}},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not unknown.success
    (failure,) = [e for e in unknown.all_events if e.is_step_failure]
    assert "'promos' is not a loaded journey; loaded: promo, welcome" in failure.step_failure_data.error.message


def test_the_cli_pauses_resumes_and_shows_the_status(warehouse, capsys):
    assert main(["pause", "promo", "--reason", "wrong coupon", "--by", "maria"]) == 0
    assert main(["pause", "promo", "--reason", "again", "--by", "maria"]) == 0  # already paused: not recorded
    assert main(["resume", "promo", "--reason", "coupon fixed", "--by", "li"]) == 0
    output = capsys.readouterr().out
    assert "promo: active -> paused" in output and "promo is already paused: nothing recorded" in output
    assert [(j, s, r, b) for j, s, r, b, _ in _changes(warehouse)] == [
        ("promo", "paused", "wrong coupon", "maria"),
        ("promo", "active", "coupon fixed", "li"),
    ]
    with pytest.raises(SystemExit):
        main(["pause", "promo"])  # a reason is required
    assert main(["status"]) == 0
    status = capsys.readouterr().out.splitlines()
    assert status[0].split()[:2] == ["promo", "active"] and "by li: coupon fixed" in status[0]
    assert status[1].split() == ["welcome", "active"]


def test_a_run_for_selected_journeys_passes_them_to_dbt_and_activation_and_names_unknown_ones():
    assert dbt_run_env("2026-11-01T00:00:00", "run-1", journeys=["welcome", "promo"])["JOURNEYS_SELECTED"] == (
        "promo,welcome"
    )
    assert dbt_run_env("2026-11-01T00:00:00", "run-1")["JOURNEYS_SELECTED"] == ""
    with pytest.raises(ValueError, match="no comma"):
        dbt_run_env("2026-11-01T00:00:00", "run-1", journeys=["a,b"])
    route = "(select * from policy.actions_due where destination = 'email')"
    assert (
        for_selected_journeys(route, ["promo"])
        == f"(select * from {route} as routed where routed.journey_id in ('promo'))"
    )
    assert for_selected_journeys(route, []) == route
    assert unknown_journeys(["promo", "promos"], ["promo", "welcome"]) == (
        "run_settings.journeys: 'promos' is not a loaded journey; loaded: promo, welcome"
    )
    assert unknown_journeys(["promo"], ["promo"]) is None


def test_a_run_held_by_the_volume_cap_is_approved_from_the_ui_and_the_next_run_goes_ahead(warehouse):
    """The activation core's own volume cap holds 500 due emails against a normal of 10 a run; the job
    approve_held_run records the approval; the next run with that volume goes ahead and uses the approval up."""
    from datetime import datetime

    from activations.ledger import RUNS_TABLE, ensure_ledger
    from activations.volume import VolumeCap, check_volume
    from orchestration.definitions import defs

    cap = VolumeCap(factor=5.0, min_volume=20)
    at = datetime(2026, 11, 26, 9, 0)
    with duckdb.connect(str(warehouse)) as con:
        ensure_ledger(con)
        for n in range(3):
            con.execute(
                f"insert into {RUNS_TABLE} values (?, 'email', ?, ?, 10, 10, 0, 0, 0, false, false)",
                [f"normal-{n}", at, at],
            )
        held = check_volume(con, "email", 500, cap, run_id="big-run", at=at)
    assert not held.allowed and held.hold_id

    job = defs.resolve_job_def("approve_held_run")
    config = {"ops": {"approve_volume_hold": {"config": {"hold_id": held.hold_id, "approved_by": "Jane Doe"}}}}
    assert job.execute_in_process(run_config=config, instance=dg.DagsterInstance.ephemeral()).success
    with duckdb.connect(str(warehouse)) as con:
        after = check_volume(con, "email", 500, cap, run_id="next-run", at=at)
        (approved_by,) = con.execute(
            "select approved_by from activation.volume_holds where hold_id = ?", [held.hold_id]
        ).fetchone()
    assert after.allowed and after.used_approval == held.hold_id
    assert approved_by == "Jane Doe"

    config["ops"]["approve_volume_hold"]["config"]["hold_id"] = "nope"
    refused = job.execute_in_process(run_config=config, instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    (failure,) = [e for e in refused.all_events if e.is_step_failure]
    assert "no volume hold with hold_id 'nope'" in failure.step_failure_data.error.message
    assert "(open holds: none)" in failure.step_failure_data.error.message

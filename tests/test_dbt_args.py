import json

from orchestration.dbt_args import dbt_build_args
from orchestration.dbt_assets import group_for_model_path
from orchestration.resources import resolve_as_of


def test_build_args_pass_as_of_and_run_id_as_vars():
    args = dbt_build_args(as_of="2026-11-01T00:00:00", run_id="r1")
    assert args[:2] == ["build", "--vars"]
    assert json.loads(args[2]) == {"as_of": "2026-11-01T00:00:00", "run_id": "r1"}
    assert args[3:5] == ["--exclude-resource-type", "unit_test"]
    assert "--full-refresh" not in args


def test_build_args_full_refresh_and_selection():
    args = dbt_build_args(as_of="x", run_id="r", full_refresh=True, select=["staging", "rejected_rows"])
    assert args[-4:] == ["--full-refresh", "--select", "staging", "rejected_rows"]


def test_as_of_is_normalised_to_naive_utc():
    assert resolve_as_of("2026-11-01") == "2026-11-01T00:00:00"
    assert resolve_as_of("2026-11-01T10:30:00Z") == "2026-11-01T10:30:00"
    assert resolve_as_of("2026-11-01T10:30:00+02:00") == "2026-11-01T08:30:00"


def test_groups_follow_model_folders():
    assert group_for_model_path(["journeys", "staging", "raw", "stg_raw__customers"]) == "staging"
    assert group_for_model_path(["journeys", "marts", "quality", "rejected_rows"]) == "quality"
    assert group_for_model_path(["journeys", "marts", "policy", "actions_due"]) == "policy"

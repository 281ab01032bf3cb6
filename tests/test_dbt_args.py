from orchestration.dbt_args import dbt_build_args, dbt_run_env
from orchestration.dbt_assets import group_for_model_path
from orchestration.resources import resolve_as_of


def test_the_run_settings_go_to_the_environment_not_to_the_command_line():
    """--vars that change every run would force dbt to re-parse the whole project every run."""
    assert dbt_run_env(as_of="2026-11-01T00:00:00", run_id="r1") == {
        "JOURNEYS_AS_OF": "2026-11-01T00:00:00",
        "JOURNEYS_RUN_ID": "r1",
        "JOURNEYS_SELECTED": "",
    }
    args = dbt_build_args()
    assert args == ["build", "--exclude-resource-type", "unit_test"]
    assert "--vars" not in args and "--full-refresh" not in args


def test_build_args_full_refresh_and_selection():
    args = dbt_build_args(full_refresh=True, select=["staging", "rejected_rows"])
    assert args[-4:] == ["--full-refresh", "--select", "staging", "rejected_rows"]


def test_as_of_is_normalised_to_naive_utc():
    assert resolve_as_of("2026-11-01") == "2026-11-01T00:00:00"
    assert resolve_as_of("2026-11-01T10:30:00Z") == "2026-11-01T10:30:00"
    assert resolve_as_of("2026-11-01T10:30:00+02:00") == "2026-11-01T08:30:00"


def test_groups_follow_model_folders():
    assert group_for_model_path(["journeys", "staging", "raw", "stg_raw__customers"]) == "staging"
    assert group_for_model_path(["journeys", "marts", "quality", "rejected_rows"]) == "quality"
    assert group_for_model_path(["journeys", "marts", "policy", "actions_due"]) == "policy"

import os
import subprocess

from dagster_dbt import DbtCliResource

from orchestration.dbt_args import dbt_build_args, dbt_run_env
from orchestration.dbt_assets import DBT_EXECUTABLE, group_for_model_path, journeys_dbt_resource
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


def test_the_dbt_resource_reports_the_dbt_it_starts_and_loads_no_adapter_in_process(tmp_path):
    """JourneysDbtCliResource replaces two internals of dagster-dbt 0.29: if an upgrade moves them, this fails."""
    for hook in ("_cli_version", "_initialize_dbt_core_adapter"):
        assert hook in vars(DbtCliResource), f"dagster-dbt no longer has {hook}"
    resource = journeys_dbt_resource()
    reported = subprocess.run([str(DBT_EXECUTABLE), "--version"], capture_output=True, text=True, check=True).stdout
    assert f"installed: {resource._cli_version}" in reported
    assert resource._initialize_dbt_core_adapter(["build"]) is None
    # The executable dagster-dbt starts runs dbt in the folder it is given.
    started = subprocess.run(
        [resource.dbt_executable],
        env={**os.environ, "JOURNEYS_DBT_WORKDIR": str(tmp_path), "JOURNEYS_DBT_EXECUTABLE": "pwd"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert started.stdout.strip() == str(tmp_path)

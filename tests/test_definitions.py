"""The Dagster code location loads, as `dagster definitions validate` and `make ui` load it."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_definitions_validate_with_the_dagster_cli():
    dagster = Path(sys.executable).parent / "dagster"
    completed = subprocess.run(
        [str(dagster), "definitions", "validate", "-m", "orchestration.definitions"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DAGSTER_HOME": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Validation successful" in completed.stdout + completed.stderr


def test_asset_graph_has_every_layer_and_the_activation_depends_on_the_actions():
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {
        "raw/customers",
        "staging/stg_raw__customers",
        "quality/rejected_rows",
        "policy/actions_due",
        "policy/policy_decisions",
    } <= keys
    for destination in ("email", "sms", "push", "in_app", "webhook", "crm", "audience"):
        activation = graph.get(dg.AssetKey(["activation", destination]))
        assert dg.AssetKey(["policy", "actions_due"]) in activation.parent_keys
    groups = {
        graph.get(dg.AssetKey(k.split("/"))).group_name for k in ("staging/stg_raw__events", "quality/rejected_rows")
    }
    assert groups == {"staging", "quality"}
    # intermediate models belong to their subject area's group
    assert graph.get(dg.AssetKey(["intermediate", "int_identity_links_observed"])).group_name == "identity"


def test_journey_runs_are_limited_to_one_at_a_time_by_the_instance_queue():
    import yaml

    from orchestration.jobs import JOURNEY_RUN_TAG

    config = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())
    limits = config["run_coordinator"]["config"]["tag_concurrency_limits"]
    ((key, value),) = JOURNEY_RUN_TAG.items()
    assert {"key": key, "value": value, "limit": 1} in limits
    from orchestration.definitions import defs

    assert defs.resolve_job_def("journey_run").tags[key] == value
    # every job that writes the DuckDB warehouse is one writer at a time
    from orchestration.jobs import WAREHOUSE_WRITER_TAG

    ((key, value),) = WAREHOUSE_WRITER_TAG.items()
    assert {"key": key, "value": value, "limit": 1} in limits
    for job in ("journey_run", "retention_purge", "measurement", "set_journey_status", "approve_held_run"):
        assert defs.resolve_job_def(job).tags[key] == value, job


def test_erasure_runs_before_activation_and_the_purge_only_in_its_own_job():
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    erasure, purge = dg.AssetKey(["audit", "erasures"]), dg.AssetKey(["audit", "purges"])
    assert erasure in graph.get(dg.AssetKey(["activation", "email"])).parent_keys
    assert dg.AssetKey(["policy", "erased_customers"]) in graph.get(erasure).parent_keys
    journey_run = defs.resolve_job_def("journey_run").asset_layer.selected_asset_keys
    assert erasure in journey_run and purge not in journey_run
    assert defs.resolve_job_def("retention_purge").asset_layer.selected_asset_keys == {purge}


def test_every_measurement_table_is_built_after_erasure():
    """An erased person's share of an aggregate is gone in the run that erases them (not one run later)."""
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    erasure = dg.AssetKey(["audit", "erasures"])
    measurement = [k for k in graph.get_all_asset_keys() if graph.get(k).group_name == "measurement"]
    assert len(measurement) > 20
    not_after = [k.to_user_string() for k in measurement if erasure not in graph.get_ancestor_asset_keys(k)]
    assert not_after == []


def test_who_asked_for_a_purge_comes_from_the_run_tags():
    from orchestration.erasure_assets import requested_by_from_tags

    assert requested_by_from_tags({"journeys/requested_by": "dpo@northwind.example"}) == "dpo@northwind.example"
    assert requested_by_from_tags({"dagster/schedule_name": "daily_purge"}) == "schedule:daily_purge"
    assert requested_by_from_tags({}) == "schedule"

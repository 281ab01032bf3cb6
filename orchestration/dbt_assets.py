"""Every dbt model as a Dagster asset, every dbt test as an asset check."""

import os
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from activations.ledger import ensure_ledger
from orchestration.dbt_args import dbt_build_args
from orchestration.journey_status import known_journeys
from orchestration.resources import JourneyRunSettings, WarehouseResource, unknown_journeys
from orchestration.settings import DBT_PROJECT_DIR, put_environment_tools_on_path

put_environment_tools_on_path()
dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
dbt_project.prepare_if_dev()
if not dbt_project.manifest_path.exists():
    # A fresh clone has no manifest yet: parse once so definitions load anywhere (make targets do it too).
    dbt_project.preparer.prepare(dbt_project)


def group_for_model_path(fqn: list[str]) -> str:
    """models/staging/... -> 'staging'; models/marts/<area>/... and models/intermediate/<area>/... -> '<area>'
    (identity, segments, journeys, policy, measurement, quality): the UI groups a subject area's models."""
    layer = fqn[1] if len(fqn) > 1 else "default"
    if layer in ("marts", "intermediate") and len(fqn) > 3:
        return fqn[2]
    return layer


class JourneysDbtTranslator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return "raw"
        if dbt_resource_props["resource_type"] == "seed":  # reviewed lists such as the suppression list
            return dbt_resource_props["config"].get("schema") or "seeds"
        return group_for_model_path(dbt_resource_props["fqn"])


@dbt_assets(
    manifest=dbt_project.manifest_path,
    dagster_dbt_translator=JourneysDbtTranslator(),
    project=dbt_project,
)
def journeys_dbt_models(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    run_settings: JourneyRunSettings,
    warehouse: WarehouseResource,
):
    # dbt (a subprocess) reads the warehouse path from this variable in profiles.yml: the same warehouse
    # the Python steps of this run use.
    os.environ["JOURNEYS_WAREHOUSE_PATH"] = warehouse.resolved_path()
    # A subset (say staging only, launched from the UI) runs the tests of what it builds, not tests that also
    # read models outside it (dbt's default, "eager", would run a relationships test against a table the subset
    # never built). A whole run selects everything, so every test still runs.
    os.environ.setdefault("DBT_INDIRECT_SELECTION", "cautious")
    # Delivery policy reads the send ledger (what activation already sent): it exists before the first build.
    with warehouse.connect() as con:
        ensure_ledger(con)
        if run_settings.journeys:
            # journey_definitions (upstream) has just loaded the runnable journeys
            problem = unknown_journeys(run_settings.journeys, known_journeys(con) or [])
            if problem:
                raise dg.Failure(problem)
    args = dbt_build_args(
        as_of=run_settings.as_of_for_run(context), run_id=context.run_id, journeys=run_settings.journeys
    )
    context.log.info("dbt %s", " ".join(args))
    yield from dbt.cli(args, context=context).stream()

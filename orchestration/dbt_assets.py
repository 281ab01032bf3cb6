"""Every dbt model as a Dagster asset, every dbt test as an asset check."""

import os
import sys
from collections.abc import Mapping, Sequence
from functools import cached_property
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from packaging.version import Version

from activations.ledger import ensure_ledger
from orchestration.dbt_args import dbt_build_args, dbt_run_env, environment_with
from orchestration.journey_status import known_journeys
from orchestration.resources import JourneyRunSettings, WarehouseResource, unknown_journeys
from orchestration.settings import DBT_PROJECT_DIR, put_environment_tools_on_path

put_environment_tools_on_path()
dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
dbt_project.prepare_if_dev()
if not dbt_project.manifest_path.exists():
    # A fresh clone has no manifest yet: parse once so definitions load anywhere (make targets do it too).
    dbt_project.preparer.prepare(dbt_project)


# The dbt that runs: the one installed with this Python (the version the resource reports is that package's).
DBT_EXECUTABLE = Path(sys.prefix) / "bin" / "dbt"
# Starts DBT_EXECUTABLE in the warehouse's folder (see JourneysDbtCliResource).
DBT_IN_WAREHOUSE_FOLDER = Path(__file__).with_name("dbt_in_warehouse_folder.sh")


class JourneysDbtCliResource(DbtCliResource):
    """dagster-dbt's dbt resource without three start-up costs that every step of every run paid.

    - dagster-dbt asks the dbt executable for its version (`dbt --version`: a subprocess that imports dbt, 4-5 s
      of CPU here) once per run. The dbt it starts is the one installed with this Python (DBT_EXECUTABLE), so
      its version is that package's version.
    - It builds an in-process dbt adapter (profile, project and the project's macros loaded in the Dagster
      process) for each invocation. The adapter serves only `fetch_row_counts()` and `fetch_column_metadata()`,
      which these assets do not call; without it dagster-dbt skips those fetches, as it documents for the
      Fusion engine.
    - dbt re-parses the whole project when the profile's connection settings change, and the warehouse path is
      one of them: every new warehouse (a test's, a user's second data folder) paid a full parse (8-14 s here
      against 2-3 s for a partial one). dbt is started in the warehouse's folder and the profile names the
      warehouse by its file name (`_dbt_build`), so every warehouse named warehouse.duckdb has the same profile
      as the project's own saved parse (`make manifest`). dbt still checks the saved parse and re-parses what
      it does not match: this changes speed, never results.

    Pinned with dagster-dbt 0.29 (pyproject.toml); tests/test_dbt_args.py fails if its hooks move."""

    @cached_property
    def _cli_version(self) -> Version:
        return Version(installed_version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:
        return None


def journeys_dbt_resource() -> JourneysDbtCliResource:
    return JourneysDbtCliResource(project_dir=dbt_project, dbt_executable=str(DBT_IN_WAREHOUSE_FOLDER))


def group_for_model_path(fqn: list[str]) -> str:
    """models/staging/... -> 'staging'; models/marts/<area>/... and models/intermediate/<area>/... -> '<area>'
    (identity, segments, journeys, policy, measurement, quality): the UI groups a subject area's models."""
    layer = fqn[1] if len(fqn) > 1 else "default"
    if layer in ("marts", "intermediate") and len(fqn) > 3:
        return fqn[2]
    return layer


# Measurement models build in their own dbt step, after erasure: an erasure request deletes the person's rows
# (raw, staging, identity, journeys) but not their share of an aggregate, so measurement built before it would
# count them until the next run, and the same inputs would give other numbers on a re-run.
MEASUREMENT_MODELS = "path:models/intermediate/measurement path:models/marts/measurement"
ERASURES = dg.AssetKey(["audit", "erasures"])


class JourneysDbtTranslator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return "raw"
        if dbt_resource_props["resource_type"] == "seed":  # reviewed lists such as the suppression list
            return dbt_resource_props["config"].get("schema") or "seeds"
        return group_for_model_path(dbt_resource_props["fqn"])

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        fqn = props.get("fqn", [])
        if props["resource_type"] == "model" and len(fqn) > 2 and fqn[2] == "measurement":
            return spec.replace_attributes(deps=[*spec.deps, dg.AssetDep(ERASURES)])
        return spec


@dbt_assets(
    manifest=dbt_project.manifest_path,
    dagster_dbt_translator=JourneysDbtTranslator(),
    project=dbt_project,
    exclude=MEASUREMENT_MODELS,
)
def journeys_dbt_models(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    run_settings: JourneyRunSettings,
    warehouse: WarehouseResource,
):
    yield from _dbt_build(context, dbt, run_settings, warehouse)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    dagster_dbt_translator=JourneysDbtTranslator(),
    project=dbt_project,
    select=MEASUREMENT_MODELS,
    name="measurement_dbt_models",
)
def measurement_dbt_models(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    run_settings: JourneyRunSettings,
    warehouse: WarehouseResource,
):
    yield from _dbt_build(context, dbt, run_settings, warehouse)


def _dbt_build(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    run_settings: JourneyRunSettings,
    warehouse: WarehouseResource,
):
    # dbt (a subprocess) reads the warehouse path from this variable in profiles.yml: the same warehouse
    # the Python steps of this run use.
    os.environ["JOURNEYS_WAREHOUSE_PATH"] = warehouse.resolved_path()
    # A subset (say staging only, launched from the UI) runs the tests of what it builds and of what it reads,
    # not tests that also read models downstream of it (dbt's default, "eager", would run a relationships test
    # against a table the subset never built). "buildable" keeps a measurement model's relationships test to an
    # identity table in the measurement step; a whole run still runs every test.
    os.environ.setdefault("DBT_INDIRECT_SELECTION", "buildable")
    # Delivery policy reads the send ledger (what activation already sent): it exists before the first build.
    with warehouse.connect() as con:
        ensure_ledger(con)
        if run_settings.journeys:
            # journey_definitions (upstream) has just loaded the runnable journeys
            problem = unknown_journeys(run_settings.journeys, known_journeys(con) or [])
            if problem:
                raise dg.Failure(problem)
    # The run's settings reach dbt as environment variables, read while executing: dbt's partial parsing then
    # survives from run to run (docs/decisions/0015-run-settings-outside-the-parse.md).
    run_env = dbt_run_env(
        as_of=run_settings.as_of_for_run(context), run_id=context.run_id, journeys=run_settings.journeys
    )
    args = dbt_build_args()
    context.log.info("dbt %s (%s)", " ".join(args), ", ".join(f"{k}={v}" for k, v in run_env.items() if v))
    # One target folder per warehouse and step, kept between runs: its partial_parse.msgpack matches this
    # warehouse's profile, so the next run re-parses only files that changed (a fresh folder per invocation,
    # dagster-dbt's default, starts from the project's target/, whose profile may name another warehouse).
    target_path = Path(warehouse.resolved_path()).parent / "dbt_target" / context.op_execution_context.op_def.name
    warehouse_file = Path(warehouse.resolved_path())
    in_warehouse_folder = {
        # dbt runs in the warehouse's folder and names it relative to it: the same profile for every warehouse
        # (JourneysDbtCliResource). A dbt resource that starts dbt directly gets the absolute path.
        "JOURNEYS_WAREHOUSE_PATH": warehouse_file.name,
        "JOURNEYS_DBT_WORKDIR": str(warehouse_file.parent),
        "JOURNEYS_DBT_EXECUTABLE": str(DBT_EXECUTABLE),
    }
    if Path(dbt.dbt_executable).resolve() != DBT_IN_WAREHOUSE_FOLDER.resolve():
        in_warehouse_folder = {}
    with environment_with({**run_env, **in_warehouse_folder}):
        invocation = dbt.cli(args, context=context, target_path=target_path)
    yield from invocation.stream()

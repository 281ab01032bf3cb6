"""Jobs. A journey run lands raw data, builds every dbt model with its tests, checks quality, activates.

Every job that writes the warehouse carries WAREHOUSE_WRITER_TAG: DuckDB takes one writing process per file,
so dagster.yaml's run queue starts one such run at a time (a purge or a pause waits for the journey run), and
within a run the steps execute one after another in one process (in_process_executor): landing, journey
definitions and the checks would otherwise contend for the warehouse file.
"""

import dagster as dg

from orchestration.approvals import approve_volume_hold
from orchestration.erasure_assets import PURGES
from orchestration.journey_status_job import set_journey_status_op

# dagster.yaml limits runs carrying this tag to one at a time: never two journey runs at once.
JOURNEY_RUN_TAG = {"journeys/run": "journey"}
# ... and runs carrying this one to one at a time: one writer of the DuckDB warehouse.
WAREHOUSE_WRITER_TAG = {"journeys/warehouse": "write"}
# Measurement models (dbt_project/models/marts/measurement, group `measurement`); empty until they are added.
MEASUREMENT = dg.AssetSelection.groups("measurement")

journey_run_job = dg.define_asset_job(
    name="journey_run",
    executor_def=dg.in_process_executor,
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets(PURGES),
    description="Land new raw files, dbt build (models + tests), quality checks, erasure, then activation.",
    tags={**JOURNEY_RUN_TAG, **WAREHOUSE_WRITER_TAG},
)

retention_purge_job = dg.define_asset_job(
    name="retention_purge",
    executor_def=dg.in_process_executor,
    selection=dg.AssetSelection.assets(PURGES),
    description="Delete raw event rows older than the retention (docs/erasure.md); audited in audit.purges.",
    tags=WAREHOUSE_WRITER_TAG,
)

measurement_job = dg.define_asset_job(
    name="measurement",
    executor_def=dg.in_process_executor,
    selection=MEASUREMENT,
    description=(
        "Rebuild the measurement models (asset group `measurement`: attribution, journey analytics, experiments) "
        "from what journey runs have built. Selects nothing until measurement models exist."
    ),
    tags=WAREHOUSE_WRITER_TAG,
)


@dg.job(
    name="set_journey_status",
    executor_def=dg.in_process_executor,
    description=(
        "Pause or resume one journey, no code change: config journey_id, status (paused | active), reason. A paused "
        "journey's actions are held by delivery policy from the next journey run on (docs/operations.md)."
    ),
    # ahead of queued journey runs, so that a pause applies to the next run that starts
    tags={**WAREHOUSE_WRITER_TAG, "dagster/priority": "10"},
)
def set_journey_status_job():
    set_journey_status_op()


@dg.job(
    name="approve_held_run",
    executor_def=dg.in_process_executor,
    description=(
        "Approve a run held by the activation volume cap: config hold_id (the held activation step's metadata "
        "volume_holds) and approved_by. The next journey run of that destination sends (docs/operations.md)."
    ),
    tags={**WAREHOUSE_WRITER_TAG, "dagster/priority": "10"},
)
def approve_held_run_job():
    approve_volume_hold()

"""The Dagster code location. Assembles definitions only; each piece lives in its own module."""

from __future__ import annotations

import dagster as dg

from orchestration.activation_assets import activation_assets
from orchestration.attribution_assets import attribution_models
from orchestration.dbt_assets import journeys_dbt_models, journeys_dbt_resource, measurement_dbt_models
from orchestration.erasure_assets import erasure, retention_purge
from orchestration.jobs import (
    approve_held_run_job,
    journey_run_job,
    measurement_job,
    retention_purge_job,
    set_journey_status_job,
)
from orchestration.journey_assets import journey_definitions
from orchestration.landing_assets import raw_landing
from orchestration.measurement_assets import measurement_assets
from orchestration.quality_checks import quality_checks
from orchestration.report_assets import report_assets
from orchestration.resources import JourneyRunSettings, WarehouseResource
from orchestration.schedules import schedules
from orchestration.sensors import sensors

defs = dg.Definitions(
    assets=[
        raw_landing,
        journey_definitions,
        journeys_dbt_models,
        measurement_dbt_models,
        erasure,
        *activation_assets,
        retention_purge,
        attribution_models,
        *measurement_assets,
        *report_assets,
    ],
    asset_checks=quality_checks,
    jobs=[journey_run_job, retention_purge_job, measurement_job, set_journey_status_job, approve_held_run_job],
    schedules=schedules,
    sensors=sensors,
    resources={
        "dbt": journeys_dbt_resource(),
        "warehouse": WarehouseResource(),
        "run_settings": JourneyRunSettings(),
    },
)

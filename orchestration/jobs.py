"""Jobs. A journey run lands raw data, builds every dbt model with its tests, checks quality, activates."""

from __future__ import annotations

import dagster as dg

# dagster.yaml limits runs carrying this tag to one at a time: never two journey runs at once.
JOURNEY_RUN_TAG = {"journeys/run": "journey"}

journey_run_job = dg.define_asset_job(
    name="journey_run",
    selection=dg.AssetSelection.all(),
    description="Land new raw files, dbt build (models + tests), quality checks, then activation.",
    tags=JOURNEY_RUN_TAG,
)

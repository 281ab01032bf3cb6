"""Jobs. A journey run lands raw data, builds every dbt model with its tests, checks quality, activates."""

from __future__ import annotations

import dagster as dg

from orchestration.erasure_assets import PURGES

# dagster.yaml limits runs carrying this tag to one at a time: never two journey runs at once.
JOURNEY_RUN_TAG = {"journeys/run": "journey"}

journey_run_job = dg.define_asset_job(
    name="journey_run",
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets(PURGES),
    description="Land new raw files, dbt build (models + tests), quality checks, erasure, then activation.",
    tags=JOURNEY_RUN_TAG,
)

retention_purge_job = dg.define_asset_job(
    name="retention_purge",
    selection=dg.AssetSelection.assets(PURGES),
    description="Delete raw event rows older than the retention (docs/erasure.md); audited in audit.purges.",
)

#!/bin/sh
# dbt, started in the warehouse's folder: the profile names the warehouse by its file name, so every warehouse
# has the same profile and dbt's saved parse survives a change of warehouse (orchestration/dbt_assets.py,
# JourneysDbtCliResource). dagster-dbt gives dbt the project, profiles and target folders as absolute paths
# (DBT_PROJECT_DIR, DBT_PROFILES_DIR, DBT_TARGET_PATH), so the working directory matters to DuckDB only.
cd "${JOURNEYS_DBT_WORKDIR:-.}" || exit 2
exec "${JOURNEYS_DBT_EXECUTABLE:-dbt}" "$@"

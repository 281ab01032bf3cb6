"""The raw tables as assets: landing appends new raw files; dbt sources read what landed."""

import dagster as dg

from orchestration.landing import RAW_TABLES, land_new_files
from orchestration.resources import WarehouseResource
from orchestration.settings import paths_from_env


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            key=dg.AssetKey(["raw", table]),
            group_name="raw",
            description=f"raw.{table}: append-only landing of <data_dir>/raw/{table}/*.parquet",
            skippable=True,
        )
        for table in RAW_TABLES
    ],
    can_subset=True,
)
def raw_landing(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    data_dir = paths_from_env().data_dir
    with warehouse.connect() as con:
        report = land_new_files(con, data_dir)
    context.log.info(
        "landed %d new files (%d rows); %d files had landed before",
        len(report.files_landed),
        report.total_rows,
        report.files_already_landed,
    )
    for key in context.selected_asset_keys:
        table = key.path[-1]
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={"rows_landed_this_run": report.rows_landed.get(table, 0)},
        )

"""Attribution: the contract tables measurement.channel_attribution and measurement.campaign_attribution.

dbt builds the paths, their summaries and the rule-based models in the warehouse
(models/marts/measurement/attribution/); this asset reads the summaries, computes the Markov, Shapley and
fractribution models (measurement/attribution.py) and writes every model's rows into the two tables, replacing
them in one transaction. docs/measurement.md ("Attribution") states each formula.
"""

import time

import dagster as dg
import pyarrow as pa

from measurement.attribution import DEFAULT_MAX_SHAPLEY_CHANNELS, attribute
from orchestration.erasure_assets import ERASURES
from orchestration.resources import WarehouseResource

CAMPAIGN_PATH_SUMMARY = dg.AssetKey(["measurement", "attribution_campaign_path_summary"])
PATH_SUMMARY = dg.AssetKey(["measurement", "attribution_path_summary"])
RULE_BASED = dg.AssetKey(["measurement", "attribution_rule_based"])
CHANNEL_ATTRIBUTION = dg.AssetKey(["measurement", "channel_attribution"])
CAMPAIGN_ATTRIBUTION = dg.AssetKey(["measurement", "campaign_attribution"])
COLUMN_TYPES = {
    "attribution_model": pa.string(),
    "channel": pa.string(),
    "campaign": pa.string(),
    "attributed_conversions": pa.float64(),
    "attributed_revenue": pa.float64(),
    "removal_effect": pa.float64(),
}


class AttributionConfig(dg.Config):
    """Launchpad: ops.attribution_models.config."""

    max_shapley_channels: int = DEFAULT_MAX_SHAPLEY_CHANNELS


@dg.multi_asset(
    name="attribution_models",
    specs=[
        dg.AssetSpec(
            CHANNEL_ATTRIBUTION,
            # after erasure: an erased customer's paths are gone before they are counted
            deps=[CAMPAIGN_PATH_SUMMARY, PATH_SUMMARY, RULE_BASED, ERASURES],
            group_name="measurement",
            description=(
                "Conversions and revenue per attribution model and channel: first_touch, last_touch, "
                "last_non_direct, linear, time_decay, position_based (dbt), markov, shapley, "
                "fractribution_shapley (Python). One row per model and channel; removal_effect for markov."
            ),
        ),
        dg.AssetSpec(
            CAMPAIGN_ATTRIBUTION,
            deps=[CAMPAIGN_PATH_SUMMARY, RULE_BASED, ERASURES],
            group_name="measurement",
            description="The same models per channel and campaign. One row per model, channel and campaign.",
        ),
    ],
)
def attribution_models(context: dg.AssetExecutionContext, config: AttributionConfig, warehouse: WarehouseResource):
    started = time.monotonic()
    with warehouse.connect() as con:
        summary = con.execute("select * from measurement.attribution_campaign_path_summary").df()
        rule_based = con.execute("select * from measurement.attribution_rule_based").df()
        channel, campaign = attribute(summary, rule_based, config.max_shapley_channels)
        con.execute("begin")
        for table, frame in (("channel_attribution", channel), ("campaign_attribution", campaign)):
            schema = pa.schema([(name, kind) for name, kind in COLUMN_TYPES.items() if name in frame.columns])
            con.register("attribution_frame", pa.Table.from_pandas(frame, schema=schema, preserve_index=False))
            con.execute(f"create or replace table measurement.{table} as select * from attribution_frame")
            con.unregister("attribution_frame")
        con.execute("commit")
    totals = channel.groupby("attribution_model")[["attributed_conversions", "attributed_revenue"]].sum().round(2)
    context.log.info("attribution totals per model:\n%s", totals.to_string())
    duration = round(time.monotonic() - started, 3)
    metadata = {
        "paths_summarised": int(summary["conversions"].sum() + summary["non_conversions"].sum()),
        "distinct_paths": len(summary),
        "duration_s": duration,
    }
    yield dg.MaterializeResult(
        asset_key=CHANNEL_ATTRIBUTION,
        metadata={
            **metadata,
            "rows": len(channel),
            "totals_per_model": dg.MetadataValue.md(f"```\n{totals.to_string()}\n```"),
        },
    )
    yield dg.MaterializeResult(asset_key=CAMPAIGN_ATTRIBUTION, metadata={**metadata, "rows": len(campaign)})

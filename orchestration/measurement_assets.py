"""Experiment statistics: measurement.experiment_results and measurement.holdout_lift.

What SQL counts (exposures, conversions, revenue and its sum of squares per variant) is counted in dbt
(measurement.experiment_variant_counts); this asset only does the statistics, with the pure functions of
measurement/experiments.py, and replaces both tables whole at every run. docs/measurement.md, "Experiments".
"""

import time
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
import duckdb
import pyarrow as pa

from measurement.experiments import (
    DEFAULT_ALPHA,
    DEFAULT_MSPRT_TAU,
    DEFAULT_SRM_THRESHOLD,
    VARIANT_COUNT_FIELDS,
    experiment_results,
    holdout_lifts,
)
from orchestration.resources import WarehouseResource

EXPERIMENT_VARIANT_COUNTS = dg.AssetKey(["measurement", "experiment_variant_counts"])
EXPERIMENT_RESULTS = dg.AssetKey(["measurement", "experiment_results"])
HOLDOUT_LIFT = dg.AssetKey(["measurement", "holdout_lift"])

_F, _S, _I, _B = pa.float64(), pa.string(), pa.int64(), pa.bool_()

# (name, type, description): the tables' contract with the report and BI tools.
EXPERIMENT_RESULT_COLUMNS: tuple[tuple[str, pa.DataType, str], ...] = (
    ("journey_id", _S, "The journey."),
    ("experiment_id", _S, "'holdout' or the random split's node_id."),
    ("variant", _S, "treatment / holdout, or the split branch's target node."),
    ("is_control", _B, "The holdout, or the split's first branch."),
    ("expected_share", _F, "The variant's configured share of exposures (its weight / the experiment's total)."),
    ("exposures", _I, "Exposed enrollments."),
    ("conversions", _I, "Exposures that converted after exposure, within the goal window."),
    ("conversion_rate", _F, "conversions / exposures; null without exposures."),
    ("revenue", _F, "USD revenue of the converting orders."),
    ("abs_lift", _F, "conversion_rate - control's conversion_rate; null on the control row."),
    ("abs_lift_ci_low", _F, "Lower end of the (1 - alpha) Wald interval of abs_lift (unpooled variances)."),
    ("abs_lift_ci_high", _F, "Upper end of that interval."),
    ("rel_lift", _F, "conversion_rate / control's conversion_rate - 1; null when the control's rate is 0."),
    ("rel_lift_ci_low", _F, "Lower end of the (1 - alpha) delta-method interval of rel_lift."),
    ("rel_lift_ci_high", _F, "Upper end of that interval."),
    ("z_score", _F, "Two-sample z statistic on proportions (pooled variance)."),
    ("p_value", _F, "Two-sided p-value of that test (fixed horizon: valid for one look only)."),
    ("chance_to_beat_control", _F, "Posterior P(rate > control's rate), uniform Beta(1, 1) priors, exact."),
    ("sequential_p_value", _F, "Always-valid mSPRT p-value (normal mixture): valid however often you look."),
    ("sequential_ci_low", _F, "Lower end of the mSPRT (1 - alpha) confidence sequence for abs_lift."),
    ("sequential_ci_high", _F, "Upper end of that confidence sequence."),
    ("srm_p_value", _F, "Chi-square p-value of all variants' exposures against the configured weights."),
    ("has_sample_ratio_mismatch", _B, "srm_p_value below the threshold (0.001 by default): do not trust the results."),
    ("alpha", _F, "The significance level the intervals use (1 - alpha coverage)."),
    ("computed_in_run", _S, "The Dagster run that computed the row."),
)
HOLDOUT_LIFT_COLUMNS: tuple[tuple[str, pa.DataType, str], ...] = (
    ("journey_id", _S, "The journey (one with a holdout and a goal)."),
    ("treated", _I, "Treated (non-holdout) enrollments."),
    ("holdout", _I, "Holdout enrollments."),
    ("treated_conversions", _I, "Treated enrollments that converted."),
    ("holdout_conversions", _I, "Holdout enrollments that converted."),
    ("treated_conversion_rate", _F, "treated_conversions / treated."),
    ("holdout_conversion_rate", _F, "holdout_conversions / holdout."),
    ("abs_lift", _F, "treated_conversion_rate - holdout_conversion_rate."),
    ("abs_lift_ci_low", _F, "Lower end of the (1 - alpha) Wald interval of abs_lift."),
    ("abs_lift_ci_high", _F, "Upper end of that interval."),
    ("rel_lift", _F, "treated_conversion_rate / holdout_conversion_rate - 1."),
    ("p_value", _F, "Two-sided two-sample z-test p-value (pooled)."),
    ("incremental_conversions", _F, "abs_lift x treated: conversions the journey caused among the treated."),
    ("incremental_conversions_ci_low", _F, "abs_lift_ci_low x treated."),
    ("incremental_conversions_ci_high", _F, "abs_lift_ci_high x treated."),
    ("treated_revenue", _F, "USD revenue of the treated conversions."),
    ("holdout_revenue", _F, "USD revenue of the holdout conversions."),
    ("incremental_revenue", _F, "(revenue per treated - revenue per holdout enrollment) x treated."),
    ("incremental_revenue_ci_low", _F, "Lower end of the Welch (1 - alpha) interval, times treated."),
    ("incremental_revenue_ci_high", _F, "Upper end of that interval."),
    ("alpha", _F, "The significance level the intervals use."),
    ("computed_in_run", _S, "The Dagster run that computed the row."),
)


class ExperimentSettings(dg.Config):
    """Statistical settings (docs/measurement.md, "Experiments"); the defaults suit most journeys."""

    alpha: float = DEFAULT_ALPHA
    srm_threshold: float = DEFAULT_SRM_THRESHOLD
    msprt_tau: float = DEFAULT_MSPRT_TAU


def _schema(columns: Sequence[tuple[str, pa.DataType, str]]) -> pa.Schema:
    return pa.schema([(name, data_type) for name, data_type, _ in columns])


def _column_schema(columns: Sequence[tuple[str, pa.DataType, str]]) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[dg.TableColumn(name, str(data_type), description) for name, data_type, description in columns]
    )


def read_variant_counts(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    fields = ", ".join(VARIANT_COUNT_FIELDS)
    cursor = con.execute(f"select {fields} from measurement.experiment_variant_counts order by all")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def replace_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[tuple[str, pa.DataType, str]],
) -> None:
    """Replaces measurement.<table> with the rows, typed by the column contract (an empty result keeps its
    columns), with the column descriptions as comments for BI tools."""
    frame = pa.Table.from_pylist([dict(row) for row in rows], schema=_schema(columns))
    con.execute("create schema if not exists measurement")
    con.register("measurement_rows", frame)
    try:
        con.execute(f"create or replace table measurement.{table} as select * from measurement_rows")
    finally:
        con.unregister("measurement_rows")
    for name, _, description in columns:
        con.execute(f"comment on column measurement.{table}.{name} is '{description.replace(chr(39), chr(39) * 2)}'")


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            EXPERIMENT_RESULTS,
            deps=[EXPERIMENT_VARIANT_COUNTS],
            group_name="measurement",
            description=(
                "Per experiment variant (random splits and journey holdouts): conversion rate, absolute and "
                "relative lift with intervals, z-test p-value, chance to beat control, always-valid mSPRT "
                "p-value and confidence sequence, sample-ratio mismatch. measurement/experiments.py."
            ),
            metadata={"dagster/column_schema": _column_schema(EXPERIMENT_RESULT_COLUMNS)},
        ),
        dg.AssetSpec(
            HOLDOUT_LIFT,
            deps=[EXPERIMENT_VARIANT_COUNTS],
            group_name="measurement",
            description=(
                "Per journey with a holdout: treated versus holdout conversion rates, incremental conversions and "
                "revenue with intervals and the p-value. measurement/experiments.py."
            ),
            metadata={"dagster/column_schema": _column_schema(HOLDOUT_LIFT_COLUMNS)},
        ),
    ],
)
def experiment_statistics(context: dg.AssetExecutionContext, config: ExperimentSettings, warehouse: WarehouseResource):
    started = time.monotonic()
    with warehouse.connect() as con:
        counts = read_variant_counts(con)
        results = experiment_results(
            counts, alpha=config.alpha, srm_threshold=config.srm_threshold, msprt_tau=config.msprt_tau
        )
        lifts = holdout_lifts(counts, alpha=config.alpha)
        stamp = {"alpha": config.alpha, "computed_in_run": context.run.run_id}
        replace_table(con, "experiment_results", [{**row, **stamp} for row in results], EXPERIMENT_RESULT_COLUMNS)
        replace_table(con, "holdout_lift", [{**row, **stamp} for row in lifts], HOLDOUT_LIFT_COLUMNS)
    mismatched = sorted({f"{r['journey_id']}/{r['experiment_id']}" for r in results if r["has_sample_ratio_mismatch"]})
    if mismatched:
        context.log.warning("sample-ratio mismatch (results not trustworthy): %s", ", ".join(mismatched))
    seconds = round(time.monotonic() - started, 3)
    yield dg.MaterializeResult(
        asset_key=EXPERIMENT_RESULTS,
        metadata={
            "experiments": len({(r["journey_id"], r["experiment_id"]) for r in results}),
            "variants": len(results),
            "sample_ratio_mismatches": dg.MetadataValue.json(mismatched),
            "duration_s": seconds,
        },
    )
    yield dg.MaterializeResult(
        asset_key=HOLDOUT_LIFT,
        metadata={
            "journeys": len(lifts),
            "significant_at_alpha": sum(1 for lift in lifts if (lift["p_value"] or 1.0) < config.alpha),
            "duration_s": seconds,
        },
    )


measurement_assets = [experiment_statistics]

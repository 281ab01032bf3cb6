"""Runs the measurement dbt models (sessions, touchpoints, conversions, attribution) and the attribution asset on
hand-written inputs, in a fresh DuckDB warehouse.

The models read a few upstream relations: the identity marts (customer_event_stream, customer_identities) and
staging (sessions, message engagement, orders, order items, products, subscriptions). The harness writes those
directly as tables with the columns the models read, then builds only the measurement models with dbt (models
and their data tests) and materializes the real Dagster attribution asset on the same warehouse.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa

from tests.dbt_cli import run_dbt

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
MEASUREMENT_MODELS = (
    "sessions",
    "touchpoints",
    "conversions",
    "int_attribution_conversions_in_window",
    "int_attribution_path_touches",
    "attribution_paths",
    "attribution_path_summary",
    "attribution_campaign_path_summary",
    "int_attribution_rule_based_credits",
    "attribution_rule_based",
)

INPUTS: dict[str, dict[str, pa.DataType]] = {
    "identity.customer_event_stream": {
        "event_id": pa.string(),
        "customer_id": pa.string(),
        "anonymous_id": pa.string(),
        "session_id": pa.string(),
        "event_name": pa.string(),
        "occurred_at": pa.timestamp("us"),
    },
    "identity.customer_identities": {
        "identifier_type": pa.string(),
        "identifier_value": pa.string(),
        "customer_id": pa.string(),
    },
    "staging.stg_raw__sessions": {
        "session_id": pa.string(),
        "utm_source": pa.string(),
        "utm_medium": pa.string(),
        "utm_campaign": pa.string(),
        "referrer": pa.string(),
        "landing_page": pa.string(),
    },
    "staging.stg_raw__message_engagement": {
        "message_event_id": pa.string(),
        "message_id": pa.string(),
        "customer_id": pa.string(),
        "channel": pa.string(),
        "campaign_name": pa.string(),
        "event_type": pa.string(),
        "occurred_at": pa.timestamp("us"),
    },
    "staging.stg_raw__orders": {
        "order_id": pa.string(),
        "customer_id": pa.string(),
        "session_id": pa.string(),
        "currency": pa.string(),
        "revenue": pa.decimal128(12, 2),
        "ordered_at": pa.timestamp("us"),
    },
    "staging.stg_raw__order_items": {"order_id": pa.string(), "product_id": pa.string()},
    "staging.stg_raw__products": {"product_id": pa.string(), "is_subscription": pa.bool_()},
    "staging.stg_raw__subscriptions": {
        "subscription_id": pa.string(),
        "customer_id": pa.string(),
        "trial_started_at": pa.timestamp("us"),
        "started_at": pa.timestamp("us"),
    },
}


def table(rows: Iterable[Mapping], columns: Mapping[str, pa.DataType]) -> pa.Table:
    rows = list(rows)
    return pa.table({name: pa.array([row.get(name) for row in rows], kind) for name, kind in columns.items()})


class MeasurementWarehouse:
    def __init__(self, folder: Path, inputs: Mapping[str, Iterable[Mapping]]):
        """inputs: relation name (a key of INPUTS) -> rows; relations not given are created empty."""
        unknown = set(inputs) - set(INPUTS)
        if unknown:
            raise ValueError(f"unknown input relations {sorted(unknown)}; expected some of {sorted(INPUTS)}")
        self.folder = folder
        self.path = folder / "warehouse.duckdb"
        with duckdb.connect(str(self.path)) as con:
            for schema in ("staging", "identity"):
                con.execute(f"create schema if not exists {schema}")
            for name, columns in INPUTS.items():
                frame = table(inputs.get(name, ()), columns)  # noqa: F841 (read by DuckDB by name)
                con.execute(f"create or replace table {name} as select * from frame")

    def build(self, variables: Mapping) -> str:
        """dbt build of the measurement models (and their tests); returns dbt's output."""
        settings = dict(variables)
        completed = run_dbt(
            # unit tests state the default settings; these builds set their own
            ["build", "--select", *MEASUREMENT_MODELS, "--exclude", "test_type:unit"],
            self.path,
            self.folder / "target",
            as_of=settings.pop("as_of", None),
            variables=settings,
        )
        if completed.returncode != 0:
            raise AssertionError(f"dbt build failed:\n{completed.stdout[-6000:]}")
        return completed.stdout

    def attribute(self) -> None:
        """The Dagster attribution asset, materialized for real on this warehouse."""
        from orchestration.attribution_assets import attribution_models
        from orchestration.resources import WarehouseResource

        result = dg.materialize(
            [attribution_models],
            resources={"warehouse": WarehouseResource(path=str(self.path))},
            instance=dg.DagsterInstance.ephemeral(),
        )
        assert result.success

    def query(self, sql: str, parameters: list | None = None) -> list[tuple]:
        with duckdb.connect(str(self.path), read_only=True) as con:
            return con.execute(sql, parameters).fetchall()

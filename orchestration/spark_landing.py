"""Landing on Spark: the dbt sources Python writes, registered as Spark tables (target `spark`, docs/scaling.md).

The DuckDB path writes these tables from several steps (orchestration/landing.py, journey_engine/tables.py,
activations/ledger.py, orchestration/erasure.py). On Spark, this module does the part dbt needs before it builds:

- raw: every raw Parquet file under <data_dir>/raw/<table>/ not landed yet is appended, once, to raw.<table>,
  with the same lineage columns (_source_file = the path relative to the data folder, _source_row = the row's
  position in its file counted from 0, _loaded_at = one time per landing) and an entry in raw._landed_files.
  Columns not in the table stop the file with LandingError, as on DuckDB. raw.erasure_requests is created empty
  (documented columns) when the export has none.
- journey_config: the valid journey files flattened by journey_engine.tables (the same rows and column types as
  on DuckDB), each table replaced whole. Not applied here: the Dagster asset's refusal of a journey that names
  a segment or column the dbt manifest does not define (orchestration/journey_assets.py); a file that fails
  validation is logged and left out, as there.
- activation.send_ledger, activation.runs, activation.erasure_deletions, audit.erasures, audit.erasure_sweeps:
  created empty when absent, with the columns of the DuckDB DDL (activations.ledger.ensure_ledger,
  orchestration.erasure.ensure_erasure_tables, run against an in-memory DuckDB and translated to Spark types).

What it does not do, and what differs from DuckDB:
- No transactions: Spark has none on parquet tables. A file's rows are appended, then its raw._landed_files
  entry; a crash between the two leaves rows that the next landing would append again. The landing checks for
  that before it starts (rows whose _source_file has no entry) and stops with LandingError naming the files.
- journey_config tables are dropped and created one after the other: a reader in between sees some missing.
- The activation, erasure and measurement steps themselves are not ported (docs/scaling.md, "Limits"): the
  ledger tables stay empty, erasure requests are not executed, Markov/Shapley/experiment tables are not written.

The engine comes from the profile: the Spark session is built from the `server_side_parameters` of the
profile's `spark` output (dbt_project/profiles.yml, env_var() rendered as dbt does), so this step and dbt share
one warehouse folder and one metastore. Run it with the Spark venv, one JVM at a time per folder (embedded
Derby): `.venv-spark/bin/python -m orchestration.spark_landing`.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import yaml

from orchestration.landing import OPTIONAL_TABLES, RAW_TABLES, LandingError, LandingReport, land_files_in_order

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PROFILE_NAME = "journeys"


# --- the session, from the profile ------------------------------------------------------------------------------


def _render_env_var(name: str, default: str | None = None) -> str:
    if name in os.environ:
        return os.environ[name]
    if default is None:
        raise LandingError(f"profiles.yml: env_var('{name}') is not set and has no default")
    return default


def spark_profile(target: str = "spark", profiles_dir: Path | None = None) -> dict[str, Any]:
    """The profile's output `target`, rendered the way dbt renders profiles.yml (env_var with a default)."""
    profiles_dir = profiles_dir or Path(os.environ.get("DBT_PROFILES_DIR", PROJECT_ROOT / "dbt_project"))
    text = (profiles_dir / "profiles.yml").read_text()
    rendered = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(text).render(env_var=_render_env_var)
    outputs = yaml.safe_load(rendered)[PROFILE_NAME]["outputs"]
    if target not in outputs:
        raise LandingError(f"profiles.yml has no output '{target}' (outputs: {', '.join(outputs)})")
    output = outputs[target]
    if output.get("type") != "spark" or output.get("method") != "session":
        raise LandingError(f"profiles.yml output '{target}' is not a Spark session target (type spark, method session)")
    return output


def spark_dir_from_env() -> Path:
    """JOURNEYS_SPARK_DIR, else <JOURNEYS_DATA_DIR>/spark: the same default as the profile's, made absolute."""
    data_dir = Path(os.environ.get("JOURNEYS_DATA_DIR", PROJECT_ROOT / "data")).resolve()
    return Path(os.environ.get("JOURNEYS_SPARK_DIR", data_dir / "spark")).resolve()


def spark_session(target: str = "spark") -> SparkSession:
    """A Spark session configured as dbt-spark configures its own from the same profile output."""
    from pyspark.sql import SparkSession

    # The profile's fallbacks are relative to dbt_project/ (for dbt run by hand there); this step runs from
    # anywhere, so it pins the folder to an absolute path first: the one the profile's fallback names.
    os.environ.setdefault("JOURNEYS_SPARK_DIR", str(spark_dir_from_env()))
    Path(os.environ["JOURNEYS_SPARK_DIR"]).mkdir(parents=True, exist_ok=True)
    builder = SparkSession.builder.appName("journeys-landing")
    for key, value in (spark_profile(target).get("server_side_parameters") or {}).items():
        builder = builder.config(key, str(value))
    return builder.enableHiveSupport().getOrCreate()


# --- raw landing ----------------------------------------------------------------------------------------------


@dataclass
class SparkLandingReport(LandingReport):
    tables_created_empty: list[str] = field(default_factory=list)
    journey_config_rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows_landed.values())


def _table_exists(spark: SparkSession, relation: str) -> bool:
    return bool(spark.catalog.tableExists(relation))


def _ensure_landing_log(spark: SparkSession) -> None:
    spark.sql("create schema if not exists raw")
    spark.sql(
        """
        create table if not exists raw._landed_files (
            source_file string,
            table_name string,
            row_count bigint,
            landed_at timestamp
        ) using parquet
        """
    )


def _check_no_half_landed_files(spark: SparkSession) -> None:
    """Rows whose file has no raw._landed_files entry: a landing that stopped between the two appends."""
    half_landed = []
    for table in RAW_TABLES:
        if not _table_exists(spark, f"raw.{table}"):
            continue
        rows = spark.sql(
            f"""
            select distinct landed_rows._source_file
            from raw.{table} as landed_rows
            left anti join raw._landed_files as landed_files
                on landed_rows._source_file = landed_files.source_file
            """
        ).collect()
        half_landed.extend(row[0] for row in rows)
    if half_landed:
        raise LandingError(
            f"raw tables hold rows of files that raw._landed_files does not list: {sorted(half_landed)} "
            "(a landing stopped midway). Spark cannot delete those rows in place: rebuild the Spark folder "
            "(JOURNEYS_SPARK_DIR) and land again. Nothing was landed."
        )


def _land_file(spark: SparkSession, table: str, path: Path, relative: str, loaded_at: datetime) -> int:
    from pyspark.sql import functions as F

    # _metadata.row_index: the row's position in its Parquet file (0-based), as DuckDB's file_row_number.
    frame = spark.read.parquet(path.as_posix())
    found = frame.columns
    frame = frame.select(
        *[F.col(f"`{c}`") for c in found],
        F.lit(relative).alias("_source_file"),
        F.col("_metadata.row_index").cast("bigint").alias("_source_row"),
        F.lit(loaded_at).cast("timestamp").alias("_loaded_at"),
    )
    if not _table_exists(spark, f"raw.{table}"):
        frame.write.format("parquet").saveAsTable(f"raw.{table}")
    else:
        expected = [c for c in spark.table(f"raw.{table}").columns if not c.startswith("_")]
        unexpected = sorted(set(found) - set(expected))
        if unexpected:
            raise LandingError(
                f"{relative}: columns {unexpected} are not in raw.{table}; expected only {expected} "
                "(see docs/raw_data.md). The file was not landed."
            )
        columns = spark.table(f"raw.{table}").columns
        # by name: a column the file lacks lands as null, as DuckDB's `insert .. by name` does
        frame.select(
            *[F.col(f"`{c}`") if c in frame.columns else F.lit(None).alias(c) for c in columns]
        ).write.insertInto(f"raw.{table}")
    rows = spark.read.parquet(path.as_posix()).count()
    spark.createDataFrame(
        [(relative, table, rows, loaded_at)],
        "source_file string, table_name string, row_count bigint, landed_at timestamp",
    ).write.insertInto("raw._landed_files")
    return rows


def _duckdb_columns_as_spark(ddl: str) -> str:
    """A DuckDB column list (OPTIONAL_TABLES) as Spark column definitions."""
    columns = []
    for line in ddl.strip().splitlines():
        name, duck_type = line.strip().rstrip(",").split(None, 1)
        columns.append(f"{name} {spark_type(duck_type)}")
    return ", ".join(columns)


def land_new_files(spark: SparkSession, data_dir: Path) -> SparkLandingReport:
    """Land every raw file under <data_dir>/raw/<table>/ that has not landed yet, in name order."""
    _ensure_landing_log(spark)
    _check_no_half_landed_files(spark)
    landed = {row[0] for row in spark.sql("select source_file from raw._landed_files").collect()}
    report = SparkLandingReport()
    land_files_in_order(report, data_dir, landed, lambda *file: _land_file(spark, *file))
    for table, columns in OPTIONAL_TABLES.items():
        if not _table_exists(spark, f"raw.{table}"):
            spark.sql(f"create table raw.{table} ({_duckdb_columns_as_spark(columns)}) using parquet")
            report.tables_created_empty.append(f"raw.{table}")
    return report


# --- the other sources: journey_config, ledger and erasure tables ---------------------------------------------

_SIMPLE_TYPES = {
    "varchar": "string",
    "json": "string",
    "integer": "int",
    "int": "int",
    "bigint": "bigint",
    "smallint": "smallint",
    "double": "double",
    "float": "float",
    "boolean": "boolean",
    "timestamp": "timestamp",
    "date": "date",
}


def spark_type(duckdb_type: str) -> str:
    """A DuckDB column type as the Spark type that holds the same values (JSON as a string)."""
    text = re.sub(r"\s+(not\s+null|primary\s+key).*$", "", duckdb_type.strip(), flags=re.IGNORECASE).strip().lower()
    if text.endswith("[]"):
        return f"array<{spark_type(text[:-2])}>"
    if text.startswith("decimal"):
        return text
    if text not in _SIMPLE_TYPES:
        raise LandingError(f"no Spark type for the DuckDB type '{duckdb_type}'")
    return _SIMPLE_TYPES[text]


def _arrow_type_as_spark(arrow_type: Any) -> str:
    import pyarrow as pa

    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_int64(arrow_type):
        return "bigint"
    if pa.types.is_int32(arrow_type):
        return "int"
    if pa.types.is_floating(arrow_type):
        return "double"
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    if pa.types.is_date(arrow_type):
        return "date"
    if pa.types.is_list(arrow_type):
        return f"array<{_arrow_type_as_spark(arrow_type.value_type)}>"
    raise LandingError(f"no Spark type for the Arrow type {arrow_type}")


def write_journey_config(spark: SparkSession, journeys_dir: Path | None = None) -> dict[str, int]:
    """The journey files, validated and flattened as on DuckDB, each journey_config table replaced whole."""
    from journey_engine.spec import load_journeys
    from journey_engine.tables import SCHEMA, TABLE_SCHEMAS, journey_rows

    journeys, file_errors = load_journeys(journeys_dir) if journeys_dir else load_journeys()
    for error in file_errors:
        log.error("%s", error)
    rows = journey_rows(journeys)
    spark.sql(f"create schema if not exists {SCHEMA}")
    counts = {}
    for name, schema in TABLE_SCHEMAS.items():
        ddl = ", ".join(f"`{f.name}` {_arrow_type_as_spark(f.type)}" for f in schema)
        frame = spark.createDataFrame([tuple(r[c] for c in schema.names) for r in rows[name]], ddl)
        spark.sql(f"drop table if exists {SCHEMA}.{name}")
        frame.write.format("parquet").saveAsTable(f"{SCHEMA}.{name}")
        counts[name] = len(rows[name])
    return counts


def ensure_python_written_tables(spark: SparkSession) -> list[str]:
    """The ledger and erasure tables, empty, with the DuckDB DDL's columns; returns those created."""
    import duckdb

    from activations.ledger import ensure_ledger
    from orchestration.erasure import ensure_erasure_tables

    reference = duckdb.connect()
    ensure_ledger(reference)
    ensure_erasure_tables(reference)
    created = []
    tables = reference.execute(
        "select table_schema, table_name from information_schema.tables order by table_schema, table_name"
    ).fetchall()
    for schema, table in tables:
        relation = f"{schema}.{table}"
        if _table_exists(spark, relation):
            continue
        columns = reference.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, table],
        ).fetchall()
        spark.sql(f"create schema if not exists {schema}")
        definition = ", ".join(f"`{name}` {spark_type(data_type)}" for name, data_type in columns)
        spark.sql(f"create table {relation} ({definition}) using parquet")
        created.append(relation)
    reference.close()
    return created


def land(data_dir: Path, journeys_dir: Path | None = None, target: str = "spark") -> SparkLandingReport:
    """Everything dbt's Spark build reads that Python writes: raw, journey_config, ledger and erasure tables."""
    started = time.monotonic()
    spark = spark_session(target)
    report = land_new_files(spark, data_dir)
    report.journey_config_rows = write_journey_config(spark, journeys_dir)
    report.tables_created_empty += ensure_python_written_tables(spark)
    report.seconds = time.monotonic() - started
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("JOURNEYS_DATA_DIR", PROJECT_ROOT / "data"))
    )
    parser.add_argument("--target", default="spark", help="the profile output to read (default: spark)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    report = land(args.data_dir.resolve(), target=args.target)
    print(
        f"spark landing: {len(report.files_landed)} files, {report.total_rows:,} rows landed "
        f"({report.files_already_landed} already landed); journey_config rows {report.journey_config_rows}; "
        f"created empty: {', '.join(report.tables_created_empty) or 'none'}; {report.seconds:.0f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

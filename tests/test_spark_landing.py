"""Landing on Spark (orchestration/spark_landing.py): the session comes from the profile's `spark` output, DuckDB
column types translate to Spark's, and raw files land once each with the lineage DuckDB gives them.

The last test runs real Spark (local mode, in the Spark venv that `make spark-env` installs) and skips when that
venv is absent: the project's own venv has no pyspark.
"""

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration.landing import LandingError
from orchestration.spark_landing import spark_profile, spark_type

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SPARK_PYTHON = PROJECT_ROOT / ".venv-spark" / "bin" / "python"


def test_the_spark_output_of_the_profile_puts_warehouse_and_metastore_under_the_spark_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("JOURNEYS_SPARK_DIR", str(tmp_path / "spark"))
    output = spark_profile("spark")
    settings = output["server_side_parameters"]
    assert (output["type"], output["method"], output["host"]) == ("spark", "session", "NA")
    assert settings["spark.master"] == "local[2]"
    assert settings["spark.sql.warehouse.dir"] == f"{tmp_path}/spark/warehouse"
    # the Derby database is named relative to derby.system.home, which is the Spark folder
    assert settings["spark.driver.extraJavaOptions"] == f"-Dderby.system.home={tmp_path}/spark"
    assert "databaseName=metastore_db" in settings["spark.hadoop.javax.jdo.option.ConnectionURL"]
    assert settings["spark.sql.session.timeZone"] == "UTC"
    assert settings["spark.ui.enabled"] == "false"


def test_the_spark_folder_defaults_to_the_data_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("JOURNEYS_SPARK_DIR", raising=False)
    monkeypatch.setenv("JOURNEYS_DATA_DIR", str(tmp_path))
    assert spark_profile("spark")["server_side_parameters"]["spark.sql.warehouse.dir"] == f"{tmp_path}/spark/warehouse"


def test_a_profile_output_that_is_not_a_spark_session_is_refused():
    with pytest.raises(LandingError, match="not a Spark session target"):
        spark_profile("duckdb")
    with pytest.raises(LandingError, match="no output 'postgres'"):
        spark_profile("postgres")


@pytest.mark.parametrize(
    ("duckdb_type", "expected"),
    [
        ("varchar", "string"),
        ("VARCHAR NOT NULL", "string"),
        ("varchar primary key", "string"),
        ("VARCHAR[]", "array<string>"),
        ("json not null", "string"),
        ("integer not null", "int"),
        ("BIGINT", "bigint"),
        ("TIMESTAMP", "timestamp"),
        ("boolean", "boolean"),
        ("DECIMAL(18,2)", "decimal(18,2)"),
    ],
)
def test_duckdb_column_types_translate_to_spark(duckdb_type, expected):
    assert spark_type(duckdb_type) == expected


def test_an_unknown_column_type_is_refused_by_name():
    with pytest.raises(LandingError, match="'map"):
        spark_type("map(varchar, integer)")


SPARK_LANDING_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from orchestration.spark_landing import land_new_files, spark_session
    from orchestration.landing import LandingError

    data_dir = Path(sys.argv[1])
    spark = spark_session()
    first = land_new_files(spark, data_dir)
    again = land_new_files(spark, data_dir)
    extra = data_dir / "pending/batch_0002.parquet"
    extra.rename(data_dir / "raw/customers/batch_0002.parquet")
    third = land_new_files(spark, data_dir)
    bad = data_dir / "pending/batch_0003.parquet"
    bad.rename(data_dir / "raw/customers/batch_0003.parquet")
    try:
        land_new_files(spark, data_dir)
        refused = None
    except LandingError as error:
        refused = str(error)
    rows = spark.sql(
        "select customer_id, _source_file, _source_row from raw.customers order by customer_id"
    ).collect()
    logged = spark.sql("select source_file, table_name, row_count from raw._landed_files order by 1").collect()
    print("RESULT " + json.dumps({
        "first": first.files_landed, "first_rows": first.rows_landed["customers"],
        "again": [again.files_landed, again.files_already_landed],
        "third": third.rows_landed["customers"],
        "refused": refused,
        "rows": [list(r) for r in rows],
        "logged": [list(r) for r in logged],
        "erasure_requests": spark.catalog.tableExists("raw.erasure_requests"),
    }))
    """
)


@pytest.mark.skipif(not SPARK_PYTHON.exists(), reason="the Spark venv is absent: `make spark-env` installs it")
def test_raw_files_land_once_each_on_spark_with_lineage(tmp_path: Path):
    def write(path: Path, table: pa.Table) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)

    write(tmp_path / "raw/customers/batch_0001.parquet", pa.table({"customer_id": ["a", "b"]}))
    write(tmp_path / "pending/batch_0002.parquet", pa.table({"customer_id": ["c"]}))
    write(tmp_path / "pending/batch_0003.parquet", pa.table({"customer_id": ["d"], "surprise": [1]}))
    environment = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "JOURNEYS_SPARK_DIR": str(tmp_path / "spark")}
    done = subprocess.run(
        [str(SPARK_PYTHON), "-c", SPARK_LANDING_SCRIPT, str(tmp_path)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    result_lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and result_lines, done.stderr[-4000:]
    result = json.loads(result_lines[-1].removeprefix("RESULT "))
    assert result["first"] == ["raw/customers/batch_0001.parquet"] and result["first_rows"] == 2
    assert result["again"] == [[], 1]
    assert result["third"] == 1
    assert "columns ['surprise'] are not in raw.customers" in result["refused"]
    assert result["rows"] == [
        ["a", "raw/customers/batch_0001.parquet", 0],
        ["b", "raw/customers/batch_0001.parquet", 1],
        ["c", "raw/customers/batch_0002.parquet", 0],
    ]
    assert result["logged"] == [
        ["raw/customers/batch_0001.parquet", "customers", 2],
        ["raw/customers/batch_0002.parquet", "customers", 1],
    ]
    assert result["erasure_requests"] is True
    # the metastore and derby.log stay in the Spark folder, not in the working directory
    assert (tmp_path / "spark" / "metastore_db").is_dir() and not (tmp_path / "metastore_db").exists()

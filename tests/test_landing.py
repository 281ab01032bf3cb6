"""Landing appends each raw file once, keeps lineage, and refuses a file that does not fit its table."""

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration.landing import LandingError, land_new_files


def _write(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def test_lands_each_file_once_with_lineage(tmp_path: Path):
    _write(tmp_path / "raw/customers/batch_0001.parquet", pa.table({"customer_id": ["a", "b"]}))
    con = duckdb.connect()

    first = land_new_files(con, tmp_path)
    assert first.files_landed == ["raw/customers/batch_0001.parquet"]
    assert first.rows_landed["customers"] == 2

    again = land_new_files(con, tmp_path)
    assert again.files_landed == [] and again.files_already_landed == 1

    _write(tmp_path / "raw/customers/batch_0002.parquet", pa.table({"customer_id": ["c"]}))
    third = land_new_files(con, tmp_path)
    assert third.rows_landed["customers"] == 1
    rows = con.execute(
        "select customer_id, _source_file, _source_row from raw.customers order by customer_id"
    ).fetchall()
    assert rows == [
        ("a", "raw/customers/batch_0001.parquet", 0),
        ("b", "raw/customers/batch_0001.parquet", 1),
        ("c", "raw/customers/batch_0002.parquet", 0),
    ]


def test_refuses_a_file_with_unknown_columns_and_lands_nothing_of_it(tmp_path: Path):
    _write(tmp_path / "raw/customers/batch_0001.parquet", pa.table({"customer_id": ["a"]}))
    con = duckdb.connect()
    land_new_files(con, tmp_path)
    _write(tmp_path / "raw/customers/batch_0002.parquet", pa.table({"customer_id": ["b"], "shoe_size": [42]}))

    with pytest.raises(LandingError, match=r"raw/customers/batch_0002.parquet: columns \['shoe_size'\]"):
        land_new_files(con, tmp_path)
    assert con.execute("select count(*) from raw.customers").fetchone()[0] == 1
    assert con.execute("select count(*) from raw._landed_files").fetchone()[0] == 1


def test_unknown_folders_are_reported_not_landed(tmp_path: Path):
    _write(tmp_path / "raw/customer/batch_0001.parquet", pa.table({"customer_id": ["a"]}))
    report = land_new_files(duckdb.connect(), tmp_path)
    assert report.unknown_folders == ["customer"]
    assert report.total_rows == 0


def test_a_table_most_exports_lack_is_created_empty_with_its_documented_columns(tmp_path: Path):
    _write(tmp_path / "raw/customers/batch_0001.parquet", pa.table({"customer_id": ["a"]}))
    con = duckdb.connect()
    report = land_new_files(con, tmp_path)
    assert report.rows_landed["erasure_requests"] == 0
    columns = [r[0] for r in con.execute("describe raw.erasure_requests").fetchall()]
    assert columns == [
        "request_id",
        "customer_id",
        "email",
        "requested_by",
        "requested_at",
        "received_at",
        "_source_file",
        "_source_row",
        "_loaded_at",
    ]
    assert con.execute("select count(*) from raw.erasure_requests").fetchone() == (0,)

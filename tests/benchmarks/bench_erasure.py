"""Erasure benchmark: N new erasure requests executed on a copy of a built warehouse, timed.

Usage: bench_erasure.py [--warehouse data/warehouse.duckdb] [--requests 50]

The requests name existing customers that were never erased (half by customer_id, half by email only, resolved
through the identity graph), planted in the copy's staging.base_raw__erasure_requests as the raw landing and
dbt would put them. The warehouse is never modified. A 100,000-customer warehouse comes from
`bench_journeys.py --customers 100000 --keep` (its data folder is printed at the end).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import duckdb

from orchestration.erasure import execute_erasures


def plant_requests(con: duckdb.DuckDBPyConnection, count: int) -> int:
    people = con.execute(
        """select customer_id, email from identity.customers
           where email is not null
             and customer_id not in (select customer_id from audit.erasures where customer_id is not null)
           order by md5(customer_id) limit ?""",
        [count],
    ).fetchall()
    for index, (customer_id, email) in enumerate(people):
        by_email = index % 2 == 1
        con.execute(
            """insert into staging.base_raw__erasure_requests values (
                   ?, ?, ?, 'bench', timestamp '2026-10-30 00:00:00' + ? * interval 1 minute,
                   timestamp '2026-10-30 00:00:00', 'raw/erasure_requests/bench.parquet', ?, now()::timestamp,
                   null, null)""",
            [f"era_bench_{index:04d}", None if by_email else customer_id, email if by_email else None, index, index],
        )
    return len(people)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warehouse", type=Path, default=Path("data/warehouse.duckdb"))
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    if not args.warehouse.exists():
        raise SystemExit(f"{args.warehouse} does not exist: run `make demo` (or bench_journeys.py --keep) first")
    with tempfile.TemporaryDirectory(prefix="bench_erasure_") as folder:
        copy = Path(folder) / "warehouse.duckdb"
        shutil.copyfile(args.warehouse, copy)
        with duckdb.connect(str(copy)) as con:
            con.execute("set TimeZone = 'UTC'")
            customers = con.execute("select count(*) from identity.customers").fetchone()[0]
            planted = plant_requests(con, args.requests)
            started = time.perf_counter()
            report = execute_erasures(con, run_id="bench")
            seconds = time.perf_counter() - started
    print(
        f"erasure: {planted} requests on {customers:,} customers: {seconds:.2f} s "
        f"({report.rows_deleted:,} rows deleted, {len(report.executed)} requests executed)"
    )


if __name__ == "__main__":
    main()

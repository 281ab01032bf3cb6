"""Row counts and an order-independent checksum per table, read from DuckDB and from Spark, to compare engines.

A table's checksum is the SHA-256 of its rows' digests, sorted; a row's digest is the SHA-256 of its values in
a canonical text form (timestamps ISO 8601 in UTC, decimals and doubles as numbers to 9 significant digits,
so that the two engines' types for one value give one text). Columns that depend on when a step ran, not on the
data (load and update stamps, the JSON text of a rejected raw row) are left out and listed.

Runs in the Spark venv (it has pyspark and duckdb): `.venv-spark/bin/python -m tests.engine_parity
--duckdb <warehouse.duckdb> schema.table ...` (the Spark side comes from the profile, as the landing step's).
"""

from __future__ import annotations

import argparse
import datetime as dt
import decimal
import hashlib
import json
import os
import sys
from collections.abc import Iterable, Sequence

# Columns whose values are run times or engine-specific text, not data.
RUN_DEPENDENT_COLUMNS = frozenset(
    {"_loaded_at", "loaded_at", "_updated_at", "_customer_id_changed_at", "_identity_changed_at", "raw_record"}
)


def canonical(value: object) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | float):
        # the same number whichever type an engine chose (DuckDB's avg of a decimal is a double, Spark's a
        # decimal): 9 significant digits
        return format(float(value), ".9g")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(canonical(v) for v in value) + "]"
    return str(value)


def table_digest(rows: Iterable[Sequence[object]]) -> tuple[int, str]:
    digests = sorted(hashlib.sha256("\x1f".join(canonical(v) for v in row).encode()).hexdigest() for row in rows)
    return len(digests), hashlib.sha256("".join(digests).encode()).hexdigest()[:16]


def compared_columns(columns: Sequence[str]) -> list[str]:
    return [c for c in columns if c.lower() not in RUN_DEPENDENT_COLUMNS]


def main(argv: list[str] | None = None) -> int:
    os.environ["TZ"] = "UTC"  # pyspark turns timestamps into local datetimes
    import time

    time.tzset()
    import duckdb

    from orchestration.spark_landing import spark_session

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duckdb", required=True)
    parser.add_argument("--json", help="write the comparison here")
    parser.add_argument("tables", nargs="+")
    args = parser.parse_args(argv)
    con = duckdb.connect(args.duckdb, read_only=True)
    spark = spark_session()
    results = []
    for relation in args.tables:
        schema, name = relation.split(".")
        columns = [
            r[0]
            for r in con.execute(
                "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
                "order by ordinal_position",
                [schema, name],
            ).fetchall()
        ]
        kept = compared_columns(columns)
        select = ", ".join(f'"{c}"' for c in kept)
        duck = table_digest(con.execute(f"select {select} from {schema}.{name}").fetchall())
        spark_select = ", ".join(f"`{c}`" for c in kept)
        started = time.monotonic()
        sparks = table_digest(
            tuple(r) for r in spark.sql(f"select {spark_select} from {schema}.{name}").toLocalIterator()
        )
        differing = []
        if duck != sparks:
            # which columns differ: each column's values compared on their own
            duck_rows = con.execute(f"select {select} from {schema}.{name}").fetchall()
            spark_rows = [tuple(r) for r in spark.sql(f"select {spark_select} from {schema}.{name}").collect()]
            for index, column in enumerate(kept):
                if table_digest((r[index],) for r in duck_rows) != table_digest((r[index],) for r in spark_rows):
                    examples = sorted(
                        {canonical(r[index]) for r in duck_rows} ^ {canonical(r[index]) for r in spark_rows}
                    )
                    differing.append({"column": column, "examples": examples[:4]})
        row = {
            "table": relation,
            "duckdb_rows": duck[0],
            "spark_rows": sparks[0],
            "duckdb_checksum": duck[1],
            "spark_checksum": sparks[1],
            "equal": duck == sparks,
            "left_out": sorted(set(columns) - set(kept)),
            "differing_columns": differing,
            "spark_read_s": round(time.monotonic() - started, 1),
        }
        results.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=1)
    equal = sum(r["equal"] for r in results)
    print(f"PARITY {equal} of {len(results)} tables equal", flush=True)
    return 0 if equal == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())

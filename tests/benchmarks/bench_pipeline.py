"""Benchmark: the whole journey_run job on a large sample business (default 100k customers).

Prints the time of each step and checks the outcome against the ground truth (rejected rows equal the
planted defects; every dbt test passes). Not part of `make test`; run with `make bench`.
Exits non-zero when the outcome is wrong.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import dagster as dg
import duckdb


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="bench_pipeline_"))
    os.environ["JOURNEYS_DATA_DIR"] = str(data_dir)
    os.environ["JOURNEYS_WAREHOUSE_PATH"] = str(data_dir / "warehouse.duckdb")
    os.environ.setdefault("JOURNEYS_DAGSTER_STORAGE", str(data_dir / "dagster"))

    from orchestration.definitions import defs
    from sample_business import generate

    started = time.perf_counter()
    summary = generate(data_dir, n_customers=args.customers)
    generated = time.perf_counter() - started
    truth = json.loads((data_dir / "ground_truth" / "ground_truth.json").read_text())
    rows = sum(truth["rows_written"].values())

    job = defs.resolve_job_def("journey_run")
    config = {"resources": {"run_settings": {"config": {"as_of": truth["parameters"]["as_of"]}}}}
    started = time.perf_counter()
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), run_config=config, raise_on_error=False)
    job_seconds = time.perf_counter() - started

    step_seconds = {}
    for event in result.all_events:
        if event.event_type_value == "STEP_SUCCESS":
            step_seconds[event.step_key] = event.event_specific_data.duration_ms / 1000

    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        rejected = Counter(
            {
                (t, r): n
                for t, r, n in con.execute(
                    "select source_table, rejection_reason, count(*) from quality.rejected_rows group by all"
                ).fetchall()
            }
        )
    planted = Counter({(t, r): n for t, reasons in truth["malformed"].items() for r, n in reasons.items() if n})
    failed_checks = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]

    print(f"customers            {args.customers:,}")
    print(f"raw rows             {rows:,} ({truth['rows_written']['events']:,} events)")
    print(f"generate             {generated:.1f} s ({summary.seconds:.1f} s inside generate)")
    print(f"journey_run (job)    {job_seconds:.1f} s")
    for step, seconds in step_seconds.items():
        print(f"  {step:<30} {seconds:.1f} s")
    print(f"rejected rows        {sum(rejected.values()):,} (planted {sum(planted.values()):,})")
    print(f"failed checks        {failed_checks or 'none'}")
    print(f"data folder          {data_dir}{'' if args.keep else ' (removed)'}")
    ok = result.success and rejected == planted and not failed_checks
    if not args.keep:
        import shutil

        shutil.rmtree(data_dir, ignore_errors=True)
    print("OK" if ok else "WRONG OUTCOME")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

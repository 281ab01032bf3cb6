"""Benchmark: a full journey_run on a large sample business, then an incremental run with 0.1 % new events.

The newest 0.1 % of events (by received_at) are held back from the first run and landed for the second, which
runs at the data's as_of. Prints wall time and peak memory (this process and its children, i.e. dbt) of each
run, and the slowest dbt nodes of each run (from dbt's run_results.json). Not part of `make test`; `make bench`
runs it. Usage: bench_journeys.py [--customers 100000] [--top 12] [--keep]
"""

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq

HELD_BACK_SHARE = 0.001


def _peak_rss_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def _hold_back_newest_events(data_dir: Path) -> tuple[Path, str, int]:
    """Splits the events files: the newest 0.1 % (by received_at) go to a file set aside for the second run."""
    files = sorted((data_dir / "raw" / "events").glob("*.parquet"))
    table = pq.read_table(files[0]) if len(files) == 1 else None
    if table is None:
        import pyarrow as pa

        table = pa.concat_tables([pq.read_table(f) for f in files])
    for f in files:
        f.unlink()
    table = table.sort_by("received_at")
    cut = int(len(table) * (1 - HELD_BACK_SHARE))
    pq.write_table(table.slice(0, cut), data_dir / "raw" / "events" / "batch_0001.parquet")
    held = data_dir / "held_back_events.parquet"
    pq.write_table(table.slice(cut), held)
    first_as_of = pc.max(table.slice(0, cut)["received_at"]).as_py().isoformat()
    return held, first_as_of, len(table) - cut


def _run(job, as_of: str) -> tuple[float, dg.ExecuteInProcessResult]:
    started = time.perf_counter()
    config = {"resources": {"run_settings": {"config": {"as_of": as_of}}}}
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), run_config=config, raise_on_error=False)
    return time.perf_counter() - started, result


def _steps(result: dg.ExecuteInProcessResult) -> str:
    parts = [
        f"{e.step_key.split('__')[-1]} {e.event_specific_data.duration_ms / 1000:.1f}s"
        for e in result.all_events
        if e.event_type_value == "STEP_SUCCESS" and e.event_specific_data.duration_ms > 500
    ]
    return ", ".join(parts)


def _anchor_pass_seconds(data_dir: Path) -> float:
    """The issue's unit of time: one DuckDB pass over all the events with a per-customer ordered window (2 threads),
    from the raw files, its result materialised."""
    events = str(data_dir / "raw" / "events" / "*.parquet")
    with duckdb.connect() as con:
        con.execute("set threads = 2")
        started = time.perf_counter()
        con.execute(
            """select count(*), sum(position) from (
                   select row_number() over (
                       partition by coalesce(customer_id, anonymous_id) order by occurred_at
                   ) as position
                   from read_parquet(?)
               )""",
            [events],
        ).fetchall()
        return time.perf_counter() - started


def _run_results(after: float, data_dir: Path) -> list[Path]:
    """The run_results.json of each dbt step that ran since `after` (each step has its own target folder beside
    the warehouse, decision 0015), in the order they finished."""
    found = [p for p in (data_dir / "dbt_target").glob("*/run_results.json") if p.stat().st_mtime >= after]
    return sorted(found, key=lambda p: p.stat().st_mtime)


def _slowest_nodes(run_results: list[Path], top: int) -> str:
    if not run_results:
        return "(no run_results.json)"
    lines = []
    for path in run_results:
        results = json.loads(path.read_text())
        timed = sorted(((r["execution_time"], r["unique_id"]) for r in results["results"]), reverse=True)
        models = sum(t for t, uid in timed if uid.startswith("model."))
        tests = sum(t for t, uid in timed if uid.startswith("test."))
        lines.append(
            f"{path.parent.name}: dbt elapsed {results['elapsed_time']:.1f} s; node time: models {models:.1f} s, "
            f"tests {tests:.1f} s ({len(timed)} nodes)"
        )
        lines += [f"  {seconds:6.2f} s  {uid.split('.', 2)[-1]}" for seconds, uid in timed[:top]]
    return "\n                      ".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--top", type=int, default=12, help="how many of the slowest dbt nodes to print per run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder (to profile it)")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="bench_journeys_"))
    os.environ["JOURNEYS_DATA_DIR"] = str(data_dir)
    os.environ["JOURNEYS_WAREHOUSE_PATH"] = str(data_dir / "warehouse.duckdb")
    os.environ.setdefault("JOURNEYS_DAGSTER_STORAGE", str(data_dir / "dagster"))
    from orchestration.definitions import defs
    from sample_business import generate

    generate(data_dir, n_customers=args.customers)
    truth = json.loads((data_dir / "ground_truth" / "ground_truth.json").read_text())
    held, first_as_of, held_rows = _hold_back_newest_events(data_dir)
    job = defs.resolve_job_def("journey_run")

    started = time.time()
    full_seconds, full = _run(job, first_as_of)
    full_peak = _peak_rss_mb()
    full_nodes = _slowest_nodes(_run_results(started, data_dir), args.top)
    shutil.move(held, data_dir / "raw" / "events" / "batch_0002.parquet")
    started = time.time()
    incremental_seconds, incremental = _run(job, truth["parameters"]["as_of"])
    incremental_peak = _peak_rss_mb()
    incremental_nodes = _slowest_nodes(_run_results(started, data_dir), args.top)

    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        enrollments, transitions, actions = con.execute(
            """select (select count(*) from journeys.journey_enrollments),
                      (select count(*) from journeys.journey_transitions),
                      (select count(*) from journeys.journey_actions)"""
        ).fetchone()
    anchor = min(_anchor_pass_seconds(data_dir) for _ in range(3))
    print(f"customers             {args.customers:,}  (events {truth['rows_written']['events']:,})")
    print(
        f"anchor pass           {anchor:.2f} s (per-customer ordered window over the events, 2 threads, best of 3); "
        f"full run = {full_seconds / anchor:.0f} passes, incremental = {incremental_seconds / anchor:.0f} passes"
    )
    print(
        f"full run              {full_seconds:.1f} s  ok={full.success}  peak RSS self {full_peak[0]:,.0f} MB, "
        f"dbt {full_peak[1]:,.0f} MB"
    )
    print(f"                      {_steps(full)}")
    print(f"                      {full_nodes}")
    print(
        f"incremental run       {incremental_seconds:.1f} s  ok={incremental.success}  (+{held_rows:,} events, 0.1 %)  "
        f"peak RSS self {incremental_peak[0]:,.0f} MB, dbt {incremental_peak[1]:,.0f} MB"
    )
    print(f"                      {_steps(incremental)}")
    print(f"                      {incremental_nodes}")
    print(f"journeys              {enrollments:,} enrollments, {transitions:,} transitions, {actions:,} actions")
    if args.keep:
        print(f"data kept in {data_dir}")
    else:
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0 if full.success and incremental.success else 1


if __name__ == "__main__":
    sys.exit(main())

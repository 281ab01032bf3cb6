"""`make demo`: generate the sample business if absent, run the journey_run job in process, summarise.

The run is recorded in the project's Dagster instance, so `make ui` shows it afterwards.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.settings import Paths, paths_from_env

DEMO_CUSTOMERS = 10_000


def _ensure_sample_data(paths: Paths, customers: int) -> str:
    if any(paths.raw_dir.glob("*/*.parquet")):
        return f"sample data already present in {paths.raw_dir} (not regenerated)"
    from sample_business import generate

    summary = generate(paths.data_dir, n_customers=customers)
    return f"generated the sample business: {customers:,} customers in {summary.seconds:.1f} s into {paths.raw_dir}"


def _data_as_of(paths: Paths) -> str | None:
    """The sample data's own 'now', so the demo decides as of the end of the generated history."""
    truth = paths.ground_truth_dir / "ground_truth.json"
    if not truth.exists():
        return None
    return json.loads(truth.read_text())["parameters"]["as_of"]


def run_job(as_of: str | None, dry_run: bool) -> dg.ExecuteInProcessResult:
    """The journey_run job, in process, recorded in the project's Dagster instance."""
    from orchestration.definitions import defs

    job = defs.resolve_job_def("journey_run")
    config = {
        "resources": {"run_settings": {"config": {"as_of": as_of, "dry_run": dry_run}}},
        "loggers": {"console": {"config": {"log_level": "INFO"}}},
    }
    return job.execute_in_process(instance=dg.DagsterInstance.get(), run_config=config, raise_on_error=False)


def _metadata_by_asset(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    found = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        found[materialization.asset_key.to_user_string()] = {k: v.value for k, v in materialization.metadata.items()}
    return found


# Checks written in Python (the others are dbt tests).
PYTHON_CHECKS = {
    "raw_batch_passes_great_expectations",
    "identity_graph_is_not_over_merged",
    "actions_due_are_sendable",
    "rejected_share_is_small",
}
BLOCKING_NOTE = {
    "raw_batch_passes_great_expectations": "blocking: a broken raw batch stops the run before dbt",
    "identity_graph_is_not_over_merged": "blocking: stops segments, journeys and activation",
    "actions_due_are_sendable": "blocking: a failure stops activation",
}

FACT_QUERIES = {
    "landed_files": ("select count(*), sum(row_count) from raw._landed_files", "one"),
    "rejected": (
        "select source_table, rejection_reason, count(*) from quality.rejected_rows group by all order by 1, 2",
        "all",
    ),
    "policy_states": (
        """select state, coalesce(reason, ''), count(*) from policy.action_states group by all order by 1, 2""",
        "all",
    ),
    "policy_this_run": (
        """select state, coalesce(reason, ''), count(*) from policy.policy_decisions
           where decided_in_run = $run_id group by all order by 1, 2""",
        "all",
    ),
    "journeys": (
        """select journey_id, count(*) filter (where status = 'active'),
                  count(*) filter (where status = 'completed'), count(*) filter (where status = 'exited'),
                  count(*) filter (where variant = 'holdout'), count(converted_at)
           from journeys.journey_enrollments group by all order by 1""",
        "all",
    ),
    "journey_actions": (
        """select count(*), count(*) filter (where decided_in_run = $run_id),
                  count(*) filter (where variant = 'holdout')
           from journeys.journey_actions""",
        "one",
    ),
    "ledger": ("select destination, state, count(*) from activation.send_ledger group by all order by 1, 2", "all"),
    "attribution": (
        """select channel,
                  sum(attributed_conversions) filter (where attribution_model = 'last_touch'),
                  sum(attributed_conversions) filter (where attribution_model = 'linear'),
                  sum(attributed_conversions) filter (where attribution_model = 'markov'),
                  sum(attributed_conversions) filter (where attribution_model = 'shapley'),
                  sum(attributed_revenue) filter (where attribution_model = 'shapley')
           from measurement.channel_attribution group by all order by 5 desc nulls last, 1""",
        "all",
    ),
    "holdout_lift": (
        """select journey_id, treated, holdout, treated_conversion_rate, holdout_conversion_rate,
                  abs_lift_ci_low, abs_lift_ci_high, p_value, alpha
           from measurement.holdout_lift order by 1""",
        "all",
    ),
    "segments": (
        """select segment_name, count(*) filter (where exited_at is null), count(*) filter (where exited_at is not null)
           from segments.segment_memberships group by all order by 1""",
        "all",
    ),
}


def _warehouse_facts(warehouse: Path, run_id: str) -> dict:
    """What the warehouse holds after the run; a fact whose table is missing (a failed run) is left out."""
    facts = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for name, (sql, shape) in FACT_QUERIES.items():
            try:
                cursor = con.execute(sql, {"run_id": run_id} if "$run_id" in sql else None)
            except duckdb.CatalogException:
                continue
            rows = cursor.fetchall()
            facts[name] = rows if shape == "all" else rows[0] if shape == "one" else rows[0][0]
    return facts


def print_summary(result: dg.ExecuteInProcessResult, paths: Paths, data_note: str, as_of: str | None, seconds: float):
    meta = _metadata_by_asset(result)
    checks = result.get_asset_check_evaluations()
    failed_steps = [e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    print()
    print("=" * 78)
    print(f"journey_run {'succeeded' if result.success else 'FAILED'} in {seconds:.1f} s   (run id {result.run_id})")
    print("=" * 78)
    print(f"Data      {data_note}")
    print(f"as_of     {as_of or 'now'}   warehouse {paths.warehouse}")
    if failed_steps:
        print(f"Failed steps: {', '.join(failed_steps)} (see `make ui`, run {result.run_id})")

    landed = sum(int(m.get("rows_landed_this_run", 0)) for k, m in meta.items() if k.startswith("raw/"))
    facts = _warehouse_facts(paths.warehouse, result.run_id) if paths.warehouse.exists() else None
    print("\n1. Landing (raw files -> warehouse schema raw, append-only)")
    print(f"   new rows landed this run: {landed:,}")
    if facts:
        files, rows = facts.get("landed_files", (0, 0))
        print(f"   landed in total: {files} files, {int(rows or 0):,} rows")

    dbt_models = [k for k in meta if not k.startswith(("raw/", "activation/")) and k != "audit/erasures"]
    dbt_checks = [c for c in checks if c.check_name not in PYTHON_CHECKS]
    print("\n2. dbt build in DuckDB (models + tests)")
    print(
        f"   models built or refreshed: {len(dbt_models)}   tests: {sum(c.passed for c in dbt_checks)} passed, "
        f"{sum(not c.passed for c in dbt_checks)} failed"
    )
    if facts and facts.get("rejected"):
        by_table: dict[str, list[tuple[str, int]]] = {}
        for table, reason, n in facts["rejected"]:
            by_table.setdefault(table, []).append((reason, n))
        total = sum(n for _, _, n in facts["rejected"])
        print(f"   raw rows kept aside in quality.rejected_rows, with their reason: {total:,}")
        for table, reasons in by_table.items():
            detail = ", ".join(f"{reason} {n:,}" for reason, n in reasons)
            print(f"     {table:<19} {sum(n for _, n in reasons):>6,}  ({detail})")
    print("\n3. Quality checks (Great Expectations and SQL, as Dagster asset checks)")
    for name in sorted(PYTHON_CHECKS):
        ran = [c for c in checks if c.check_name == name]
        if not ran:
            continue
        passed = sum(c.passed for c in ran)
        verdict = ("passed" if passed == len(ran) else "FAILED") + (
            f" ({passed}/{len(ran)} tables)" if len(ran) > 1 else ""
        )
        note = f"  ({BLOCKING_NOTE[name]})" if name in BLOCKING_NOTE else ""
        print(f"   {name:<36} {verdict}{note}")
    print(f"   Great Expectations Data Docs: {paths.data_dir / 'gx_docs' / 'index.html'}")

    if facts and facts.get("segments"):
        print("\n   Segments (docs/segments.md): open memberships (closed so far)")
        cells = [f"{name} {open_:,} ({closed:,})" for name, open_, closed in facts["segments"]]
        for start in range(0, len(cells), 3):
            print("     " + "   ".join(f"{cell:<32}" for cell in cells[start : start + 3]).rstrip())

    print("\n4. Journeys (decided in the warehouse; docs/journey_semantics.md)")
    journey_meta = meta.get("journey_config/journeys", {})
    refused = journey_meta.get("journeys_refused") or []
    for line in refused:
        print(f"   REFUSED {line}")
    if facts and "journeys" in facts:
        print(f"   {'journey':<22} {'active':>7} {'completed':>10} {'exited':>7} {'holdout':>8} {'converted':>10}")
        for journey, active, completed, exited, holdout, converted in facts["journeys"]:
            print(f"   {journey:<22} {active:>7,} {completed:>10,} {exited:>7,} {holdout:>8,} {converted:>10,}")
        total, this_run, holdout_actions = facts.get("journey_actions", (0, 0, 0))
        print(f"   actions decided: {total:,} in all, {this_run:,} by this run ({holdout_actions:,} for holdout)")
        print("   Ask about one customer: .venv/bin/journeys why --customer <customer_id>")

    print("\n5. Delivery policy (consent, suppression, quiet hours, caps; docs/policy.md)")
    if facts and "policy_states" in facts:
        decided = facts.get("policy_this_run", [])
        print(f"   decisions this run: {sum(n for *_, n in decided):,} (a due action still due is not re-recorded)")
        print("   every journey action now, by state and reason:")
        for state, reason, n in facts["policy_states"]:
            print(f"     {state:<11} {reason or '-':<15} {n:>9,}")

    print("\n6. Erasure (docs/erasure.md): before anything is sent")
    erasure = meta.get("audit/erasures")
    if erasure:
        print(
            f"   requests executed this run: {erasure['requests_executed']:,} "
            f"({erasure['rows_deleted']:,} rows deleted); executed by earlier runs: {erasure['executed_before']:,}"
        )
        swept = sum((erasure.get("rows_swept_again") or {}).values())
        if swept:
            print(f"   rows that arrived again for erased customers, deleted: {swept:,}")
        print("   audit: audit.erasures; CRM and audience deletions queued in activation.erasure_deletions")
    else:
        print("   erasure did not run (an upstream step failed): nothing was sent either")

    print("\n7. Activation (reverse ETL; the demo config routes every destination to the outbox)")
    sent_assets = {k: m for k, m in meta.items() if k.startswith("activation/")}
    if not sent_assets:
        print("   activation did not run (a blocking check failed or an upstream step failed)")
    total_sent = 0
    for key, activation in sorted(sent_assets.items()):
        name = key.split("/", 1)[1]
        if activation.get("dry_run"):
            print(f"   {name:<9} DRY RUN: {activation['due']:,} would be sent; nothing was sent")
            continue
        total_sent += activation["sent"]
        if activation.get("held_by_volume_cap"):
            print(f"   {name:<9} HELD by the volume cap: nothing sent until approved (python -m activations.cli holds)")
        if activation["due"] or activation["already_sent_before"]:
            print(
                f"   {name:<9} sent this run: {activation['sent']:,}   failed: {activation['failed']:,}   "
                f"dead: {activation.get('dead', 0):,}   "
                f"already sent by earlier runs (not sent again): {activation['already_sent_before']:,}"
            )
    if sent_assets and not any(m.get("dry_run") for m in sent_assets.values()):
        print(f"   sent this run, all destinations: {total_sent:,}   outbox: {paths.outbox_dir}")
        if total_sent == 0:
            print("   -> nothing new to send: this run was incremental and sent nothing twice.")
    if facts:
        for destination, state, n in facts.get("ledger", []):
            print(f"   ledger {destination}: {n:,} {state}")

    print("\n8. Measurement, report and BI copy (docs/measurement.md, docs/bi.md)")
    if facts.get("attribution"):
        print("   conversions by channel in the conversion window, by attribution model (docs/measurement.md):")
        print(f"     {'channel':<14}{'last touch':>11}{'linear':>9}{'markov':>9}{'shapley':>9}{'shapley USD':>13}")
        for channel, last, linear, markov, shapley, revenue in facts["attribution"]:
            cells = [
                f"{v:>{w},.1f}" if v is not None else f"{'-':>{w}}"
                for v, w in zip((last, linear, markov, shapley, revenue), (11, 9, 9, 9, 13), strict=True)
            ]
            print(f"     {channel:<14}" + "".join(cells))
    if facts.get("holdout_lift"):
        print("   journeys against their holdout: conversion rate, treated vs holdout; lift interval; p-value")
        for journey, treated, holdout, rate, control, low, high, p_value, alpha in facts["holdout_lift"]:
            if None in (rate, control, low, high, p_value):  # an arm without enrollments: nothing to compare
                print(f"     {journey:<22} {treated:,} treated, {holdout:,} holdout: not enough data for a lift")
                continue
            print(
                f"     {journey:<22} {rate:6.1%} of {treated:,} vs {control:6.1%} of {holdout:,}   "
                f"{1 - alpha:.0%} [{low:+.1%}, {high:+.1%}]   p={p_value:.3f}"
            )
    published, report = meta.get("bi/published_warehouse"), meta.get("measurement/report")
    if published:
        print(
            f"   BI copy: {published['path']} ({published['tables']} tables, published in {published['duration_s']} s)"
        )
    else:
        print("   BI copy not published (an upstream step failed): BI keeps the last successful run's copy")
    if report:
        print(f"   report:  {report['path']} ({report['charts']} charts; open it in a browser, no network needed)")
    else:
        print("   report not written this run (an upstream step failed)")

    print("\nNext: `make ui` opens Dagster at http://127.0.0.1:3000 with this run, the asset graph and checks.")
    print("      BI and ad-hoc SQL: open the BI copy above read-only, even while a run writes (docs/bi.md).")
    print("      Schedules (journey run every 15 min, measurement, retention purge) and sensors (new raw files,")
    print("      failure alerts) ship stopped: start them under Automation (docs/operations.md).")
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=DEMO_CUSTOMERS, help="sample size if data is absent")
    parser.add_argument("--as-of", default=None, help="logical run time (default: the sample data's as_of)")
    parser.add_argument("--dry-run", action="store_true", help="decide and preview, send nothing")
    args = parser.parse_args(argv)
    # Our own progress at INFO; the libraries' chatter (alembic, GX registration) stays out of the demo.
    for ours in ("orchestration", "activations", "sample_business"):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("  %(message)s"))
        logger = logging.getLogger(ours)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False

    paths = paths_from_env()
    started = time.monotonic()
    note = _ensure_sample_data(paths, args.customers)
    as_of = args.as_of or _data_as_of(paths)
    result = run_job(as_of, args.dry_run)
    print_summary(result, paths, note, as_of, time.monotonic() - started)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())

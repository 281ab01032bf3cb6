"""Benchmark and planted-truth check of touchpoints, conversions and attribution (default 100k customers).

Generates the sample business (or reuses --data-dir), lands it, builds the upstream dbt models (staging,
identity), then times one build of the measurement models and one run of the attribution asset with the default
settings, and checks them against what the generator planted (sample_business/effects.py):

1. Sessions: the 30-minute rule on web events gives back the generator's sessions (one derived session per
   tracker session, none split or merged), and the default channel grouping agrees with staging's.
2. Channel effects: a logistic regression of "the session ended in an order" on channel and persona (the
   generator's truth per customer), over logged-in sessions, recovers CHANNEL_ODDS (odds ratio vs paid_social).
3. Attribution: in the generator an order is caused by its own session's channel alone (earlier touches have no
   effect), so the true channel split of web orders is the channels of their converting sessions. The models are
   rebuilt for orders only, with sessions as the only touches, and each model's channel split is compared with
   that truth (total variation distance); last_touch must equal it exactly.

Not part of `make test`; run with `make bench` or `python tests/benchmarks/bench_attribution.py --customers N`.
Exits non-zero when a check fails.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT_ROOT))

from sample_business.effects import CHANNEL_ODDS  # noqa: E402
from tests.attribution_harness import MEASUREMENT_MODELS  # noqa: E402

UPSTREAM = "+sessions +touchpoints +conversions"


def dbt(args: list[str], warehouse: Path) -> tuple[float, dict[str, float]]:
    started = time.perf_counter()
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), *args],
        cwd=PROJECT_ROOT / "dbt_project",
        env={**os.environ, "JOURNEYS_WAREHOUSE_PATH": str(warehouse)},
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(f"dbt {' '.join(args[:3])} failed:\n{completed.stdout[-5000:]}")
    results = json.loads((PROJECT_ROOT / "dbt_project" / "target" / "run_results.json").read_text())
    per_model = {r["unique_id"].split(".")[-1]: r["execution_time"] for r in results["results"]}
    return seconds, per_model


def logistic_regression(x: np.ndarray, y: np.ndarray, iterations: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """Maximum likelihood by Newton-Raphson; returns coefficients and their standard errors."""
    beta = np.zeros(x.shape[1])
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-(x @ beta)))
        hessian = x.T @ (x * (p * (1 - p))[:, None])
        step = np.linalg.solve(hessian, x.T @ (y - p))
        beta += step
        if np.max(np.abs(step)) < 1e-10:
            break
    p = 1 / (1 + np.exp(-(x @ beta)))
    covariance = np.linalg.inv(x.T @ (x * (p * (1 - p))[:, None]))
    return beta, np.sqrt(np.diag(covariance))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--data-dir", type=Path, default=None, help="reuse or create this data folder")
    parser.add_argument(
        "--reuse-upstream", action="store_true", help="the data folder's warehouse is landed and built: skip that"
    )
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="bench_attribution_"))
    warehouse = data_dir / "warehouse.duckdb"
    os.environ["JOURNEYS_DATA_DIR"] = str(data_dir)
    os.environ["JOURNEYS_WAREHOUSE_PATH"] = str(warehouse)
    failures: list[str] = []

    from orchestration.attribution_assets import attribution_models
    from orchestration.landing import land_new_files
    from orchestration.resources import WarehouseResource
    from sample_business import generate

    if not (data_dir / "ground_truth" / "ground_truth.json").exists():
        started = time.perf_counter()
        generate(data_dir, n_customers=args.customers)
        print(f"generated {args.customers:,} customers in {time.perf_counter() - started:.1f} s")
    truth = json.loads((data_dir / "ground_truth" / "ground_truth.json").read_text())
    as_of = truth["parameters"]["as_of"]
    if not args.reuse_upstream:
        with duckdb.connect(str(warehouse)) as con:
            land_new_files(con, data_dir)
        upstream = [
            "run",
            "--select",
            UPSTREAM,
            "--exclude",
            *MEASUREMENT_MODELS,
            "--vars",
            json.dumps({"as_of": as_of}),
        ]
        seconds, _ = dbt(upstream, warehouse)
        print(f"upstream (staging, identity) built in {seconds:.0f} s")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        events = con.execute("select count(*) from raw.events").fetchone()[0]
    print(f"data: {data_dir}, {events:,} raw events, as_of {as_of}")

    seconds, per_model = dbt(
        ["run", "--select", *MEASUREMENT_MODELS, "--vars", json.dumps({"as_of": as_of})], warehouse
    )
    model_seconds = sum(per_model.values())
    print(f"measurement models, default settings: dbt {seconds:.1f} s wall ({model_seconds:.1f} s in models)")
    for name, took in sorted(per_model.items(), key=lambda item: -item[1]):
        print(f"   {name:40s} {took:6.2f} s")
    started = time.perf_counter()
    result = dg.materialize(
        [attribution_models],
        resources={"warehouse": WarehouseResource(path=str(warehouse))},
        instance=dg.DagsterInstance.ephemeral(),
    )
    print(f"attribution asset (markov, shapley, fractribution): {time.perf_counter() - started:.1f} s")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        sizes = con.execute(
            """select (select count(*) from measurement.attribution_paths),
                      (select count(*) from measurement.attribution_path_summary),
                      (select count(*) from measurement.attribution_campaign_path_summary)"""
        ).fetchone()
    print(f"   {sizes[0]:,} paths, {sizes[1]:,} distinct channel paths, {sizes[2]:,} distinct campaign paths")
    if not result.success:
        failures.append("attribution asset failed")

    with duckdb.connect(str(warehouse), read_only=True) as con:
        counts = con.execute(
            """
            select
                (select count(*) from measurement.sessions),
                (select count(distinct tracker_session_id) from measurement.sessions),
                (select count(*) from staging.stg_raw__sessions
                 where session_id in (select session_id from identity.customer_event_stream)),
                (select count(*) from measurement.sessions as s
                 inner join staging.stg_raw__sessions as r on s.tracker_session_id = r.session_id
                 where s.channel <> r.marketing_channel)
            """
        ).fetchone()
        derived, distinct_trackers, tracker_sessions, channel_disagreements = counts
        print(
            f"1. sessions: {derived:,} derived by the 30-minute rule; {tracker_sessions:,} generator sessions with "
            f"events; {distinct_trackers:,} distinct landing tracker sessions; channel differs from staging's "
            f"marketing_channel on {channel_disagreements} sessions"
        )
        if not (derived == distinct_trackers == tracker_sessions) or channel_disagreements:
            failures.append("sessions differ from the generator's")

        personas = str(data_dir / "ground_truth" / "customers_truth.parquet")
        rows = con.execute(
            f"""
            select s.channel, t.persona,
                   exists (select 1 from staging.stg_raw__orders as o where o.session_id = s.tracker_session_id)
            from measurement.sessions as s
            inner join staging.stg_raw__sessions as r on s.tracker_session_id = r.session_id
            inner join read_parquet('{personas}') as t on r.customer_id = t.customer_id
            where r.customer_id is not null
            """
        ).fetchall()
    channels = [c for c in CHANNEL_ODDS if c != "paid_social"]
    persona_names = sorted({row[1] for row in rows})
    x = np.array([[float(ch == c) for c in channels] + [float(p == q) for q in persona_names] for ch, p, _ in rows])
    y = np.array([float(converted) for *_, converted in rows])
    beta, se = logistic_regression(x, y)
    print(
        f"2. channel effects from {len(rows):,} logged-in sessions ({int(y.sum()):,} orders): odds ratio vs paid_social"
    )
    print("   channel       planted  estimated  95% interval")
    for i, channel in enumerate(channels):
        low, high = np.exp(beta[i] - 1.96 * se[i]), np.exp(beta[i] + 1.96 * se[i])
        inside = low <= CHANNEL_ODDS[channel] <= high
        flag = "" if inside else "  <- outside"
        estimate = np.exp(beta[i])
        print(f"   {channel:12s}  {CHANNEL_ODDS[channel]:7.2f}  {estimate:9.3f}  [{low:.3f}, {high:.3f}]{flag}")
        if abs(beta[i] - np.log(CHANNEL_ODDS[channel])) > 4 * se[i]:
            failures.append(f"channel effect of {channel} more than 4 standard errors from the planted one")

    truth_vars = {
        "as_of": as_of,
        "measurement__conversion_types": ["order"],
        "measurement__path_message_events": [],
    }
    dbt(["run", "--select", *MEASUREMENT_MODELS, "--vars", json.dumps(truth_vars)], warehouse)
    result = dg.materialize(
        [attribution_models],
        resources={"warehouse": WarehouseResource(path=str(warehouse))},
        instance=dg.DagsterInstance.ephemeral(),
    )
    with duckdb.connect(str(warehouse), read_only=True) as con:
        true_split = dict(
            con.execute(
                """
                select s.channel, count(*)
                from intermediate.int_attribution_conversions_in_window as c
                inner join measurement.sessions as s on c.tracker_session_id = s.tracker_session_id
                group by s.channel
                """
            ).fetchall()
        )
        without_session = con.execute(
            """select count(*) from intermediate.int_attribution_conversions_in_window
               where tracker_session_id not in (select tracker_session_id from measurement.sessions)"""
        ).fetchone()[0]
        modelled = con.execute(
            "select attribution_model, channel, attributed_conversions from measurement.channel_attribution"
        ).fetchall()
    total = sum(true_split.values())
    print(
        f"3. attribution of {total:,} web orders in the window (orders only, sessions only; {without_session} orders "
        "without a derived session): share per channel, truth = converting session's channel"
    )
    models = sorted({m for m, _, _ in modelled})
    all_channels = sorted({c for _, c, _ in modelled} | set(true_split))
    print("   model                  TVD    " + "  ".join(f"{c[:11]:>11s}" for c in all_channels))
    print(
        "   truth                  0.000  " + "  ".join(f"{true_split.get(c, 0) / total:11.3f}" for c in all_channels)
    )
    for model in models:
        split = {c: v for m, c, v in modelled if m == model}
        tvd = 0.5 * sum(abs(split.get(c, 0) - true_split.get(c, 0)) / total for c in all_channels)
        print(f"   {model:22s} {tvd:.3f}  " + "  ".join(f"{split.get(c, 0) / total:11.3f}" for c in all_channels))
        if model == "last_touch" and any(abs(split.get(c, 0) - true_split.get(c, 0)) > 1e-6 for c in all_channels):
            failures.append("last_touch differs from the converting sessions' channels")

    print("FAILED: " + "; ".join(failures) if failures else "all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""Sensors: a journey run when new raw files land; an alert to the operators' webhook when a run fails.

The raw-file sensor keeps, in its cursor, the raw files it has already seen, and keys each run request by the
files that caused it: a restarted daemon, or an evaluation whose cursor update was lost, asks again with the
same run key, and Dagster starts no second run. It reads only the file system (never the warehouse, which a
running journey run may hold). Both ship stopped, like the schedules (docs/operations.md).
"""

import hashlib
import json
import os
import time
from pathlib import Path

import dagster as dg

from orchestration.alerts import post_alert
from orchestration.erasure_assets import REQUESTED_BY_TAG
from orchestration.jobs import journey_run_job
from orchestration.landing import RAW_TABLES
from orchestration.settings import paths_from_env

# A file modified more recently than this may still be being written: it waits for the next evaluation.
# (Exporters should write to a temporary name and rename; this guards those that do not.)
SETTLE_SECONDS = 30


def raw_files_ready(data_dir: Path, now: float, settle_seconds: float = SETTLE_SECONDS) -> list[str]:
    """Raw files as landing names them (raw/<table>/<file>.parquet), settled, in name order."""
    found = []
    for table in RAW_TABLES:
        for path in (data_dir / "raw" / table).glob("*.parquet"):
            if now - path.stat().st_mtime >= settle_seconds:
                found.append(path.relative_to(data_dir).as_posix())
    return sorted(found)


def new_raw_files(cursor: str | None, ready: list[str]) -> tuple[list[str], str]:
    """(files not seen before, the new cursor). The cursor is a JSON list of every file seen."""
    seen = set(json.loads(cursor)) if cursor else set()
    new = [name for name in ready if name not in seen]
    return new, json.dumps(sorted(seen | set(new)), separators=(",", ":"))


def run_key_for(files: list[str]) -> str:
    """The same new files always give the same run key."""
    return "raw_files:" + hashlib.sha256("\n".join(sorted(files)).encode()).hexdigest()[:20]


@dg.sensor(
    name="new_raw_files",
    job=journey_run_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "Starts a journey run when new raw files land under <data_dir>/raw/<table>/ (settled for 30 s); one run "
        "per set of new files, never two for the same files."
    ),
)
def new_raw_files_sensor(context: dg.SensorEvaluationContext):
    ready = raw_files_ready(paths_from_env().data_dir, time.time())
    new, cursor = new_raw_files(context.cursor, ready)
    if not new:
        return dg.SkipReason(f"no new raw files ({len(ready)} seen before)")
    tables = sorted({name.split("/")[1] for name in new})
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=run_key_for(new),
                tags={
                    REQUESTED_BY_TAG: "sensor:new_raw_files",
                    "journeys/new_raw_files": str(len(new)),
                    "journeys/new_raw_tables": ",".join(tables)[:200],
                },
            )
        ],
        cursor=cursor,
    )


@dg.run_failure_sensor(
    name="alert_on_run_failure",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "Posts a signed JSON alert to JOURNEYS_ALERT_WEBHOOK_URL when any run fails: job, run id, failed steps, "
        "the error message (docs/operations.md)."
    ),
)
def alert_on_run_failure(context: dg.RunFailureSensorContext) -> None:
    run = context.dagster_run
    failed_steps = sorted({event.step_key for event in context.get_step_failure_events() if event.step_key})
    result = post_alert(
        alert_id=f"run_failed:{run.run_id}",
        alert_type="dagster.run_failed",
        data={
            "job": run.job_name,
            "run_id": run.run_id,
            "failed_steps": failed_steps,
            "message": (context.failure_event.message or "")[:2000],
            "requested_by": run.tags.get(REQUESTED_BY_TAG),
            "ui_path": f"/runs/{run.run_id}",
            "host": os.uname().nodename,
        },
    )
    if not result.delivered and result.status is None and "not set" in result.detail:
        context.log.warning(result.detail)
        return
    if not result.delivered:
        # the sensor's tick shows as failed in the UI, and the next evaluation does not retry this run
        raise dg.Failure(f"run {run.run_id} failed and its alert was not delivered: {result.detail}")
    context.log.info("run %s failure alerted: %s", run.run_id, result.detail)


sensors = [new_raw_files_sensor, alert_on_run_failure]

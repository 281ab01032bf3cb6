"""Schedules and sensors evaluated as the Dagster daemon evaluates them (build_*_context), on real files, a real
Dagster instance and a real HTTP server on 127.0.0.1 for the failure alert."""

import hashlib
import hmac
import json
import os
import socket
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import dagster as dg
import pytest

from orchestration.alerts import SIGNATURE_HEADER, TIMESTAMP_HEADER
from orchestration.definitions import defs
from orchestration.schedules import journey_run_schedule, measurement_schedule, retention_purge_schedule
from orchestration.sensors import alert_on_run_failure, new_raw_files_sensor


def test_schedules_stay_stopped_until_an_operator_starts_them_and_target_their_jobs():
    by_name = {s.name: s for s in defs.schedules}
    assert {name: (s.cron_schedule, s.job_name) for name, s in by_name.items()} == {
        "journey_run_every_15_minutes": ("*/15 * * * *", "journey_run"),
        "measurement_daily": ("0 5 * * *", "measurement"),
        "retention_purge_daily": ("30 3 * * *", "retention_purge"),
    }
    assert {s.default_status for s in by_name.values()} == {dg.DefaultScheduleStatus.STOPPED}
    assert {s.default_status for s in defs.sensors} == {dg.DefaultSensorStatus.STOPPED}


def test_a_journey_run_tick_decides_as_of_its_scheduled_time_with_one_run_per_tick():
    tick = datetime(2026, 11, 26, 9, 45, tzinfo=UTC)
    with dg.build_schedule_context(scheduled_execution_time=tick) as context:
        (request,) = journey_run_schedule.evaluate_tick(context).run_requests
    assert request.run_config == {"resources": {"run_settings": {"config": {"as_of": "2026-11-26T09:45:00"}}}}
    assert request.run_key == "journey_run:2026-11-26T09:45:00"
    assert request.tags["journeys/requested_by"] == "schedule:journey_run_every_15_minutes"
    with dg.build_schedule_context(scheduled_execution_time=tick) as context:
        (purge,) = retention_purge_schedule.evaluate_tick(context).run_requests
    assert purge.tags["journeys/requested_by"] == "schedule:retention_purge_daily"


def test_the_measurement_schedule_skips_while_no_measurement_model_exists_and_runs_when_one_does():
    tick = datetime(2026, 11, 26, 5, 0, tzinfo=UTC)
    repository = defs.get_repository_def()
    with dg.build_schedule_context(scheduled_execution_time=tick, repository_def=repository) as context:
        result = measurement_schedule.evaluate_tick(context)
    graph = repository.asset_graph
    measurement_models = {k for k in graph.get_all_asset_keys() if graph.get(k).group_name == "measurement"}
    if measurement_models:  # the measurement issue's models have been merged
        assert [r.run_key for r in result.run_requests] == ["measurement:2026-11-26T05:00:00"]
        assert defs.resolve_job_def("measurement").asset_layer.selected_asset_keys == measurement_models
    else:
        assert result.run_requests == [] and "no measurement models yet" in result.skip_message

    @dg.asset(key=["measurement", "journey_performance"], group_name="measurement")
    def journey_performance() -> None: ...

    with_model = dg.Definitions(assets=[journey_performance]).get_repository_def()
    with dg.build_schedule_context(scheduled_execution_time=tick, repository_def=with_model) as context:
        assert len(measurement_schedule.evaluate_tick(context).run_requests) == 1


def _write(data_dir, relative: str, age_seconds: float) -> None:
    path = data_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PAR1")  # the sensor looks at names and times only; landing reads the contents
    old = time.time() - age_seconds
    os.utime(path, (old, old))


def test_the_raw_file_sensor_requests_one_run_per_set_of_new_settled_files_and_never_twice(tmp_path, monkeypatch):
    monkeypatch.setenv("JOURNEYS_DATA_DIR", str(tmp_path))
    instance = dg.DagsterInstance.ephemeral()
    _write(tmp_path, "raw/events/batch_0001.parquet", 600)
    _write(tmp_path, "raw/orders/batch_0001.parquet", 600)
    _write(tmp_path, "raw/events/batch_0002.parquet", 2)  # still being written: waits
    _write(tmp_path, "raw/not_a_table/batch_0001.parquet", 600)  # landing ignores it: so does the sensor

    first = new_raw_files_sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
    (request,) = first.run_requests
    assert json.loads(first.cursor) == ["raw/events/batch_0001.parquet", "raw/orders/batch_0001.parquet"]
    assert request.tags["journeys/new_raw_files"] == "2"
    assert request.tags["journeys/new_raw_tables"] == "events,orders"

    # a daemon restarted before it stored the cursor evaluates again: the same run key, so no second run
    again = new_raw_files_sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
    assert again.run_requests[0].run_key == request.run_key

    unchanged = new_raw_files_sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=first.cursor))
    assert unchanged.run_requests == [] and "no new raw files (2 seen before)" in unchanged.skip_message

    _write(tmp_path, "raw/events/batch_0002.parquet", 60)  # settled now
    second = new_raw_files_sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=first.cursor))
    (next_request,) = second.run_requests
    assert next_request.run_key != request.run_key
    assert next_request.tags["journeys/new_raw_files"] == "1"
    assert len(json.loads(second.cursor)) == 3


class _AlertReceiver(BaseHTTPRequestHandler):
    received: ClassVar[list] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def alert_receiver(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AlertReceiver)
    _AlertReceiver.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("JOURNEYS_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{server.server_port}/alerts")
    monkeypatch.setenv("JOURNEYS_ALERT_WEBHOOK_SECRET", "s3cret")
    yield _AlertReceiver.received
    server.shutdown()
    server.server_close()


def _failed_run(instance: dg.DagsterInstance):
    @dg.op
    def land_broken_export():
        raise ValueError("raw/orders/batch_0007.parquet: column amount expected DOUBLE")

    @dg.job(name="journey_run")
    def job():
        land_broken_export()

    result = job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.PIPELINE_FAILURE]
    return result.dagster_run, failure


def test_a_failed_run_is_alerted_to_the_webhook_signed_with_hmac_sha256(alert_receiver):
    instance = dg.DagsterInstance.ephemeral()
    run, failure = _failed_run(instance)
    context = dg.build_run_status_sensor_context(
        sensor_name="alert_on_run_failure", dagster_instance=instance, dagster_run=run, dagster_event=failure
    ).for_run_failure()
    alert_on_run_failure(context)

    ((headers, body),) = alert_receiver
    expected = hmac.new(b"s3cret", headers[TIMESTAMP_HEADER].encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == f"v1={expected}"
    assert headers["Idempotency-Key"] == f"run_failed:{run.run_id}"
    alert = json.loads(body)
    assert alert["type"] == "dagster.run_failed"
    assert alert["data"]["job"] == "journey_run" and alert["data"]["run_id"] == run.run_id
    assert alert["data"]["failed_steps"] == ["land_broken_export"]


def test_an_undeliverable_alert_fails_the_sensor_tick_loudly(monkeypatch):
    with socket.socket() as probe:  # a port nothing listens on: the connection is refused
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv("JOURNEYS_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{closed_port}/alerts")
    instance = dg.DagsterInstance.ephemeral()
    run, failure = _failed_run(instance)
    context = dg.build_run_status_sensor_context(
        sensor_name="alert_on_run_failure", dagster_instance=instance, dagster_run=run, dagster_event=failure
    ).for_run_failure()
    with pytest.raises(dg.Failure, match="alert was not delivered: alert webhook unreachable"):
        alert_on_run_failure(context)

"""Never two journey runs at once: the project's dagster.yaml run queue, decided by Dagster's own queue daemon
logic on a real instance (SQLite storage in a temporary folder). Runs are created as the UI or a schedule
creates them (the job's tags on the run); the daemon's dequeue decision is evaluated without launching them."""

import logging
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.remote_origin import ManagedGrpcPythonEnvCodeLocationOrigin, RemoteRepositoryOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def project_instance(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(PROJECT_ROOT))  # the project's dagster.yaml
    monkeypatch.setenv("JOURNEYS_DAGSTER_STORAGE", str(tmp_path))
    with dg.DagsterInstance.get() as instance:
        yield instance


def _queue(instance: dg.DagsterInstance, job_name: str) -> str:
    """A queued run of one of our jobs, from our code location (as `make ui` loads it), with the job's tags."""
    from orchestration.definitions import defs

    job = defs.resolve_job_def(job_name)
    location = ManagedGrpcPythonEnvCodeLocationOrigin(LoadableTargetOrigin(module_name="orchestration.definitions"))
    origin = RemoteRepositoryOrigin(location, "__repository__").get_job_origin(job_name)
    # one asset of the job (a subset run, as the UI launches one): the queue decides on the job's tags, and the
    # run's planned-asset events stay few (the whole job plans ~400 assets, slow to record in SQLite)
    first_asset = next(iter(sorted(job.asset_layer.selected_asset_keys)))
    run = instance.create_run_for_job(
        job_def=job,
        remote_job_origin=origin,
        tags=job.tags,
        status=dg.DagsterRunStatus.QUEUED,
        asset_selection=frozenset({first_asset}),
    )
    return run.run_id


def _dequeued(instance: dg.DagsterInstance) -> list[str]:
    daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)
    daemon._logger = logging.getLogger("queue-test")  # normally set by the daemon controller
    runs = daemon._get_runs_to_dequeue(instance, instance.get_concurrency_config(), fixed_iteration_time=None)
    return [run.run_id for run in runs]


def test_a_second_journey_run_waits_in_the_queue_while_the_first_runs(project_instance):
    instance = project_instance
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    first = _queue(instance, "journey_run")
    second = _queue(instance, "journey_run")
    assert _dequeued(instance) == [first], "with nothing running, only the first journey run may start"

    instance.handle_run_event(first, dg.DagsterEvent(dg.DagsterEventType.PIPELINE_START.value, "journey_run"))
    assert instance.get_run_by_id(first).status == dg.DagsterRunStatus.STARTED
    purge = _queue(instance, "retention_purge")
    assert _dequeued(instance) == [], "the second journey run and the purge (a warehouse writer) wait"
    assert instance.get_run_by_id(second).status == dg.DagsterRunStatus.QUEUED

    instance.handle_run_event(first, dg.DagsterEvent(dg.DagsterEventType.PIPELINE_SUCCESS.value, "journey_run"))
    assert _dequeued(instance) == [second], "the next in line starts when the first has finished"
    assert purge not in _dequeued(instance)

"""Activation assets: one per destination, each reading the actions it may send."""

import time

import dagster as dg

from activations.destinations.outbox import OutboxDestination
from activations.runner import activate
from orchestration.erasure_assets import ERASURES
from orchestration.quality_checks import WELCOME_ACTIONS
from orchestration.resources import JourneyRunSettings, WarehouseResource
from orchestration.settings import paths_from_env


@dg.asset(
    key=dg.AssetKey(["activation", "outbox_email"]),
    # after erasure: an erased customer's actions are gone before anything is sent
    deps=[WELCOME_ACTIONS, ERASURES],
    group_name="activation",
    description="Sends foundation_welcome_actions to the demo outbox (data/outbox/email.jsonl), exactly once each.",
)
def outbox_email_activation(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, run_settings: JourneyRunSettings
) -> dg.MaterializeResult:
    destination = OutboxDestination(paths_from_env().outbox_dir, name="email")
    started = time.monotonic()
    with warehouse.connect() as con:
        report = activate(
            con,
            destination,
            actions_relation="activation.foundation_welcome_actions",
            run_id=context.run_id,
            dry_run=run_settings.dry_run,
        )
    context.log.info(
        "%s: %d candidates, %d sent, %d failed, %d already sent before%s",
        report.destination,
        report.candidates,
        report.sent,
        report.failed,
        report.already_sent,
        " (dry run: nothing sent)" if report.dry_run else "",
    )
    return dg.MaterializeResult(
        metadata={
            "dry_run": report.dry_run,
            "candidates": report.candidates,
            "sent": report.sent,
            "failed": report.failed,
            "already_sent_before": report.already_sent,
            "resolved_in_flight": report.resolved_in_flight,
            "duration_s": round(time.monotonic() - started, 3),
            "sample_payloads_masked": dg.MetadataValue.json(report.samples),
            "outbox_file": str(destination.path),
        }
    )

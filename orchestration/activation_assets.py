"""Activation assets: one per destination, each sending the due actions delivery policy routed to it.

Every asset reads `policy.actions_due` for its destination and sends through the exactly-once runner (send
ledger, idempotency key = action_id). Until the API connectors land (activations issue), every destination is
the demo outbox: one JSON-lines file per destination under data/outbox/. The asset descriptions say so.
"""

import time

import dagster as dg

from activations.destinations.outbox import OutboxDestination
from activations.runner import activate
from orchestration.erasure_assets import ERASURES
from orchestration.quality_checks import ACTIONS_DUE
from orchestration.resources import JourneyRunSettings, WarehouseResource
from orchestration.settings import paths_from_env

# policy.actions_due.destination values: message channels, CRM and ad audiences.
DESTINATIONS = ("email", "sms", "push", "in_app", "webhook", "crm", "audience")


def due_actions_relation(destination: str, journeys: list[str]) -> str:
    """The due actions for one destination; only the selected journeys' when the run is for some journeys."""
    where = f"destination = '{destination}'"
    if journeys:
        where += " and journey_id in (" + ", ".join("'" + j.replace("'", "''") + "'" for j in journeys) + ")"
    return f"(select * from policy.actions_due where {where})"


def _activation_asset(destination_name: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=destination_name,
        key_prefix=["activation"],
        # after erasure: an erased customer's actions are gone before anything is sent
        deps=[ACTIONS_DUE, ERASURES],
        group_name="activation",
        description=(
            f"Sends the due actions routed to '{destination_name}' exactly once each. Destination today: the "
            f"demo outbox data/outbox/{destination_name}.jsonl (API connectors are not built yet)."
        ),
    )
    def send(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, run_settings: JourneyRunSettings
    ) -> dg.MaterializeResult:
        destination = OutboxDestination(paths_from_env().outbox_dir, name=destination_name)
        started = time.monotonic()
        with warehouse.connect() as con:
            report = activate(
                con,
                destination,
                actions_relation=due_actions_relation(destination_name, run_settings.journeys),
                run_id=context.run_id,
                dry_run=run_settings.dry_run,
            )
        context.log.info(
            "%s: %d due, %d sent, %d failed, %d already sent before%s",
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
                "due": report.candidates,
                "sent": report.sent,
                "failed": report.failed,
                "already_sent_before": report.already_sent,
                "resolved_in_flight": report.resolved_in_flight,
                "duration_s": round(time.monotonic() - started, 3),
                "sample_payloads_masked": dg.MetadataValue.json(report.samples),
                "outbox_file": str(destination.path),
            }
        )

    return send


activation_assets = [_activation_asset(name) for name in DESTINATIONS]

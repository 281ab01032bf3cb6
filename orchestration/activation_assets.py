"""Activation assets: one per destination value of policy.actions_due, each sending the due actions delivery policy
routed to it, through the destinations the activations config maps them to (activations/destinations.yml, or
JOURNEYS_ACTIVATIONS_CONFIG). The demo config maps every one to the outbox (data/outbox/<destination>.jsonl).

Every send goes through the activation core (activations.deliver: the runner for messages, a diff sync for CRM
and ad audiences): send ledger (intent -> send -> result),
idempotency key = action_id, retries, rate limits, the volume safety cap. A run held by the volume cap sends
nothing for that destination and says so in its metadata; `python -m activations.cli approve` releases it.
"""

import time

import dagster as dg

from activations.config import ACTIONS_DUE_DESTINATIONS, load_config
from activations.deliver import deliver
from orchestration.erasure_assets import ERASURES
from orchestration.quality_checks import ACTIONS_DUE
from orchestration.resources import JourneyRunSettings, WarehouseResource
from orchestration.settings import paths_from_env

# policy.actions_due.destination values: message channels, CRM and ad audiences.
DESTINATIONS = ACTIONS_DUE_DESTINATIONS


def for_selected_journeys(relation: str, journeys: list[str]) -> str:
    """A route's due actions, only the selected journeys' when the run is for some journeys (run_settings)."""
    if not journeys:
        return relation
    selected = ", ".join("'" + j.replace("'", "''") + "'" for j in journeys)
    return f"(select * from {relation} as routed where routed.journey_id in ({selected}))"


def _routes_described(destination_name: str) -> str:
    try:
        config = load_config()
    except ValueError as exc:
        return f"(activations config not readable: {exc})"
    targets = [name for name, _ in config.relations_for(destination_name)]
    kinds = [config.destinations[name]["type"] for name in targets]
    return ", ".join(f"{n} ({k})" for n, k in zip(targets, kinds, strict=True)) or "no route: nothing is sent"


def _activation_asset(destination_name: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=destination_name,
        key_prefix=["activation"],
        # after erasure: an erased customer's actions are gone before anything is sent
        deps=[ACTIONS_DUE, ERASURES],
        group_name="activation",
        description=(
            f"Sends the due actions routed to '{destination_name}' exactly once each (send ledger, idempotency key "
            f"= action_id, retries, rate limit, volume cap). Routed by the activations config to: "
            f"{_routes_described(destination_name)}."
        ),
    )
    def send(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, run_settings: JourneyRunSettings
    ) -> dg.MaterializeResult:
        config = load_config()
        outbox_dir = paths_from_env().outbox_dir
        started = time.monotonic()
        reports = []
        with warehouse.connect() as con:
            for target, relation in config.relations_for(destination_name):
                destination = config.build(target, outbox_dir)
                reports.append(
                    deliver(
                        con,
                        destination,
                        actions_relation=for_selected_journeys(relation, run_settings.journeys),
                        run_id=context.run.run_id,
                        config=config,
                        dry_run=run_settings.dry_run,
                    )
                )
        for report in reports:
            context.log.info(
                "%s: %d due, %d sent, %d failed, %d dead, %d retries, %d already sent before%s%s",
                report.destination,
                report.candidates,
                report.sent,
                report.failed,
                report.dead,
                report.retried,
                report.already_sent,
                " (dry run: nothing sent)" if report.dry_run else "",
                f" HELD by the volume cap (hold {report.hold_id})" if report.held_by_volume_cap else "",
            )
        held = [r for r in reports if r.held_by_volume_cap]
        return dg.MaterializeResult(
            metadata={
                "dry_run": run_settings.dry_run,
                "destinations": ", ".join(r.destination for r in reports) or "none routed",
                "due": sum(r.candidates for r in reports),
                "sent": sum(r.sent for r in reports),
                "failed": sum(r.failed for r in reports),
                "dead": sum(r.dead for r in reports),
                "retried": sum(r.retried for r in reports),
                "requests": sum(r.requests for r in reports),
                "already_sent_before": sum(r.already_sent for r in reports),
                "resolved_in_flight": sum(r.resolved_in_flight for r in reports),
                "resent_in_flight": sum(r.resent_in_flight for r in reports),
                "held_by_volume_cap": bool(held),
                # a destination that refused our credentials or access: sending to it stopped for this run
                "stopped_by_refusal": dg.MetadataValue.json(
                    {r.destination: r.stopped for r in reports if getattr(r, "stopped", None) is not None}
                ),
                "volume_holds": dg.MetadataValue.json(
                    [
                        {"destination": r.destination, "hold_id": r.hold_id, "due": r.candidates, "cap": r.volume_cap}
                        for r in held
                    ]
                ),
                "failure_reasons": dg.MetadataValue.json(
                    {f"{r.destination} {k}": v for r in reports for k, v in r.failure_reasons.items()}
                ),
                "duration_s": round(time.monotonic() - started, 3),
                "sample_payloads_masked": dg.MetadataValue.json([s for r in reports for s in r.samples][:3]),
            }
        )

    return send


activation_assets = [_activation_asset(name) for name in DESTINATIONS]

"""One entry point for sending what a route selected: a diff sync for CRM and ad-audience destinations
(activations.sync: they hold state, and journeys' actions describe changes to it), the exactly-once runner for
every other destination (activations.runner). The Dagster activation assets and the CLI both call it."""

from __future__ import annotations

import duckdb

from activations.config import ActivationConfig
from activations.runner import activate
from activations.sync import SyncReport, is_sync_destination, sync
from activations.types import ActivationReport


def deliver(
    con: duckdb.DuckDBPyConnection,
    destination: object,
    actions_relation: str,
    run_id: str,
    config: ActivationConfig,
    dry_run: bool = False,
    seed: int | None = None,
) -> ActivationReport | SyncReport:
    if is_sync_destination(destination):
        return sync(
            con,
            destination,
            run_id=run_id,
            actions_relation=actions_relation,
            dry_run=dry_run,
            volume_cap=config.volume_cap,
        )
    return activate(
        con,
        destination,
        actions_relation,
        run_id,
        dry_run=dry_run,
        retry=config.retry,
        volume_cap=config.volume_cap,
        seed=seed,
    )

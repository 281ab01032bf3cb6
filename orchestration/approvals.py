"""Approving a run held by the activation volume cap, from the UI: the job approve_held_run.

The activation core (activations/volume.py) holds a destination's sends when a run's volume is far above its
recent normal, and records the hold in activation.volume_holds. A person approves it here (Launchpad config:
hold_id, approved_by); the next journey run of that destination, or a re-execution of the held run's activation
step, sends if its volume is at most the approved one. A held activation step names its hold in its metadata
(`volume_holds`); `python -m activations.cli holds` lists the open ones.
"""

from datetime import UTC, datetime

import dagster as dg
from pydantic import Field

from activations.volume import approve, open_holds
from orchestration.resources import WarehouseResource


class ApprovalConfig(dg.Config):
    hold_id: str = Field(description="The hold to approve (activation step metadata volume_holds, or `holds`).")
    approved_by: str = Field(description="Who approves: recorded in activation.volume_holds.")


@dg.op(name="approve_volume_hold", description="Records the approval of a run held by the activation volume cap.")
def approve_volume_hold(context: dg.OpExecutionContext, config: ApprovalConfig, warehouse: WarehouseResource) -> None:
    with warehouse.connect() as con:
        try:
            approved = approve(con, config.hold_id, config.approved_by, datetime.now(UTC).replace(tzinfo=None))
        except ValueError as error:
            holds = ", ".join(h["hold_id"] for h in open_holds(con)) or "none"
            raise dg.Failure(f"{error} (open holds: {holds})") from error
    context.log.info(
        "hold %s approved by %s: the next run of %s with at most %d due actions sends",
        approved["hold_id"],
        approved["approved_by"],
        approved["destination"],
        approved["due"],
    )

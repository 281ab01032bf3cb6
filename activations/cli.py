"""Activation from the command line.

    python -m activations.cli preview [--destination email]    what would be sent: counts, masked samples
    python -m activations.cli run [--destination email]        send (the Dagster assets do the same)
    python -m activations.cli holds                             runs held by the volume cap, awaiting approval
    python -m activations.cli approve HOLD_ID --by "Jane Doe"   approve a held run: the next run may send it

Options: --warehouse (default JOURNEYS_WAREHOUSE_PATH), --config (default JOURNEYS_ACTIVATIONS_CONFIG or
activations/destinations.yml), --actions-table (default policy.actions_due), --run-id, --seed.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import uuid
from datetime import UTC, datetime

import duckdb

from activations.config import ACTIONS_DUE_DESTINATIONS, load_config
from activations.runner import activate
from activations.volume import approve, open_holds


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m activations.cli", description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", help="DuckDB file (default: JOURNEYS_WAREHOUSE_PATH)")
    parser.add_argument("--config", help="activations config file")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("preview", "run"):
        command = sub.add_parser(name)
        command.add_argument("--destination", action="append", choices=ACTIONS_DUE_DESTINATIONS)
        command.add_argument("--actions-table", default="policy.actions_due")
        command.add_argument("--run-id", default=None)
        command.add_argument("--seed", type=int, default=None)
    sub.add_parser("holds")
    approval = sub.add_parser("approve")
    approval.add_argument("hold_id")
    approval.add_argument("--by", required=True, help="who approves (recorded)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from orchestration.settings import paths_from_env

    paths = paths_from_env()
    warehouse = args.warehouse or str(paths.warehouse)
    now = datetime.now(UTC).replace(tzinfo=None)
    with duckdb.connect(warehouse) as con:
        if args.command == "holds":
            print(json.dumps(open_holds(con), default=str, indent=2))
            return 0
        if args.command == "approve":
            print(json.dumps(approve(con, args.hold_id, args.by, now), default=str))
            return 0
        config = load_config(args.config)
        run_id = args.run_id or f"cli-{uuid.uuid4().hex[:12]}"
        summary = {}
        for value in args.destination or ACTIONS_DUE_DESTINATIONS:
            for target, relation in config.relations_for(value, args.actions_table):
                report = activate(
                    con,
                    config.build(target, paths.outbox_dir),
                    relation,
                    run_id,
                    dry_run=args.command == "preview",
                    retry=config.retry,
                    volume_cap=config.volume_cap,
                    seed=args.seed,
                )
                summary[target] = {
                    k: getattr(report, k)
                    for k in ("candidates", "sent", "failed", "dead", "retried", "requests", "held_by_volume_cap")
                }
                if args.command == "preview":
                    summary[target]["samples"] = report.samples
        print(json.dumps(summary, default=str, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The `journeys` command: run the pipeline at a chosen logical time, and ask about journeys and customers.

journeys run [--as-of 2026-11-01T00:00:00] [--dry-run]   the journey_run job, in process (backtests, replays)
journeys validate [files or folders]                       check journey files (exit 1 when any is invalid)
journeys simulate --journey F --customer-events E.jsonl    walk one customer through a journey, with reasons
journeys why --customer C [--journey J]                    why a customer did or did not get an action
journeys pause J --reason R [--by NAME]                    hold journey J's sends from the next run on
journeys resume J --reason R [--by NAME]                   release them (unless stale by then)
journeys status                                            each journey's latest status change
"""

import argparse
import os
import sys
import time

import duckdb

from orchestration.settings import paths_from_env


def _run(args: argparse.Namespace) -> int:
    from orchestration.demo import print_summary, run_job

    paths = paths_from_env()
    started = time.monotonic()
    result = run_job(args.as_of, args.dry_run)
    print_summary(result, paths, f"raw files in {paths.raw_dir}", args.as_of, time.monotonic() - started)
    return 0 if result.success else 1


def _why(args: argparse.Namespace) -> int:
    from orchestration.why import explain

    warehouse = paths_from_env().warehouse
    if not warehouse.exists():
        print(f"No warehouse at {warehouse}: run `make demo` or `journeys run` first.", file=sys.stderr)
        return 1
    with duckdb.connect(str(warehouse), read_only=True) as con:
        print(explain(con, args.customer, args.journey))
    return 0


def _set_status(args: argparse.Namespace) -> int:
    from orchestration.journey_status import JourneyStatusError, set_journey_status

    warehouse = paths_from_env().warehouse
    status = "paused" if args.command == "pause" else "active"
    try:
        with duckdb.connect(str(warehouse)) as con:
            change = set_journey_status(con, args.journey, status, args.reason, args.by)
    except JourneyStatusError as error:
        print(f"journeys {args.command}: {error}", file=sys.stderr)
        return 1
    except duckdb.IOException as error:  # a run holds the warehouse (one writer at a time)
        print(
            f"journeys {args.command}: the warehouse {warehouse} is busy ({error}); try again when the run "
            "has finished, or launch the job set_journey_status from the UI (it waits in the queue)",
            file=sys.stderr,
        )
        return 1
    if change.recorded:
        print(f"{change.journey_id}: {change.previous_status} -> {change.status} from {change.effective_at} UTC")
    else:
        print(f"{change.journey_id} is already {change.status}: nothing recorded")
    return 0


def _status(args: argparse.Namespace) -> int:
    from orchestration.journey_status import current_statuses, known_journeys

    warehouse = paths_from_env().warehouse
    with duckdb.connect(str(warehouse)) as con:
        statuses = current_statuses(con)
        journeys = known_journeys(con) or []
    for journey_id in sorted(set(journeys) | set(statuses)):
        status, reason, by, at = statuses.get(journey_id, ("active", None, None, None))
        print(f"{journey_id:<28} {status:<7}" + (f" since {at} UTC by {by}: {reason}" if at else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="journeys", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the journey_run job in process at a logical time")
    run.add_argument("--as-of", default=None, help="UTC, ISO 8601 (default: now)")
    run.add_argument("--dry-run", action="store_true", help="decide and preview; send nothing")
    commands.add_parser("validate", help="validate journey files", add_help=False)
    commands.add_parser("simulate", help="walk a customer through a journey", add_help=False)
    why = commands.add_parser("why", help="why did (or didn't) a customer get an action")
    why.add_argument("--customer", required=True)
    why.add_argument("--journey", default=None)
    for name, what in (("pause", "hold a journey's sends (nothing lost)"), ("resume", "release a paused journey")):
        command = commands.add_parser(name, help=what)
        command.add_argument("journey", help="journey id")
        command.add_argument("--reason", required=True, help="why (kept in journey_config.journey_status_changes)")
        command.add_argument("--by", default=os.environ.get("USER", "cli"), help="who (default: $USER)")
    commands.add_parser("status", help="each journey's current status")

    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("validate", "simulate"):
        from journey_engine.__main__ import main as journey_engine_main

        return journey_engine_main(argv)
    args = parser.parse_args(argv)
    handlers = {"run": _run, "why": _why, "pause": _set_status, "resume": _set_status, "status": _status}
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())

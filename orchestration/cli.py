"""The `journeys` command: run the pipeline at a chosen logical time, and ask about journeys and customers.

journeys run [--as-of 2026-11-01T00:00:00] [--dry-run]   the journey_run job, in process (backtests, replays)
journeys validate [files or folders]                       check journey files (exit 1 when any is invalid)
journeys simulate --journey F --customer-events E.jsonl    walk one customer through a journey, with reasons
journeys why --customer C [--journey J]                    why a customer did or did not get an action
"""

import argparse
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

    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("validate", "simulate"):
        from journey_engine.__main__ import main as journey_engine_main

        return journey_engine_main(argv)
    args = parser.parse_args(argv)
    return {"run": _run, "why": _why}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())

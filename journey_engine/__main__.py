"""python -m journey_engine validate [folder-or-file ...] | simulate --journey <file> --customer-events <jsonl>"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from journey_engine.simulate import SimulationInputError, parse_time, read_history, simulate
from journey_engine.spec import JOURNEYS_DIR, InvalidJourney, load_journey, load_journeys, read_journey_file


def _validate(args: argparse.Namespace) -> int:
    journeys, errors = [], []
    for target in args.paths or [JOURNEYS_DIR]:
        path = Path(target)
        if path.is_dir():
            found, problems = load_journeys(path)
            journeys.extend(found)
            errors.extend(problems)
        else:
            journey, problems = read_journey_file(path)
            journeys.extend([journey] if journey is not None else [])
            errors.extend(problems)
    for error in errors:
        print(error, file=sys.stderr)
    names = ", ".join(journey.journey_id for journey in journeys) or "none"
    bad_files = len({error.file for error in errors})
    print(f"{len(journeys)} valid journey(s): {names}; {bad_files} invalid file(s)")
    return 1 if errors else 0


def _customer(value: str | None) -> dict:
    if value is None:
        return {}
    text = value if value.lstrip().startswith("{") else Path(value).read_text(encoding="utf-8")
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        raise SimulationInputError(f"--customer: expected a JSON object (inline or a file): {error.msg}") from None
    if not isinstance(parsed, dict):
        raise SimulationInputError("--customer: expected a JSON object of attributes")
    return parsed


def _simulate(args: argparse.Namespace) -> int:
    try:
        journey = load_journey(args.journey)
        history = read_history(args.customer_events, _customer(args.customer), args.segments)
        as_of = parse_time(args.as_of, "--as-of") if args.as_of else None
    except InvalidJourney as error:
        print(error, file=sys.stderr)
        return 1
    except (SimulationInputError, OSError) as error:
        print(error, file=sys.stderr)
        return 2
    print(simulate(journey, history, as_of))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m journey_engine", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    validate = commands.add_parser("validate", help="validate journey files; exit 1 when any is invalid")
    validate.add_argument("paths", nargs="*", help=f"folders or files (default: {JOURNEYS_DIR})")
    validate.set_defaults(handler=_validate)

    sim = commands.add_parser("simulate", help="walk a customer through a journey and explain each step")
    sim.add_argument("--journey", required=True, help="the journey file, e.g. dbt_project/journeys/abandoned_cart.yml")
    sim.add_argument("--customer-events", required=True, help="JSON lines: one event per line")
    sim.add_argument("--customer", help='attributes as JSON, inline or a file: {"time_zone": "Europe/Berlin", ...}')
    sim.add_argument("--segments", help="JSON lines: segment, entered_at, exited_at")
    sim.add_argument("--as-of", help="the run's logical time, ISO 8601 (default: now, UTC)")
    sim.set_defaults(handler=_simulate)

    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())

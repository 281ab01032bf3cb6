"""Journey definitions (YAML files), their validation, their warehouse tables, and the reference interpreter.

- `spec`: the parsed journey (dataclasses) and the file validator (`load_journey`, `load_journeys`).
- `tables`: the rows the SQL engine reads (`journey_config.*` in the warehouse).
- `reference`: the plain-Python interpreter of docs/journey_semantics.md, the oracle for the SQL engine.
- `simulate`: "walk this customer through this journey", built on the reference; `python -m journey_engine`.
"""

from journey_engine.durations import DurationError, format_duration, parse_duration
from journey_engine.spec import InvalidJourney, Journey, JourneyFileError, load_journey, load_journeys

__all__ = [
    "DurationError",
    "InvalidJourney",
    "Journey",
    "JourneyFileError",
    "format_duration",
    "load_journey",
    "load_journeys",
    "parse_duration",
]

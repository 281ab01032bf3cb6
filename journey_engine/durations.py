"""Durations in journey files: an integer followed by m, h or d (minutes, hours, days of 24 hours)."""

from __future__ import annotations

import re

UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400}
MAX_SECONDS = 3650 * 86400  # ten years: beyond this a duration is a typo, and datetimes would overflow

_DURATION = re.compile(r"(-?)(\d+)([mhd])")


class DurationError(ValueError):
    """A duration that cannot be read; the message says what was expected and what was given."""


def _show(value: object) -> str:
    if value is None:
        return "nothing"
    return f"'{value}'" if isinstance(value, str) else repr(value)


def parse_duration(value: object, *, signed: bool = False, allow_zero: bool = False) -> int:
    """Seconds in `value` ('90m', '3h', '2d'; with `signed`, also '-3d').

    Durations are positive unless `allow_zero` or `signed` says otherwise, and at most 3650d.
    """
    if signed:
        expected = "a duration like -3d, 12h or 0m"
    elif allow_zero:
        expected = "a duration like 0m, 90m, 3h or 2d"
    else:
        expected = "a duration like 90m, 3h or 2d"
    match = _DURATION.fullmatch(value) if isinstance(value, str) else None
    if match is None or (match.group(1) and not signed):
        raise DurationError(f"expected {expected}, got {_show(value)}")
    sign, amount, unit = match.groups()
    seconds = int(amount) * UNIT_SECONDS[unit]
    if seconds > MAX_SECONDS:
        raise DurationError(f"expected {expected} of at most 3650d, got {_show(value)}")
    if seconds == 0 and not (signed or allow_zero):
        raise DurationError(f"expected a positive duration like 90m, 3h or 2d, got {_show(value)}")
    return -seconds if sign else seconds


def format_duration(seconds: int) -> str:
    """The shortest exact spelling: 86400 -> '1d', 5400 -> '90m'."""
    sign = "-" if seconds < 0 else ""
    magnitude = abs(seconds)
    for unit in ("d", "h", "m"):
        if magnitude % UNIT_SECONDS[unit] == 0:
            return f"{sign}{magnitude // UNIT_SECONDS[unit]}{unit}"
    return f"{sign}{magnitude}s"

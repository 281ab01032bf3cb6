"""Text for destinations that carry message text themselves (Twilio Body, Slack text, SMTP, FCM notification):
templates from the destination's config block, filled with the action's personalisation fields."""

from __future__ import annotations

import string

from activations.runner import payload_fields
from activations.types import Row


class _Fields(dict):
    def __missing__(self, key: str) -> str:
        raise KeyError(key)


def render(destination: str, texts: dict, row: Row, part: str | None = None) -> str | None:
    """The configured text for the row's template (`texts[template]`, or `texts[template][part]`), with
    {field} placeholders filled from payload_fields (and action_id, customer_id, journey_id, node_id).
    None when the template has no text configured."""
    entry = texts.get(row.get("template"))
    if isinstance(entry, dict) and part is not None:
        entry = entry.get(part)
    if entry is None:
        return None
    # the action's own ids are available to every text (e.g. a reference in a Slack alert)
    ids = {k: row.get(k) for k in ("action_id", "customer_id", "journey_id", "node_id") if row.get(k)}
    fields = {**ids, **{k: "" if v is None else v for k, v in payload_fields(row).items()}}
    try:
        return string.Formatter().vformat(str(entry), (), _Fields(fields))
    except KeyError as exc:
        raise ValueError(
            f"destination '{destination}': template '{row.get('template')}' uses field {exc} "
            "that the action's payload_fields do not have"
        ) from None


def text_problem(destination: str, key: str, texts: dict, row: Row, parts: tuple[str | None, ...] = (None,)):
    """Why the row's configured text cannot be rendered (not configured, or a field the row lacks), or None."""
    if row.get("template") not in texts:
        return missing_text(destination, key, row)
    for part in parts:
        render(destination, texts, row, part)  # raises ValueError naming the missing field
    return None


def missing_text(destination: str, key: str, row: Row) -> str:
    return (
        f"destination '{destination}': no text for template '{row.get('template')}' "
        f"(config key '{key}' of this destination)"
    )

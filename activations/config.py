"""The destinations config: which destination each due action goes to, and how each destination is set up.

File: `activations/destinations.yml` (the demo: everything to the outbox), or the file named by the environment
variable JOURNEYS_ACTIVATIONS_CONFIG. Format (see docs/activations.md, "Configuration"):

    routes:            # first match wins; `when` tests columns of policy.actions_due
      - when: {destination: email, purpose: transactional}
        send_to: smtp_transactional
      - when: {destination: email}
        send_to: sendgrid
    destinations:
      sendgrid: {type: sendgrid, from_email: news@example.com, template_ids: {welcome: d-123}}
    retry: {max_attempts: 6, base_s: 0.5, max_backoff_s: 30, max_retry_after_s: 300}
    volume_cap: {factor: 5, min_volume: 1000, history_runs: 7, min_history_runs: 3}
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from activations.limits import RetryPolicy
from activations.types import Destination
from activations.volume import VolumeCap

DEFAULT_CONFIG = Path(__file__).resolve().parent / "destinations.yml"
# policy.actions_due columns a route may test
ROUTE_COLUMNS = ("destination", "channel", "action_kind", "purpose", "template", "journey_id", "node_id")
ACTIONS_DUE_DESTINATIONS = ("email", "sms", "push", "in_app", "webhook", "crm", "audience")


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Route:
    when: dict[str, tuple[str, ...]]
    send_to: str

    def sql(self) -> str:
        """The route's condition on policy.actions_due, as SQL (values quoted; columns from ROUTE_COLUMNS)."""
        if not self.when:
            return "true"
        parts = []
        for column, values in sorted(self.when.items()):
            quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
            parts.append(f"{column} in ({quoted})")
        return " and ".join(parts)

    def matches_destination(self, value: str) -> bool:
        return "destination" not in self.when or value in self.when["destination"]


@dataclass(frozen=True)
class ActivationConfig:
    path: Path
    routes: tuple[Route, ...]
    destinations: dict[str, dict]
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    volume_cap: VolumeCap = field(default_factory=VolumeCap)

    def relations_for(self, actions_due_destination: str, actions_table: str = "policy.actions_due"):
        """(destination name, SQL relation of its rows) for the rows of one actions_due destination value, in
        route order: each route gets the rows no earlier route took."""
        earlier: list[str] = []
        out = []
        for route in self.routes:
            if not route.matches_destination(actions_due_destination):
                continue
            condition = " and ".join(
                [f"destination = '{actions_due_destination}'", route.sql(), *(f"not ({c})" for c in earlier)]
            )
            out.append((route.send_to, f"(select * from {actions_table} where {condition})"))
            earlier.append(route.sql())
        return out

    def build(self, name: str, outbox_dir: Path) -> Destination:
        settings = dict(self.destinations[name])
        kind = settings.pop("type")
        if kind == "outbox":
            from activations.destinations.outbox import OutboxDestination

            return OutboxDestination(
                outbox_dir, name=settings.get("file", name), settings={"ledger_name": name, **settings}
            )
        module = importlib.import_module(f"activations.destinations.{kind}")
        return module.DESTINATION(name=name, settings=settings)


def _fail(path: Path, where: str, expected: str, got) -> ConfigError:
    return ConfigError(f"{path}: {where}: expected {expected}, got {got!r}")


def load_config(path: Path | str | None = None) -> ActivationConfig:
    path = Path(path or os.environ.get("JOURNEYS_ACTIVATIONS_CONFIG") or DEFAULT_CONFIG)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: activations config file not found") from None
    if not isinstance(raw, dict):
        raise _fail(path, "top level", "a mapping with routes and destinations", type(raw).__name__)
    destinations = raw.get("destinations") or {}
    if not isinstance(destinations, dict) or not destinations:
        raise _fail(path, "destinations", "a non-empty mapping of name -> settings", destinations)
    for name, settings in destinations.items():
        if not isinstance(settings, dict) or not isinstance(settings.get("type"), str):
            raise _fail(path, f"destinations.{name}", "a mapping with a 'type' (outbox, sendgrid, ...)", settings)
        if settings["type"] != "outbox":
            module_file = Path(__file__).parent / "destinations" / f"{settings['type']}.py"
            if not module_file.exists():
                raise _fail(
                    path, f"destinations.{name}.type", "a module in activations/destinations/", settings["type"]
                )
        if "base_url" in settings and not str(settings["base_url"]).startswith(("http://", "https://")):
            raise _fail(path, f"destinations.{name}.base_url", "an http(s) URL", settings["base_url"])
    routes = []
    for index, entry in enumerate(raw.get("routes") or []):
        where = f"routes[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("send_to"), str):
            raise _fail(path, where, "a mapping with 'when' and 'send_to'", entry)
        if entry["send_to"] not in destinations:
            raise _fail(path, f"{where}.send_to", f"one of {sorted(destinations)}", entry["send_to"])
        when = entry.get("when") or {}
        if not isinstance(when, dict):
            raise _fail(path, f"{where}.when", "a mapping of column -> value or list of values", when)
        unknown = sorted(set(when) - set(ROUTE_COLUMNS))
        if unknown:
            raise _fail(path, f"{where}.when", f"columns among {list(ROUTE_COLUMNS)}", unknown)
        values = {k: tuple(str(x) for x in (v if isinstance(v, list) else [v])) for k, v in when.items()}
        bad = sorted(set(values.get("destination", ())) - set(ACTIONS_DUE_DESTINATIONS))
        if bad:
            raise _fail(path, f"{where}.when.destination", f"values among {list(ACTIONS_DUE_DESTINATIONS)}", bad)
        routes.append(Route(values, entry["send_to"]))
    try:
        retry = RetryPolicy(**(raw.get("retry") or {}))
        cap = VolumeCap(**(raw.get("volume_cap") or {}))
    except TypeError as exc:
        raise ConfigError(f"{path}: retry / volume_cap: {exc}") from None
    return ActivationConfig(path, tuple(routes), destinations, retry, cap)

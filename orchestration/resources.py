"""Resources: the run's settings (as_of, dry run) and the warehouse connection."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import dagster as dg
import duckdb
from pydantic import Field

from orchestration.settings import duckdb_memory_limit, paths_from_env


class JourneyRunSettings(dg.ConfigurableResource):
    """What a marketer sets when launching a run from the UI (Launchpad > resources > run_settings)."""

    as_of: str | None = Field(
        default=None,
        description=(
            "The run's logical time, UTC, ISO 8601 ('2026-11-01T09:00:00'). Empty: the run's creation time. "
            "Journeys and delivery policy decide as of this moment."
        ),
    )
    dry_run: bool = Field(
        default=False,
        description=(
            "Decide and preview, send nothing: every step runs and records its decisions; activation shows "
            "masked sample payloads and leaves the send ledger and destinations untouched."
        ),
    )
    journeys: list[str] = Field(
        default=[],
        description=(
            "Journey ids this run decides for, e.g. ['browse_abandonment']. Empty: all journeys. Delivery policy "
            "evaluates only these journeys' actions and activation sends only theirs; the other journeys' new "
            "actions stay pending until a run that includes them. Journeys still enrol and step as usual."
        ),
    )

    def as_of_for_run(self, context: dg.OpExecutionContext) -> str:
        """The run's logical time (UTC, ISO 8601). Without as_of: the run's creation time, the same for
        every step of the run."""
        if self.as_of:
            return resolve_as_of(self.as_of)
        record = context.instance.get_run_record_by_id(context.run_id)
        created = record.create_timestamp if record else datetime.now(UTC)
        return created.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat()


def unknown_journeys(selected: list[str], loaded: list[str]) -> str | None:
    """The error for a run launched for journeys that are not loaded, naming them and the loaded ones."""
    unknown = sorted(set(selected) - set(loaded))
    if not unknown:
        return None
    return (
        f"run_settings.journeys: {', '.join(repr(j) for j in unknown)} "
        f"{'is not a loaded journey' if len(unknown) == 1 else 'are not loaded journeys'}; "
        f"loaded: {', '.join(loaded) or 'none'}"
    )


def resolve_as_of(as_of: str) -> str:
    """'2026-11-01', '2026-11-01T12:00:00Z' or with an offset -> naive UTC ISO 8601."""
    parsed = datetime.fromisoformat(as_of.replace("Z", "+00:00"))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed.isoformat()


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse. One writer at a time: open, work, close; never hold it across steps.

    path: empty means JOURNEYS_WAREHOUSE_PATH (or its default), read when the run uses it.
    """

    path: str = ""

    def resolved_path(self) -> str:
        return self.path or str(paths_from_env().warehouse)

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        con = duckdb.connect(self.resolved_path(), read_only=read_only)
        try:
            con.execute("set TimeZone = 'UTC'")
            # The same memory cap as dbt's connections (dbt_project/profiles.yml); the spill folder is DuckDB's
            # default there too, <warehouse>.tmp.
            con.execute("set memory_limit = ?", [duckdb_memory_limit()])
            yield con
        finally:
            con.close()

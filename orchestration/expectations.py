"""Great Expectations: suites versioned in orchestration/gx_suites/*.json, validated on frames read from DuckDB.

GX's SQL datasource over duckdb-engine fails on this stack (every metric errors), so the rows (or aggregates)
to validate are computed in DuckDB (orchestration/quality_frames.py) and validated with GX's pandas path. See
docs/decisions/0003-great-expectations-on-frames.md.

Results are kept by a file data context in <data_dir>/gx and rendered as Data Docs in <data_dir>/gx_docs
(index.html): every validation of every run, with the failing values. The suites themselves are read from the
repository at each validation, so a reviewed change to a suite file applies to the next run.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

# No usage analytics leave this machine (and there is no network to send them to).
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx
import pandas as pd
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

from orchestration.settings import paths_from_env

logging.getLogger("great_expectations").setLevel(logging.WARNING)

SUITES_DIR = Path(__file__).resolve().parent / "gx_suites"
DOCS_SITE = "journeys"


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str
    column: str | None
    success: bool
    unexpected_count: int | None
    observed: object = None
    unexpected_keys: tuple = ()  # values of the frame's key column on the failing rows (when one is given)


@dataclass(frozen=True)
class ValidationOutcome:
    suite: str
    success: bool
    rows: int
    outcomes: list[ExpectationOutcome]
    docs_index: Path | None = None

    def failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    def failure_summary(self) -> list[str]:
        return [
            f"{f.expectation}({f.column or 'table'}): "
            + (f"{f.unexpected_count} unexpected" if f.unexpected_count is not None else f"observed {f.observed}")
            for f in self.failures()
        ]


def load_suite(name: str) -> gx.ExpectationSuite:
    """A suite from its file, orchestration/gx_suites/<name>.json (GX's own suite format)."""
    path = SUITES_DIR / f"{name}.json"
    document = json.loads(path.read_text())
    if document.get("name") != name:
        raise ValueError(f"{path}: 'name' must be '{name}' (the file name), got {document.get('name')!r}")
    expectations = [
        ExpectationConfiguration(type=e["type"], kwargs=e["kwargs"], meta=e.get("meta", {})).to_domain_obj()
        for e in document["expectations"]
    ]
    return gx.ExpectationSuite(name=name, expectations=expectations, meta=document.get("meta", {}))


def _context(data_dir: Path):
    """The file data context under <data_dir>/gx, with the Data Docs site in <data_dir>/gx_docs."""
    context = gx.get_context(mode="file", project_root_dir=str(data_dir))
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    if DOCS_SITE not in context.get_site_names():
        context.add_data_docs_site(
            site_name=DOCS_SITE,
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(data_dir / "gx_docs"),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
        if "local_site" in context.get_site_names():
            context.delete_data_docs_site("local_site")
    return context


def validate(
    suite_name: str, frame: pd.DataFrame, run_name: str | None = None, key_column: str | None = None
) -> ValidationOutcome:
    """Validates the frame with the suite, stores the result and updates the Data Docs. key_column: report
    which rows failed by this column (e.g. the raw table each row profiles)."""
    data_dir = paths_from_env().data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    context = _context(data_dir)
    source = context.data_sources.add_or_update_pandas("duckdb_frames")
    asset = next((a for a in source.assets if a.name == suite_name), None) or source.add_dataframe_asset(suite_name)
    batch_definition = next((b for b in asset.batch_definitions if b.name == "whole_frame"), None)
    batch_definition = batch_definition or asset.add_batch_definition_whole_dataframe("whole_frame")
    suite = context.suites.add_or_update(load_suite(suite_name))
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=suite_name, data=batch_definition, suite=suite)
    )
    checkpoint = context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=suite_name,
            validation_definitions=[definition],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="update_data_docs", site_names=[DOCS_SITE])],
            result_format=(
                {"result_format": "COMPLETE", "unexpected_index_column_names": [key_column]}
                if key_column
                else {"result_format": "SUMMARY"}
            ),
        )
    )
    result = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=gx.RunIdentifier(run_name=run_name))
    (validation,) = result.run_results.values()
    outcomes = [
        ExpectationOutcome(
            expectation=r.expectation_config.type,
            column=r.expectation_config.kwargs.get("column"),
            success=bool(r.success),
            unexpected_count=(r.result or {}).get("unexpected_count"),
            observed=(r.result or {}).get("observed_value"),
            unexpected_keys=tuple(
                sorted({row[key_column] for row in (r.result or {}).get("unexpected_index_list") or []})
            )
            if key_column
            else (),
        )
        for r in validation.results
    ]
    return ValidationOutcome(
        suite=suite_name,
        success=bool(validation.success),
        rows=len(frame),
        outcomes=outcomes,
        docs_index=data_dir / "gx_docs" / "index.html",
    )

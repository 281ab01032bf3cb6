"""One small real warehouse for the report, BI and docs-coverage tests: the generator, landing, the journey files,
every dbt model and seed (`dbt build` without tests: the pipeline tests run those) and the measurement assets
written in Python, built once per test session.

Built with the same pieces the journey_run job uses, in two dbt invocations (segment definitions before
segment_memberships, docs/segments.md "Ordering"). Tiny on purpose (a few hundred customers): the tests that use
it check rendering, publishing and documentation, not the numbers, which other tests check against truth.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from activations.ledger import ensure_ledger
from journey_engine.spec import load_journeys
from journey_engine.tables import write_journey_tables
from orchestration.landing import land_new_files
from orchestration.settings import DBT_PROJECT_DIR
from sample_business import generate
from tests.dbt_cli import run_dbt

AS_OF = "2026-11-01T00:00:00"
CUSTOMERS = 300
SEED = 5
_built: dict[Path, Path] = {}


def _dbt(warehouse: Path, target: Path, *args: str) -> None:
    completed = run_dbt(args, warehouse, target, as_of=AS_OF, run_id="measurement-tests")
    assert completed.returncode == 0, completed.stdout[-4000:]


def _materialize_python_measurement(warehouse: Path) -> None:
    """The measurement tables computed in Python (attribution models, experiment statistics), by their assets."""
    import dagster as dg

    # The same list as orchestration.report_assets.PYTHON_MEASUREMENT_ASSETS, imported without the dbt assets
    # (loading the dbt project's manifest is the slow part of importing that module). test_report checks that
    # every table of the contract gets built.
    from orchestration.attribution_assets import attribution_models
    from orchestration.measurement_assets import measurement_assets
    from orchestration.resources import WarehouseResource

    result = dg.materialize(
        [attribution_models, *measurement_assets],
        resources={"warehouse": WarehouseResource(path=str(warehouse))},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert result.success, [e.message for e in result.all_events if e.event_type_value == "STEP_FAILURE"]


def small_warehouse(folder: Path) -> Path:
    """The warehouse file, built into `folder` on the first call of the session, the same file afterwards."""
    if folder in _built:
        return _built[folder]
    data_dir = folder / "data"
    generate(data_dir, n_customers=CUSTOMERS, seed=SEED)
    warehouse = data_dir / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        land_new_files(con, data_dir)
        ensure_ledger(con)
        journeys, errors = load_journeys(DBT_PROJECT_DIR / "journeys")
        assert not errors, errors
        write_journey_tables(con, journeys)
    target = folder / "dbt_target"
    models_and_seeds = ("build", "--exclude-resource-type", "test", "--exclude-resource-type", "unit_test")
    _dbt(warehouse, target, *models_and_seeds, "--exclude", "segment_memberships+")
    _dbt(warehouse, target, *models_and_seeds, "--select", "segment_memberships+")
    _materialize_python_measurement(warehouse)
    _built[folder] = warehouse
    return warehouse

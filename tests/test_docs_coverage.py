"""Every column of every mart, as built in the warehouse, has a description in dbt's docs (the manifest).

BI users read these descriptions (dbt docs, and DuckDB column comments through persist_docs). The columns are
taken from a real built warehouse, not from the YAML, so a column a model adds without documenting it fails here.
"""

import json

import duckdb
import pytest

from tests.measurement_warehouse import small_warehouse

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    warehouse = small_warehouse(tmp_path_factory.getbasetemp() / "measurement_warehouse")
    manifest = json.loads((warehouse.parent.parent / "dbt_target" / "manifest.json").read_text())
    return warehouse, manifest


def _mart_models(manifest: dict) -> dict[tuple[str, str], dict]:
    """(schema, relation name) -> manifest node, for every model under models/marts/, and every seed and dbt
    source in a mart schema (reviewed lists; tables a Python asset writes, declared so dbt docs describe them)."""
    models = {
        (node["schema"], node["alias"]): node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["original_file_path"].startswith("models/marts/")
    }
    mart_schemas = {schema for schema, _ in models}
    sources = {
        (source["schema"], source["identifier"]): source
        for source in manifest["sources"].values()
        if source["schema"] in mart_schemas
    }
    seeds = {
        (node["schema"], node["alias"]): node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "seed" and node["schema"] in mart_schemas
    }
    return {**sources, **seeds, **models}


def undocumented_columns(con: duckdb.DuckDBPyConnection, manifest: dict) -> list[str]:
    """'schema.model.column (path)' for each built mart column without a description in the manifest."""
    missing = []
    for (schema, name), node in sorted(_mart_models(manifest).items()):
        described = {
            column.lower() for column, spec in node["columns"].items() if (spec.get("description") or "").strip()
        }
        built_columns = con.execute(
            "select column_name from information_schema.columns where table_schema = $1 and table_name = $2"
            " order by ordinal_position",
            [schema, name],
        ).fetchall()
        assert built_columns, f"{schema}.{name} is in the dbt docs of a mart schema but not in the built warehouse"
        missing += [
            f"{schema}.{name}.{column} ({node['original_file_path']})"
            for (column,) in built_columns
            if column.lower() not in described
        ]
    return missing


def test_every_built_mart_column_has_a_description(built):
    warehouse, manifest = built
    marts = _mart_models(manifest)
    assert len(marts) >= 39, sorted(marts)  # identity, journeys, segments, policy, quality on main (+ measurement)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        missing = undocumented_columns(con, manifest)
    assert missing == [], "mart columns without a description in their YAML:\n" + "\n".join(missing)


def test_every_table_in_a_mart_schema_is_in_the_dbt_docs(built):
    warehouse, manifest = built
    documented = {f"{schema}.{name}" for schema, name in _mart_models(manifest)}
    mart_schemas = sorted({schema for schema, _ in _mart_models(manifest)})
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = {
            f"{schema}.{name}"
            for schema, name in con.execute(
                "select table_schema, table_name from information_schema.tables"
                " where table_schema in (select unnest($1))",
                [mart_schemas],
            ).fetchall()
        }
    # A table a Python asset writes (attribution, experiment statistics) is declared as a dbt source with its
    # columns described: models/marts/measurement/_measurement__sources.yml.
    assert sorted(tables - documented) == []


def test_the_check_finds_an_undocumented_column(built):
    """The check can fail: the same warehouse with one description removed from the manifest."""
    warehouse, manifest = built
    node = next(n for n in manifest["nodes"].values() if n["name"] == "journey_enrollments")
    stripped = json.loads(json.dumps(manifest))
    stripped["nodes"][node["unique_id"]]["columns"]["exit_reason"]["description"] = ""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        missing = undocumented_columns(con, stripped)
    assert any(m.startswith("journeys.journey_enrollments.exit_reason ") for m in missing), missing

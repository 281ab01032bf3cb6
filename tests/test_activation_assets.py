"""The Dagster activation asset, materialized for real: it reads policy.actions_due, routes rows through the
activations config and reports what happened in its metadata (sent, already sent, held by the volume cap)."""

from pathlib import Path

import dagster as dg
import duckdb
import yaml

from orchestration.activation_assets import activation_assets
from orchestration.resources import JourneyRunSettings, WarehouseResource

EMAIL = next(a for a in activation_assets if a.key == dg.AssetKey(["activation", "email"]))


def _metadata(result: dg.ExecuteInProcessResult) -> dict:
    (event,) = result.asset_materializations_for_node(EMAIL.op.name)
    return {k: v.value for k, v in event.metadata.items()}


def test_email_asset_routes_through_the_config_and_reports_sent_then_nothing_twice(tmp_path: Path, monkeypatch):
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            """create schema policy; create table policy.actions_due as
            select md5('e' || i) as action_id, 'email' as destination, 'email' as channel,
                   case when i < 3 then 'transactional' else 'marketing' end as purpose,
                   'person' || i || '@example.com' as address
            from range(10) t(i)"""
        )
    config = {
        "routes": [
            {"when": {"destination": "email", "purpose": "transactional"}, "send_to": "receipts"},
            {"when": {"destination": "email"}, "send_to": "newsletters"},
        ],
        "destinations": {"receipts": {"type": "outbox"}, "newsletters": {"type": "outbox"}},
    }
    (tmp_path / "activations.yml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("JOURNEYS_ACTIVATIONS_CONFIG", str(tmp_path / "activations.yml"))
    monkeypatch.setenv("JOURNEYS_DATA_DIR", str(tmp_path))
    resources = {"warehouse": WarehouseResource(path=str(warehouse)), "run_settings": JourneyRunSettings()}

    first = _metadata(dg.materialize([EMAIL], resources=resources))
    assert (first["destinations"], first["sent"], first["failed"], first["dead"]) == ("receipts, newsletters", 10, 0, 0)
    assert first["held_by_volume_cap"] is False
    assert "p***@example.com" in str(first["sample_payloads_masked"]) and "person0@" not in str(first)
    assert len((tmp_path / "outbox" / "receipts.jsonl").read_text().splitlines()) == 3
    assert len((tmp_path / "outbox" / "newsletters.jsonl").read_text().splitlines()) == 7

    again = _metadata(dg.materialize([EMAIL], resources=resources))
    assert (again["sent"], again["already_sent_before"]) == (0, 10)

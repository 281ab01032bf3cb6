"""Loading journey files into the warehouse: a bad file is refused with a clear message, the others still load."""

import shutil
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.journey_assets import journey_definitions
from orchestration.resources import WarehouseResource

TEMPLATES = Path(__file__).resolve().parents[1] / "dbt_project" / "journeys"


def test_one_bad_journey_file_does_not_stop_the_others(tmp_path: Path, monkeypatch):
    folder = tmp_path / "journeys"
    folder.mkdir()
    shutil.copy(TEMPLATES / "trial_onboarding.yml", folder)
    shutil.copy(TEMPLATES / "win_back.yml", folder)
    broken = (TEMPLATES / "win_back.yml").read_text().replace("journey_id: win_back", "journey_id: broken")
    (folder / "broken.yml").write_text(broken.replace("timeout: 60d", "timeout: 60 days"))
    unknown = (TEMPLATES / "win_back.yml").read_text().replace("journey_id: win_back", "journey_id: unknown_attr")
    audience = "entry:\n  audience:\n    - {attribute: shoe_size, op: '>', value: 40}\n"
    (folder / "unknown_attr.yml").write_text(unknown.replace("entry:\n", audience, 1))
    shutil.copy(TEMPLATES / "at_risk_save.yml", folder)  # segment entry, conditions, wait and exit rule
    no_segment = (TEMPLATES / "at_risk_save.yml").read_text().replace("journey_id: at_risk_save", "journey_id: nope")
    (folder / "nope.yml").write_text(no_segment.replace("{in_segment: rfm_loyal}", "{in_segment: vips}"))
    monkeypatch.setenv("JOURNEYS_DEFINITIONS_DIR", str(folder))
    warehouse = tmp_path / "warehouse.duckdb"

    result = dg.materialize([journey_definitions], resources={"warehouse": WarehouseResource(path=str(warehouse))})

    assert result.success
    (materialization, *_) = result.asset_materializations_for_node("journey_definitions")
    loaded = materialization.metadata["journeys_loaded"].value
    refused = materialization.metadata["journeys_refused"].value
    assert loaded == ["at_risk_save", "trial_onboarding", "win_back"]
    assert any("broken.yml" in line and "'timeout'" in line and "60 days" in line for line in refused), refused
    assert any("unknown_attr.yml" in line and "customer attribute 'shoe_size'" in line for line in refused), refused
    assert any("nope.yml" in line and "segment 'vips' is not defined" in line for line in refused), refused
    with duckdb.connect(str(warehouse), read_only=True) as con:
        in_warehouse = con.execute("select journey_id from journey_config.journeys order by 1").fetchall()
    assert in_warehouse == [("at_risk_save",), ("trial_onboarding",), ("win_back",)]

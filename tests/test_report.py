"""The measurement report: one self-contained HTML file that renders in headless Chromium with no console errors.

Three warehouses: the small real one built by dbt (what the journey run produces, published as BI reads it), a
hand-written one holding every table of the measurement contract with numbers a reader can check, and an empty
one (every section must say "not built in this warehouse"). One browser session opens the three reports.
"""

import re
import shutil

import duckdb
import pandas as pd
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

from measurement.report import MEASUREMENT_TABLES, NOT_BUILT, Report, Warehouse, _flows, write_report
from orchestration.publish import publish_warehouse
from tests.measurement_warehouse import small_warehouse

pytestmark = pytest.mark.integration

# What proves a chart rendered: plotly's SVG root, and the marks of the chart's kind.
MARKS = {
    "sankey": ".sankey-link",
    "funnel": "g.funnellayer .point",
    "bar": "g.barlayer .point",
    "errorbars": "g.errorbar",
}

CART_TRANSITIONS = [
    # enrollment, step, from_node, to_node, reason: e1 converts after the email, e2 leaves early, e3 is waiting
    ("e1", 0, None, "wait_1h", "entry"),
    ("e1", 1, "wait_1h", "reminder_email", "delay"),
    ("e1", 2, "reminder_email", "__exit__", "goal"),
    ("e2", 0, None, "wait_1h", "entry"),
    ("e2", 1, "wait_1h", "__exit__", "exit_rule"),
    ("e3", 0, None, "wait_1h", "entry"),
    ("e3", 1, "wait_1h", "reminder_email", "delay"),
]


def _contract_warehouse(path) -> None:
    """Every table of the measurement contract (docs/measurement.md), small enough to check by eye."""
    with duckdb.connect(str(path)) as con:
        con.execute("create schema journeys")
        con.execute("create schema measurement")
        con.execute(
            """create table journeys.journey_transitions (enrollment_id varchar, journey_id varchar,
               step_number bigint, from_node varchar, to_node varchar, reason varchar, decided_as_of timestamp)"""
        )
        for row in CART_TRANSITIONS:
            con.execute(
                "insert into journeys.journey_transitions values (?, 'cart', ?, ?, ?, ?, '2026-11-01')", list(row)
            )
        con.execute(
            """create table measurement.journey_flows as select * from (values
               ('cart', 1, 'entered', 'wait_1h', 3), ('cart', 1, 'wait_1h', 'reminder_email', 2),
               ('cart', 1, 'wait_1h', 'exit: exit_rule', 1), ('cart', 1, 'reminder_email', 'exit: goal', 1))
               as t(journey_id, journey_version, source_node_id, target_node_id, enrollments)"""
        )
        con.execute(
            """create table measurement.journey_node_funnel as select * from (values
               ('cart', 1, 'wait_1h', 'delay', 3, 0, 0, 0, 0, 0, 1, 1.0),
               ('cart', 1, 'reminder_email', 'action', 2, 2, 2, 1, 1, 1, 1, 0.0))
               as t(journey_id, journey_version, node_id, node_type, entered, actions_sent, delivered, opened,
                    clicked, converted, exited, median_hours_at_node)"""
        )
        con.execute(
            """create table measurement.journey_performance as select * from (values
               ('cart', 3, 1, 120.0, 2, 0.02, 5999.0))
               as t(journey_id, enrollments, conversions, revenue, messages_sent, message_cost, roi)"""
        )
        con.execute(
            """create table measurement.channel_attribution as select * from (values
               ('first_touch', 'email', 1.0, 100.0), ('first_touch', 'paid_search', 2.0, 50.0),
               ('linear', 'email', 1.5, 75.0), ('linear', 'paid_search', 1.5, 75.0))
               as t(attribution_model, channel, attributed_conversions, attributed_revenue)"""
        )
        con.execute(
            """create table measurement.campaign_attribution as select * from (values
               ('first_touch', 'email', 'autumn_sale', 1.0, 100.0), ('linear', 'paid_search', 'brand', 1.5, 75.0))
               as t(attribution_model, channel, campaign, attributed_conversions, attributed_revenue)"""
        )
        con.execute(
            """create table measurement.experiment_results as select * from (values
               ('cart', 'offer_split', 'control', true, 1000, 100, 0.10, null, null, null, null, null, null, null,
                null, 0.61, false),
               ('cart', 'offer_split', 'discount', false, 1010, 131, 0.1297, 0.0297, 0.0010, 0.0584, 0.297, 0.01,
                0.58, 0.042, 0.979, 0.61, false))
               as t(journey_id, experiment_id, variant, is_control, exposures, conversions, conversion_rate,
                    abs_lift, abs_lift_ci_low, abs_lift_ci_high, rel_lift, rel_lift_ci_low, rel_lift_ci_high,
                    p_value, chance_to_beat_control, srm_p_value, has_sample_ratio_mismatch)"""
        )
        con.execute(
            """create table measurement.holdout_lift as select * from (values
               ('cart', 900, 100, 0.12, 0.08, 36.0, 1440.0, -0.02, 0.10, 0.21))
               as t(journey_id, treated, holdout, treated_conversion_rate, holdout_conversion_rate,
                    incremental_conversions, incremental_revenue, abs_lift_ci_low, abs_lift_ci_high, p_value)"""
        )


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reports")
    real = small_warehouse(tmp_path_factory.getbasetemp() / "measurement_warehouse")
    published = folder / "published.duckdb"
    publish_warehouse(real, published, run_id="report-test")
    contract, empty = folder / "contract.duckdb", folder / "empty.duckdb"
    _contract_warehouse(contract)
    duckdb.connect(str(empty)).close()
    return {
        "real": write_report(published, folder / "real.html"),
        "contract": write_report(contract, folder / "contract.html"),
        "empty": write_report(empty, folder / "empty.html"),
    }


@pytest.fixture(scope="module")
def browser():
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and chromedriver, "headless Chromium is missing: run `make browser`"
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1280,900")
    options.binary_location = chromium
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    yield driver
    driver.quit()


def render(driver, path) -> tuple[list[str], list[dict]]:
    """Open the file; return the console's errors and, per chart, its kind, SVG roots and marks drawn."""
    driver.get(path.as_uri())
    WebDriverWait(driver, 20).until(lambda d: d.execute_script("return document.readyState") == "complete")
    charts = driver.execute_script(
        """
        const marks = arguments[0];
        return Array.from(document.querySelectorAll('[data-chart-kind]')).map(chart => ({
            kind: chart.dataset.chartKind,
            svg: chart.querySelectorAll('svg.main-svg').length,
            marks: chart.querySelectorAll(marks[chart.dataset.chartKind]).length,
        }));
        """,
        MARKS,
    )
    errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    return errors, charts


def test_the_check_catches_a_console_error_and_an_unrendered_chart(browser, tmp_path):
    broken = tmp_path / "broken.html"
    broken.write_text(
        '<html><body><div data-chart-kind="sankey"></div><script>throw new Error("boom")</script></body></html>'
    )
    errors, charts = render(browser, broken)
    assert any("boom" in e for e in errors)
    assert charts == [{"kind": "sankey", "svg": 0, "marks": 0}]


def test_real_warehouse_report_renders_every_chart_without_console_errors(browser, reports):
    written = reports["real"]
    errors, charts = render(browser, written.path)
    assert errors == []
    assert len(charts) == len(written.charts) >= 8  # a Sankey and a node funnel per journey, the conversion funnel
    assert {c["kind"] for c in charts} >= {"sankey", "funnel"}
    assert all(c["svg"] > 0 and c["marks"] > 0 for c in charts), charts


def test_the_real_build_has_every_contract_table_and_the_report_shows_them(reports):
    """The dbt models and Python measurement assets together build the whole table contract (a Python asset
    missing from tests/measurement_warehouse.py would leave its table out)."""
    written = reports["real"]
    page = written.path.read_text()
    assert [t for t in MEASUREMENT_TABLES if written.tables_read[t] is None] == []
    assert NOT_BUILT not in page
    for table in MEASUREMENT_TABLES:
        assert f"From <code>{table}</code>" in page, table
    # nothing is loaded from the network: plotly.js is inlined, no stylesheet, image or script by URL
    assert re.findall(r"""<(?:script|link|img)[^>]*(?:src|href)=["']?(?:https?:)?//""", page) == []


def test_contract_tables_render_as_sankey_funnels_bars_and_error_bars(browser, reports):
    written = reports["contract"]
    errors, charts = render(browser, written.path)
    assert errors == []
    by_kind = {}
    for chart in charts:
        by_kind.setdefault(chart["kind"], []).append(chart["marks"])
    assert by_kind["sankey"] == [4]  # the four flows of journey_flows
    assert by_kind["funnel"] == [2]  # two nodes entered
    assert by_kind["bar"] == [4, 4]  # 2 models x 2 channels, conversions and revenue
    assert by_kind["errorbars"] == [1, 1]  # one variant against control, one holdout
    page = written.path.read_text()
    assert NOT_BUILT not in page.split("<h2>Funnels</h2>")[0]  # flows come from the mart
    for number in ("0.0297", "5,999", "autumn_sale", "0.979"):
        assert number in page


def test_an_empty_warehouse_gets_a_report_that_says_so(browser, reports):
    written = reports["empty"]
    errors, charts = render(browser, written.path)
    assert errors == [] and charts == []
    page = written.path.read_text()
    for table in MEASUREMENT_TABLES:
        assert f"<code>{table}</code>: {NOT_BUILT}" in page, table


def test_flows_fall_back_to_the_transition_log(tmp_path):
    path = tmp_path / "w.duckdb"
    _contract_warehouse(path)
    with duckdb.connect(str(path)) as con:
        con.execute("drop table measurement.journey_flows")
        flows = _flows(Warehouse(con, Report()))
    expected = pd.DataFrame(
        [
            ("cart", "entered", "wait_1h", 3),
            ("cart", "reminder_email", "exit: goal", 1),
            ("cart", "wait_1h", "exit: exit_rule", 1),
            ("cart", "wait_1h", "reminder_email", 2),
        ],
        columns=["journey_id", "source", "target", "enrollments"],
    )
    pd.testing.assert_frame_equal(flows, expected, check_dtype=False)

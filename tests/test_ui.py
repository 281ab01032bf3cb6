"""`make ui` (dagster dev) serves the UI with every definition loading, checked through the UI's GraphQL API,
then opened once in headless Chromium (`make browser` installs it): the asset graph page renders our assets.

dagster dev loads the code in a separate code-server process, which is where a missing tool (such as dbt
not being on PATH) shows up, so the test starts it the same way, with the venv's bin folder off PATH.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]

LOCATION_QUERY = """
{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
    locationOrLoadError { __typename ... on PythonError { message stack } } } } } }
"""

ASSETS_QUERY = """
{ repositoriesOrError { ... on RepositoryConnection { nodes { name
    assetNodes { assetKey { path } groupName hasAssetChecks }
    jobs { name }
    schedules { name scheduleState { status } }
    sensors { name sensorState { status } } } } } }
"""
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ACTIVATION_GRAPH = {"actions_due", "email", "sms", "push", "in_app", "webhook", "crm", "audience"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _asset_graph_in_chromium(port: int, group: str) -> tuple[set[str], list[str]]:
    """Opens one asset group's lineage page headless; returns the words on the page once the graph has
    rendered (or after 120 s) and the browser console's severe errors."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    assert CHROMEDRIVER.exists(), "headless Chromium is missing: run `make browser`"
    options = Options()
    # a tall window: the graph renders only the nodes in view
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,2600"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        driver.get(f"http://127.0.0.1:{port}/locations/orchestration.definitions/asset-groups/{group}")
        deadline = time.monotonic() + 120
        while True:
            shown = set(driver.find_element("tag name", "body").text.split())
            if shown >= ACTIVATION_GRAPH or time.monotonic() > deadline:
                break
            time.sleep(1)
        severe = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        return shown, severe
    finally:
        driver.quit()


def test_dagster_dev_serves_our_assets_checks_jobs_schedules_and_sensors(tmp_path):
    port = _free_port()
    venv_bin = Path(sys.executable).parent
    path_without_venv = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != venv_bin)
    env = {
        **os.environ,
        "PATH": path_without_venv,
        "DAGSTER_HOME": str(PROJECT_ROOT),
        "JOURNEYS_DAGSTER_STORAGE": str(tmp_path),
    }
    server = subprocess.Popen(  # its own process group, so teardown reaches the daemon and code server too
        [str(venv_bin / "dagster"), "dev", "-m", "orchestration.definitions", "-h", "127.0.0.1", "-p", str(port)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                (entry,) = _graphql(port, LOCATION_QUERY)["data"]["workspaceOrError"]["locationEntries"]
                if entry["loadStatus"] == "LOADED":
                    break
            except OSError:
                pass
            assert server.poll() is None, "dagster dev exited early"
            assert time.monotonic() < deadline, "the code location did not load within 120 s"
            time.sleep(1)
        error = entry["locationOrLoadError"]
        assert error["__typename"] == "RepositoryLocation", (
            f"{error.get('message')}\n{''.join(error.get('stack') or [])}"
        )
        repositories = _graphql(port, ASSETS_QUERY)["data"]["repositoriesOrError"]["nodes"]
        assert len(repositories) == 1, "the code location failed to load (see `make ui` output)"
        (repository,) = repositories
        keys = {"/".join(node["assetKey"]["path"]) for node in repository["assetNodes"]}
        assert {"raw/customers", "staging/stg_raw__events", "policy/actions_due", "activation/email"} <= keys
        groups = {node["groupName"] for node in repository["assetNodes"]}
        assert {"raw", "staging", "identity", "segments", "journeys", "policy", "quality", "activation"} <= groups
        checked = {"/".join(n["assetKey"]["path"]) for n in repository["assetNodes"] if n["hasAssetChecks"]}
        assert {"raw/events", "identity/customer_identities", "policy/actions_due"} <= checked
        jobs = {job["name"] for job in repository["jobs"]}
        assert {"journey_run", "retention_purge", "measurement", "set_journey_status", "approve_held_run"} <= jobs
        schedules = {s["name"]: s["scheduleState"]["status"] for s in repository["schedules"]}
        assert schedules == dict.fromkeys(
            ["journey_run_every_15_minutes", "measurement_daily", "retention_purge_daily"], "STOPPED"
        )
        sensors = {s["name"]: s["sensorState"]["status"] for s in repository["sensors"]}
        assert sensors == {"new_raw_files": "STOPPED", "alert_on_run_failure": "STOPPED"}

        shown, severe = _asset_graph_in_chromium(port, "activation")
        assert shown >= ACTIVATION_GRAPH, f"not rendered: {ACTIVATION_GRAPH - shown}"
        assert severe == [], severe
    finally:
        os.killpg(server.pid, signal.SIGINT)  # dagster dev shuts its webserver, daemon and code server down
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()

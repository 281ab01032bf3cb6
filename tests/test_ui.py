"""`make ui` (dagster dev) serves the UI with every definition loading, checked through the UI's GraphQL API.

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
    assetNodes { assetKey { path } }
    jobs { name } } } } }
"""


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


def test_dagster_dev_loads_the_code_location_with_our_assets_and_job(tmp_path):
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
        assert "journey_run" in {job["name"] for job in repository["jobs"]}
    finally:
        os.killpg(server.pid, signal.SIGINT)  # dagster dev shuts its webserver, daemon and code server down
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()

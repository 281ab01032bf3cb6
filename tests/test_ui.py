"""`make ui` serves the Dagster UI with every definition loading (checked through the UI's own GraphQL API)."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]

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


def test_webserver_loads_the_code_location_with_our_assets_and_job(tmp_path):
    port = _free_port()
    webserver = Path(sys.executable).parent / "dagster-webserver"
    env = {**os.environ, "DAGSTER_HOME": str(PROJECT_ROOT), "JOURNEYS_DAGSTER_STORAGE": str(tmp_path)}
    server = subprocess.Popen(
        [str(webserver), "-m", "orchestration.definitions", "-h", "127.0.0.1", "-p", str(port)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5):
                    break
            except OSError:
                assert server.poll() is None, "dagster-webserver exited early"
                assert time.monotonic() < deadline, "dagster-webserver did not answer within 120 s"
                time.sleep(1)
        (repository,) = _graphql(port, ASSETS_QUERY)["data"]["repositoriesOrError"]["nodes"]
        keys = {"/".join(node["assetKey"]["path"]) for node in repository["assetNodes"]}
        assert {"raw/customers", "staging/stg_raw__events", "quality/rejected_rows", "activation/outbox_email"} <= keys
        assert "journey_run" in {job["name"] for job in repository["jobs"]}
    finally:
        server.terminate()
        server.wait(timeout=30)

"""`clearlist ui` serves the code location on the home's instance, with its runs."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, DemoHome

pytestmark = pytest.mark.slow

QUERY = """
{
  runsOrError { ... on Runs { results { jobName status } } }
  assetNodes { assetKey { path } }
}
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _graphql(port: int) -> dict | None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": QUERY}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())["data"]
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def test_ui_shows_the_asset_graph_and_the_demo_runs(
    demo_home: DemoHome, tmp_path: Path
):
    # A copy of the home, so that nothing the UI's daemon does reaches other tests.
    home = tmp_path / "home"
    shutil.copytree(demo_home.root, home)
    port = _free_port()
    environment = {**os.environ, "CLEARLIST_HOME": str(home)}
    environment.pop("DAGSTER_HOME", None)
    # The venv's bin folder is deliberately absent from PATH, as under `make`.
    environment["PATH"] = "/usr/bin:/bin"
    log = tmp_path / "ui.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "ui", "--port", str(port)],
            env=environment,
            cwd=REPO_ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        data = None
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and process.poll() is None:
            data = _graphql(port)
            if data and data["assetNodes"]:
                break
            time.sleep(2)
        assert data is not None, log.read_text()[-2000:]
        keys = {"/".join(node["assetKey"]["path"]) for node in data["assetNodes"]}
        assert "exports/seg_wellness_program_email" in keys, log.read_text()[-2000:]
        assert "marts/eligibility" in keys
        assert "raw/crm_contacts" in keys
        runs = {run["jobName"]: run["status"] for run in data["runsOrError"]["results"]}
        assert runs["ingest"] == "SUCCESS"
        assert runs["build"] == "SUCCESS"
        assert runs["export_all"] == "SUCCESS"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

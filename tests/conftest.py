"""Shared fixtures: one demo warehouse per test session, built the way a user would.

Start-up is the costly part (Dagster, dbt and Great Expectations each take seconds to
import), so the session runs `clearlist demo` once on a temporary home and the tests
read that home; tests that change a warehouse work on a copy of its file.
"""

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
DEMO_CONTACTS = 400
DEMO_SEED = 11


@dataclass(frozen=True)
class DemoHome:
    """A home on which `clearlist demo` ran, with what the command printed."""

    root: Path
    stdout: str
    plan: dict

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def exports(self) -> Path:
        return self.root / "exports"


def run_cli(home: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run the real `clearlist` command line on a home, in a child process."""
    environment = {**os.environ, "CLEARLIST_HOME": str(home)}
    environment.pop("DAGSTER_HOME", None)
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
    )


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> DemoHome:
    root = tmp_path_factory.mktemp("demo-home")
    result = run_cli(
        root, "demo", "--contacts", str(DEMO_CONTACTS), "--seed", str(DEMO_SEED)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    plan = json.loads((root / "generated" / "plan.json").read_text())
    return DemoHome(root=root, stdout=result.stdout, plan=plan)


@pytest.fixture
def warehouse_copy(demo_home: DemoHome, tmp_path: Path) -> Path:
    """A private copy of the demo warehouse that a test may change."""
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(demo_home.warehouse, copy)
    return copy

"""The one place where Clearlist reads its environment.

Everything a run touches lives under one home folder, `CLEARLIST_HOME` (default
`./clearlist-home`): the landing folders, the DuckDB warehouse, the approved exports
and the Dagster instance, so that the command line and `dagster dev` share one history.
"""

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
EXPECTATIONS_DIR = REPO_ROOT / "expectations"

DAGSTER_YAML = """\
# Written by Clearlist. DuckDB allows one writing process at a time, so runs queue
# one after another.
concurrency:
  runs:
    max_concurrent_runs: 1
telemetry:
  enabled: false
"""


@dataclass(frozen=True)
class Home:
    """The folders and files under one Clearlist home."""

    root: Path

    @property
    def landing(self) -> Path:
        """Where source systems drop their batches; only ingestion reads it."""
        return self.root / "landing"

    @property
    def warehouse(self) -> Path:
        """The DuckDB database file."""
        return self.root / "warehouse.duckdb"

    @property
    def exports(self) -> Path:
        """Approved audience files, blocked reports and their manifests."""
        return self.root / "exports"

    @property
    def dagster(self) -> Path:
        """The Dagster instance (run history, event log)."""
        return self.root / "dagster"

    @property
    def generated(self) -> Path:
        """What the demo generator planted, for tests and reports."""
        return self.root / "generated"

    def prepare(self) -> "Home":
        """Create the folders and the Dagster instance settings if missing."""
        for folder in (self.landing, self.exports, self.dagster, self.generated):
            folder.mkdir(parents=True, exist_ok=True)
        for source in ("ehr", "crm", "engagement"):
            (self.landing / source).mkdir(exist_ok=True)
        dagster_yaml = self.dagster / "dagster.yaml"
        if not dagster_yaml.exists():
            dagster_yaml.write_text(DAGSTER_YAML)
        return self


def home() -> Home:
    """Return the current home, read from `CLEARLIST_HOME` on each call."""
    root = Path(os.environ.get("CLEARLIST_HOME", "clearlist-home")).resolve()
    return Home(root)


def activate(current: Home) -> Home:
    """Point every component at `current`: Dagster's instance and dbt's warehouse."""
    current.prepare()
    os.environ["CLEARLIST_HOME"] = str(current.root)
    os.environ["DAGSTER_HOME"] = str(current.dagster)
    os.environ["CLEARLIST_WAREHOUSE"] = str(current.warehouse)
    if os.environ.get("CLEARLIST_ENCRYPTION_KEY"):
        from pipelines.lib.warehouse import httpfs_extension

        # dbt's duckdb_encrypted profile loads the extension from this file.
        os.environ["CLEARLIST_HTTPFS_EXTENSION"] = str(httpfs_extension())
    return current


def landing_settle_seconds() -> float:
    """How long a landed batch must be left alone before the sensor ingests it.

    A batch still being copied into landing/ keeps changing; the sensor waits until
    its newest file is this many seconds old (`CLEARLIST_LANDING_SETTLE_SECONDS`,
    default 30).
    """
    value = os.environ.get("CLEARLIST_LANDING_SETTLE_SECONDS", "30")
    try:
        seconds = float(value)
    except ValueError:
        msg = (
            "CLEARLIST_LANDING_SETTLE_SECONDS must be a number of seconds,"
            f" got {value!r}"
        )
        raise ValueError(msg) from None
    return max(seconds, 0.0)


@cache
def dbt_target() -> str:
    """The dbt target: `duckdb` (embedded default), `duckdb_encrypted` or `spark`.

    `duckdb_encrypted` is the default when `CLEARLIST_ENCRYPTION_KEY` is set.
    """
    default = (
        "duckdb_encrypted" if os.environ.get("CLEARLIST_ENCRYPTION_KEY") else "duckdb"
    )
    return os.environ.get("CLEARLIST_DBT_TARGET", default)

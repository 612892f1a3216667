"""The landing sensor asks for ingestion once per new settled batch, then waits."""

import os
import shutil
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.definitions import defs
from pipelines.defs.ingest.sensors import landing_sensor, pending_batches
from pipelines.defs.resources import Warehouse
from tests.conftest import SHARED_DATA

SENDGRID_SAMPLE = SHARED_DATA / "sendgrid-events" / "event-webhook"


def _land_sendgrid(landing: Path, batch: str) -> Path:
    folder = landing / "engagement" / batch / "sendgrid"
    shutil.copytree(SENDGRID_SAMPLE, folder, copy_function=shutil.copy)
    return folder.parent


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CLEARLIST_HOME", str(tmp_path))
    monkeypatch.setenv("CLEARLIST_LANDING_SETTLE_SECONDS", "0")
    (tmp_path / "landing").mkdir()
    return tmp_path


def _evaluate(home: Path, cursor: str | None = None):
    warehouse = Warehouse(path=str(home / "warehouse.duckdb"))
    with dg.build_sensor_context(
        cursor=cursor, resources={"warehouse": warehouse}
    ) as context:
        return landing_sensor(context)


def test_pending_batches_waits_for_a_batch_to_settle(tmp_path: Path):
    batch = _land_sendgrid(tmp_path, "2026-06-03")
    now = time.time()
    settled = pending_batches(tmp_path, set(), settle_seconds=60, now=now + 120)
    fresh = pending_batches(tmp_path, set(), settle_seconds=60, now=now)

    assert list(settled) == ["engagement/2026-06-03"]
    assert fresh == {}
    # Touching a file changes the signature, so a changed batch asks again.
    newest = max(batch.rglob("*.json"))
    os.utime(newest, ns=(time.time_ns(), time.time_ns() + 10**9))
    again = pending_batches(tmp_path, set(), settle_seconds=60, now=now + 120)
    assert again["engagement/2026-06-03"] != settled["engagement/2026-06-03"]


def test_pending_batches_leaves_out_loaded_and_empty_folders(tmp_path: Path):
    _land_sendgrid(tmp_path, "a")
    _land_sendgrid(tmp_path, "b")
    (tmp_path / "crm" / "empty").mkdir(parents=True)
    (tmp_path / "crm" / "docs-only").mkdir(parents=True)
    (tmp_path / "crm" / "docs-only" / "README.md").write_text("notes")

    pending = pending_batches(
        tmp_path, {"engagement/a"}, settle_seconds=0, now=time.time() + 1
    )

    assert list(pending) == ["engagement/b"]


def test_a_new_batch_requests_one_ingest_run_that_loads_it(home: Path):
    assert isinstance(_evaluate(home), dg.SkipReason)
    _land_sendgrid(home / "landing", "2026-06-03")

    first, second = _evaluate(home), _evaluate(home)

    assert isinstance(first, dg.SensorResult)
    [request] = first.run_requests
    assert request.tags["clearlist/batches"] == "engagement/2026-06-03"
    # The same pending set gives the same run key, so Dagster starts it once.
    assert request.run_key == second.run_requests[0].run_key

    # Run the job the sensor names, for real, on the home's warehouse.
    job = defs.resolve_job_def(landing_sensor.job_name)
    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        tags=request.tags,
        resources={"warehouse": Warehouse(path=str(home / "warehouse.duckdb"))},
    )
    assert result.success
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        loaded = con.sql("select distinct batch_id from raw.load_log").fetchall()
        events = con.sql("select count(*) from raw.esp_sendgrid_events").fetchone()
    assert loaded == [("engagement/2026-06-03",)]
    assert events[0] > 0

    after = _evaluate(home)
    assert isinstance(after, dg.SkipReason)
    assert "no new settled batch" in str(after.skip_message)


def test_the_sensor_is_part_of_the_code_location():
    repository = defs.get_repository_def()
    sensor = repository.get_sensor_def("landing_sensor")
    assert sensor.job_name == "ingest"
    assert repository.has_job("ingest")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING

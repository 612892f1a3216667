"""Models that grow with events build incrementally: a new batch adds its rows and
never rebuilds the history already in the warehouse."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines.lib.ingest import ingest_source
from tests.conftest import REPO_ROOT, SHARED_DATA

pytestmark = pytest.mark.slow

MARKER = "history-marker"
GROWING = {
    # model: (key column, column overwritten with the marker, raw table fed)
    "fct_email_events": ("email_event_id", "bounce_type", "esp_sendgrid_events"),
    "fct_encounter_versions": (
        "encounter_version_id",
        "type_display",
        "ehr_encounters",
    ),
}


def _land(landing: Path) -> None:
    sendgrid = landing / "engagement" / "late-webhook-posts" / "sendgrid"
    shutil.copytree(SHARED_DATA / "sendgrid-events" / "event-webhook", sendgrid)
    encounters = landing / "ehr" / "bulk-encounters"
    encounters.mkdir(parents=True)
    shutil.copy(
        SHARED_DATA / "fhir-bulk-sample" / "Encounter.000.ndjson",
        encounters / "Encounter.000.ndjson",
    )


def _dbt_build(warehouse: Path, work: Path) -> subprocess.CompletedProcess:
    dbt = Path(sys.executable).with_name("dbt")
    return subprocess.run(
        [
            str(dbt),
            "build",
            "--select",
            *(f"{model}+" for model in GROWING),
            "--exclude",
            "tag:segment",
            "--project-dir",
            str(REPO_ROOT / "dbt_project"),
            "--profiles-dir",
            str(REPO_ROOT / "dbt_project"),
            "--target-path",
            str(work / "target"),
            "--log-path",
            str(work / "logs"),
        ],
        env={**os.environ, "CLEARLIST_WAREHOUSE": str(warehouse)},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_new_batch_appends_and_leaves_history_alone(
    warehouse_copy: Path, tmp_path: Path
):
    before, marked, fed = {}, {}, {}
    with duckdb.connect(str(warehouse_copy)) as con:
        for model, (key, column, _) in GROWING.items():
            before[model] = con.sql(f"select count(*) from marts.{model}").fetchone()[0]
            assert before[model] > 0, f"the demo left {model} empty"
            marked[model] = con.sql(
                f"select {key} from marts.{model} order by {key} limit 1"
            ).fetchone()[0]
            # A full rebuild would overwrite this edit from staging; an incremental
            # run leaves the rows it already holds as they are.
            con.execute(
                f"update marts.{model} set {column} = ? where {key} = ?",
                [MARKER, marked[model]],
            )
        _land(tmp_path / "landing")
        for source in ("engagement", "ehr"):
            report = ingest_source(con, tmp_path / "landing", source)
            fed.update(report.rows)

    result = _dbt_build(warehouse_copy, tmp_path)
    assert result.returncode == 0, result.stdout[-4000:]

    with duckdb.connect(str(warehouse_copy), read_only=True) as con:
        for model, (key, column, raw_table) in GROWING.items():
            assert fed[raw_table] > 0
            after = con.sql(f"select count(*) from marts.{model}").fetchone()[0]
            assert after == before[model] + fed[raw_table], model
            kept = con.execute(
                f"select {column} from marts.{model} where {key} = ?", [marked[model]]
            ).fetchone()[0]
            assert kept == MARKER, f"{model} was rebuilt instead of appended to"
        new_batches = {
            row[0]
            for row in con.sql(
                "select distinct batch_id from marts.fct_email_events"
                " union select distinct batch_id from marts.fct_encounter_versions"
            ).fetchall()
        }
    assert {"engagement/late-webhook-posts", "ehr/bulk-encounters"} <= new_batches

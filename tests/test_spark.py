"""The same dbt project on Spark: built from the demo's raw tables, it reaches the
same eligibility verdicts as DuckDB, person by person."""

import json
import os
import shutil
import subprocess
import sys

import duckdb
import pytest

from tests.conftest import REPO_ROOT, DemoHome

pytestmark = pytest.mark.slow

COLUMNS = "person_id, purpose_code, channel, recipient, is_eligible, rules_fired"


@pytest.fixture(scope="module")
def spark_build(demo_home: DemoHome, tmp_path_factory: pytest.TempPathFactory):
    if shutil.which("java") is None and "JAVA_HOME" not in os.environ:
        pytest.fail("Spark needs a Java runtime (java on PATH or JAVA_HOME)")
    work = tmp_path_factory.mktemp("spark")
    raw_dir, out_dir = work / "raw", work / "out"
    raw_dir.mkdir()
    out_dir.mkdir()
    with duckdb.connect(str(demo_home.warehouse), read_only=True) as con:
        tables = [
            row[0]
            for row in con.sql(
                "select table_name from information_schema.tables "
                "where table_schema = 'raw'"
            ).fetchall()
        ]
        for table in tables:
            con.sql(f"copy raw.{table} to '{raw_dir / table}.parquet' (format parquet)")
        as_of = con.sql("select max(as_of) from marts.eligibility").fetchone()[0]
    result = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "tests" / "spark_build.py"),
            str(raw_dir),
            as_of.isoformat(),
            str(out_dir),
        ],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out_dir, tables


def test_every_model_and_test_builds_on_spark(spark_build):
    out_dir, tables = spark_build
    assert "crm_authorization_form_consents" in tables
    outcome = json.loads((out_dir / "dbt.json").read_text())
    assert outcome == {"success": True, "failed": []}


def test_spark_and_duckdb_reach_the_same_verdicts(demo_home: DemoHome, spark_build):
    out_dir, _ = spark_build
    with duckdb.connect(str(demo_home.warehouse), read_only=True) as con:
        on_duckdb = set(con.sql(f"select {COLUMNS} from marts.eligibility").fetchall())
        on_spark = set(
            con.sql(
                f"select {COLUMNS} from "
                f"read_parquet('{out_dir / 'marts.eligibility.parquet'}/*.parquet')"
            ).fetchall()
        )
    assert len(on_duckdb) > 0
    assert {row[4] for row in on_duckdb} == {True, False}
    assert on_spark == on_duckdb


def test_spark_links_the_same_people(demo_home: DemoHome, spark_build):
    out_dir, _ = spark_build
    columns = "person_id, has_ehr_record"
    with duckdb.connect(str(demo_home.warehouse), read_only=True) as con:
        on_duckdb = set(con.sql(f"select {columns} from marts.dim_persons").fetchall())
        on_spark = set(
            con.sql(
                f"select {columns} from "
                f"read_parquet('{out_dir / 'marts.dim_persons.parquet'}/*.parquet')"
            ).fetchall()
        )
    assert on_spark == on_duckdb

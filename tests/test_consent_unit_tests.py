"""The dbt unit tests of the consent rules, run for real on a scratch warehouse.

They are off in ordinary builds (each plans the whole rule macro); here dbt seeds
an empty warehouse, creates the models empty, and runs every test tagged
`consent_rules`: one per rule id and case, with given rows and the expected verdict.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipelines.lib.ingest import ensure_raw_schema
from pipelines.lib.warehouse import connect
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow

DBT_PROJECT = REPO_ROOT / "dbt_project"
UNIT_TEST_FILES = sorted(
    (DBT_PROJECT / "models" / "intermediate" / "consent").glob(
        "_consent__unit_tests*.yml"
    )
)


def _dbt(work: Path, *args: str) -> subprocess.CompletedProcess:
    dbt = Path(sys.executable).with_name("dbt")
    return subprocess.run(
        [
            str(dbt),
            *args,
            "--project-dir",
            str(DBT_PROJECT),
            "--profiles-dir",
            str(DBT_PROJECT),
            "--target-path",
            str(work / "target"),
            "--log-path",
            str(work / "logs"),
        ],
        env={**os.environ, "CLEARLIST_WAREHOUSE": str(work / "warehouse.duckdb")},
        capture_output=True,
        text=True,
        timeout=1200,
    )


def test_every_consent_rule_unit_test_passes(tmp_path: Path):
    with connect(tmp_path / "warehouse.duckdb") as con:
        ensure_raw_schema(con)
    for step in (("seed",), ("run", "--select", "+eligibility", "--empty")):
        result = _dbt(tmp_path, *step)
        assert result.returncode == 0, result.stdout[-3000:]

    result = _dbt(
        tmp_path,
        "test",
        "--select",
        "tag:consent_rules",
        "--vars",
        json.dumps({"consent_unit_tests": True}),
    )

    assert result.returncode == 0, result.stdout[-5000:]
    assert len(UNIT_TEST_FILES) == 2
    declared = {
        test["name"]
        for path in UNIT_TEST_FILES
        for test in yaml.safe_load(path.read_text())["unit_tests"]
    }
    run = json.loads((tmp_path / "target" / "run_results.json").read_text())
    passed = {
        node["unique_id"].rsplit(".", 1)[-1]
        for node in run["results"]
        if node["status"] == "pass"
    }
    assert declared == passed
    rules = {name.split("__", 1)[0] for name in declared}
    assert {
        "r_mkt_auth",
        "r_auth_rev",
        "r_auth_exp",
        "r_email_optout",
        "r_sms_pewc",
        "r_minor_ageout",
        "r_email_norm",
        "r_fund_scope",
        "r_mkt_exc_refill",
        "r_auth_false",
        "r_minor",
    } <= rules

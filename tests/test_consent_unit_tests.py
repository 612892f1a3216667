"""The dbt unit tests of the consent rules, run for real on a scratch warehouse.

They are off in ordinary builds (each plans the whole rule macro); here dbt seeds
an empty warehouse, creates the models empty, and runs every test tagged
`consent_rules`: one per rule id and case, with given rows and the expected verdict.
The tests are shared between one dbt process per core, each on its own copy of the
scratch warehouse.
"""

import json
import os
import shutil
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
    [
        *(DBT_PROJECT / "models" / "intermediate" / "consent").glob(
            "_consent__unit_tests*.yml"
        ),
        DBT_PROJECT / "models" / "segments" / "_segments__unit_tests.yml",
    ]
)
# The segments whose unit tests show the category and recipient rules firing.
TESTED_SEGMENTS = (
    "seg_acme_pharma_partner_email",
    "seg_cardiology_fundraising_appeal_mail",
    "seg_diabetes_education_email",
)


def _dbt_command(work: Path, *args: str) -> list[str]:
    dbt = Path(sys.executable).with_name("dbt")
    return [
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
    ]


def _environment(work: Path) -> dict[str, str]:
    return {**os.environ, "CLEARLIST_WAREHOUSE": str(work / "warehouse.duckdb")}


def _dbt(work: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        _dbt_command(work, *args),
        env=_environment(work),
        capture_output=True,
        text=True,
        timeout=1200,
    )


def test_every_consent_rule_unit_test_passes(tmp_path: Path):
    scratch = tmp_path / "scratch"
    with connect(scratch / "warehouse.duckdb") as con:
        ensure_raw_schema(con)
    parents = ["+eligibility", *(f"+{segment}" for segment in TESTED_SEGMENTS)]
    for step in (("seed",), ("run", "--select", *parents, "--empty")):
        result = _dbt(scratch, *step)
        assert result.returncode == 0, result.stdout[-3000:]

    assert len(UNIT_TEST_FILES) == 4
    declared = sorted(
        test["name"]
        for path in UNIT_TEST_FILES
        for test in yaml.safe_load(path.read_text())["unit_tests"]
    )
    workers = max(1, min(os.cpu_count() or 1, 4))
    processes = []
    for index in range(workers):
        work = tmp_path / f"worker-{index}"
        work.mkdir()
        shutil.copy(scratch / "warehouse.duckdb", work / "warehouse.duckdb")
        share = declared[index::workers]
        command = _dbt_command(
            work,
            "test",
            "--select",
            *share,
            "--vars",
            json.dumps({"consent_unit_tests": True}),
        )
        output = (work / "output.txt").open("w")
        processes.append(
            (
                work,
                output,
                subprocess.Popen(
                    command, env=_environment(work), stdout=output, stderr=output
                ),
            )
        )
    passed = set()
    for work, output, process in processes:
        returncode = process.wait(timeout=1200)
        output.close()
        assert returncode == 0, (work / "output.txt").read_text()[-5000:]
        run = json.loads((work / "target" / "run_results.json").read_text())
        passed |= {
            node["unique_id"].rsplit(".", 1)[-1]
            for node in run["results"]
            if node["status"] == "pass"
        }
    assert set(declared) == passed
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
        "r_sens",
        "r_psynotes",
        "r_fund_data",
        "r_baa",
        "r_mkt_exc_tx",
        "r_mkt_remun",
        "r_sale",
    } <= rules

"""The dbt unit tests of the engagement funnel (hand counts), run for real.

They also run in every `dbt build`; here they run by name on a copy of the demo
warehouse (dbt reads the column types of the funnel's inputs from it), so a wrong
count fails a test that says which one.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow

DBT_PROJECT = REPO_ROOT / "dbt_project"
UNIT_TESTS = (
    DBT_PROJECT / "models" / "marts" / "engagement" / "_engagement__unit_tests.yml"
)


def test_funnel_hand_counts_pass(warehouse_copy: Path, tmp_path: Path):
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("dbt")),
            "test",
            "--select",
            "test_type:unit,fct_campaign_step_people",
            "test_type:unit,fct_campaign_funnel",
            "--project-dir",
            str(DBT_PROJECT),
            "--profiles-dir",
            str(DBT_PROJECT),
            "--target-path",
            str(tmp_path / "target"),
            "--log-path",
            str(tmp_path / "logs"),
        ],
        env={**os.environ, "CLEARLIST_WAREHOUSE": str(warehouse_copy)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-5000:]
    declared = {
        test["name"] for test in yaml.safe_load(UNIT_TESTS.read_text())["unit_tests"]
    }
    run = json.loads((tmp_path / "target" / "run_results.json").read_text())
    passed = {
        node["unique_id"].rsplit(".", 1)[-1]
        for node in run["results"]
        if node["status"] == "pass"
    }
    assert (
        declared
        == passed
        == {
            "campaign_step_people__stages_per_person",
            "campaign_funnel__hand_count",
        }
    )

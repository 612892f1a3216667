"""The demo data's planted situations reach the verdicts the generator predicts:
for each scenario, every person it planted is eligible or excluded by its rule."""

from collections import Counter

import duckdb
import pytest

from tests.conftest import DemoHome

pytestmark = pytest.mark.slow


def test_each_planted_scenario_fires_its_rule(demo_home: DemoHome):
    segment = demo_home.plan["segment"]
    function = (
        f"marts.eligibility_at__{segment['purpose'].lower()}__{segment['channel']}"
    )
    with duckdb.connect(str(demo_home.warehouse), read_only=True) as con:
        as_of = con.sql("select max(as_of) from marts.eligibility").fetchone()[0]
        verdicts = {
            mrn: (eligible, rules.split(";") if rules else [])
            for mrn, eligible, rules in con.execute(
                f"""
                select linked.mrn, evaluated.is_eligible, evaluated.rules_fired
                from {function}(?, ?, ?, cast(? as timestamptz)) as evaluated
                inner join intermediate.int_source_records_linked as linked
                    on evaluated.person_id = linked.person_id
                where linked.source_system = 'ehr'
                """,
                [segment["topic"], segment["list_id"], segment["recipient"], as_of],
            ).fetchall()
        }

    predicted, observed = Counter(), Counter()
    for name, scenario in demo_home.plan["scenarios"].items():
        assert not scenario["ids_truncated"], "a demo plan keeps every id"
        for mrn in scenario["mrns"]:
            eligible, rules = verdicts[mrn]
            assert eligible == scenario["expected_eligible"], (name, rules)
            if scenario["expected_rule"]:
                predicted[scenario["expected_rule"]] += 1
                observed[scenario["expected_rule"]] += (
                    scenario["expected_rule"] in rules
                )
    assert predicted, "the plan names no excluding rule"
    assert observed == predicted

"""The static segment check: a segment that reads around the consent filter is refused.

The first tests run the check on small hand-written manifests and SQL, one rule at a
time. The last one compiles real segments with dbt in a copy of the project and
checks them against the demo warehouse's catalog.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines.lib.segments import (
    RuleSeeds,
    Segment,
    SegmentError,
    check_segment,
    check_segments,
    compiled_sql,
    load_manifest,
    warehouse_schema,
)
from tests.conftest import REPO_ROOT

SEEDS = RuleSeeds.read(REPO_ROOT / "dbt_project" / "seeds")

SCHEMA = {
    "warehouse": {
        "marts": {
            "dim_persons": {
                "person_id": "VARCHAR",
                "first_name": "VARCHAR",
                "birth_date": "DATE",
                "residence_state": "VARCHAR",
                "email_norm": "VARCHAR",
            },
            "fct_sensitive_flags": {"person_id": "VARCHAR", "category": "VARCHAR"},
            "fct_diagnoses": {"person_id": "VARCHAR", "code": "VARCHAR"},
            "fct_therapy": {"person_id": "VARCHAR", "note_topic": "VARCHAR"},
            "fct_unlabelled": {"person_id": "VARCHAR", "score": "DOUBLE"},
        },
        "staging": {"stg_ehr__patients": {"person_id": "VARCHAR"}},
        "raw": {"ehr_patients": {"person_id": "VARCHAR"}},
    }
}


def _model(name: str, folder: str, meta: dict | None = None, columns=None) -> dict:
    return {
        "resource_type": "model",
        "name": name,
        "unique_id": f"model.clearlist.{name}",
        "schema": folder,
        "alias": name,
        "fqn": ["clearlist", folder, name],
        "tags": ["segment"] if folder == "segments" else [],
        "config": {"meta": meta or {}},
        "columns": columns or {},
    }


def _manifest(*segments: dict) -> dict:
    nodes = [
        _model(
            "dim_persons",
            "marts",
            {"data_category": "demographics"},
            {"email_norm": {"config": {"meta": {"data_category": "contact"}}}},
        ),
        _model("fct_sensitive_flags", "marts", {"data_category": "all"}),
        _model("fct_diagnoses", "marts", {"data_category": "conditions"}),
        _model("fct_therapy", "marts", {"data_category": "psychotherapy_notes"}),
        _model("fct_unlabelled", "marts"),
        _model("stg_ehr__patients", "staging"),
        *segments,
    ]
    source = {
        "resource_type": "source",
        "name": "ehr_patients",
        "unique_id": "source.clearlist.ehr.ehr_patients",
        "schema": "raw",
        "identifier": "ehr_patients",
        "fqn": ["clearlist", "ehr", "ehr_patients"],
    }
    return {
        "nodes": {node["unique_id"]: node for node in nodes},
        "sources": {source["unique_id"]: source},
    }


def _segment_node(name: str = "seg_test", **declared) -> dict:
    declaration = {
        "purpose_code": "MARKETING",
        "channel": "email",
        "recipients": ["CoveredEntity"],
        "criteria_categories": ["demographics"],
        "export_columns": ["person_token", "email", "first_name"],
        **declared,
    }
    return _model(name, "segments", {"segment": declaration})


def _wrapped(criteria: str, recipients: int = 1, tail: str = "") -> str:
    """SQL shaped like the segment macro's output around the given criteria."""
    verdicts = ",\n".join(
        f"verdicts_for_recipient_{i} as (select person_id from marts.dim_persons)"
        for i in range(1, recipients + 1)
    )
    return f"""
    with
    segment_criteria as ({criteria}),
    criteria_people as (select distinct person_id from segment_criteria),
    {verdicts},
    segment_decisions as (select person_id from criteria_people),
    final as (select person_id from segment_decisions)
    select * from final {tail}
    """


def _check(criteria: str, tail: str = "", **declared) -> list[tuple[str, str]]:
    node = _segment_node(**declared)
    segment = Segment.from_node(node)
    found = check_segment(
        segment, node, _wrapped(criteria, tail=tail), _manifest(node), SEEDS, SCHEMA
    )
    return [(violation.rule_id, violation.message) for violation in found]


def _rules(criteria: str, tail: str = "", **declared) -> set[str]:
    return {rule for rule, _ in _check(criteria, tail, **declared)}


def test_a_demographic_marketing_segment_passes():
    criteria = """
        with persons as (select * from warehouse.marts.dim_persons)
        select person_id from persons where residence_state = 'NV'
    """
    assert _check(criteria) == []


def test_reading_a_source_or_staging_table_names_the_rule():
    for table in ("warehouse.raw.ehr_patients", "warehouse.staging.stg_ehr__patients"):
        found = _check(f"select person_id from {table}")
        assert [rule for rule, _ in found] == ["SEG-LEDGER-ONLY"], table
        assert table.split(".", 1)[1] in found[0][1]


def test_a_sensitive_category_is_refused_for_marketing_not_for_care_coordination():
    criteria = (
        "select person_id from warehouse.marts.fct_sensitive_flags "
        "where category = 'pregnancy'"
    )
    assert "R-SENS" in _rules(criteria, criteria_categories=["demographics", "all"])
    assert "R-SENS" not in _rules(
        criteria,
        purpose_code="CARE_COORD",
        criteria_categories=["demographics", "all"],
    )


def test_an_undeclared_category_is_refused_even_when_the_purpose_allows_it():
    criteria = "select person_id from warehouse.marts.fct_diagnoses where code = 'E11'"
    found = _check(criteria, purpose_code="TREATMENT")
    assert [rule for rule, _ in found] == ["SEG-DECLARE"]
    assert "conditions" in found[0][1] and "fct_diagnoses.code" in found[0][1]
    assert (
        _check(
            criteria,
            purpose_code="TREATMENT",
            criteria_categories=["demographics", "conditions"],
        )
        == []
    )


def test_fundraising_may_use_demographics_but_not_a_diagnosis():
    fundraising = {
        "purpose_code": "FUNDRAISING",
        "channel": "mail",
        "export_columns": ["person_token", "first_name", "last_name", "postal_address"],
    }
    assert (
        _check("select person_id from warehouse.marts.dim_persons", **fundraising) == []
    )
    rules = _rules(
        "select d.person_id from warehouse.marts.fct_diagnoses as d "
        "join warehouse.marts.dim_persons as p on d.person_id = p.person_id",
        criteria_categories=["demographics", "conditions"],
        **fundraising,
    )
    assert rules == {"R-FUND-DATA"}


def test_psychotherapy_notes_are_refused_for_every_purpose():
    for purpose in ("TREATMENT", "CARE_COORD", "MARKETING"):
        rules = _rules(
            "select person_id from warehouse.marts.fct_therapy where note_topic = 'x'",
            purpose_code=purpose,
            criteria_categories=["demographics", "psychotherapy_notes"],
        )
        assert "R-PSYNOTES" in rules, purpose


def test_a_column_without_a_category_fails_closed():
    found = _check(
        "select person_id from warehouse.marts.fct_unlabelled where score > 1"
    )
    assert [rule for rule, _ in found] == ["SEM-FAIL-CLOSED"]
    assert "fct_unlabelled.score" in found[0][1]


def test_a_column_outside_the_allow_list_and_an_unknown_recipient_are_refused():
    found = _check(
        "select person_id from warehouse.marts.dim_persons",
        export_columns=["person_token", "email", "birth_date"],
        recipients=["Data Broker Inc"],
    )
    rules = [rule for rule, _ in found]
    assert sorted(rules) == ["R-MINNEC", "R-RECIP"]
    assert any("birth_date" in message for _, message in found)


def test_rows_added_after_the_filter_are_refused():
    found = _check(
        "select person_id from warehouse.marts.dim_persons",
        tail="union all select person_id, null from warehouse.marts.dim_persons",
    )
    assert "SEG-FILTER" in {rule for rule, _ in found}


def test_a_model_in_the_segments_folder_must_declare_its_communication():
    node = _model("seg_plain", "segments", {})
    with pytest.raises(SegmentError, match="SEG-DECLARE"):
        Segment.from_node(node)
    found = check_segments(_manifest(node), {}, SEEDS, SCHEMA)
    assert [(v.segment, v.rule_id) for v in found] == [("seg_plain", "SEG-DECLARE")]


BAD_SEGMENTS = {
    # A fundraising appeal that reads diagnoses through the sensitive flags.
    "seg_bad_fundraising": """
{% call segment(
    purpose_code="FUNDRAISING", channel="email",
    criteria_categories=["demographics"],
    export_columns=["person_token", "email", "first_name"],
) %}
select person_id from {{ ref('fct_sensitive_flags') }} where category = 'hiv'
{% endcall %}
""",
    # A marketing segment that reads the raw EHR table instead of the marts.
    "seg_bad_raw": """
{% call segment(
    purpose_code="MARKETING", channel="email", marketing_topic="wellness-program",
    export_columns=["person_token", "email", "first_name"],
) %}
select patients.id as person_id from {{ source('ehr', 'ehr_patients') }} as patients
{% endcall %}
""",
    # A plain model dropped into the segments folder.
    "seg_bad_plain": """
select person_id from {{ ref('dim_persons') }}
""",
}


@pytest.mark.slow
def test_real_segments_compiled_by_dbt_are_checked(warehouse_copy: Path, tmp_path):
    project = tmp_path / "dbt_project"
    shutil.copytree(
        REPO_ROOT / "dbt_project",
        project,
        ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"),
    )
    for name, sql in BAD_SEGMENTS.items():
        (project / "models" / "segments" / f"{name}.sql").write_text(sql)
    target = tmp_path / "target"
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("dbt")),
            "compile",
            "--select",
            "tag:segment",
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
            "--target-path",
            str(target),
        ],
        env={"CLEARLIST_WAREHOUSE": str(warehouse_copy), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    manifest = load_manifest(target)
    with duckdb.connect(str(warehouse_copy), read_only=True) as con:
        schema = warehouse_schema(con)
    found = check_segments(
        manifest,
        compiled_sql(manifest, target),
        RuleSeeds.read(project / "seeds"),
        schema,
    )
    by_segment: dict[str, set[str]] = {}
    for violation in found:
        by_segment.setdefault(violation.segment, set()).add(violation.rule_id)
    assert by_segment == {
        "seg_bad_fundraising": {"SEG-DECLARE", "R-SENS", "R-FUND-DATA"},
        "seg_bad_raw": {"SEG-LEDGER-ONLY", "SEM-FAIL-CLOSED"},
        "seg_bad_plain": {"SEG-DECLARE"},
    }

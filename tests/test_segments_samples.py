"""The sample segments and the building blocks they stand on, on the demo warehouse.

`clearlist demo` builds every segment (and the blocks) at one instant and exports
each through the gate. These tests read that warehouse: every sample segment chose
people and included some, and for three segments the people chosen are re-derived
here from the ledger's staging and identity tables with the value sets read from the
seed file, never by running the segment's SQL again. The age rule of the demographics
block runs as dbt unit tests at the boundary (a birthday on the `as_of` day).
"""

import csv
import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from pipelines.lib.warehouse import connect
from tests.conftest import REPO_ROOT, DemoHome

DBT_PROJECT = REPO_ROOT / "dbt_project"
VALUE_SETS = DBT_PROJECT / "seeds" / "clinical_value_sets.csv"

#: Each sample segment and its purpose, as its file declares it.
SAMPLE_SEGMENTS = {
    "seg_mammography_screening_reminder_email": "TREATMENT",
    "seg_flu_vaccine_reminder_california_email": "TREATMENT",
    "seg_diabetes_education_email": "HEALTH_ED",
    "seg_prenatal_care_education_email": "CARE_COORD",
    "seg_overdue_patient_reengagement_email": "OWN_HEALTH_SERVICE",
    "seg_lisinopril_refill_reminder_sms": "REFILL",
    "seg_post_operative_follow_up_email": "TREATMENT",
    "seg_cardiology_fundraising_appeal_mail": "FUNDRAISING",
    "seg_acme_pharma_partner_email": "MARKETING",
}


def _codes(value_set: str) -> set[tuple[str, str]]:
    with VALUE_SETS.open(newline="", encoding="utf-8") as f:
        return {
            (row["code_system"], row["code"])
            for row in csv.DictReader(f)
            if row["value_set"] == value_set
        }


def _age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _chosen(con, segment: str) -> tuple[set[str], datetime]:
    rows = con.sql(f"select person_id, segment_as_of from segments.{segment}")
    people = rows.fetchall()
    assert people, f"{segment} chose nobody"
    instants = {instant for _, instant in people}
    assert len(instants) == 1
    return {person for person, _ in people}, instants.pop()


def _columns(con, view: str) -> list[str]:
    return [row[0] for row in con.sql(f"describe staging.{view}").fetchall()]


def _ehr_records(con, table: str, value_set: str, as_of: datetime) -> list[tuple]:
    """Newest version known at `as_of` of each unlabelled record in a value set."""
    codes = _codes(value_set)
    assert codes
    return con.execute(
        f"""
        with versions as (
            select
                t.*,
                row_number() over (
                    partition by t.{table}_id, t.code_system, t.code
                    order by t.last_updated_at desc, t.known_at desc
                ) as version_rank
            from staging.stg_ehr__{table}s as t
            where t.known_at <= $as_of
        ),
        labelled as (
            select encounter_id from staging.stg_ehr__encounters
            where security_labels != ';'
        )
        select links.person_id, versions.*
        from versions
        join intermediate.int_source_records_linked as links
            on links.source_system = 'ehr'
            and links.source_record_id = versions.patient_id
        where versions.version_rank = 1
            and versions.security_labels = ';'
            and coalesce(versions.encounter_id, '') not in (select * from labelled)
            and list_contains($codes, versions.code_system || '|' || versions.code)
        """,
        {"as_of": as_of, "codes": [f"{s}|{c}" for s, c in codes]},
    ).fetchall()


def test_every_sample_segment_built_on_the_demo_and_includes_someone(
    demo_home: DemoHome,
):
    report = json.loads((demo_home.root / "reports" / "demo-report.json").read_text())
    outcomes = {export["segment"]: export for export in report["exports"]}
    found = {}
    with connect(demo_home.warehouse, read_only=True) as con:
        for segment in SAMPLE_SEGMENTS:
            found[segment] = con.sql(
                f"""
                select
                    count(*) filter (where is_included) > 0,
                    count(*) filter (where not is_included and rules_fired = ''),
                    count(*) filter (
                        where not is_included and person_token is not null
                    ),
                    count(*) filter (where is_included)
                from segments.{segment}
                """
            ).fetchone()
    # (someone included, exclusions without a rule, exclusions carrying export
    # columns, rows the gate approved and the export wrote)
    assert found == {
        segment: (True, 0, 0, outcomes[segment]["rows"]) for segment in SAMPLE_SEGMENTS
    }
    assert {outcomes[segment]["outcome"] for segment in SAMPLE_SEGMENTS} == {"approved"}
    purposes = {
        segment: json.loads(
            (Path(outcomes[segment]["folder"]) / "manifest.json").read_text()
        )["purpose"]
        for segment in SAMPLE_SEGMENTS
    }
    assert purposes == SAMPLE_SEGMENTS


def test_mammography_reminder_chooses_exactly_the_women_due(demo_home: DemoHome):
    with connect(demo_home.warehouse, read_only=True) as con:
        chosen, as_of = _chosen(con, "seg_mammography_screening_reminder_email")
        day = as_of.date()
        columns = _columns(con, "stg_ehr__procedures")
        performed = 1 + columns.index("performed_at")
        status = 1 + columns.index("procedure_status")
        screened = {
            row[0]
            for row in _ehr_records(con, "procedure", "mammography", as_of)
            if row[status] == "completed"
            and row[performed] <= as_of
            and (day - row[performed].date()).days <= 730
        }
        women = con.sql(
            "select person_id, birth_date from marts.dim_persons "
            "where lower(gender) = 'female' and birth_date is not null"
        ).fetchall()
    expected = {
        person
        for person, birth in women
        if 50 <= _age_on(birth, day) <= 74 and person not in screened
    }
    assert screened and expected
    assert chosen == expected


def test_diabetes_education_chooses_exactly_the_active_diagnoses(demo_home: DemoHome):
    with connect(demo_home.warehouse, read_only=True) as con:
        chosen, as_of = _chosen(con, "seg_diabetes_education_email")
        columns = _columns(con, "stg_ehr__conditions")
        rows = _ehr_records(con, "condition", "diabetes", as_of)
    onset, abatement = (1 + columns.index(c) for c in ("onset_at", "abatement_at"))
    status = 1 + columns.index("clinical_status")
    expected = {
        row[0]
        for row in rows
        if row[status] == "active"
        and (row[onset] is None or row[onset] <= as_of)
        and (row[abatement] is None or row[abatement] > as_of)
    }
    assert expected
    assert chosen == expected


def test_flu_reminder_chooses_californian_adults_not_vaccinated_this_season(
    demo_home: DemoHome,
):
    with connect(demo_home.warehouse, read_only=True) as con:
        chosen, as_of = _chosen(con, "seg_flu_vaccine_reminder_california_email")
        day = as_of.date()
        season = date(day.year if day.month >= 8 else day.year - 1, 8, 1)
        columns = _columns(con, "stg_ehr__immunizations")
        occurred = 1 + columns.index("occurred_at")
        status = 1 + columns.index("immunization_status")
        vaccinated = {
            row[0]
            for row in _ehr_records(con, "immunization", "flu_vaccine", as_of)
            if row[status] == "completed"
            and row[occurred] <= as_of
            and row[occurred].date() >= season
        }
        residents = con.sql(
            "select person_id, birth_date from marts.dim_persons "
            "where residence_state = 'CA' and has_ehr_record and birth_date is not null"
        ).fetchall()
    expected = {
        person
        for person, birth in residents
        if _age_on(birth, day) >= 18 and person not in vaccinated
    }
    assert expected
    assert chosen == expected
    assert season <= day < season + timedelta(days=366)


def _dbt(work: Path, warehouse: Path, *args: str) -> subprocess.CompletedProcess:
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
        env={**os.environ, "CLEARLIST_WAREHOUSE": str(warehouse)},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_age_band_counts_a_birthday_on_the_as_of_day(
    warehouse_copy: Path, tmp_path: Path
):
    result = _dbt(
        tmp_path,
        warehouse_copy,
        "test",
        "--select",
        "tag:segment_blocks",
        "--vars",
        json.dumps({"segment_block_unit_tests": True}),
    )

    assert result.returncode == 0, result.stdout[-4000:]
    run = json.loads((tmp_path / "target" / "run_results.json").read_text())
    passed = {
        node["unique_id"].rsplit(".", 1)[-1]
        for node in run["results"]
        if node["status"] == "pass"
    }
    assert passed == {
        "dim_person_demographics__birthday_on_the_as_of_day_counts",
        "dim_person_demographics__the_utc_date_of_as_of_decides",
        "dim_person_demographics__the_day_before_the_birthday_is_not_yet",
    }

"""The gate against a real demo warehouse: a clean audience passes; a chooser broken on
purpose (decision rows tampered with in a copy of the warehouse) is blocked for each
rule family with the right rule id and count; results and Data Docs carry no row
values."""

import json
import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from pipelines.lib.gate import (
    GATE_RULES,
    BuildStamp,
    Communication,
    GateResult,
    allowed_export_columns,
    load_suite,
    recipient_checks,
    run_gate,
)
from tests.conftest import DemoHome

pytestmark = pytest.mark.slow

SEGMENT = "seg_wellness_program_email"
RELATION = f"segments.{SEGMENT}"
COMMUNICATION = Communication(
    segment=SEGMENT,
    purpose_code="MARKETING",
    channel="email",
    recipients=("CoveredEntity",),
    export_columns=("person_token", "email", "first_name"),
    marketing_topic="wellness-program",
    list_id="4101",
)


@pytest.fixture(scope="module")
def tamperable(
    demo_home: DemoHome, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[duckdb.DuckDBPyConnection]:
    """One private copy of the demo warehouse for this module.

    The segment's decisions are saved, so that each test starts from them untouched.
    """
    copy = tmp_path_factory.mktemp("gate") / "warehouse.duckdb"
    shutil.copy(demo_home.warehouse, copy)
    con = duckdb.connect(str(copy))
    con.execute("set TimeZone = 'UTC'")
    con.execute(f"create table main.saved_decisions as select * from {RELATION}")
    yield con
    con.close()


@pytest.fixture
def con(tamperable: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    tamperable.execute(f"delete from {RELATION}")
    tamperable.execute(f"insert into {RELATION} select * from main.saved_decisions")
    return tamperable


def _as_of(con: duckdb.DuckDBPyConnection) -> datetime:
    return con.sql(f"select max(segment_as_of) from {RELATION}").fetchone()[0]


def _gate(con, communication=COMMUNICATION, **options) -> GateResult:
    return run_gate(
        con,
        RELATION,
        communication,
        _as_of(con),
        allowed_columns=allowed_export_columns(con, communication),
        **options,
    )


def _people(con, demo_home: DemoHome, scenario: str, n: int = 2) -> list[str]:
    contact_ids = demo_home.plan["scenarios"][scenario]["contact_ids"][:n]
    assert contact_ids, f"the generator planted no {scenario}"
    rows = con.execute(
        """
        select distinct person_id from intermediate.int_source_records_linked
        where source_system = 'crm' and source_record_id in (select unnest($ids))
        """,
        {"ids": contact_ids},
    ).fetchall()
    return sorted(row[0] for row in rows)


def _include(con, person_ids: list[str]) -> None:
    """Mark people included, as a broken chooser would, with their own addresses."""
    con.execute(
        f"delete from {RELATION} where person_id in (select unnest($ids))",
        {"ids": person_ids},
    )
    con.execute(
        f"""
        insert into {RELATION} by name
        select
            persons.person_id,
            true as is_included,
            '' as rules_fired,
            (select max(segment_as_of) from main.saved_decisions) as segment_as_of,
            (select max(rule_set_version) from main.saved_decisions)
                as rule_set_version,
            persons.person_id as person_token,
            persons.email_norm as email,
            persons.first_name
        from marts.dim_persons as persons
        where persons.person_id in (select unnest($ids))
        """,
        {"ids": person_ids},
    )


def _failed(result: GateResult) -> dict[tuple[str, str], int]:
    return {
        (f["rule_id"], f["column"] or f["expectation"]): f["unexpected_count"]
        for f in result.failures
    }


def test_the_suite_expects_every_gate_column():
    suite = load_suite()
    expected = {
        (item["kwargs"]["column"], item["meta"]["rule_id"])
        for item in suite["expectations"]
    }
    for column, rule_id, _ in GATE_RULES:
        assert (column, rule_id) in expected


def test_clean_audience_passes(con, tmp_path: Path):
    result = _gate(con, docs_dir=tmp_path / "docs")
    assert result.passed, result.failures
    assert result.row_count > 0
    assert all(check["unexpected_count"] == 0 for check in result.checks)
    assert (tmp_path / "docs" / "index.html").exists()


@pytest.mark.parametrize(
    ("scenario", "rule_id", "column"),
    [
        ("revoked", "R-AUTH-REV", "gate_auth_not_revoked"),
        ("expired", "R-AUTH-EXP", "gate_auth_not_expired"),
        ("missing_statement", "R-AUTH-CORE", "gate_auth_form_valid"),
        ("wrong_recipient", "R-RECIP", "gate_auth_names_recipients"),
        ("no_authorization", "R-MKT-AUTH", "gate_authorization_ok"),
        ("unverified_duplicate", "SEM-IDENTITY", "gate_identity_verified"),
        ("email_unsub_this_list", "R-EMAIL-OPTOUT", "gate_email_not_suppressed"),
        ("email_spamreport", "R-EMAIL-OPTOUT", "gate_email_not_suppressed"),
        ("deceased", "R-DECEASED", "gate_not_deceased"),
        ("minor", "R-MINOR", "gate_of_age"),
        ("restriction", "R-RESTRICT", "gate_not_restricted"),
        ("confidential_comm", "R-CONFCOMM", "gate_confidential_ok"),
    ],
)
def test_a_tampered_audience_is_blocked_by_rule_with_its_count(
    con, demo_home: DemoHome, scenario: str, rule_id: str, column: str
):
    people = _people(con, demo_home, scenario)
    _include(con, people)
    result = _gate(con)
    assert not result.passed
    assert _failed(result)[(rule_id, column)] == len(people)
    failure = next(f for f in result.failures if f["column"] == column)
    assert failure["person_keys"] == people


def test_a_segment_that_bypasses_the_filter_is_blocked(con, demo_home: DemoHome):
    """Every chosen person included, as if the consent filter were skipped."""
    con.execute(
        f"""
        update {RELATION} as decisions
        set is_included = true, rules_fired = '', email = persons.email_norm,
            first_name = persons.first_name, person_token = persons.person_id
        from marts.dim_persons as persons
        where decisions.person_id = persons.person_id and not decisions.is_included
        """
    )
    failed = {rule_id for rule_id, _ in _failed(_gate(con))}
    assert {
        "R-MKT-AUTH",
        "R-AUTH-REV",
        "R-EMAIL-OPTOUT",
        "R-DECEASED",
        "R-MINOR",
        "R-RESTRICT",
        "R-CONFCOMM",
    } <= failed


def test_a_stopped_number_blocks_a_text(con, demo_home: DemoHome):
    """R-SMS-STOP: people the email segment includes, texted instead."""
    texting = replace(
        COMMUNICATION,
        purpose_code="REFILL",
        channel="sms",
        export_columns=("person_token", "mobile_phone", "first_name"),
        marketing_topic=None,
        list_id=None,
    )
    stopped = _people(con, demo_home, "sms_stop")
    con.execute(f"alter table {RELATION} add column mobile_phone varchar")
    try:
        con.execute(
            f"""
            update {RELATION} as decisions set mobile_phone = persons.mobile_phone
            from marts.dim_persons as persons
            where decisions.person_id = persons.person_id
            """
        )
        included = f"update {RELATION} set is_included = $on"
        chosen = " where person_id in (select unnest($ids))"
        con.execute(included + chosen, {"on": False, "ids": stopped})
        before = _failed(_gate(con, texting)).get(
            ("R-SMS-STOP", "gate_sms_not_stopped"), 0
        )
        con.execute(included + chosen, {"on": True, "ids": stopped})
        after = _failed(_gate(con, texting))[("R-SMS-STOP", "gate_sms_not_stopped")]
    finally:
        con.execute(f"alter table {RELATION} drop column mobile_phone")
    assert after - before == len(stopped)


def test_part2_data_without_a_part2_consent_is_blocked(con):
    """R-SUD-P2: criteria reading conditions reach people with Part 2 records."""
    using_conditions = replace(
        COMMUNICATION,
        purpose_code="TREATMENT",
        marketing_topic=None,
        criteria_categories=("demographics", "conditions"),
    )
    flagged = [
        row[0]
        for row in con.execute(
            "select distinct person_id from marts.fct_sensitive_flags"
            " where category = 'sud_part2' and person_id is not null"
            " order by person_id limit 2"
        ).fetchall()
    ]
    assert flagged, "the demo planted no Part 2 record"
    before = _failed(_gate(con, using_conditions)).get(
        ("R-SUD-P2", "gate_part2_consented"), 0
    )
    already = con.execute(
        f"select count(*) from {RELATION} where is_included"
        " and person_id in (select unnest($ids))",
        {"ids": flagged},
    ).fetchone()[0]
    _include(con, flagged)
    after = _failed(_gate(con, using_conditions))[("R-SUD-P2", "gate_part2_consented")]
    assert after == before + len(flagged) - already


def test_a_sensitive_criterion_blocks_marketing(con):
    """R-SENS: a marketing segment that uses HIV data is blocked on every row."""
    sensitive = replace(COMMUNICATION, criteria_categories=("demographics", "hiv"))
    result = _gate(con, sensitive)
    assert _failed(result)[("R-SENS", "gate_no_sensitive_data")] == result.row_count


def test_duplicate_people_are_blocked(con):
    con.execute(
        f"insert into {RELATION} select * from {RELATION} where is_included limit 3"
    )
    result = _gate(con)
    assert _failed(result)[("R-GATE", "person_id")] == 6
    assert _failed(result)[("R-GATE", "one_decision_per_person")] == 3


def test_a_column_outside_the_allow_list_is_blocked(con):
    widened = replace(
        COMMUNICATION,
        export_columns=(*COMMUNICATION.export_columns, "segment_as_of"),
    )
    result = _gate(con, widened)
    assert _failed(result) == {("R-MINNEC", "export_columns_within_allow_list"): 1}
    assert result.failures[0]["unexpected_columns"] == ["segment_as_of"]


def test_an_address_that_is_not_the_persons_is_blocked(con):
    con.execute(
        f"""
        update {RELATION} set email = 'someone.else@example.org'
        where person_id = (select min(person_id) from {RELATION} where is_included)
        """
    )
    assert _failed(_gate(con))[("R-GATE", "gate_contact_on_file")] == 1


def test_a_stale_build_is_blocked(con):
    as_of = _as_of(con)
    built_at = as_of + timedelta(minutes=1)
    fresh = _gate(con, stamp=BuildStamp(built_at=datetime.now(as_of.tzinfo)))
    assert fresh.passed, fresh.failures
    con.execute(
        """
        insert into raw.load_log (batch_id, source, source_file, sha256, entity,
            rows_loaded, rows_quarantined, received_at, loaded_at)
        values ('crm/crm-late', 'crm', 'Consent.csv', 'ab', 'crm_consents', 1, 0,
            $received, now())
        """,
        {"received": as_of},
    )
    try:
        result = _gate(
            con,
            stamp=BuildStamp(
                built_at=built_at, rule_set_version="rs-other", expected_rows=1
            ),
        )
    finally:
        con.execute("delete from raw.load_log where batch_id = 'crm/crm-late'")
    failed = _failed(result)
    assert failed[("R-GATE", "inputs_unchanged_since_build")] >= 1
    assert failed[("R-GATE", "decided_by_the_current_rule_set")] == 1
    assert failed[("R-GATE", "row_count_matches_preview")] == result.row_count - 1


def test_the_recipient_must_be_named_or_the_covered_entitys_own_use(con):
    """R-RECIP at the row, R-BAA in the register: Acme Pharma is a third party."""
    result = _gate(con, recipient="Acme Pharma")
    failed = _failed(result)
    # Only people whose authorizations name Acme Pharma may go to it.
    assert 0 < failed[("R-RECIP", "gate_auth_names_recipients")] <= result.row_count
    assert (
        failed[("R-RECIP", "gate_auth_names_recipients")]
        == (failed[("R-MKT-AUTH", "gate_authorization_ok")])
    )
    as_of = _as_of(con)
    treatment = replace(COMMUNICATION, purpose_code="TREATMENT")

    def refused(recipient: str, channel: str = "email") -> int:
        checks = recipient_checks(
            con, replace(treatment, channel=channel), (recipient,), as_of
        )
        return next(c for c in checks if c["rule_id"] == "R-BAA")["unexpected_count"]

    assert refused("CoveredEntity") == 0
    assert refused("SendGrid") == 0  # a BAA in force covering email sending
    assert refused("SendGrid", "sms") == 1  # its BAA does not cover texts
    assert refused("Acme Pharma") == 1
    assert refused("Nobody Registered") == 1


def test_results_and_data_docs_carry_no_row_values(
    con, demo_home: DemoHome, tmp_path: Path
):
    _include(con, _people(con, demo_home, "revoked", 1))
    docs = tmp_path / "docs"
    result = _gate(con, docs_dir=docs)
    assert not result.passed
    # Addresses are the distinctive row values (first names collide with HTML words).
    values = [
        row[0]
        for row in con.sql(
            f"select email from {RELATION} where is_included and email is not null"
        ).fetchall()
    ]
    assert values
    text = json.dumps(result.to_dict())
    html = "".join(path.read_text() for path in docs.rglob("*.html"))
    assert "validations" in {path.name for path in docs.iterdir()}
    for document in (text, html):
        assert not any(value in document for value in values)
